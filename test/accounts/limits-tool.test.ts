import test from 'ava';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { accountsContext } from '../../lib/accounts/context.ts';
import { addDomain } from '../../lib/accounts/domains.ts';
import {
  applyLimitsChange,
  changeDefaultLimits,
  changeDomainLimits,
  formatLimitsReport,
  parseDefaultQuotaBytes,
  parseGidFlagLetters,
  parseLimitNumber,
  parsePermLetters,
  readDomainLimits,
  removeDomainLimits,
} from '../../lib/accounts/limits-tool.ts';
import { PermError, VA, VpopmailError } from '../../lib/exit.ts';
import { DEFAULT_LIMITS, limitsFlagMask, parseLimits, PW_FLAG, type DomainLimits } from '../../lib/store/limits.ts';
import { goldenStdout, goldenSteps } from '../helpers/admin-golden.ts';
import { domainDir, makeHome } from '../helpers/accounts-home.ts';
import { SQL_FACTORIES } from '../helpers/sql-db.ts';

const steps = goldenSteps();
/** The vlimits.default C ships (golden step 154 shows it). */
const SHIPPED_DEFAULTS = 'maxpopaccounts: -1\nmaxaliases: 0\nmaxforwards: -1\nmaxautoresponders: -1\nmaxmailinglists: -1\nperm_account: 0\nperm_alias: 0\nperm_forward: 0\nperm_autoresponder: 0\nperm_maillist: 0\nperm_quota: 0\nperm_defaultquota: 0\n';

/** Golden step 150: `-P 50 -A 20 -F 10 -R 5 -L 3 -Q 100 -q 10M -M 1000 -m 500 -g ps -p cm -a d`. */
const STEP_150 = {
  maxPopAccounts: 50,
  maxAliases: 20,
  maxForwards: 10,
  maxAutoresponders: 5,
  maxMailinglists: 3,
  diskQuotaMb: 100,
  defaultQuotaBytes: parseDefaultQuotaBytes('10M'),
  maxMsgCount: 1000,
  defaultMaxMsgCount: 500,
  ...parseGidFlagLetters('ps'),
  permAccount: parsePermLetters('p', 'cm'),
  permAlias: parsePermLetters('a', 'd'),
};

async function home(t: Parameters<typeof makeHome>[0]) {
  const h = makeHome(t, { limits: SHIPPED_DEFAULTS });
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { hash: '' } } });
  return { ...h, dir: domainDir(h, 'example.test') };
}

test('the report of the built-in defaults is golden step 149 byte for byte', (t) => {
  t.is(formatLimitsReport('Domain: example.test', DEFAULT_LIMITS), goldenStdout(steps, 149, '/home/vpopmail'));
});

test('the report after golden step 150\'s options is golden step 151 byte for byte', (t) => {
  t.is(formatLimitsReport('Domain: example.test', applyLimitsChange(DEFAULT_LIMITS, STEP_150)), goldenStdout(steps, 151, '/home/vpopmail'));
});

test('the report of C\'s shipped vlimits.default is golden step 154 byte for byte', (t) => {
  t.is(formatLimitsReport('Default limits: /home/vpopmail/etc/vlimits.default', parseLimits(SHIPPED_DEFAULTS)), goldenStdout(steps, 154, '/home/vpopmail'));
});

test('golden step 150\'s options write the .qmailadmin-limits C wrote, 0600', async (t) => {
  const h = await home(t);
  await changeDomainLimits(h.ctx, 'example.test', STEP_150);
  const path = join(h.dir, '.qmailadmin-limits');
  const state = steps.get(150)!.states[0]!;
  if (state.kind !== 'files') throw new Error('golden step 150 records the limits file');
  t.is(readFileSync(path, 'latin1'), state.files[0]!.content.text);
  t.is(statSync(path).mode & 0o7777, 0o600);
});

test('a domain without limits of its own shows and edits the built-in defaults, not vlimits.default (golden steps 149, 153)', async (t) => {
  const h = await home(t);
  const view = await readDomainLimits(h.ctx, 'example.test');
  t.false(view.own);
  t.deepEqual(view.limits, DEFAULT_LIMITS);
  const after = await changeDomainLimits(h.ctx, 'example.test', { maxPopAccounts: 7 });
  t.is(after.maxAliases, -1);
  t.true((await readDomainLimits(h.ctx, 'example.test')).own);
});

