import test from 'ava';
import { MailError, PermError, VA, VpopmailError, vaText } from '../lib/exit.ts';
import {
  NOQUOTA,
  defaultUserQuota,
  formatMaildirQuota,
  isOverQuota,
  isQuotaDisabled,
  parseLeadingInteger,
  parseQuotaLimits,
  parseQuotaStrict,
  quotaPercent,
} from '../lib/quota.ts';

// passwords.md §7.2 table, row by row, plus tools.md §0.4's examples.
const NORMALISED: readonly (readonly [string, string])[] = [
  ['NOQUOTA', 'NOQUOTA'],
  ['10M', '10485760S'],
  ['10MB', '10485760S'],
  ['10mbs', '10485760S'],
  ['10240K', '10485760S'],
  ['10485760', '10485760S'],
  ['10485760S', '10485760S'],
  ['1mbs,1000C', '1048576S,1000C'],
  ['1000C,10MBS', '10485760S,1000C'],
  ['500C', '500C'],
  ['1000c', '1000S'],
  ['1G', '1S'],
  ['0', ''],
  ['abc', ''],
  ['', ''],
  ['-5', '18446744073709551611S'],
  ['5000000', '5000000S'],
];

for (const [input, stored] of NORMALISED) {
  test(`formatMaildirQuota stores ${JSON.stringify(input)} as ${JSON.stringify(stored)}`, (t) => {
    t.is(formatMaildirQuota(input), stored);
  });
}

test('formatMaildirQuota: later parts of a kind win, and empty parts are skipped as strtok does', (t) => {
  t.is(formatMaildirQuota('1M,2M'), '2097152S');
  t.is(formatMaildirQuota('5C,7C'), '7C');
  t.is(formatMaildirQuota(',,100,'), '100S');
  t.is(formatMaildirQuota('1K,0'), '');
});

test('formatMaildirQuota wraps like C: negative counts, huge sizes and multiplied negatives', (t) => {
  t.is(formatMaildirQuota('-1C'), '18446744073709551615C');
  t.is(formatMaildirQuota('-1M'), '18446744073708503040S'); // 2^64 - 2^20
  // strtoll clamps at LLONG_MAX before the unit is applied, then the product wraps.
  t.is(formatMaildirQuota('99999999999999999999'), '9223372036854775807S');
  t.is(formatMaildirQuota('9999999999999999M'), BigInt.asUintN(64, 9999999999999999n * 1048576n).toString() + 'S');
});

test('formatMaildirQuota: NOQUOTA is exact and case-sensitive; lower-case becomes empty', (t) => {
  t.is(formatMaildirQuota('noquota'), '');
  t.is(formatMaildirQuota('NOQUOTA,5C'), '5C');
});

test('formatMaildirQuota refuses more than 20 characters with VA_QUOTA_TOO_LONG', (t) => {
  t.is(formatMaildirQuota('1'.repeat(20)), '9223372036854775807S');
  const err = t.throws(() => formatMaildirQuota('1'.repeat(21)), { instanceOf: VpopmailError });
  t.is(err.code, VA.QUOTA_TOO_LONG);
  t.is(err.message, vaText(VA.QUOTA_TOO_LONG));
  t.is(err.exitCode, 256 + VA.QUOTA_TOO_LONG);
});

test('parseLeadingInteger follows strtoll: blanks, sign, digits, clamping, nothing read', (t) => {
  t.deepEqual(parseLeadingInteger('  -42x'), { value: -42n, end: 5 });
  t.deepEqual(parseLeadingInteger('+7'), { value: 7n, end: 2 });
  t.deepEqual(parseLeadingInteger('x1'), { value: 0n, end: 0 });
  t.deepEqual(parseLeadingInteger('-'), { value: 0n, end: 0 });
  t.is(parseLeadingInteger('-99999999999999999999').value, -(1n << 63n));
});

// passwords.md §7.5: how the delivery code reads a stored quota.
const LIMITS: readonly (readonly [string, { bytes?: number; count?: number }])[] = [
  ['NOQUOTA', {}],
  ['', {}],
  ['10485760S', { bytes: 10485760 }],
  ['500C', { count: 500 }],
  ['1048576S,1000C', { bytes: 1048576, count: 1000 }],
  ['1000C,2000S', { bytes: 2000, count: 1000 }],
  ['5000', { bytes: 5000 }],
  ['10MB', { bytes: 10 }],
  ['0S', { bytes: 0 }],
  ['x12C', { count: 12 }],
  ['18446744073709551611S', { bytes: -5 }],
];

