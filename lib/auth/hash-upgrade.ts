// Re-hashing a weak stored password after a good plain-text login (`upgrade-hash-on-login = yes`),
// shared by vchkpw and vpopmaild: which hashes are weaker than the configured scheme, which typed
// passwords may stand in for the stored one, and a write that cannot undo a change made meanwhile.
import type { AccountsContext } from '../accounts/context.ts';
import { withOperationLocks } from '../accounts/op-lock.ts';
import type { HashScheme } from '../config.ts';
import { hashPassword, schemeOf, type SchemeName } from '../crypt/index.ts';
import type { VpasswdEntry } from '../store/vpasswd.ts';

/** DES variants < MD5-crypt < the SHA-crypts and bcrypt (what crypt(3) offers today). */
const STRENGTH: Readonly<Record<SchemeName, number>> = { des: 0, 'bsdi-des': 0, 'md5-crypt': 1, 'sha256-crypt': 2, 'sha512-crypt': 2, bcrypt: 2 };
const CONFIGURED: Readonly<Record<HashScheme, number>> = { md5: 1, sha256: 2, sha512: 2, bcrypt: 2 };

/** Is the stored hash of a weaker kind than the scheme new passwords get? Unknown kinds are left alone. */
export function isWeakerThanConfigured(stored: string, scheme: HashScheme): boolean {
  const kind = schemeOf(stored);
  return kind !== undefined && STRENGTH[kind] < CONFIGURED[scheme];
}

/**
 * May the typed password replace the stored hash? Traditional DES looks at 8 bytes, 7 bits each, so
 * `secret12` and `secret12anything` both verify: storing a new hash of a longer typed password would
 * lock the owner out in favour of whoever typed it. Such a login is only upgraded when the typed
 * bytes are exactly what DES saw, or equal the clear-text copy the account keeps.
 */
export function isFaithfulSecret(stored: string, secret: Uint8Array, clear: string | undefined): boolean {
  if (clear !== undefined && clear !== '') return Buffer.from(clear, 'latin1').equals(secret);
  if (schemeOf(stored) !== 'des') return true;
  return secret.length <= 8 && secret.every((b) => b < 0x80);
}

export type UpgradeOutcome = 'upgraded' | 'not-weaker' | 'ambiguous' | 'changed-meanwhile' | 'gone';

/** Waiting longer than this for another change of the domain is not worth holding up a login. */
const UPGRADE_LOCK_TIMEOUT_MS = 2_000;

/**
 * After `verified` (the record as read for the login) accepted `secret`: store a hash of the
 * configured scheme in its place, when it is weaker and the secret is faithful. The record is read
 * again under the domain's operation lock and only replaced if it still holds the verified hash, so
 * a password an administrator set meanwhile is never overwritten. A busy lock throws (TempError);
 * the caller logs it and the next login tries again.
 */
export async function upgradeHashAfterLogin(
  ctx: AccountsContext,
  domain: string,
  verified: VpasswdEntry,
  secret: Uint8Array,
): Promise<{ outcome: UpgradeOutcome; entry: VpasswdEntry }> {
  const scheme = ctx.config.hashScheme;
  if (!isWeakerThanConfigured(verified.passwd, scheme)) return { outcome: 'not-weaker', entry: verified };
  if (!isFaithfulSecret(verified.passwd, secret, ctx.config.clearPasswords ? verified.clear : undefined)) return { outcome: 'ambiguous', entry: verified };
  const passwd = hashPassword(secret, scheme); // before the lock: it costs milliseconds
  const locked = { ...ctx, lockTimeoutMs: Math.min(ctx.lockTimeoutMs ?? UPGRADE_LOCK_TIMEOUT_MS, UPGRADE_LOCK_TIMEOUT_MS) };
  return withOperationLocks(locked, [domain], async () => {
    const current = await ctx.backend.getUser(domain, verified.name);
    if (current === undefined) return { outcome: 'gone' as const, entry: verified };
    if (current.passwd !== verified.passwd) return { outcome: 'changed-meanwhile' as const, entry: current };
    const entry = { ...current, passwd };
    await ctx.backend.setUser(domain, entry);
    return { outcome: 'upgraded' as const, entry };
  });
}
