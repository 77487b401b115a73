// Passwords typed at a terminal: asked twice with echo off, a mismatch asked again (a bounded number
// of times), through a real pty made by script(1).
import test from 'ava';
import { spawn } from 'node:child_process';
import { addDomain } from '../../lib/accounts/domains.ts';
import { addUser } from '../../lib/accounts/users.ts';
import { verifyPassword } from '../../lib/crypt/index.ts';
import { domainDir, makeHome, programPath, vpasswdText, type Home } from '../helpers/accounts-home.ts';

/** Run vpasswd on a pty and answer each prompt with the next answer once the prompt has appeared. */
function onTerminal(h: Home, args: readonly string[], answers: readonly string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const command = [programPath('vpasswd'), ...args].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: h.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let answered = 0;
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString('latin1');
      const prompts = output.split(/Please enter password for [^:]+: |enter password again: /).length - 1;
      while (answered < prompts && answered < answers.length) child.stdin.write(`${answers[answered++]}\n`);
      if (answered >= answers.length) child.stdin.end();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

async function setup(t: Parameters<typeof makeHome>[0]): Promise<Home> {
  const h = makeHome(t);
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { clear: 'pw' } } });
  await addUser(h.ctx, { domain: 'example.test', user: 'alice', password: { clear: 'old' } });
  return h;
}

const hashOf = (h: Home) => vpasswdText(domainDir(h, 'example.test')).find((l) => l.startsWith('alice:'))!.split(':')[1]!;

test('a password typed twice on the terminal is set, and neither copy is echoed', async (t) => {
  const h = await setup(t);
  const r = await onTerminal(h, ['alice@example.test'], ['mismatch-one', 'mismatch-two', 'typed-secret', 'typed-secret']);
  t.is(r.code, 0, r.output);
  t.regex(r.output, /Passwords do not match, try again/);
  for (const secret of ['mismatch-one', 'mismatch-two', 'typed-secret']) t.false(r.output.includes(secret), secret);
  t.true(verifyPassword('typed-secret', hashOf(h)));
});

test('after three mismatches the tool gives up and changes nothing', async (t) => {
  const h = await setup(t);
  const before = hashOf(h);
  const r = await onTerminal(h, ['alice@example.test'], ['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
  t.not(r.code, 0);
  t.is(hashOf(h), before);
});
