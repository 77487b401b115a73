import test from 'ava';
import { collectGarbage, normalJit } from '../lib/runtime.ts';

// Under ava the runtime is Node: Bun's knobs are stood in for on globalThis, one test at a time.
function withBun(t: import('ava').ExecutionContext, bun: unknown): void {
  const g = globalThis as { Bun?: unknown };
  t.is(g.Bun, undefined, 'these tests expect to run on Node');
  g.Bun = bun;
  t.teardown(() => delete g.Bun);
}

test.serial('normalJit gives a Bun executable the normal JIT policy (scale 1)', (t) => {
  const calls: number[] = [];
  withBun(t, { gc() {}, unsafe: { setJITPolicy: (scale: number) => calls.push(scale) } });
  normalJit();
  t.deepEqual(calls, [1]);
});

test.serial('normalJit and collectGarbage do nothing where the runtime lacks the knob', (t) => {
  t.notThrows(() => normalJit());
  t.notThrows(() => collectGarbage());
  withBun(t, { gc() {} });
  t.notThrows(() => normalJit());
});

test.serial('collectGarbage asks Bun for a full, synchronous collection', (t) => {
  const calls: boolean[] = [];
  withBun(t, { gc: (force: boolean) => calls.push(force) });
  collectGarbage();
  t.deepEqual(calls, [true]);
});
