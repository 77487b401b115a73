// Child process for lock and crash tests of lib/store: one operation, optionally with a Durable
// that SIGKILLs the process at the n-th write/fsync/rename.
// Usage: node --import tsx store-child.ts FAULT OP ARGS...   (FAULT: `-` or e.g. `any:3`)
import { appendFileSync } from 'node:fs';
import type { FaultSpec } from '../../lib/config.ts';
import { DURABLE, faultyDurable } from '../../lib/fs/durable.ts';
import { INITIAL_DIR_CONTROL, allocateBucket, readDirControlFile, writeDirControlFile } from '../../lib/store/dir-control.ts';
import { acquireLock } from '../../lib/store/lock.ts';
import { addVpasswdEntry, deleteVpasswdEntry, modifyVpasswdEntry, recoverVpasswd } from '../../lib/store/vpasswd.ts';
import { sampleEntry } from './vpasswd-tree.ts';

const [fault, op, ...args] = process.argv.slice(2);
if (fault === undefined || op === undefined) throw new Error('usage: store-child.ts FAULT OP ARGS...');
const durable =
  fault === '-'
    ? DURABLE
    : faultyDurable({ op: fault.split(':')[0] as FaultSpec['op'], n: Number(fault.split(':')[1]) });

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A small deterministic PRNG, so a failing churn run can be replayed from its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const arg = (i: number): string => {
  const v = args[i];
  if (v === undefined) throw new Error(`${op}: argument ${i + 1} missing`);
  return v;
};

switch (op) {
  case 'hold': {
    acquireLock(arg(0), { timeoutMs: 30_000 });
    process.stdout.write('locked\n');
    for (;;) sleepMs(1000);
  }
  // falls through (never reached)
  case 'log': {
    const rounds = Number(arg(2));
    for (let i = 0; i < rounds; i++) {
      const lock = acquireLock(arg(0), { timeoutMs: 30_000 });
      appendFileSync(arg(1), `start ${process.pid}\n`);
      sleepMs(2);
      appendFileSync(arg(1), `end ${process.pid}\n`);
      lock.release();
    }
    break;
  }
  case 'add':
    addVpasswdEntry(arg(0), sampleEntry(arg(1)), { durable, lockTimeoutMs: 60_000 });
    break;
  case 'delete':
    deleteVpasswdEntry(arg(0), arg(1), { durable });
    break;
  case 'modify':
    modifyVpasswdEntry(arg(0), sampleEntry(arg(1), { gecos: 'Modified', gid: 2 }), { durable });
    break;
  case 'recover':
    recoverVpasswd(arg(0), { durable });
    break;
  case 'churn': {
    // Endless random adds, modifies and deletes of u0..u39, for the random kill -9 test.
    const random = prng(Number(arg(1)));
    process.stdout.write('running\n');
    for (;;) {
      const name = `u${Math.floor(random() * 40)}`;
      const r = random();
      try {
        if (r < 0.5) addVpasswdEntry(arg(0), sampleEntry(name), { durable });
        else if (r < 0.8) modifyVpasswdEntry(arg(0), sampleEntry(name, { gecos: `g${Math.floor(random() * 1e6)}` }), { durable });
        else deleteVpasswdEntry(arg(0), name, { durable });
      } catch (err) {
        if (!(err instanceof Error && err.name === 'VpopmailError')) throw err; // exists: fine
      }
    }
  }
  // falls through (never reached)
  case 'dir-control': {
    const path = arg(0);
    writeDirControlFile(path, allocateBucket(readDirControlFile(path) ?? INITIAL_DIR_CONTROL).state, { durable });
    break;
  }
  default:
    throw new Error(`unknown op ${op}`);
}