test('removeDomainLimits deletes the file, and a domain without one is no error', async (t) => {
  const h = await home(t);
  await changeDomainLimits(h.ctx, 'example.test', { maxPopAccounts: 7 });
  await removeDomainLimits(h.ctx, 'example.test');
  t.false(existsSync(join(h.dir, '.qmailadmin-limits')));
  await removeDomainLimits(h.ctx, 'example.test');
  t.false((await readDomainLimits(h.ctx, 'example.test')).own);
});

test('an unknown domain is VA_DOMAIN_DOES_NOT_EXIST for reading, changing and deleting, and nothing is written', async (t) => {
  const h = await home(t);
  for (const op of [
    () => readDomainLimits(h.ctx, 'nowhere.test'),
    () => changeDomainLimits(h.ctx, 'nowhere.test', { maxPopAccounts: 1 }),
    () => removeDomainLimits(h.ctx, 'nowhere.test'),
  ]) {
    const err = await t.throwsAsync(op(), { instanceOf: VpopmailError });
    t.is(err?.code, VA.DOMAIN_DOES_NOT_EXIST);
  }
  t.false(existsSync(join(h.vhome, 'domains', 'nowhere.test')));
});

test('changeDefaultLimits edits vlimits.default in place of a domain, keeps it 0644, and has nothing to edit when it is missing', async (t) => {
  const h = await home(t);
  const path = join(h.vhome, 'etc', 'vlimits.default');
  const after = await changeDefaultLimits(h.ctx, { maxAliases: 5, ...parseGidFlagLetters('i') });
  t.is(after?.maxAliases, 5);
  t.is(statSync(path).mode & 0o7777, 0o644);
  t.deepEqual(parseLimits(readFileSync(path, 'latin1')), applyLimitsChange(parseLimits(SHIPPED_DEFAULTS), { maxAliases: 5, ...parseGidFlagLetters('i') }));
  const bare = makeHome(t);
  t.is(await changeDefaultLimits(bare.ctx, { maxAliases: 5 }), undefined);
  t.false(existsSync(join(bare.vhome, 'etc', 'vlimits.default')));
});

const GID_LETTERS: readonly [string, number][] = [
  ['u', PW_FLAG.NO_DIALUP],
  ['d', PW_FLAG.NO_PASSWD_CHNG],
  ['p', PW_FLAG.NO_POP],
  ['s', PW_FLAG.NO_SMTP],
  ['w', PW_FLAG.NO_WEBMAIL],
  ['i', PW_FLAG.NO_IMAP],
  ['r', PW_FLAG.NO_RELAY],
  ['c', PW_FLAG.NO_SPAMASSASSIN],
  ['x', PW_FLAG.DELETE_SPAM],
  ['m', PW_FLAG.NO_MAILDROP],
];

test('every -g letter sets exactly its account flag, and any set of letters replaces all ten (1024 sets)', (t) => {
  for (let set = 0; set < 1 << GID_LETTERS.length; set++) {
    const letters = GID_LETTERS.filter((_, i) => (set & (1 << i)) !== 0);
    const limits = applyLimitsChange({ ...DEFAULT_LIMITS, ...parseGidFlagLetters('udpswircxm') }, parseGidFlagLetters(letters.map(([l]) => l).join('')));
    t.is(limitsFlagMask(limits), letters.reduce((m, [, bit]) => m | bit, 0), letters.map(([l]) => l).join(''));
  }
});

test('the report lists the set flags and their command-line letters in C\'s order i s p w d r u c x m', (t) => {
  const report = formatLimitsReport('Domain: d.test', applyLimitsChange(DEFAULT_LIMITS, parseGidFlagLetters('mxcurdwpsi')));
  t.regex(report, /GID Flags:\n {2}NO_IMAP\n {2}NO_SMTP\n {2}NO_POP\n {2}NO_WEBMAIL\n {2}NO_PASSWD_CHNG\n {2}NO_RELAY\n {2}NO_DIALUP\n {2}NO_SPAMASSASSIN\n {2}DEL_SPAM\n {2}NO_MAILDROP\nFlags \(for commandline\): ispwdrucxm\n/);
});

test('unknown flag and permission letters are refused, naming the option', (t) => {
  t.throws(() => parseGidFlagLetters('pq'), { instanceOf: PermError, message: /"q"/ });
  t.throws(() => parsePermLetters('p', 'cx'), { instanceOf: PermError, message: /-p/ });
});

