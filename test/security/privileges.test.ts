// Privileges: a set-uid or set-gid vchkpw run by nobody cannot be steered by its caller (runtime
// options, paths, the fault switch, locale, TZ, LD_* — test/build/setuid.test.ts's approach widened),
// a root vchkpw drops every privilege before the next program and writes lastauth without following
// the user's symlinks, root tools do not follow symlinks out of a domain, and every file our
// programs make has the mode and owner of C's golden tree whatever umask they are started with.
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { recordOutput } from '../helpers/capture.ts';
import { DIST, buildInfo } from '../helpers/dist.ts';
import { checkpassword } from '../helpers/mail-world.ts';
import { qmailLocalEnv } from '../helpers/qmail-env.ts';
import { listPaths, makeWorld, runBuilt, summarize, TRACE, type World } from '../helpers/reliability.ts';

const NOBODY = 65534;
const D = 'priv.test';
const GOLDEN_LISTING = '/work/shared/fixtures/golden/tree-listing.txt';
const GOLDEN_TRANSCRIPT = '/work/shared/fixtures/golden/transcript.md';
let trials = 0;
let failures = 0;
const count = (ok: boolean) => {
  trials++;
  if (!ok) failures++;
};

interface Hostile {
  readonly dir: string;
  readonly env: Record<string, string>;
  pwned(): string[];
}

/**
 * A directory the caller controls, and an environment pointing everything a runtime or libc might
 * read into it: code to preload (a real shared object whose constructor leaves a marker, and JS),
 * FIFOs where a time zone, locale, OpenSSL or ICU file would be read (opening one blocks, so a
 * program that reads it hangs and the run times out), a fake vpopmail home and the fault switch.
 */
