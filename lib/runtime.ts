// Knobs of the runtime a program runs on, each a no-op where the runtime lacks it.

type RuntimeGlobals = {
  Bun?: { gc(force: boolean): void; unsafe?: { setJITPolicy?(scale: number): void } };
  gc?: () => void;
};

/**
 * A full garbage collection now, where the runtime offers one (Bun.gc; Node only with --expose-gc).
 * A bulk import makes strings, task objects and small buffers for every mailbox: left to itself,
 * Bun's collector let the heap grow by a few hundred MiB over a 1,000,000-user import before it
 * caught up (measured peak RSS 445 MiB). Collected every few thousand mailboxes and per domain,
 * memory follows what is live.
 */
export function collectGarbage(): void {
  const g = globalThis as RuntimeGlobals;
  if (g.Bun !== undefined) g.Bun.gc(true);
  else g.gc?.();
}

/**
 * The Bun executable starts with JavaScriptCore's tier-up thresholds scaled up (build.mjs,
 * --compile-jit-policy): most calls are one delivery or one look-up, whose code runs a few times and
 * is done, and compiling it costs more than interpreting it. A program that goes on working (the
 * daemon, a bulk import, a conversion, a bulletin) calls this once it is past its start so that
 * its hot loops get the normal JIT.
 */
export function normalJit(): void {
  (globalThis as RuntimeGlobals).Bun?.unsafe?.setJITPolicy?.(1);
}
