// Worlds for vpopbull tests: the golden run's domains and users, and big domains made with lib calls
// (vpasswd + vpasswd.cdb in one write, Maildirs without per-directory fsyncs), plus one python3
// process that reads every Maildir with Python's mailbox module.
import type { ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accountsContext } from '../../lib/accounts/index.ts';
import { addDomain } from '../../lib/accounts/domains.ts';
import { addUser } from '../../lib/accounts/users.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { loadConfig } from '../../lib/config.ts';
import { DURABLE, type Durable } from '../../lib/fs/durable.ts';
import { makeUserDir } from '../../lib/maildir/make.ts';
import { lookupAssignDomain } from '../../lib/store/assign.ts';
import { iterateVpasswd, replaceVpasswdEntries, type VpasswdEntry } from '../../lib/store/vpasswd.ts';
import type { MailWorld } from './mail-world.ts';

/** Test set-up only: the same writes without fsync, so 10,000 Maildirs take seconds, not minutes. */
export const NO_FSYNC: Durable = { ...DURABLE, fsync: () => {} };

/** The golden run's users of example.test at steps 188–195, with their quotas. */
export const GOLDEN_EXAMPLE_USERS: readonly (readonly [string, string | undefined])[] = [
  ['alice', undefined],
  ['bob', '1000000S'],
  ['carol', undefined],
  ['dave', undefined],
  ['dora', undefined],
  ['erin', undefined],
  ['frank', '3000000S'],
  ['gina', undefined],
  ['tiny', '3000S'],
];

/** run.sh's two bulletins and exclusion list, byte for byte. */
export const BULLETIN_TXT = 'From: Postmaster <postmaster@example.test>\nSubject: Bulletin one\n\nPlanned maintenance tonight.\n';
export const BULLETIN_DATED_TXT =
  'From: Postmaster <postmaster@example.test>\nSubject: Bulletin two\nDate: Mon, 01 Jan 2024 00:00:00 +0000\n\nThis bulletin carries its own Date header.\n';
export const EXCLUDE_TXT = 'bob@example.test\ncarol@example.test\n';

/**
 * mail-world.ts's world, built without fsyncs (set-up only: a crash mid-test loses nothing of
 * value), so the many small worlds of the vpopbull tests cost milliseconds each.
 */
export function fastWorld(t: ExecutionContext): MailWorld {
  const root = mkdtempSync(join(tmpdir(), 'vpop-bull-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  chmodSync(root, 0o755);
  const vhome = join(root, 'vpopmail');
  const qhome = join(root, 'qmail');
  for (const d of [join(vhome, 'etc'), join(vhome, 'bin'), join(vhome, 'domains'), join(qhome, 'users'), join(qhome, 'control'), join(qhome, 'bin')]) {
    mkdirSync(d, { recursive: true });
  }
  const env = { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: vhome, QMAIL_HOME: qhome };
  writeFileSync(join(vhome, 'etc', 'vpopmail.conf'), '');
  const config = loadConfig(env);
  const ctx = accountsContext(config, createCdbBackend(config, { durable: NO_FSYNC }), 'mail.test', { durable: NO_FSYNC, hupQmailSend: () => {} });
  return {
    root,
    vhome,
    qhome,
    env,
    config,
    ctx,
    async addDomain(domain, postmasterPassword = 'pm-secret', options = {}) {
      const r = await addDomain(ctx, { domain, uid: options.uid ?? 89, gid: options.gid ?? 89, postmaster: { password: { clear: postmasterPassword } } });
      return r.domain.dir;
    },
    async addUser(address, password, options = {}) {
      const [user, domain] = address.split('@') as [string, string];
      await addUser(ctx, { domain, user, password: { clear: password }, ...options });
    },
    settings() {
      throw new Error('fastWorld has no settings()');
    },
  };
}

/** A world with the golden domains example.test (its nine users and postmaster), path.test and catch.test. */
export async function goldenBulletinWorld(t: ExecutionContext): Promise<MailWorld> {
  const w = fastWorld(t);
  await w.addDomain('example.test');
  // vpasswd is kept sorted by name, as vadduser keeps it: postmaster goes between gina and tiny.
  const byName = new Map(GOLDEN_EXAMPLE_USERS);
  const dir = lookupAssignDomain(w.qhome, 'example.test')!.dir;
  const postmaster = [...iterateVpasswd(dir)];
  const users = addManyUsers(w, 'example.test', [...byName.keys()], { quotaOf: (i) => GOLDEN_EXAMPLE_USERS[i]![1] ?? 'NOQUOTA', replace: true });
  const sorted = [...postmaster, ...users].sort((a, b) => (a.name < b.name ? -1 : 1));
  replaceVpasswdEntries(dir, sorted, { owner: { uid: 89, gid: 89 }, durable: NO_FSYNC });
  await w.addDomain('path.test');
  await w.addDomain('catch.test');
  return w;
}

export function domainDirOf(w: MailWorld, domain: string): string {
  const info = lookupAssignDomain(w.qhome, domain);
  if (info === undefined) throw new Error(`no domain ${domain}`);
  return info.dir;
}

export interface ManyUsersOptions {
  /** The quota field of the i-th user (default NOQUOTA). */
  readonly quotaOf?: (i: number) => string;
  /** Make the homes only and return the entries; the caller writes vpasswd. */
  readonly replace?: boolean;
  /** Leave the homes out (for -n runs). */
  readonly noHomes?: boolean;
}

/**
 * Add `names` to an existing domain in one vpasswd rewrite, each with a home `<dom>/<name>` and its
 * Maildir, owned by the domain when we are root. Returns the new entries.
 */
export function addManyUsers(w: MailWorld, domain: string, names: readonly string[], options: ManyUsersOptions = {}): VpasswdEntry[] {
  const info = lookupAssignDomain(w.qhome, domain)!;
  const owner = { uid: info.uid, gid: info.gid };
  const entries = names.map(
    (name, i): VpasswdEntry => ({
      name,
      passwd: '$6$salt$x',
      uid: 1,
      gid: 0,
      gecos: name,
      dir: join(info.dir, name),
      quota: options.quotaOf?.(i) ?? 'NOQUOTA',
      clear: 'pw',
    }),
  );
  if (options.noHomes !== true) for (const e of entries) makeUserDir(info.dir, e.dir, { owner, durable: NO_FSYNC });
  if (options.replace === true) return entries;
  const existing = [...iterateVpasswd(info.dir)];
  replaceVpasswdEntries(info.dir, [...existing, ...entries], { owner, durable: NO_FSYNC });
  return entries;
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

const PY_WALK = `
import hashlib, json, mailbox, sys
out = {}
for path in json.load(sys.stdin):
    mb = mailbox.Maildir(path, factory=None, create=False)
    out[path] = sorted(hashlib.sha256(mb.get_bytes(k)).hexdigest() for k in mb.keys())
print(json.dumps(out))
`;

/** One python3 process reads every Maildir with mailbox.Maildir: per Maildir, the sorted sha256 of its messages. */
export function readMaildirsWithPython(maildirs: readonly string[]): Record<string, string[]> {
  const r = spawnSync('python3', ['-c', PY_WALK], { input: JSON.stringify(maildirs), encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`python3 mailbox walk failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, string[]>;
}