function hostileDir(t: ExecutionContext): Hostile {
  const dir = mkdtempSync(join(tmpdir(), 'vpop-hostile-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o777);
  const marker = (tag: string) => join(dir, `pwned-${tag}`);
  writeFileSync(join(dir, 'evil.c'), `#include <stdio.h>\n#include <unistd.h>\n__attribute__((constructor)) static void pwn(void) { char p[4096]; snprintf(p, sizeof p, "${marker('so')}-%d", (int)geteuid()); FILE *f = fopen(p, "w"); if (f) fclose(f); }\n`);
  const cc = spawnSync('cc', ['-shared', '-fPIC', '-o', join(dir, 'evil.so'), join(dir, 'evil.c')], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc failed: ${cc.stderr}`);
  for (const lib of ['libc.so.6', 'libstdc++.so.6', 'libdl.so.2', 'libm.so.6', 'libpthread.so.0']) copyFileSync(join(dir, 'evil.so'), join(dir, lib));
  writeFileSync(join(dir, 'evil.js'), `require('fs').writeFileSync(${JSON.stringify(marker('js'))} + '-' + process.geteuid(), 'x');`);
  for (const fifo of ['tz', 'openssl.cnf', 'icudt.dat', 'localtime']) spawnSync('mkfifo', [join(dir, fifo)]);
  mkdirSync(join(dir, 'locale', 'C.UTF-8'), { recursive: true });
  spawnSync('mkfifo', [join(dir, 'locale', 'C.UTF-8', 'LC_CTYPE')]);
  mkdirSync(join(dir, 'fakehome', 'etc'), { recursive: true });
  writeFileSync(join(dir, 'fakehome', 'etc', 'defaultdomain'), 'evil.test\n');
  const evil = join(dir, 'evil.js');
  // what a runtime might read from the working directory
  writeFileSync(join(dir, '.env'), `NODE_OPTIONS=--require ${evil}\nBUN_OPTIONS=--preload=${evil}\nVPOPMAIL_HOME=${join(dir, 'fakehome')}\n`);
  writeFileSync(join(dir, 'bunfig.toml'), `preload = ["${evil}"]\n`);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'x', main: 'evil.js' }));
  for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o777);
  const env: Record<string, string> = {
    PATH: `${dir}:/usr/bin:/bin`,
    NODE_OPTIONS: `--require ${evil}`,
    BUN_OPTIONS: `--preload=${evil}`,
    BUN_BE_BUN: '1',
    NODE_V8_COVERAGE: join(dir, 'pwned-coverage'),
    NODE_REDIRECT_WARNINGS: join(dir, 'pwned-warnings'),
    NODE_ICU_DATA: dir,
    NODE_EXTRA_CA_CERTS: join(dir, 'openssl.cnf'),
    OPENSSL_CONF: join(dir, 'openssl.cnf'),
    OPENSSL_MODULES: dir,
    SSL_CERT_FILE: join(dir, 'openssl.cnf'),
    LD_PRELOAD: join(dir, 'evil.so'),
    LD_AUDIT: join(dir, 'evil.so'),
    LD_LIBRARY_PATH: dir,
    LD_DEBUG: 'all',
    LD_DEBUG_OUTPUT: join(dir, 'pwned-lddebug'),
    LD_PROFILE: 'libc.so.6',
    GCONV_PATH: dir,
    MALLOC_CHECK_: '3',
    GLIBC_TUNABLES: 'glibc.malloc.check=3',
    TZ: join(dir, 'tz'),
    TZDIR: dir,
    LOCPATH: join(dir, 'locale'),
    LC_ALL: 'C.UTF-8',
    LANG: 'C.UTF-8',
    NLSPATH: join(dir, 'tz'),
    HOSTALIASES: join(dir, 'tz'),
    TMPDIR: dir,
    VPOPMAIL_HOME: join(dir, 'fakehome'),
    QMAIL_HOME: join(dir, 'fakehome'),
    VPOPMAIL_FAULT: 'write:1',
  };
  return { dir, env, pwned: () => readdirSync(dir).filter((f) => f.startsWith('pwned')) };
}

/** The variables a JavaScript runtime reads (NODE_*, BUN_*): a set-id start re-executes itself without them (lib/cli/main.ts). */
const RUNTIME_VAR = /^(NODE_|BUN_|UV_)/;
function withoutRuntimeVars(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !RUNTIME_VAR.test(k)));
}

/** The test's own proof that its shared object would leave a marker if loaded. */
test('the hostile shared object does leave its marker when a program honours LD_PRELOAD', (t) => {
  const h = hostileDir(t);
  const r = spawnSync('/bin/true', [], { env: { PATH: '/usr/bin:/bin', LD_PRELOAD: h.env['LD_PRELOAD']! } });
  t.is(r.status, 0);
  t.deepEqual(h.pwned(), ['pwned-so-0']);
});

interface NamespaceRun {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

// A private mount namespace in which /home/vpopmail and /var/qmail (the compiled-in paths) are
// the world's: a missing mount point is made in an overlay over its parent whose upper layer is a
// tmpfs of the namespace, so the real / is never written (test/helpers/golden.ts does the same).
const NAMESPACE = String.raw`
set -eu
n=0
ensure_dir() {
  [ -d "$1" ] && return 0
  parent=$(dirname "$1")
  ensure_dir "$parent"
  n=$((n + 1)); s="$SCRATCH/$n"; mkdir -p "$s"
  mount -t tmpfs -o mode=0755 vpop-priv "$s"; mkdir "$s/upper" "$s/work"
  mount -t overlay -o "lowerdir=$parent,upperdir=$s/upper,workdir=$s/work" vpop-priv "$parent"
  [ "$(findmnt -n -o FSTYPE -T "$parent")" = overlay ] || { echo "no overlay on $parent" >&2; exit 97; }
  mkdir "$1"
}
ensure_dir /home/vpopmail
ensure_dir /var/qmail
mount --bind "$WORLD/vpopmail" /home/vpopmail
mount --bind "$WORLD/qmail" /var/qmail
cd "$CWD"
exec setpriv --reuid=$RUN_UID --regid=$RUN_GID --clear-groups -- /bin/sh -c 'umask 000; exec "$@" 3<"$FD3"' sh /usr/bin/env -i "$@"
`;

/** Run `exe args` as nobody under umask 000 with `env` only, fd 3 from a file, in the namespace above. */
function runAsNobody(t: ExecutionContext, w: World, exe: string, args: readonly string[], env: Record<string, string>, fd3: Buffer, cwd: string): NamespaceRun {
  const scratch = mkdtempSync(join(tmpdir(), 'vpop-ns-'));
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
  chmodSync(scratch, 0o755); // nobody opens fd 3 from here
  const fd3File = join(scratch, 'fd3');
  writeFileSync(fd3File, fd3, { mode: 0o644 });
  const envArgs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', NAMESPACE, 'ns', ...envArgs, exe, ...args], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', WORLD: w.root, SCRATCH: scratch, FD3: fd3File, CWD: cwd, RUN_UID: String(NOBODY), RUN_GID: String(NOBODY) },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000, // a program that opened one of the FIFOs hangs: killed here, and the test fails
  });
  recordOutput('vchkpw', args, r.stdout, r.stderr);
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** A copy of the executable carrying vchkpw, named vchkpw, set-uid root or set-gid root. */
function setIdCopy(t: ExecutionContext, mode: number): string {
  const carrier = buildInfo().executables.find((e) => e.programs.includes('vchkpw'));
  if (carrier === undefined) throw new Error('vchkpw is not in the build');
  const dir = mkdtempSync(join(tmpdir(), 'vpop-setid-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const exe = join(dir, 'vchkpw');
  copyFileSync(join(DIST, carrier.file), exe);
  chownSync(exe, 0, 0);
  chmodSync(exe, mode);
  return exe;
}

async function loginWorld(t: ExecutionContext): Promise<World> {
  // On the ordinary disk: /home/vpopmail is bound to it; everything reachable by nobody and 89.
  const w = makeWorld(t, { base: tmpdir() });
  await w.addDomain(D, 'Priv-pm-pw-1');
  await w.addUser(`alice@${D}`, 'Alice-priv-pw1');
  return w;
}

/** What the next program prints: its ids, groups and capabilities. */
const PROBE = ['/bin/sh', '-c', 'echo "ids=$(id -u):$(id -g):$(id -G)"; grep -E "^Cap(Eff|Prm)" /proc/self/status; echo "cwd=$(pwd)"'];

async function setUidLogin(t: ExecutionContext, env: (h: Hostile) => Record<string, string>): Promise<{ r: NamespaceRun; h: Hostile; w: World; home: string; target: string }> {
  const w = await loginWorld(t);
  const h = hostileDir(t);
  const exe = setIdCopy(t, 0o4755);
  // lastauth is a symlink the user planted, pointing at a root file: it must be replaced, not followed
  const target = join(w.root, 'root-owned-target');
  writeFileSync(target, 'untouched\n', { mode: 0o644 });
  const home = join(w.domainDir(D), 'alice');
  rmSync(join(home, 'lastauth'));
  symlinkSync(target, join(home, 'lastauth'));
  const r = runAsNobody(t, w, exe, PROBE, { ...env(h), TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.70' }, checkpassword(`alice@${D}`, 'Alice-priv-pw1'), h.dir);
  return { r, h, w, home, target };
}

test('a set-uid root vchkpw run by nobody with LD_*, locale, TZ, OpenSSL, path and fault-switch variables and umask 000: loads and reads nothing of the caller\'s, ignores VPOPMAIL_HOME and VPOPMAIL_FAULT, and the session runs as the domain with no privilege left', async (t) => {
  const { r, h, w, home, target } = await setUidLogin(t, (x) => withoutRuntimeVars(x.env));
  t.is(r.signal, null, 'not killed: neither the fault switch nor a FIFO was honoured');
  t.is(r.status, 0, `${r.stdout}${r.stderr}`);
  t.regex(r.stdout, /^ids=89:89:89$/m, "uid, gid and the only group are the domain's");
  t.regex(r.stdout, /^CapEff:\s+0+$/m, 'no effective capabilities');
  t.regex(r.stdout, /^CapPrm:\s+0+$/m, 'no permitted capabilities');
  t.regex(r.stdout, new RegExp(`^cwd=${home}$`, 'm'));
  t.deepEqual(h.pwned(), [], "no code or file of the caller's was used, not even by the session's program");
  t.false(existsSync(join(h.dir, 'fakehome', 'etc', 'open-smtp')), 'the fake home was not used');
  t.is(readFileSync(target, 'latin1'), 'untouched\n', 'the symlink was not followed');
  t.true(lstatSync(join(home, 'lastauth')).isFile(), 'lastauth is a plain file now');
  t.is(modeOf(join(home, 'lastauth')), 'f600 89:89', 'with the golden mode, though umask was 000');
  // C's tree: f644 0:0 (C ran as root). Set-uid only changes the euid, so a new open-smtp takes the
  // caller's group; with mode 0644 the group may do no more than anyone else.
  t.regex(modeOf(join(w.vhome, 'etc', 'open-smtp')), new RegExp(`^f644 0:(0|${NOBODY})$`));
  t.is(modeOf(join(w.vhome, 'etc', 'tcp.smtp.cdb')), 'f644 89:89');
  t.notRegex(`${r.stdout}${r.stderr}`, TRACE);
  count(r.status === 0 && h.pwned().length === 0);
});

// Node marks inherited descriptors close-on-exec and hands NODE_V8_COVERAGE on to its children:
// the clean restart must still get fd 3 to the program and must not restart forever.
test('a set-uid root vchkpw run by nobody with NODE_OPTIONS, BUN_OPTIONS and NODE_V8_COVERAGE set loads nothing of the caller\'s and still reads fd 3 and logs in', async (t) => {
  const { r, h } = await setUidLogin(t, (x) => x.env);
  t.deepEqual(h.pwned(), [], "no code or file of the caller's was used");
  t.is(r.signal, null);
  t.is(r.status, 0, `the login must still work: ${r.stdout}${r.stderr}`);
  t.regex(r.stdout, /^ids=89:89:89$/m);
  t.notRegex(r.stderr, /coverage|Failed to get/, 'no runtime noise in the log');
  count(r.status === 0 && h.pwned().length === 0);
});

test('a set-gid vchkpw run by nobody with the same environment: nothing of the caller\'s loaded, VPOPMAIL_HOME ignored, no login to the fake home', async (t) => {
  const w = await loginWorld(t);
  const h = hostileDir(t);
  const exe = setIdCopy(t, 0o2755);
  // The caller's fake home has a domain and a user whose password the caller knows.
  const r = runAsNobody(t, w, exe, ['/usr/bin/env'], { ...h.env, TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.71' }, checkpassword('postmaster@evil.test', 'x'), h.dir);
  t.is(r.signal, null);
  t.not(r.status, 0, 'no login');
  t.notRegex(r.stdout, /USER=/);
  t.deepEqual(h.pwned(), []);
  t.notRegex(`${r.stdout}${r.stderr}`, TRACE);
  // and a real account is looked up in the compiled-in home, which nobody (egid 0) may not read: 111, not "wrong password"
  const r2 = runAsNobody(t, w, exe, ['/usr/bin/env'], { ...withoutRuntimeVars(h.env), TCPLOCALPORT: '110' }, checkpassword(`alice@${D}`, 'Alice-priv-pw1'), h.dir);
  t.is(r2.signal, null);
  t.is(r2.status, 111, `exit ${r2.status}: ${r2.stderr}`);
  t.deepEqual(h.pwned(), []);
  count(r.status !== 0 && h.pwned().length === 0);
});

function modeOf(path: string): string {
  const st = lstatSync(path);
  const type = st.isSymbolicLink() ? 'l' : st.isDirectory() ? 'd' : 'f';
  return `${type}${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
}

test('root tools do not follow a user\'s symlinks out of the domain: vpopbull writes no bulletin there, vdeluser deletes nothing there', async (t) => {
  const w = makeWorld(t);
  await w.addDomain(D, 'Priv-pm-pw-2');
  await w.addUser(`mallory@${D}`, 'Mallory-pw-1');
  await w.addUser(`gone@${D}`, 'Gone-pw-1');
  const outside = join(w.root, 'outside');
  for (const s of ['new', 'cur', 'tmp']) mkdirSync(join(outside, 'Maildir', s), { recursive: true });
  writeFileSync(join(outside, 'precious'), 'keep me\n');
  const dir = w.domainDir(D);
  // mallory's Maildir points out of the domain; gone's home holds a link to the outside directory
  rmSync(join(dir, 'mallory', 'Maildir'), { recursive: true });
  symlinkSync(join(outside, 'Maildir'), join(dir, 'mallory', 'Maildir'));
  symlinkSync(outside, join(dir, 'gone', 'link-out'));
  const bulletin = join(w.root, 'bulletin');
  writeFileSync(bulletin, 'From: postmaster@priv.test\nSubject: b\nDate: Mon, 01 Jan 2024 00:00:00 +0000\n\nhi\n', { mode: 0o644 });
  const b = await runBuilt('vpopbull', ['-f', bulletin, D], { env: w.env });
  t.notRegex(`${b.stdout}${b.stderr}`, TRACE);
  t.deepEqual(readdirSync(join(outside, 'Maildir', 'new')), [], 'no bulletin through the symlink');
  t.is(readdirSync(join(dir, 'postmaster', 'Maildir', 'new')).length, 1, 'the others got it');
  const d = await runBuilt('vdeluser', [`gone@${D}`], { env: w.env });
  t.is(d.code, 0, d.stdout + d.stderr);
  t.is(readFileSync(join(outside, 'precious'), 'latin1'), 'keep me\n', 'the recursive delete did not follow the link');
  t.false(existsSync(join(dir, 'gone')));
  count(readdirSync(join(outside, 'Maildir', 'new')).length === 0 && existsSync(join(outside, 'precious')));
});

// --- modes of the golden tree ------------------------------------------------------------------

/** A path's role: domain, user, bucket and message names replaced, so C's tree and ours compare. */
function roleOf(rel: string, isDir: boolean): string {
  const parts = rel.split('/');
  if (parts[0] !== 'domains' || parts.length === 1) return rel;
  if (parts.length === 2) return isDir ? 'domains/D' : rel;
  const out = ['domains', 'D'];
  const rest = parts.slice(2);
  let i = 0;
  if (/^[0-9A-Za-z]$/.test(rest[0]!) && rest.length > 1) {
    out.push('B');
    i = 1;
  }
  const last = rest.length - 1;
  out.push(i === last && !isDir ? rest[i]! : 'U');
  for (i++; i <= last; i++) out.push(rest[i - 1] === 'new' || rest[i - 1] === 'cur' ? 'M' : rest[i]!);
  return out.join('/');
}

/**
 * Role -> the `mode uid:gid` values C gave it: in the final tree (tree-listing.txt) and in every
 * listing the golden transcript took along the way (a `.dir-control` is 0600 after vadddomain and
 * 0644 only once vdominfo has rewritten it, so both are C's).
 */
function goldenModes(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const add = (type: string, uid: string, gid: string, path: string) => {
    const rel = path.startsWith('/home/vpopmail/') ? `v:${path.slice(15)}` : path.startsWith('/var/qmail/') ? `q:${path.slice(11)}` : undefined;
    if (rel === undefined) return;
    const role = `${rel.slice(0, 2)}${roleOf(rel.slice(2), type.startsWith('d'))}`;
    if (!out.has(role)) out.set(role, new Set());
    out.get(role)!.add(`${type} ${uid}:${gid}`);
  };
  for (const line of readFileSync(GOLDEN_LISTING, 'utf8').split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const f = line.split(' ');
    add(f[0]!, f[1]!, f[2]!, f[5]!);
  }
  for (const line of readFileSync(GOLDEN_TRANSCRIPT, 'utf8').split('\n')) {
    const m = /^([dfl]\d{3,4}) (\d+) (\d+) \S+ (\/\S+)$/.exec(line);
    if (m !== null) add(m[1]!, m[2]!, m[3]!, m[4]!);
  }
  return out;
}

/** Role -> modes of what is in the world now, leaving out `before` (what the test itself made). */
function ourModes(w: World, before: ReadonlySet<string> = new Set()): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const walk = (base: string, prefix: string, dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (before.has(p)) {
        if (st.isDirectory()) walk(base, prefix, p);
        continue;
      }
      const rel = relative(base, p);
      const role = `${prefix}${roleOf(rel, st.isDirectory())}`;
      if (!out.has(role)) out.set(role, []);
      out.get(role)!.push(`${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'}${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`);
      if (st.isDirectory()) walk(base, prefix, p);
    }
  };
  walk(w.vhome, 'v:', w.vhome);
  walk(w.qhome, 'q:', w.qhome);
  return out;
}

for (const umask of ['000', '077']) {
  test(`files and directories made by the programs under umask ${umask} have the modes and owners of C's golden tree`, async (t) => {
    t.timeout(3 * 60_000);
    const w = makeWorld(t);
    const before = new Set(listPaths(w.root));
    const sh = (program: string, args: readonly string[], extra: Parameters<typeof runBuilt>[2] = {}) =>
      runBuilt('sh', ['-c', `umask ${umask}; exec "$@"`, 'sh', join(DIST, 'bin', program), ...args], { env: w.env, exe: '/bin/sh', ...extra });
    const step = async (what: string, p: ReturnType<typeof sh>) => {
      const r = await p;
      t.is(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
    };
    await step('vadddomain', sh('vadddomain', [D, 'Priv-pm-pw-3']));
    await step('vadduser', sh('vadduser', ['-q', '1M', `alice@${D}`, 'Alice-pw-9']));
    await step('vadduser', sh('vadduser', [`bob@${D}`, 'Bob-pw-9']));
    await step('vmoduser -q', sh('vmoduser', ['-q', '2000000', `bob@${D}`]));
    const dir = join(w.vhome, 'domains', D);
    const msg = join(w.root, 'msg');
    writeFileSync(msg, 'Subject: modes\n\nbody\n', { mode: 0o644 });
    await step('vdelivermail', sh('vdelivermail', ['', 'bounce-no-mailbox'], { stdinFile: msg, cwd: dir, uid: 89, gid: 89, env: { ...w.env, ...qmailLocalEnv('alice', D, dir) } }));
    await step('vchkpw', sh('vchkpw', ['/bin/true'], { fd3: checkpassword(`alice@${D}`, 'Alice-pw-9'), env: { ...w.env, TCPLOCALPORT: '110', TCPREMOTEIP: '192.0.2.72' } }));
    await step('vpopbull', sh('vpopbull', ['-f', msg, D]));
    const golden = goldenModes();
    const ours = ourModes(w, before);
    const wrong: string[] = [];
    let compared = 0;
    for (const [role, modes] of ours) {
      const allowed = golden.get(role);
      if (allowed === undefined) continue; // not in C's tree (our lock owner files, ~vpopmail/locks)
      compared++;
      for (const m of modes) if (!allowed.has(m)) wrong.push(`${role}: ${m}, C has ${[...allowed].join(' or ')}`);
    }
    t.deepEqual(wrong, []);
    t.true(compared >= 15, `only ${compared} kinds of path compared`);
    for (const [role, modes] of ours) {
      for (const m of modes) if (!m.startsWith('l') && (parseInt(m.slice(1, m.indexOf(' ')), 8) & 0o022) !== 0) wrong.push(`${role} is group- or world-writable: ${m}`);
    }
    t.deepEqual(wrong, [], 'nothing group- or world-writable');
    t.log(`umask ${umask}: ${compared} kinds of path compared with the golden tree`);
    count(wrong.length === 0);
  });
}

test.after.always('privileges: one line for the run report', (t) => {
  summarize(t as unknown as ExecutionContext, 'privileges (set-id steering, dropping, symlinks, modes)', trials, failures);
});
