import test from 'ava';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TempError, VA, VpopmailError } from '../../lib/exit.ts';
import {
  DEFAULT_LIMITS,
  PW_FLAG,
  deleteLimitsFile,
  domainLimitsPath,
  effectiveFlags,
  formatLimits,
  limitsFlagMask,
  parseLimits,
  readLimitsFile,
  resolveLimits,
  writeLimitsFile,
  type DomainLimits,
} from '../../lib/store/limits.ts';
import { tempDir } from '../helpers/cdb-tools.ts';

const FULL: DomainLimits = {
  ...DEFAULT_LIMITS,
  maxPopAccounts: 10,
  maxAliases: -1,
  maxForwards: 5,
  maxAutoresponders: 0,
  maxMailinglists: 2,
  diskQuotaMb: 100,
  maxMsgCount: 10000,
  defaultQuotaBytes: 10485760,
  defaultMaxMsgCount: 1000,
  disablePop: true,
  disableImap: true,
  disableSmtp: true,
  deleteSpam: true,
  disableMaildrop: true,
  permAccount: 1,
  permAlias: 2,
  permForward: 4,
  permAutoresponder: 7,
  permMaillist: 1,
  permMaillistUsers: 2,
  permMaillistModerators: 4,
  permQuota: 3,
  permDefaultQuota: 5,
};

test('the writer puts every key in C\'s order, flags only when set', (t) => {
  t.is(
    formatLimits(FULL),
    [
      'maxpopaccounts: 10',
      'maxaliases: -1',
      'maxforwards: 5',
      'maxautoresponders: 0',
      'maxmailinglists: 2',
      'quota: 100',
      'maxmsgcount: 10000',
      'default_quota: 10485760',
      'default_maxmsgcount: 1000',
      'disable_pop',
      'disable_imap',
      'disable_smtp',
      'delete_spam',
      'disable_maildrop',
      'perm_account: 1',
      'perm_alias: 2',
      'perm_forward: 4',
      'perm_autoresponder: 7',
      'perm_maillist: 273',
      'perm_quota: 3',
      'perm_defaultquota: 5',
      '',
    ].join('\n'),
  );
});

test('write then read keeps the mailing-list user and moderator bits (C loses them into perm_quota)', (t) => {
  t.deepEqual(parseLimits(formatLimits(FULL)), FULL);
  // What C's writer leaves: the packed bits in perm_quota. C's reader (and ours) masks them off.
  const fromC = parseLimits('perm_maillist: 1\nperm_quota: 275\n');
  t.is(fromC.permQuota, 3);
  t.is(fromC.permMaillistUsers, 0);
  t.is(fromC.permMaillist, 1);
});

test('with no list sub-permissions our bytes are the bytes C writes', (t) => {
  const text = formatLimits({ ...DEFAULT_LIMITS, permMaillist: 5, permQuota: 2 });
  t.regex(text, /\nperm_maillist: 5\nperm_quota: 2\nperm_defaultquota: 0\n$/);
  t.true(text.startsWith('maxpopaccounts: -1\nmaxaliases: -1\nmaxforwards: -1\nmaxautoresponders: -1\nmaxmailinglists: -1\nquota: 0\n'));
});

test('the reader takes space, TAB or colon separators, CR line ends, comments, and ignores the rest', (t) => {
  const l = parseLimits(
    '# comment: maxpopaccounts 1\r\nmaxpopaccounts 7\rmaxaliases\t\t3\nmaxforwards::: 4\n  maxmailinglists: 9\n' +
      'disable_imap\ndisable_pop: anything\nunknown_key: 5\n\ndefault_quota: 12abc\nquota: junk\nperm_account: 15\n',
  );
  t.is(l.maxPopAccounts, 7);
  t.is(l.maxAliases, 3);
  t.is(l.maxForwards, 4);
  t.is(l.maxMailinglists, -1); // leading white space: empty key, ignored
  t.true(l.disableImap);
  t.true(l.disablePop);
  t.false(l.disableSmtp);
  t.is(l.defaultQuotaBytes, 12);
  t.is(l.diskQuotaMb, 0);
  t.is(l.permAccount, 7);
  t.is(l.maxAutoresponders, -1);
});

