// vkill: exact process names from /proc (pitfall S13), in-process over a /proc-shaped tree and as built on real processes.
import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findProcessesByName } from '../../lib/process-names.ts';
import { tempDir } from '../helpers/cdb-tools.ts';
import { programPath } from '../helpers/accounts-home.ts';

/** A /proc-shaped directory: pid -> [comm, argv]. */
function procTree(t: Parameters<typeof tempDir>[0], procs: Record<string, [string, string[]]>): string {
  const dir = tempDir(t);
  for (const [pid, [comm, argv]] of Object.entries(procs)) {
    mkdirSync(join(dir, pid));
    writeFileSync(join(dir, pid, 'comm'), `${comm}\n`);
    writeFileSync(join(dir, pid, 'cmdline'), `${argv.join('\0')}\0`);
  }
  mkdirSync(join(dir, 'self'));
  mkdirSync(join(dir, 'sys'));
  return dir;
}

test('only processes whose name is exactly the one given are found, never those that merely mention it', (t) => {
  const proc = procTree(t, {
    '10': ['qmail-send', ['qmail-send']],
    '11': ['tail', ['tail', '-f', '/var/log/qmail-send/current']],
    '12': ['supervise', ['supervise', 'qmail-send']],
    '13': ['qmail-sendx', ['qmail-sendx']],
    '14': ['qmail-sen', ['qmail-sen']],
    '15': ['vim', ['vim', 'qmail-send']],
    '16': ['qmail-send', ['/var/qmail/bin/qmail-send']],
  });
  t.deepEqual(findProcessesByName('qmail-send', { procDir: proc, selfPid: 1 }).sort(), [10, 16]);
  t.deepEqual(findProcessesByName('send', { procDir: proc, selfPid: 1 }), []);
  t.deepEqual(findProcessesByName('qmail-send', { procDir: proc, selfPid: 10 }), [16]);
});

test('names longer than the 15 bytes the kernel keeps must match argv[0]\'s last component as well', (t) => {
  const proc = procTree(t, {
    '20': ['vpopmail-very-l', ['/opt/bin/vpopmail-very-long-name']],
    '21': ['vpopmail-very-l', ['/opt/bin/vpopmail-very-long-other']],
    '22': ['vpopmail-very-l', ['vpopmail-very-long-name', '--flag']],
  });
  t.deepEqual(findProcessesByName('vpopmail-very-long-name', { procDir: proc, selfPid: 1 }).sort(), [20, 22]);
  t.deepEqual(findProcessesByName('vpopmail-very-l', { procDir: proc, selfPid: 1 }).sort(), [20, 21, 22]);
});

test('an empty name, a path or a missing /proc find nothing', (t) => {
  const proc = procTree(t, { '30': ['x', ['x']] });
  t.deepEqual(findProcessesByName('', { procDir: proc, selfPid: 1 }), []);
  t.deepEqual(findProcessesByName('/bin/x', { procDir: proc, selfPid: 1 }), []);
  t.deepEqual(findProcessesByName('x', { procDir: join(proc, 'nothing'), selfPid: 1 }), []);
});

function exited(child: ChildProcess): Promise<NodeJS.Signals | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.signalCode);
    else child.once('exit', (_code, signal) => resolve(signal));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('the built vkill SIGKILLs the processes of that name and spares one that has the name in its arguments or a longer name', async (t) => {
  const dir = tempDir(t);
  const name = `vk${process.pid}`;
  const target = join(dir, name);
  const longer = join(dir, `${name}x`);
  copyFileSync('/bin/sleep', target);
  copyFileSync('/bin/sleep', longer);
  spawnSync('chmod', ['755', target, longer]);
  const victims = [spawn(target, ['1000'], { stdio: 'ignore' }), spawn(target, ['1000'], { stdio: 'ignore' })];
  const bystanders = [spawn(longer, ['1000'], { stdio: 'ignore' }), spawn('/bin/sh', ['-c', 'sleep 1000', name], { stdio: 'ignore' })];
  t.teardown(() => {
    for (const c of [...victims, ...bystanders]) c.kill('SIGKILL');
  });
  // wait until the kernel shows the new names (exec has happened)
  const deadline = Date.now() + 20_000;
  while (findProcessesByName(name).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const r = spawnSync(programPath('vkill'), [name], { encoding: 'utf8' });
  t.deepEqual([r.status, r.stdout, r.stderr], [0, '', '']);
  for (const v of victims) t.is(await exited(v), 'SIGKILL');
  for (const b of bystanders) t.true(alive(b.pid!), `pid ${b.pid} was spared`);
});

test('vkill: no name prints the usage and exits 255; a path or an unknown option too; no such process is no error', (t) => {
  const none = spawnSync(programPath('vkill'), [], { encoding: 'utf8' });
  t.is(none.status, 255);
  t.regex(none.stdout, /^usage: vkill/);
  t.is(spawnSync(programPath('vkill'), ['/bin/sleep'], { encoding: 'utf8' }).status, 255);
  const bad = spawnSync(programPath('vkill'), ['-x', 'foo'], { encoding: 'utf8' });
  t.is(bad.status, 255);
  t.regex(bad.stderr, /invalid option -- 'x'/);
  const version = spawnSync(programPath('vkill'), ['-v', `no-such-program-${process.pid}`], { encoding: 'utf8' });
  t.deepEqual([version.status, version.stdout], [0, 'version: 5.6.13\n']);
});
