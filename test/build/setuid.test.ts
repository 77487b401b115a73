// A program an operator may install set-uid root must not be steerable by its caller's environment,
// working directory or arguments: no runtime option, preload, .env, bunfig.toml or path override.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, buildInfo } from '../helpers/dist.ts';

const NOBODY = 65534;

interface Setup {
  readonly exe: string;
  readonly hostile: string;
  readonly fakeHome: string;
}

function setup(t: import('ava').ExecutionContext, program: string): Setup {
  const info = buildInfo();
  const carrier = info.executables.find((e) => e.programs.includes(program));
  if (carrier === undefined) throw new Error(`${program} is not in the build`);
  const base = mkdtempSync(join(tmpdir(), 'vpop-setuid-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  chmodSync(base, 0o755);
  const binDir = join(base, 'bin');
  mkdirSync(binDir, { mode: 0o755 });
  const exe = join(binDir, program);
  copyFileSync(join(DIST, carrier.file), exe);
  chownSync(exe, 0, 0);
  chmodSync(exe, 0o4755);

  // A directory the unprivileged caller controls: code to preload, config files a runtime might read.
  const hostile = join(base, 'hostile');
  mkdirSync(hostile);
  chmodSync(hostile, 0o777);
  const evil = join(hostile, 'evil.js');
  const marker = (tag: string) => `require('fs').writeFileSync(${JSON.stringify(join(hostile, 'pwned-'))} + ${JSON.stringify(tag)} + '-' + process.geteuid(), 'x');`;
  writeFileSync(evil, marker('preload'));
  writeFileSync(join(hostile, 'evil.mjs'), `import fs from 'node:fs'; fs.writeFileSync(${JSON.stringify(join(hostile, 'pwned-import'))}, 'x');`);
  writeFileSync(join(hostile, '.env'), `BUN_OPTIONS=--preload=${evil}\nNODE_OPTIONS=--require ${evil}\nVPOPMAIL_HOME=${join(hostile, 'fakehome')}\n`);
  writeFileSync(join(hostile, 'bunfig.toml'), `preload = ["${evil}"]\n[run]\npreload = ["${evil}"]\n`);
  writeFileSync(join(hostile, 'package.json'), JSON.stringify({ name: 'x', main: 'evil.js', scripts: { start: `node ${evil}` } }));
  writeFileSync(join(hostile, 'tsconfig.json'), JSON.stringify({ compilerOptions: { paths: { '*': [evil] } } }));
  for (const f of readdirSync(hostile)) chmodSync(join(hostile, f), 0o777);
  // A vpopmail home the caller made, with a user whose password the caller knows.
  const fakeHome = join(hostile, 'fakehome');
  mkdirSync(join(fakeHome, 'etc'), { recursive: true });
  writeFileSync(join(fakeHome, 'etc', 'defaultdomain'), 'evil.test\n');
  return { exe, hostile, fakeHome };
}

function hostileEnv(s: Setup): Record<string, string> {
  const evil = join(s.hostile, 'evil.js');
  return {
    PATH: '/usr/bin:/bin',
    NODE_OPTIONS: `--require ${evil} --import ${join(s.hostile, 'evil.mjs')}`,
    BUN_OPTIONS: `--preload=${evil}`,
    BUN_BE_BUN: '1',
    BUN_CONFIG_PRELOAD: evil,
    NODE_PATH: s.hostile,
    NODE_REDIRECT_WARNINGS: join(s.hostile, 'pwned-warnings'),
    NODE_V8_COVERAGE: join(s.hostile, 'pwned-coverage'),
    NODE_DEBUG: 'module,fs',
    NODE_EXTRA_CA_CERTS: evil,
    NODE_ICU_DATA: s.hostile,
    UV_THREADPOOL_SIZE: '1',
    LD_PRELOAD: join(s.hostile, 'evil.so'),
    LD_LIBRARY_PATH: s.hostile,
    LC_ALL: 'C',
    LOCPATH: s.hostile,
    VPOPMAIL_HOME: s.fakeHome,
    QMAIL_HOME: s.hostile,
    VPOPMAIL_FAULT: 'write:1',
  };
}

function runAsNobody(s: Setup, args: string[], fd3?: string) {
  const setpriv = ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups'];
  const envArgs = Object.entries(hostileEnv(s)).map(([k, v]) => `${k}=${v}`);
  const script = fd3 === undefined ? 'exec "$@" 3<&-' : 'exec "$@" 3<"$VPOP_FD3_FILE"';
  let fd3File: string | undefined;
  if (fd3 !== undefined) {
    fd3File = join(s.hostile, 'fd3');
    writeFileSync(fd3File, fd3);
    chmodSync(fd3File, 0o644);
  }
  return spawnSync('setpriv', [...setpriv, '/bin/sh', '-c', script, 'sh', '/usr/bin/env', '-i', ...envArgs, s.exe, ...args], {
    cwd: s.hostile,
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: '/usr/bin:/bin', ...(fd3File === undefined ? {} : { VPOP_FD3_FILE: fd3File }) },
  });
}

function pwned(s: Setup): string[] {
  return readdirSync(s.hostile).filter((f) => f.startsWith('pwned'));
}

test('every program that may be installed set-uid is built on Node SEA, never on Bun', (t) => {
  const info = buildInfo();
  t.true(info.setid.length > 0, 'no set-uid capable program in the build');
  for (const program of info.setid) {
    const carrier = info.executables.find((e) => e.programs.includes(program));
    t.is(carrier?.runtime, 'node', program);
  }
});

for (const program of ['vchkpw']) {
  test(`a set-uid root ${program} run by nobody loads none of the caller's code and ignores VPOPMAIL_HOME`, (t) => {
    const s = setup(t, program);
    // no fd 3: the checkpassword misuse answer
    const r1 = runAsNobody(s, ['/usr/bin/env']);
    t.is(r1.status, 11, `${r1.stdout}${r1.stderr}`);
    // BUN_BE_BUN + -e would make a Bun executable evaluate the argument
    const r2 = runAsNobody(s, ['-e', `require('fs').writeFileSync(${JSON.stringify(join(s.hostile, 'pwned-eval'))}, 'x')`]);
    t.not(r2.status, 0);
    // a login to the caller's fake home must not succeed: the compiled-in home is used
    const r3 = runAsNobody(s, ['/usr/bin/env'], 'postmaster@evil.test\0secret\0\0');
    t.not(r3.status, 0);
    t.notRegex(r3.stdout, /USER=/);
    t.deepEqual(pwned(s), [], 'caller-controlled code or files were used');
    t.false(existsSync(join(s.hostile, 'pwned-warnings')));
    for (const r of [r1, r2, r3]) t.notRegex(`${r.stdout}${r.stderr}`, /\n\s+at |node:internal|ExperimentalWarning/);
  });
}
