// login, clogin, slogin (spec §3, §5.2, §7.1): authenticate, set the session level and output mode.
// Like C, login checks no service flag and writes no lastauth; unlike C it logs the outcome (never
// the password) and counts failures per client address.
import { PW_FLAG } from '../../store/limits.ts';
import type { Handler, HandlerContext, LoginState, OutputMode } from '../context.ts';
import { LEVEL } from '../context.ts';
import { findAccount, parseAddress } from '../lookup.ts';
import { upgradeHashAfterLogin } from '../../auth/hash-upgrade.ts';
import { verifyPassword } from '../../crypt/index.ts';
import { firstLine } from '../../exit.ts';
import type { VpasswdEntry } from '../../store/vpasswd.ts';
import { OK, data, err, type Reply } from '../protocol.ts';
import type { Request } from '../protocol.ts';
import { userBlock } from '../user-block.ts';

/**
 * Checked when the account does not exist, so an unknown user costs what a wrong password costs and
 * timing does not tell which names exist. The password behind it was random and is not kept.
 */
const UNKNOWN_USER_HASH = '$6$2ab2ac1af88c88ad$CXVEsxmjD2mbvxJkpqoKQKBg6cVrDKvnpPIupsOzt7WrZv5fCkmiSHm2y2QnhBMlgi/LUkFdsCZw.6w45eob00';

const LEVEL_NAMES = { 1: 'user', 2: 'domain-admin', 3: 'system-admin' } as const;

/**
 * upgrade-hash-on-login = yes: a weak stored hash (DES, $1$) is replaced by one of the configured
 * scheme, as vchkpw does (lib/auth/hash-upgrade.ts). A failure is logged and the login stands.
 */
async function upgradeHash(ctx: HandlerContext, domain: string, entry: VpasswdEntry, secret: Uint8Array): Promise<VpasswdEntry> {
  try {
    const r = await ctx.daemon.gate.run(() => upgradeHashAfterLogin(ctx.daemon.accounts, domain, entry, secret));
    if (r.outcome === 'upgraded') ctx.log('password hash upgraded', { user: `${entry.name}@${domain}` });
    return r.entry;
  } catch (e) {
    ctx.log('hash upgrade failed', { user: `${entry.name}@${domain}`, reason: firstLine(e) });
    return entry;
  }
}

function loginWith(mode: OutputMode): Handler {
  return (ctx, req) => authenticate(ctx, req, mode);
}

export const login = loginWith('verbose');
export const clogin = loginWith('compact');
export const slogin = loginWith('silent');

async function authenticate(ctx: HandlerContext, req: Request, mode: OutputMode): Promise<Reply> {
  const addressText = req.args[0];
  if (addressText === undefined) return err(6, 203);
  const password = req.rest(1);
  if (password === '') return err(7, 204);
  const ip = ctx.remoteIp;
  const failed = (reply: Reply, reason: string, user?: string): Reply => {
    ctx.noteLoginFailure();
    ctx.log('login failed', { user, ip, reason });
    return reply;
  };
  if (ip !== undefined && ctx.daemon.limiter?.isBlocked(ip) === true) return failed(err(41, 208), 'rate-limited');
  const address = await parseAddress(ctx, addressText);
  if (address === undefined) return failed(err(8, 205), 'bad-address');
  const who = `${address.user}@${address.domain}`;
  const account = await findAccount(ctx, address);
  if (account === undefined) {
    verifyPassword(Buffer.from(password, 'latin1'), UNKNOWN_USER_HASH);
    return failed(err(8, 206), 'no-such-user', who);
  }
  const { domain } = account;
  let { entry } = account;
  // The bytes as sent: crypt(3) sees exactly what the client typed, UTF-8 or not.
  if (entry.passwd === '' || !verifyPassword(Buffer.from(password, 'latin1'), entry.passwd)) return failed(err(8, 207), 'bad-password', who);
  if (ctx.daemon.config.upgradeHashOnLogin) entry = await upgradeHash(ctx, domain.domain, entry, Buffer.from(password, 'latin1'));

  let gid = entry.gid;
  let level: LoginState['level'] = LEVEL.user;
  if ((gid & PW_FLAG.SA_ADMIN) !== 0) level = LEVEL.systemAdmin;
  else if ((gid & PW_FLAG.QA_ADMIN) !== 0 || account.user === 'postmaster') {
    level = LEVEL.domainAdmin;
    gid |= PW_FLAG.QA_ADMIN;
  }
  ctx.setLogin({
    level,
    mode,
    user: account.user,
    domain: domain.domain,
    domainDir: domain.dir,
    domainUid: domain.uid,
    domainGid: domain.gid,
    homeDir: entry.dir,
    gid,
  });
  ctx.log('login', { user: `${account.user}@${domain.domain}`, ip, reason: LEVEL_NAMES[level] });
  if (mode === 'silent') return OK;
  return data([
    `vpopmail_dir ${ctx.daemon.config.vpopmailHome}`,
    `domain_dir ${domain.dir}`,
    `uid ${domain.uid}`,
    `gid ${domain.gid}`,
    ...userBlock(entry, { mode, gid, showClear: true }),
  ]);
}
