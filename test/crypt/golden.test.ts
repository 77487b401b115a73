// The golden run's hashes, made by C vpopmail 5.6.13's libc, verify with ours.
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyApop, verifyCramMd5, verifyPassword } from '../../lib/crypt/index.ts';

const GOLDEN = join(process.env['GOLDEN_FIXTURES'] ?? '/work/shared/fixtures', 'golden');
const TREE_DOMAINS = join(GOLDEN, 'tree', 'vpopmail', 'domains');
// run.sh gives these with `-e` (password "hashedpw", fd3-dave); the clear field is then blank or stale.
const GIVEN: Readonly<Record<string, string>> = {
  '$6$Gold3nSa$tgzfiKEBlmebiYch15GKkrR5Tsfn03Mr7afOGTC7oSs3AYGKt6HY1BMJAgR6ODqjkkMawTHcVFzf7wYuwfII6/': 'hashedpw',
  '$1$Gold3nSa$SCZGo/u1MpOW7fVg02r6g.': 'hashedpw',
};

interface Entry {
  readonly user: string;
  readonly hash: string;
  readonly clear: string;
}

function vpasswdEntries(text: string): Entry[] {
  const out: Entry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 8 || !/^(\$[156]\$|[./0-9A-Za-z]{13}$)/.test(f[1]!)) continue;
    out.push({ user: f[0]!, hash: f[1]!, clear: f.slice(7).join(':') });
  }
  return out;
}

test('the fixture hashes given with -e verify with hashedpw and refuse a near miss', (t) => {
  for (const [hash, pw] of Object.entries(GIVEN)) {
    t.true(verifyPassword(pw, hash), hash.slice(0, 3));
    t.false(verifyPassword('hashedpW', hash), hash.slice(0, 3));
  }
});

test('every vpasswd line of the golden tree verifies with its clear-text field (or hashedpw), alice with alicepw2', (t) => {
  t.true(existsSync(TREE_DOMAINS), `${TREE_DOMAINS} is missing`);
  let checked = 0;
  for (const domain of readdirSync(TREE_DOMAINS)) {
    const path = join(TREE_DOMAINS, domain, 'vpasswd');
    if (!existsSync(path)) continue;
    for (const e of vpasswdEntries(readFileSync(path, 'utf8'))) {
      const pw = GIVEN[e.hash] ?? e.clear;
      t.true(verifyPassword(pw, e.hash), `${e.user}@${domain}`);
      if (checked % 10 === 0) t.false(verifyPassword(`${pw}x`, e.hash), `${e.user}@${domain}: a wrong password`);
      if (`${e.user}@${domain}` === 'alice@example.test') t.is(e.clear, 'alicepw2', 'alice after vpasswd');
      checked++;
    }
  }
  t.true(checked > 260, `checked ${checked} users`);
});

test("the transcript's vpasswd states verify, alice's first password (alicepw1) among them", (t) => {
  const text = readFileSync(join(GOLDEN, 'transcript.md'), 'utf8');
  const seen = new Set<string>();
  const users = new Set<string>();
  for (const e of vpasswdEntries(text)) {
    if (seen.has(e.hash)) continue;
    seen.add(e.hash);
    users.add(`${e.user}:${e.clear}`);
    // erin's $1$Gold3nSa hash came from vmoduser -e, which kept her old clear field.
    const pw = GIVEN[e.hash] ?? e.clear;
    t.true(verifyPassword(pw, e.hash), e.user);
  }
  t.true(users.has('alice:alicepw1'));
});

test("the golden CRAM-MD5 and APOP exchanges for alice (alicepw2) verify and the wrong digest does not", (t) => {
  const stamp = '<1896.697170952@mail.golden.test>';
  t.true(verifyCramMd5('alicepw2', stamp, '0ab4cad68da152c4675a9cfbaf743abb'));
  t.false(verifyCramMd5('alicepw2', stamp, '00000000000000000000000000000000'));
  t.true(verifyApop('alicepw2', stamp, '5bdd3c3489986a56e24eb12352ea09d9'));
  t.false(verifyApop('alicepw1', stamp, '5bdd3c3489986a56e24eb12352ea09d9'));
});
