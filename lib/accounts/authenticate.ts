// Checking an account's own password before it may change it (vchangepw): found, and the password
// verifies against the stored hash. No answer tells an unknown account from a wrong password.
import type { VpasswdEntry } from '../backends/backend.ts';
import { verifyPassword } from '../crypt/index.ts';
import { toByteString, type AccountsContext } from './context.ts';
import { findDomain, type DomainRef } from './lookup.ts';

/** Verified for unknown accounts, so they cost what a wrong password costs (timing hides who exists). */
const UNKNOWN_ACCOUNT_HASH = '$6$vchangepwdummy0$3KfoNmeBZ7jRIZxThzXNFYXeQqzeCTS/CStJkA5LAzlF.7m.mLeXWLIOZvc58cwas6fX.ukb88BdlUNAWU9M9/';

export interface Authenticated {
  readonly domain: DomainRef;
  readonly entry: VpasswdEntry;
}

/**
 * The account `user@domainName` when `password` is its password; undefined for an unknown domain or
 * user, an account without a password, or a wrong one. The password is compared as the bytes typed
 * (UTF-8), the way it was hashed. A store that cannot be read throws (that is no "wrong password").
 */
export async function authenticateUser(ctx: AccountsContext, domainName: string, user: string, password: string): Promise<Authenticated | undefined> {
  const candidate = Buffer.from(toByteString(password), 'latin1');
  const domain = findDomain(ctx, domainName);
  const entry = domain === undefined ? undefined : await ctx.backend.getUser(domain.domain, user);
  if (domain === undefined || entry === undefined || entry.passwd === '') {
    verifyPassword(candidate, UNKNOWN_ACCOUNT_HASH);
    return undefined;
  }
  return verifyPassword(candidate, entry.passwd) ? { domain, entry } : undefined;
}