test('permission letters give the deny mask: c 1, m 2, d 4, a all, in any combination (every word over acmd up to 3 letters)', (t) => {
  const bits: Record<string, number> = { a: 7, c: 1, m: 2, d: 4 };
  const words = [''];
  for (let n = 0; n < 3; n++) for (const w of [...words]) for (const c of 'acmd') words.push(w + c);
  for (const w of new Set(words)) t.is(parsePermLetters('p', w), [...w].reduce((m, c) => m | bits[c]!, 0), w);
});

test('each permission row of the report shows its three bits with 13-column tokens', (t) => {
  for (let mask = 0; mask < 8; mask++) {
    const report = formatLimitsReport('Domain: d.test', { ...DEFAULT_LIMITS, permMaillistModerators: mask });
    const row = report.split('\n').find((l) => l.startsWith('  mailinglist moderators: '))!;
    const token = (bit: number, what: string) => `${mask & bit ? 'DENY' : 'ALLOW'}_${what}`.padEnd(13);
    t.is(row, `  mailinglist moderators: ${token(1, 'CREATE')}${token(2, 'MODIFY')}${token(4, 'DELETE')}`);
  }
});

test('-q reads C\'s size grammar and refuses a message count (C drops it silently) and text that is no size', (t) => {
  for (const [arg, bytes] of [['10M', 10485760], ['10MB', 10485760], ['1mbs', 1048576], ['500K', 512000], ['5000000', 5000000], ['0', 0], ['NOQUOTA', 0]] as const) {
    t.is(parseDefaultQuotaBytes(arg), bytes, arg);
  }
  for (const arg of ['10M,1000C', '1000C', 'abc', '', '-5']) t.throws(() => parseDefaultQuotaBytes(arg), { instanceOf: PermError }, arg);
});

test('counts are whole numbers within their range; -1 means unlimited', (t) => {
  t.is(parseLimitNumber('P', '-1', -1, 100), -1);
  t.is(parseLimitNumber('P', '+7', -1, 100), 7);
  for (const bad of ['-2', '101', 'ten', '5x', '', '1.5', ' 3']) t.throws(() => parseLimitNumber('P', bad, -1, 100), { instanceOf: PermError }, bad);
});

/** Random limits, list-user and moderator permission bits included (pitfall D1). */
function randomLimits(seed: number): DomainLimits {
  let x = seed;
  const next = (n: number) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x % n;
  };
  const out: Record<string, number | boolean> = {};
  for (const [k, v] of Object.entries(DEFAULT_LIMITS)) {
    if (typeof v === 'boolean') out[k] = next(2) === 1;
    else if (k.startsWith('perm')) out[k] = next(8);
    else if (k.startsWith('max')) out[k] = next(5000) - 1;
    else out[k] = next(1_000_000);
  }
  return out as unknown as DomainLimits;
}

test('limits survive a write and a read unchanged, list-user and moderator bits included (200 generated, pitfall D1)', async (t) => {
  const h = await home(t);
  for (let seed = 1; seed <= 200; seed++) {
    const limits = randomLimits(seed);
    await changeDomainLimits(h.ctx, 'example.test', limits);
    t.deepEqual((await readDomainLimits(h.ctx, 'example.test')).limits, limits, `seed ${seed}`);
  }
});

for (const factory of SQL_FACTORIES.slice(0, 2)) {
  test(`${factory.name}: limits in the limits table survive a write and a read unchanged (30 generated)`, async (t) => {
    const fx = await factory.make(t);
    const ctx = accountsContext(fx.config, fx.backend, 'mail.test', { lockTimeoutMs: 20_000 });
    for (let seed = 1; seed <= 30; seed++) {
      const limits = randomLimits(seed);
      await changeDomainLimits(ctx, fx.domain, limits);
      t.deepEqual((await readDomainLimits(ctx, fx.alias)).limits, limits, `seed ${seed}`);
    }
    await removeDomainLimits(ctx, fx.domain);
    t.false((await readDomainLimits(ctx, fx.domain)).own);
  });
}

test('a limits file C wrote with its perm_quota bug reads as C reads it', async (t) => {
  const h = await home(t);
  // C ORs the list-user bits into perm_quota: perm_quota: 1 | 3<<3 = 25.
  writeFileSync(join(h.dir, '.qmailadmin-limits'), 'maxpopaccounts: 5\nperm_maillist: 2\nperm_quota: 25\n');
  const { limits } = await readDomainLimits(h.ctx, 'example.test');
  t.is(limits.maxPopAccounts, 5);
  t.is(limits.permMaillist, 2);
  t.is(limits.permQuota, 1);
});