for (const [quota, limits] of LIMITS) {
  test(`parseQuotaLimits reads ${JSON.stringify(quota)} as ${JSON.stringify(limits)}`, (t) => {
    t.deepEqual(parseQuotaLimits(quota), limits);
  });
}

test('over quota means strictly greater than a limit; a limit of 0 refuses any mail', (t) => {
  t.false(isOverQuota({ bytes: 1000 }, { bytes: 900, count: 3 }, 100, 1));
  t.true(isOverQuota({ bytes: 1000 }, { bytes: 900, count: 3 }, 101, 1));
  t.false(isOverQuota({ count: 3 }, { bytes: 0, count: 2 }, 5000, 1));
  t.true(isOverQuota({ count: 3 }, { bytes: 0, count: 3 }, 0, 1));
  t.false(isOverQuota({ bytes: 0 }, { bytes: 0, count: 0 }, 0, 0));
  t.true(isOverQuota({ bytes: 0 }, { bytes: 0, count: 0 }, 1, 1));
  t.false(isOverQuota({}, { bytes: 1e12, count: 1e9 }, 1e9, 1));
  t.true(isOverQuota({ bytes: -5 }, { bytes: 0, count: 0 }, 0, 0), 'a wrapped negative quota refuses everything');
});

test('quotaPercent takes the fuller of bytes and count, rounded down; limit 0 is 100 %', (t) => {
  t.is(quotaPercent({ bytes: 1000000 }, { bytes: 309, count: 1 }), 0);
  t.is(quotaPercent({ bytes: 1000 }, { bytes: 899, count: 1 }), 89);
  t.is(quotaPercent({ bytes: 1000 }, { bytes: 900, count: 1 }), 90);
  t.is(quotaPercent({ bytes: 1000, count: 10 }, { bytes: 100, count: 9 }), 90);
  t.is(quotaPercent({ bytes: 0 }, { bytes: 0, count: 0 }), 100);
  t.is(quotaPercent({}, { bytes: 5, count: 5 }), 0);
});

test('any stored quota starting with NO disables the delivery checks', (t) => {
  t.true(isQuotaDisabled('NOQUOTA'));
  t.true(isQuotaDisabled('NOPE'));
  t.false(isQuotaDisabled('1000S'));
  t.false(isQuotaDisabled(''));
  t.false(isQuotaDisabled('noquota'));
});

// passwords.md §7.3
test('a new user gets <q>S,<n>C, <q>S, <n>C or NOQUOTA from the domain limits', (t) => {
  t.is(defaultUserQuota({ defaultQuota: 5000000, defaultMaxMsgCount: 100 }), '5000000S,100C');
  t.is(defaultUserQuota({ defaultQuota: 5000000, defaultMaxMsgCount: 0 }), '5000000S');
  t.is(defaultUserQuota({ defaultQuota: 0, defaultMaxMsgCount: 100 }), '100C');
  t.is(defaultUserQuota({ defaultQuota: 0, defaultMaxMsgCount: 0 }), NOQUOTA);
  t.is(defaultUserQuota({ defaultQuota: -1, defaultMaxMsgCount: -1 }), NOQUOTA);
});

const STRICT: readonly (readonly [string, string])[] = [
  ['NOQUOTA', 'NOQUOTA'],
  ['noquota', 'NOQUOTA'],
  ['500K', '512000S'],
  ['10M', '10485760S'],
  ['10mb', '10485760S'],
  ['2G', '2147483648S'],
  ['1T', '1099511627776S'],
  ['1234', '1234S'],
  ['1234S', '1234S'],
  ['1000C', '1000C'],
  ['1000c', '1000C'],
  ['10M,1000C', '10485760S,1000C'],
  ['1000C, 10M', '10485760S,1000C'],
];

for (const [input, stored] of STRICT) {
  test(`parseQuotaStrict stores ${JSON.stringify(input)} as ${stored}`, (t) => {
    t.is(parseQuotaStrict(input), stored);
  });
}

for (const bad of ['', '0', '0C', 'abc', '1X', '-5', '10M,20M', '5C,6C', '1,2,3', '1.5G', '9999999999T', '10 M']) {
  test(`parseQuotaStrict refuses ${JSON.stringify(bad)} with a PermError naming the input`, (t) => {
    const err = t.throws(() => parseQuotaStrict(bad), { instanceOf: PermError });
    t.true(err.message.startsWith(`invalid quota ${JSON.stringify(bad)}: `));
    t.false(err.message.includes('\n'));
    t.true(err instanceof MailError);
  });
}
