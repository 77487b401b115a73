// 10,000 random request lines, oversized lines among them, in sessions at every level: the daemon
// never crashes, ends every session it is asked to end, keeps answering, and its heap stays bounded.
// VPOPMAILD_FUZZ_SEED repeats a run; VPOPMAILD_FUZZ_LINES changes its size.
import test from 'ava';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { COMMANDS } from '../../lib/daemon/commands.ts';
import { parseRequest } from '../../lib/daemon/protocol.ts';
import { greeted } from './harness.ts';
import { passwordOf, PEOPLE } from './fixtures.ts';
import { world } from './world.ts';

const LINES = Number(process.env.VPOPMAILD_FUZZ_LINES ?? '10000');
const SEED = Number(process.env.VPOPMAILD_FUZZ_SEED ?? String(Date.now() % 1_000_000));
const PER_SESSION = 50;
const PARALLEL = 8;
/** Heap growth allowed over a whole run, after garbage collection. */
const HEAP_BOUND_BYTES = 48 * 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

/** mulberry32: small, seedable, good enough to pick test inputs. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const ARGS = [
  'bob@example.com', 'carol@other.org', 'nobody@example.com', 'x@nosuch.test', 'b(b@example.com', '@', '%', '/',
  'example.com', 'other.org', 'alias.example', 'nosuch.test', 'example.com/', 'example.com/.qmail-fuzz',
  'bob@example.com/Maildir/', 'bob@example.com/fuzz', '/etc/passwd', '../../etc', 'example.com/../x', '0', '1', '-1',
  '99999999999', '192.0.2.1', 'a'.repeat(300), '\t', '=', ':', '.', '..',
];

const ENDS = new Set(['quit', 'exit', 'q']);

/**
 * A random line that does not end the session: after quit the daemon closes while the client is
 * still sending, and the kernel's reset then throws away replies the test wants to read.
 */
function randomLine(rand: () => number): string {
  const line = anyLine(rand);
  return ENDS.has(parseRequest(line)?.verb ?? '') ? `x${line}` : line;
}

function anyLine(rand: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const r = rand();
  if (r < 0.4) {
    const verb = pick(COMMANDS.filter((c) => !ENDS.has(c.verb))).verb;
    const args = Array.from({ length: Math.floor(rand() * 4) }, () => pick(ARGS));
    return [rand() < 0.1 ? verb.toUpperCase() : verb, ...args].join(pick([' ', '  ', '\t']));
  }
  if (r < 0.7) {
    // Random bytes, no LF (that would make it two lines).
    const n = Math.floor(rand() * 200);
    let s = '';
    for (let i = 0; i < n; i++) {
      const b = Math.floor(rand() * 256);
      s += String.fromCharCode(b === 10 ? 32 : b);
    }
    return s;
  }
  if (r < 0.75) return 'y'.repeat(1024 + Math.floor(rand() * 200_000));
  return pick(['no_pop 1', 'comment fuzz', 'clear_text_password fuzz', 'max_aliases 3', '.', '', '\r', 'quota 1M', 'delete_spam 1']);
}

test(`${LINES} random lines and oversized lines never crash the daemon and its heap stays under ${HEAP_BOUND_BYTES / 1048576} MiB of growth`, async (t) => {
  t.timeout(10 * 60_000);
  const w = await world(t, '', { limits: { idleTimeoutMs: 5000 } });
  t.log(`seed ${SEED}`);
  const rand = prng(SEED);
  const logins: (keyof typeof PEOPLE | undefined)[] = [undefined, 'admin', 'postmaster', 'bob', 'qaover'];
  const sessions = Math.ceil(LINES / PER_SESSION);
  const plans = Array.from({ length: sessions }, (_, i) => ({
    who: logins[i % logins.length],
    lines: Array.from({ length: PER_SESSION }, () => randomLine(rand)),
  }));
  // Warm up (module loading, first allocations) before the heap baseline.
  await (await greeted(w.server)).command('quit');
  const before = heapAfterGc();

  let next = 0;
  let ended = 0;
  let loggedIn = 0;
  async function runner(): Promise<void> {
    for (let i = next++; i < plans.length; i = next++) {
      const { who: wanted, lines } = plans[i]!;
      const c = await greeted(w.server);
      let who = wanted;
      if (who !== undefined) {
        const address = PEOPLE[who];
        // A system admin's random rm_dir may have removed the domain: then this is a pre-login session.
        const r = await c.command(`slogin ${address} ${passwordOf(address)}`);
        if (r.status !== '+OK ') who = undefined;
        else loggedIn++;
      }
      for (const l of lines) c.write(`${l}\r\n`);
      // Close whatever block is open (a line exactly "." ends every kind), then quit.
      c.write('.\r\n.\r\nquit\r\n');
      const rest = await c.rest(60_000);
      if (who !== undefined) t.true(rest.endsWith('+OK \r\n') || rest.includes('-ERR 42.') || rest.includes('-ERR 3.106'), `session ${i} (${who}) did not end with quit's +OK: ${JSON.stringify(rest.slice(-300))} after ${JSON.stringify(lines.map((l) => l.slice(0, 60)))}`);
      ended++;
    }
  }
  await Promise.all(Array.from({ length: PARALLEL }, runner));
  // Every session ended by quit, the pre-login limits or end of input: none by a crash or timeout.
  t.deepEqual(w.io.lines.filter((l) => / end /.test(l) && !/reason=(quit|too-many|eof)/.test(l)), []);
  t.deepEqual(w.io.lines.filter((l) => /session failed/.test(l)), []);
  t.is(ended, sessions);
  t.true(loggedIn > 0);
  t.log(`${loggedIn} of ${sessions} sessions logged in`);

  const after = heapAfterGc();
  t.log(`heap before ${(before / 1048576).toFixed(1)} MiB, after ${(after / 1048576).toFixed(1)} MiB`);
  t.true(after - before < HEAP_BOUND_BYTES, `heap grew by ${after - before} bytes`);
  const c = await greeted(w.server);
  t.is((await c.command('help')).status, '+OK+');
  t.is((await c.command('quit')).status, '+OK ');
  await c.closed();
  await new Promise((r) => setTimeout(r, 100));
  t.is(w.server.sessions, 0, 'no session left hanging');
});
