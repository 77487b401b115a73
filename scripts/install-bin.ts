// npm run install-bin -- --prefix DIR [--owner UID:GID] [--setuid-vchkpw]
// Lays out DIR/bin as C vpopmail's `make install` does (every program mode 0711, owner
// vpopmail:vchkpw, none set-uid unless asked) and installs the etc files our programs read when
// they are missing (never overwriting the operator's).
import { chmodSync, chownSync, copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tcpRulesFile } from '../lib/relay/tcprules.ts';

interface BuildInfo {
  readonly executables: readonly { readonly file: string; readonly runtime: string; readonly programs: readonly string[] }[];
  readonly defines: { readonly vpopmailUid?: number; readonly vpopmailGid?: number };
}

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');

function fail(msg: string): never {
  process.stderr.write(`install-bin: ${msg}\n`);
  process.exit(1);
}

function idsOf(user: string, group: string): { uid: number; gid: number } | undefined {
  const find = (file: string, name: string) => {
    try {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        const f = line.split(':');
        if (f[0] === name) return Number(f[2]);
      }
    } catch {
      // no such database
    }
    return undefined;
  };
  const uid = find('/etc/passwd', user);
  const gid = find('/etc/group', group);
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}

/** Our own default domain limits: everything unlimited, no permission denied (the same effect as C's). */
const VLIMITS_DEFAULT = `# Default limits for domains without their own .qmailadmin-limits file.
# One "key: value" per line; a flag (disable_pop, disable_imap, ...) is set by naming it.
# -1 means unlimited; these values are the ones C vpopmail ships.
maxpopaccounts: -1
maxaliases: 0
maxforwards: -1
maxautoresponders: -1
maxmailinglists: -1
# quota: 0
# maxmsgcount: 0
# default_quota: 0
# default_maxmsgcount: 0
# disable_pop
# disable_imap
# disable_dialup
# disable_password_changing
# disable_webmail
# disable_external_relay
# disable_smtp
# disable_spamassassin
# delete_spam
# disable_maildrop
perm_account: 0
perm_alias: 0
perm_forward: 0
perm_autoresponder: 0
perm_maillist: 0
perm_quota: 0
perm_defaultquota: 0
`;

const PASSWORD_STRENGTH = `# Password policy applied when a password is set by vadduser, vpasswd, vchangepw and vpopmaild.
# Lines: <Name> <op> <value>, Name one of Length, Alphabet, Numeric, Other, UpperLower;
# op one of < <= = > >=; ratios are fractions of the password length.
Policy = Passwords must be at least one character long
Length >= 1
`;

/**
 * The static SMTP rules a roaming-users install starts with (layout.md: configure writes this
 * when no TCP_FILE exists): every roaming login rebuilds tcp.smtp.cdb from this file plus the
 * open-smtp entries, so without it the first POP3 login would take relaying away from localhost.
 */
const TCP_SMTP = '127.:allow,RELAYCLIENT=""\n';

function main(): void {
  const args = process.argv.slice(2);
  let prefix: string | undefined;
  let owner: string | undefined;
  let setuidVchkpw = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--prefix') prefix = args[++i];
    else if (a.startsWith('--prefix=')) prefix = a.slice(9);
    else if (a === '--owner') owner = args[++i];
    else if (a.startsWith('--owner=')) owner = a.slice(8);
    else if (a === '--setuid-vchkpw') setuidVchkpw = true;
    else fail(`unknown option ${a} (usage: npm run install-bin -- --prefix DIR [--owner UID:GID] [--setuid-vchkpw])`);
  }
  if (prefix === undefined || prefix === '') fail('--prefix DIR is required');
  const infoPath = join(dist, 'build-info.json');
  if (!existsSync(infoPath)) fail('nothing built: run node build.mjs first');
  const info = JSON.parse(readFileSync(infoPath, 'utf8')) as BuildInfo;

  const isRoot = process.geteuid?.() === 0;
  let ids: { uid: number; gid: number } | undefined;
  if (owner !== undefined) {
    const m = /^(\d+):(\d+)$/.exec(owner);
    ids = m === null ? undefined : { uid: Number(m[1]), gid: Number(m[2]) };
    if (ids === undefined) fail(`--owner must be UID:GID, not ${owner}`);
  } else {
    ids = idsOf('vpopmail', 'vchkpw') ?? { uid: info.defines.vpopmailUid ?? 89, gid: info.defines.vpopmailGid ?? 89 };
  }

  const base = resolve(prefix);
  const bin = join(base, 'bin');
  const etc = join(base, 'etc');
  mkdirSync(bin, { recursive: true, mode: 0o755 });
  mkdirSync(etc, { recursive: true, mode: 0o755 });

  const own = (path: string) => {
    if (isRoot) chownSync(path, ids!.uid, ids!.gid);
  };
  for (const e of info.executables) {
    // Copy beside the target and rename, so a running program is never overwritten in place.
    const target = join(bin, e.file);
    const tmp = `${target}.new`;
    rmSync(tmp, { force: true });
    copyFileSync(join(dist, e.file), tmp);
    own(tmp);
    const isSetid = setuidVchkpw && e.programs.includes('vchkpw');
    chmodSync(tmp, isSetid ? 0o4711 : 0o711);
    renameSync(tmp, target);
    for (const p of e.programs) {
      if (p === e.file) continue;
      const link = join(bin, p);
      const linkTmp = `${link}.new`;
      rmSync(linkTmp, { force: true });
      linkSync(target, linkTmp);
      renameSync(linkTmp, link);
    }
    process.stdout.write(`installed ${e.programs.join(' ')} (${e.runtime}) mode ${isSetid ? '4711' : '0711'}\n`);
  }

  // Owners as C's install leaves them: vlimits.default is vpopmail's (vmoddomlimits -d rewrites
  // it), the files only read stay the installer's.
  const etcFiles: [string, string, boolean][] = [
    ['vlimits.default', VLIMITS_DEFAULT, true],
    ['password_strength.conf', PASSWORD_STRENGTH, false],
  ];
  // Only when no TCP_FILE exists at all: a new ~vpopmail/etc/tcp.smtp would shadow /etc/tcp.smtp.
  const tcpFile = tcpRulesFile({ etcDir: etc });
  if (tcpFile === join(etc, 'tcp.smtp')) etcFiles.push(['tcp.smtp', TCP_SMTP, false]);
  for (const [name, text, vpopmailOwned] of etcFiles) {
    const path = join(etc, name);
    if (existsSync(path)) continue;
    writeFileSync(path, text, { mode: 0o644 });
    chmodSync(path, 0o644);
    if (vpopmailOwned) own(path);
    process.stdout.write(`installed ${path}\n`);
  }
}

main();
