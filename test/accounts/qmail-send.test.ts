import test from 'ava';
import { spawn } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { signalQmailSend } from '../../lib/accounts/qmail-send.ts';
import { tempDir } from '../helpers/cdb-tools.ts';

function until(child: ReturnType<typeof spawn>): Promise<NodeJS.Signals | null> {
  return new Promise((resolve) => child.on('close', (_code, signal) => resolve(signal)));
}

test('only a process named qmail-send is signalled, not one that merely mentions it', async (t) => {
  const dir = tempDir(t);
  const fake = join(dir, 'qmail-send');
  symlinkSync('/bin/sleep', fake);
  const real = spawn(fake, ['30'], { stdio: 'ignore' });
  const bystander = spawn('/bin/sh', ['-c', 'sleep 30; : qmail-send'], { stdio: 'ignore' });
  t.teardown(() => {
    real.kill('SIGKILL');
    bystander.kill('SIGKILL');
  });
  // Give both a moment to exec (a fresh child still has its parent's name).
  for (let i = 0; i < 200 && signalQmailSend() === 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.is(await until(real), 'SIGHUP');
  t.is(bystander.exitCode, null);
  t.is(bystander.signalCode, null);
});
