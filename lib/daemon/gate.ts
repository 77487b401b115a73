// One store operation at a time, with the event loop running between them.
//
// Why: the stores (lib/store, the cdb backend, lib/accounts over them) are synchronous and take
// file locks that wait synchronously. The daemon therefore never calls them directly from a
// session; every store operation is a job on this gate:
// - jobs run one after another, so a read-modify-write of one session (mod_user reads the account
//   at `mod_user <addr>` and writes it after `.`, with network waits in between) is applied inside
//   a single job on a fresh read, and no two sessions of this daemon ever contend for a lock;
// - before each job the gate yields to the event loop (setImmediate), so sockets, timers and the
//   async work of other sessions (file transfers, directory walks) proceed between jobs;
// - a job's cost is bounded by the size of the store it touches (one domain's vpasswd, the assign
//   file), never by what a client sends: client input is bounded by LINE_MAX_BYTES per line, and
//   work that grows with client input (write_file data, read_file, list_dir, rm_dir, size walks)
//   runs outside the gate on async fs calls.
// It is also what keeps the daemon alive: lib/accounts holds its operation locks (lib/store/lock.ts,
// owner files keyed by pid) across awaits, so two overlapping operations in one process would have
// the second wait synchronously for a lock only the first, now frozen, could release.
// A lock held by another process (a command-line tool) still stalls the daemon while the job waits
// for it; lib/store/lock.ts waits at most its timeout (20 s) and then the job fails with TempError.

export class Gate {
  private tail: Promise<void> = Promise.resolve();

  /** Run fn after every job queued before it; its result or error is passed through. */
  run<T>(fn: () => T | Promise<T>): Promise<T> {
    const job = this.tail.then(yieldToEventLoop).then(fn);
    this.tail = job.then(
      () => undefined,
      () => undefined,
    );
    return job;
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
