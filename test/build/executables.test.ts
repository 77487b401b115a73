import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emitShaModule } from '../../lib/crypt/sha-wasm.ts';
import { DIST, DIST_BIN, buildInfo } from '../helpers/dist.ts';

// PATH points at an empty directory: no node, bun or npm can be found, so whatever runs is inside
// the executable itself.
function runBare(t: import('ava').ExecutionContext, argv: string[]) {
  const empty = mkdtempSync(join(tmpdir(), 'vpop-empty-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  return spawnSync('/usr/bin/env', ['-i', `PATH=${empty}`, ...argv], { encoding: 'utf8', cwd: empty, timeout: 30_000 });
}

test('the multi-call executable runs with no Node, Bun or npm reachable', (t) => {
  const r = runBare(t, [join(DIST, 'vpopmail'), '--version']);
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /^vpopmail-ts \S+ \(vpopmail 5\.6\.13 compatible\)\n$/);
});

test('every dist/bin program starts with no runtime reachable and never shows a stack trace', (t) => {
  const info = buildInfo();
  t.deepEqual([...info.programs].sort(), info.executables.flatMap((e) => e.programs).sort());
  for (const program of info.programs) {
    const r = runBare(t, [join(DIST_BIN, program)]);
    t.is(r.signal, null, `${program} died of a signal`);
    t.not(r.status, 126, `${program} could not be executed`);
    t.not(r.status, 127, `${program} was not found`);
    t.notRegex(`${r.stdout}${r.stderr}`, /\n\s+at .+\(.*:\d+:\d+\)|node:internal|\$bunfs/, `${program} printed a stack trace`);
  }
});

test('dist/bin holds a hard link per program to the executable that carries it', (t) => {
  const info = buildInfo();
  t.true(info.programs.length > 0, 'the build holds no program');
  for (const e of info.executables) {
    const exe = statSync(join(DIST, e.file));
    for (const program of e.programs) t.is(statSync(join(DIST_BIN, program)).ino, exe.ino, program);
  }
});

test('the multi-call executable dispatches on the first argument and refuses unknown names', (t) => {
  const r = runBare(t, [join(DIST, 'vpopmail'), 'no-such-program']);
  t.is(r.status, 111);
  t.regex(r.stderr, /^vpopmail: no such program: no-such-program\n/);
});

test('vchkpw carries a V8 code cache made after a login, which V8 takes', (t) => {
  // build.mjs fails when the training login fails or V8 rejects the cache; here, that it ran.
  const info = buildInfo();
  t.true(info.setid.includes('vchkpw'));
  t.is(info.vchkpwCodeCache?.accepted, true);
  // Made before anything ran, the cache of the same script was about a quarter of this size.
  t.true((info.vchkpwCodeCache?.bytes ?? 0) > 100_000, `code cache of ${info.vchkpwCodeCache?.bytes} bytes`);
});

test('the Bun executable is laid out by a delivery, a look-up and an added user, run from its first build', (t) => {
  const info = buildInfo();
  if (info.runtime !== 'bun') {
    t.pass('built on Node: no bytecode layout');
    return;
  }
  // build.mjs fails when a layout run exits non-zero or writes no order; here, that the runs went
  // past their argument checks (a usage error or an early exit uses under 40 functions).
  t.deepEqual(info.bytecodeOrder?.map((o) => o.program), ['vdelivermail', 'vuserinfo', 'vadduser']);
  for (const o of info.bytecodeOrder ?? []) {
    t.true(o.functions > 80, `${o.program}: ${o.functions} functions`);
    t.true(o.modules > 5, `${o.program}: ${o.modules} modules`);
  }
});

test('both executables carry the SHA-crypt WebAssembly modules made by the emitter at build time', (t) => {
  // A login must not spend its first milliseconds writing the module bytes (lib/crypt/sha-wasm.ts).
  for (const file of ['vpopmail', 'vchkpw']) {
    const exe = readFileSync(join(DIST, file));
    for (const bits of [256, 512] as const) {
      const b64 = Buffer.from(emitShaModule(bits)).toString('base64');
      t.true(exe.includes(b64), `${file} lacks the prebuilt SHA-${bits} module`);
    }
  }
});
