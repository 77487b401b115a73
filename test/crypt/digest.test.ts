// The per-runtime digests behind the crypt round loops agree with each other and with OpenSSL, and
// the whole verification gives the same answers under Bun (where vpopmail's other programs run).
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { availableDigestImpls, DIGEST_SIZE, makeDigest, type DigestName } from '../../lib/crypt/digest.ts';
import { sha512 } from '../../lib/crypt/sha512.ts';
import { preferredShaCryptImpl, shaCrypt } from '../../lib/crypt/sha-crypt.ts';
import { md5Crypt } from '../../lib/crypt/md5-crypt.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const BUN = join(ROOT, 'node_modules/@oven/bun-linux-x64/bin/bun');
const LENGTHS = [0, 1, 55, 56, 63, 64, 111, 112, 113, 127, 128, 129, 239, 240, 255, 256, 1000];

test('the pure-TS SHA-512 matches OpenSSL on both sides of every block boundary', (t) => {
  for (const n of LENGTHS) {
    const data = randomBytes(n);
    t.is(Buffer.from(sha512(data)).toString('hex'), createHash('sha512').update(data).digest('hex'), `${n} bytes`);
  }
});

for (const name of ['sha512', 'sha256', 'md5'] as const satisfies readonly DigestName[]) {
  test(`every ${name} implementation this runtime offers matches createHash, reusing its output array`, (t) => {
    const impls = availableDigestImpls(name);
    t.true(impls.length >= 2);
    for (const impl of impls) {
      const digest = makeDigest(name, impl);
      const out = Buffer.alloc(DIGEST_SIZE[name]);
      for (const n of LENGTHS) {
        const data = randomBytes(n);
        digest(data, out);
        t.is(Buffer.from(out).toString('hex'), createHash(name).update(data).digest('hex'), `${impl} ${n} bytes`);
      }
    }
  });
}

test('Node picks crypto.hash() when it has it; asking for Bun outside Bun throws', (t) => {
  t.is(availableDigestImpls('sha512')[0], 'node-hash');
  t.throws(() => makeDigest('sha512', 'bun'), { message: /Bun/ });
});

test('SHA-crypt and MD5-crypt give the same hash on every digest implementation', (t) => {
  for (let i = 0; i < 20; i++) {
    const pw = randomBytes(i * 7);
    const salt = randomBytes(12).toString('base64').replace(/[+=]/g, '.').slice(0, 1 + (i % 16));
    const want512 = shaCrypt(pw, `$6$rounds=1000$${salt}`);
    const want256 = shaCrypt(pw, `$5$rounds=1000$${salt}`);
    const wantMd5 = md5Crypt(pw, `$1$${salt}`);
    for (const impl of availableDigestImpls('sha512')) t.is(shaCrypt(pw, `$6$rounds=1000$${salt}`, impl), want512, `${impl} $6$`);
    for (const impl of availableDigestImpls('sha256')) t.is(shaCrypt(pw, `$5$rounds=1000$${salt}`, impl), want256, `${impl} $5$`);
    for (const impl of availableDigestImpls('md5')) t.is(md5Crypt(pw, `$1$${salt}`, impl), wantMd5, `${impl} $1$`);
  }
});

test('under Bun the same hashes verify through Bun.SHA512 and friends, and wrong passwords fail', (t) => {
  t.true(existsSync(BUN), `${BUN} is missing`);
  const dir = mkdtempSync(join(tmpdir(), 'vpop-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'verify.ts');
  writeFileSync(
    script,
    `import { verifyPassword } from ${JSON.stringify(join(ROOT, 'lib/crypt/index.ts'))};
import { availableDigestImpls } from ${JSON.stringify(join(ROOT, 'lib/crypt/digest.ts'))};
const cases = JSON.parse(await Bun.stdin.text());
console.log(JSON.stringify({ impl: availableDigestImpls('sha512')[0], results: cases.map(([p, h]) => verifyPassword(p, h)) }));
`,
  );
  const passwords = Array.from({ length: 8 }, (_, i) => randomBytes(4 + i * 3).toString('base64'));
  const cases: [string, string][] = [];
  for (const flag of ['-1', '-5', '-6']) {
    const hashes = spawnSync('openssl', ['passwd', flag, '-stdin'], { input: `${passwords.join('\n')}\n`, encoding: 'utf8' }).stdout.trim().split('\n');
    passwords.forEach((pw, i) => cases.push([pw, hashes[i]!], [`${pw}x`, hashes[i]!]));
  }
  cases.push(['password', '$2b$05$CCCCCCCCCCCCCCCCCCCCCej4u/wymnCeZpF.2Hcb0tTz2WECoWAkC'], ['password', 'abJnggxhB/yWI']);
  const res = spawnSync(BUN, [script], { input: JSON.stringify(cases), encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
  t.is(res.status, 0, res.stderr.slice(0, 300));
  const out = JSON.parse(res.stdout) as { impl: string; results: boolean[] };
  t.is(out.impl, 'bun');
  t.deepEqual(out.results, cases.map((_, i) => i >= 48 || i % 2 === 0));
});

test('the wasm round loop of SHA-crypt gives OpenSSL\'s hashes for $5$ and $6$, default and explicit rounds', (t) => {
  t.is(preferredShaCryptImpl(), 'wasm-rounds', 'Node takes the wasm round loop');
  const passwords = Array.from({ length: 24 }, (_, i) => randomBytes(1 + i * 4).toString('base64').slice(0, 1 + i * 3));
  const salts = passwords.map((_, i) => randomBytes(12).toString('base64').replace(/[+=]/g, '.').slice(0, 1 + (i % 16)));
  for (const flag of ['-5', '-6']) {
    const want = passwords.map((pw, i) => spawnSync('openssl', ['passwd', flag, '-salt', salts[i]!, '-stdin'], { input: `${pw}\n`, encoding: 'utf8' }).stdout.trim());
    passwords.forEach((pw, i) => {
      const setting = want[i]!.slice(0, want[i]!.lastIndexOf('$'));
      t.is(shaCrypt(Buffer.from(pw), setting, 'wasm-rounds'), want[i], `${flag} ${pw.length}-byte password`);
      t.not(shaCrypt(Buffer.from(`${pw}x`), setting, 'wasm-rounds'), want[i]);
    });
  }
  for (const rounds of [1000, 1001, 4999, 5001, 12345]) {
    const pw = randomBytes(20);
    for (const pre of ['$5$', '$6$']) {
      const setting = `${pre}rounds=${rounds}$saltsalt${rounds}`;
      t.is(shaCrypt(pw, setting, 'wasm-rounds'), shaCrypt(pw, setting, 'node-create-hash'), `${setting}`);
    }
  }
});
