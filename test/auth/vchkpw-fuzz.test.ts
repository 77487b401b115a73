// Hostile fd-3 input: thousands of generated logins through the parser and the decision in-process,
// and a sample through the built executable; only documented exit codes, never a crash or a trace.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseCheckpassword } from '../../lib/auth/checkpassword.ts';
import { detectConnection } from '../../lib/auth/connection.ts';
import { authenticate } from '../../lib/auth/vchkpw.ts';
import { captureIo } from '../../lib/cli/agent.ts';
import { mailWorld, runProgram } from '../helpers/mail-world.ts';

const DOCUMENTED = new Set([0, 1, 2, 3, 12, 13, 15, 20]);

/** A deterministic generator, so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const PIECES = ['alice', 'ALICE', 'Alice', '..', '.', '/', '%', '@', 'example.test', 'EXAMPLE.TEST', 'other.test', '../', '..%2f', '\\', '*', ' ', '\t', '\n', '\u00e9', '\xff\xfe', 'a'.repeat(70), 'postmaster', '\0', ':', '$6$', '{PLAIN}', '-', '+', 'x'];

function generated(r: () => number, i: number): Buffer {
  switch (i % 6) {
    case 0: // raw random bytes, NULs anywhere, up to 512
      return randomBytes(Math.floor(r() * 513));
    case 1: // no NUL at all
      return Buffer.from(Array.from({ length: Math.floor(r() * 300) }, () => 1 + Math.floor(r() * 255)));
    case 2: // invalid UTF-8 around a real-looking login
      return Buffer.concat([Buffer.from('alice@example.test\0', 'latin1'), Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xf0, 0x28, 0x8c, 0xbc]), Buffer.from('\0\0')]);
    case 3: {
      // the real account, in every spelling C accepts, with the right or a near-miss password
      const login = ['alice@example.test', 'ALICE@Example.Test', 'alice%example.test', 'alice/example.test'][Math.floor(r() * 4)]!;
      const secret = r() < 0.5 ? 'alice-pw' : ['Alice-pw', 'alice-p', 'alice-pw ', 'alice-pwx'][Math.floor(r() * 4)]!;
      return Buffer.from(`${login}\0${secret}\0\0`, 'latin1');
    }
    default: {
      const pick = () => PIECES[Math.floor(r() * PIECES.length)]!;
      const login = Array.from({ length: 1 + Math.floor(r() * 5) }, pick).join('');
      const secret = r() < 0.2 ? '' : r() < 0.5 ? 'alice-pw' : Array.from({ length: Math.floor(r() * 4) }, pick).join('');
      const challenge = r() < 0.5 ? '' : '<1.2@h>';
      return Buffer.from(`${login}\0${secret}\0${challenge}\0`, 'latin1');
    }
  }
}

function listTree(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    out.push(p);
    if (statSync(p).isDirectory()) listTree(p, out);
  }
  return out;
}

test('10,000 generated fd-3 inputs give documented answers in-process and touch nothing outside their place', async (t) => {
  const w = await mailWorld(t);
  await w.addDomain('example.test');
  await w.addUser('alice@example.test', 'alice-pw');
  const before = new Set(listTree(w.root));
  const r = rng(12345);
  const codes = new Map<number, number>();
  for (let i = 0; i < 10_000; i++) {
    const data = generated(r, i);
    const io = captureIo();
    const env = { TCPLOCALPORT: ['110', '143', '25', '0'][i % 4]!, TCPREMOTEIP: i % 7 === 0 ? '::1' : `192.0.2.${i % 250}` };
    const conn = detectConnection(env, '/usr/bin/env', w.config.webmailIps);
    const input = parseCheckpassword(Buffer.from(data));
    const decision = await authenticate(input, conn, { config: w.config, backend: w.ctx.backend, env, io, nowSec: 1_800_000_000 });
    const code = decision.kind === 'accept' ? 0 : decision.code;
    codes.set(code, (codes.get(code) ?? 0) + 1);
    if (!DOCUMENTED.has(code)) t.fail(`case ${i}: undocumented code ${code}`);
    if (io.err.includes('\n    at ') || io.out !== '') t.fail(`case ${i}: unexpected output ${JSON.stringify(io.out + io.err).slice(0, 200)}`);
    // a secret that is also part of the login, or of the log's own words, would be found for that reason
    const isTelling = input.secret.length > 3 && !input.login.toLowerCase().includes(input.secret.toLowerCase()) && !/^[a-z .]+$/.test(input.secret);
    if (isTelling && io.err.includes(input.secret)) t.fail(`case ${i}: the offered secret reached the log`);
  }
  t.log(`codes: ${[...codes].map(([c, n]) => `${c}×${n}`).join(' ')}`);
  const allowedNew = [join(w.vhome, 'etc/open-smtp'), join(w.vhome, 'etc/tcp.smtp.cdb'), join(w.vhome, 'etc/open-smtp.lock'), join(w.vhome, 'domains/example.test/alice/lastauth')];
  const added = listTree(w.root).filter((p) => !before.has(p) && !allowedNew.includes(p));
  t.deepEqual(added, [], 'no file appeared outside open-smtp and the user\'s lastauth');
  t.true((codes.get(0) ?? 0) > 0 && (codes.get(3) ?? 0) > 0 && (codes.get(20) ?? 0) > 0, 'the generator reaches the main outcomes');
});

test('200 generated inputs through the built vchkpw exit with documented codes and no trace', async (t) => {
  const w = await mailWorld(t);
  await w.addDomain('example.test');
  await w.addUser('alice@example.test', 'alice-pw');
  const r = rng(777);
  for (let i = 0; i < 200; i++) {
    const data = i % 50 === 49 ? randomBytes(600 + i) : generated(r, i);
    const res = runProgram(w, 'vchkpw', ['/bin/true'], { fd3: data, env: { TCPLOCALPORT: '110' } });
    if (res.status === null || !DOCUMENTED.has(res.status)) t.fail(`case ${i}: exit ${res.status} signal ${res.signal}: ${res.stderr.slice(0, 300)}`);
    if (/\n\s+at |node:internal|Error:/.test(res.stderr)) t.fail(`case ${i}: a trace on stderr: ${res.stderr.slice(0, 300)}`);
  }
  t.pass();
});