test('the flag mask has one bit per disable_* / delete_spam key, and V_OVERRIDE ignores it', (t) => {
  const all = parseLimits(
    'disable_pop\ndisable_imap\ndisable_dialup\ndisable_password_changing\ndisable_webmail\ndisable_external_relay\n' +
      'disable_smtp\ndisable_spamassassin\ndelete_spam\ndisable_maildrop\n',
  );
  t.is(limitsFlagMask(all), 0x02 | 0x08 | 0x40 | 0x01 | 0x04 | 0x20 | 0x800 | 0x4000 | 0x8000 | 0x40000);
  t.is(limitsFlagMask(DEFAULT_LIMITS), 0);
  const pop = parseLimits('disable_pop\n');
  t.is(effectiveFlags(PW_FLAG.QA_ADMIN, pop), PW_FLAG.QA_ADMIN | PW_FLAG.NO_POP);
  t.is(effectiveFlags(PW_FLAG.V_OVERRIDE, pop), PW_FLAG.V_OVERRIDE);
  t.is(effectiveFlags(PW_FLAG.NO_IMAP, undefined), PW_FLAG.NO_IMAP);
});

test('a domain without its own file takes the whole of vlimits.default, with no merging', (t) => {
  const root = tempDir(t);
  const etc = join(root, 'etc');
  const dom = join(root, 'dom');
  mkdirSync(etc);
  mkdirSync(dom);
  writeFileSync(join(etc, 'vlimits.default'), 'maxpopaccounts: 3\ndisable_smtp\n');
  let r = resolveLimits(readLimitsFile(domainLimitsPath(dom)), etc);
  t.is(r.source, 'default-file');
  t.is(r.limits.maxPopAccounts, 3);
  t.true(r.limits.disableSmtp);
  writeFileSync(domainLimitsPath(dom), 'maxaliases: 4\n');
  r = resolveLimits(readLimitsFile(domainLimitsPath(dom)), etc);
  t.is(r.source, 'domain');
  t.is(r.limits.maxPopAccounts, -1);
  t.false(r.limits.disableSmtp);
});

test('with neither file: built-in defaults by default, VA_CANNOT_READ_LIMITS as C when asked', (t) => {
  const etc = tempDir(t);
  t.deepEqual(resolveLimits(undefined, etc), { limits: DEFAULT_LIMITS, source: 'built-in' });
  const err = t.throws(() => resolveLimits(undefined, etc, { whenMissing: 'error' }), { instanceOf: VpopmailError });
  t.is(err!.code, VA.CANNOT_READ_LIMITS);
  t.is(err!.message, "can't read domain limits");
});

test('a limits file that exists but cannot be read is an error, not a reason to fall back', (t) => {
  const dom = tempDir(t);
  mkdirSync(domainLimitsPath(dom)); // EISDIR, which even root cannot read
  t.throws(() => readLimitsFile(domainLimitsPath(dom)), { instanceOf: TempError });
});

test('writing replaces the file atomically, 0600 and owned by the domain; deleting a missing file succeeds', (t) => {
  const dom = tempDir(t);
  const path = domainLimitsPath(dom);
  writeLimitsFile(path, FULL, { owner: { uid: 89, gid: 89 } });
  t.is(readFileSync(path, 'latin1'), formatLimits(FULL));
  const st = statSync(path);
  t.is(st.mode & 0o777, 0o600);
  if (process.geteuid?.() === 0) t.deepEqual([st.uid, st.gid], [89, 89]);
  writeLimitsFile(join(dom, 'vlimits.default'), DEFAULT_LIMITS, { mode: 0o644 });
  t.is(statSync(join(dom, 'vlimits.default')).mode & 0o777, 0o644);
  deleteLimitsFile(path);
  t.false(existsSync(path));
  t.notThrows(() => deleteLimitsFile(path));
});
