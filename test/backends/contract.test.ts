// The Backend contract: every case runs against every backend in BACKENDS (cdb now; MariaDB and
// PostgreSQL when they land), so the stores stay interchangeable.
import test, { type ExecutionContext } from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveDomainLimits, userFlags, PW_FLAG, type Backend, type VpasswdEntry } from '../../lib/backends/backend.ts';
import { PermError, VA, VpopmailError } from '../../lib/exit.ts';
import { INITIAL_DIR_CONTROL, allocateBucket } from '../../lib/store/dir-control.ts';
import { DEFAULT_LIMITS } from '../../lib/store/limits.ts';
import { BACKENDS, type BackendFixture } from '../helpers/backend-fixtures.ts';

function entry(f: BackendFixture, name: string, over: Partial<VpasswdEntry> = {}): VpasswdEntry {
  return {
    name,
    passwd: '$6$saltsalt$abcdefghijklmnopqrstuvwxyz0123456789./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123',
    uid: 1,
    gid: 0,
    gecos: name,
    dir: join(f.config.domainsDir, f.domain, name),
    quota: 'NOQUOTA',
    clear: `clear-${name}`,
    ...over,
  };
}

async function list(backend: Backend, domain: string): Promise<VpasswdEntry[]> {
  const out: VpasswdEntry[] = [];
  for await (const e of backend.listUsers(domain)) out.push(e);
  return out;
}

async function vaCode(p: Promise<unknown>): Promise<number | string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return err instanceof VpopmailError ? err.code : (err as Error).name;
  }
}

for (const factory of BACKENDS) {
  const it = (title: string, body: (t: ExecutionContext, f: BackendFixture) => Promise<void>) =>
    test(`${factory.name}: ${title}`, async (t) => body(t, await factory.make(t)));

  it('a user that is not there is a miss, in a known or an unknown domain', async (t, f) => {
    t.is(await f.backend.getUser(f.domain, 'nobody'), undefined);
    t.is(await f.backend.getUser('unknown.test', 'nobody'), undefined);
  });

  it('an added user reads back field for field, also through an alias domain', async (t, f) => {
    const e = entry(f, 'alice', { gid: PW_FLAG.NO_POP | PW_FLAG.QA_ADMIN, quota: '10485760S,1000C' });
    await f.backend.addUser(f.domain, e);
    t.deepEqual(await f.backend.getUser(f.domain, 'alice'), e);
    t.deepEqual(await f.backend.getUser(f.alias, 'alice'), e);
  });

  it('an empty password and empty fields are kept as empty strings', async (t, f) => {
    const e = entry(f, 'bare', { passwd: '', gecos: '', quota: '', clear: '' });
    await f.backend.addUser(f.domain, e);
    t.deepEqual(await f.backend.getUser(f.domain, 'bare'), e);
  });

  it('adding an existing user is VA_USERNAME_EXISTS and changes nothing', async (t, f) => {
    await f.backend.addUser(f.domain, entry(f, 'alice'));
    t.is(await vaCode(f.backend.addUser(f.domain, entry(f, 'alice', { gecos: 'Other' }))), VA.USERNAME_EXISTS);
    t.is((await f.backend.getUser(f.domain, 'alice'))?.gecos, 'alice');
  });

  it('adding to an unknown domain is VA_DOMAIN_DOES_NOT_EXIST', async (t, f) => {
    t.is(await vaCode(f.backend.addUser('unknown.test', entry(f, 'alice'))), VA.DOMAIN_DOES_NOT_EXIST);
  });

  it('over-long fields carry C\'s codes and a colon in a field is refused', async (t, f) => {
    t.is(await vaCode(f.backend.addUser(f.domain, entry(f, 'x'.repeat(65)))), VA.USER_NAME_TOO_LONG);
    t.is(await vaCode(f.backend.addUser(f.domain, entry(f, 'bob', { gecos: 'g'.repeat(65) }))), VA.GECOS_TOO_LONG);
    t.is(await vaCode(f.backend.addUser(f.domain, entry(f, 'bob', { quota: '1'.repeat(21) }))), VA.QUOTA_TOO_LONG);
    await t.throwsAsync(f.backend.addUser(f.domain, entry(f, 'bob', { gecos: 'a:b' })), { instanceOf: PermError });
    t.deepEqual(await list(f.backend, f.domain), []);
  });

  it('setUser replaces the whole record; a missing user is VA_USER_DOES_NOT_EXIST', async (t, f) => {
    await f.backend.addUser(f.domain, entry(f, 'alice'));
    await f.backend.addUser(f.domain, entry(f, 'bob'));
    const changed = entry(f, 'alice', { passwd: '$1$abcdefgh$0123456789012345678901', gid: 0x800, gecos: 'Alice A', quota: '500C', clear: 'new' });
    await f.backend.setUser(f.domain, changed);
    t.deepEqual(await f.backend.getUser(f.domain, 'alice'), changed);
    t.is((await f.backend.getUser(f.domain, 'bob'))?.gecos, 'bob');
    t.is(await vaCode(f.backend.setUser(f.domain, entry(f, 'carol'))), VA.USER_DOES_NOT_EXIST);
  });

  it('delUser removes the user only; a missing user is VA_USER_DOES_NOT_EXIST', async (t, f) => {
    await f.backend.addUser(f.domain, entry(f, 'alice'));
    await f.backend.addUser(f.domain, entry(f, 'bob'));
    await f.backend.delUser(f.domain, 'alice');
    t.is(await f.backend.getUser(f.domain, 'alice'), undefined);
    t.truthy(await f.backend.getUser(f.domain, 'bob'));
    t.is(await vaCode(f.backend.delUser(f.domain, 'alice')), VA.USER_DOES_NOT_EXIST);
  });

  it('listUsers gives every user once, sorted by name, whatever the order of adding', async (t, f) => {
    t.deepEqual(await list(f.backend, f.domain), []);
    for (const n of ['mike', 'alice', 'zoe', 'bob', 'carol']) await f.backend.addUser(f.domain, entry(f, n));
    t.deepEqual((await list(f.backend, f.domain)).map((e) => e.name), ['alice', 'bob', 'carol', 'mike', 'zoe']);
    t.deepEqual((await list(f.backend, f.alias)).length, 5);
    t.is(await vaCode(list(f.backend, 'unknown.test')), VA.DOMAIN_DOES_NOT_EXIST);
  });

  it('concurrent adds lose no user', async (t, f) => {
    const names = Array.from({ length: 20 }, (_, i) => `p${String(i).padStart(2, '0')}`);
    await Promise.all(names.map((n) => f.backend.addUser(f.domain, entry(f, n))));
    t.deepEqual((await list(f.backend, f.domain)).map((e) => e.name), names);
  });

  test(`${factory.name}: without clear passwords the clear field is not stored`, async (t) => {
    const f = await factory.make(t, { clearPasswords: false });
    await f.backend.addUser(f.domain, entry(f, 'alice', { clear: 'secret' }));
    const got = await f.backend.getUser(f.domain, 'alice');
    t.is(got?.clear, undefined);
    t.is(got?.passwd, entry(f, 'alice').passwd);
  });

  it('lastauth stores the IP and the time of the last login', async (t, f) => {
    const e = entry(f, 'alice', { dir: f.home('alice') });
    await f.backend.addUser(f.domain, e);
    t.is(await f.backend.getLastauth(f.domain, e), undefined);
    await f.backend.setLastauth(f.domain, e, '0.0.0.0', 1_700_000_000);
    t.deepEqual(await f.backend.getLastauth(f.domain, e), { ip: '0.0.0.0', timeSec: 1_700_000_000 });
    await f.backend.setLastauth(f.domain, e, '2001:db8::7', 1_700_000_100);
    t.deepEqual(await f.backend.getLastauth(f.domain, e), { ip: '2001:db8::7', timeSec: 1_700_000_100 });
  });

  it('a relay login reports a new IP once, refreshes it later, and expires it by age', async (t, f) => {
    const seen: [boolean, readonly string[]][] = [];
    t.true(await f.backend.openRelay('192.0.2.7', 1000, (isNew, rules) => seen.push([isNew, rules])));
    t.true(await f.backend.openRelay('2001:db8::7', 1100));
    t.false(await f.backend.openRelay('192.0.2.7', 2000, (isNew, rules) => seen.push([isNew, rules])));
    t.deepEqual(seen[0], [true, ['192.0.2.7:allow,RELAYCLIENT="",RBLSMTPD=""']]);
    t.is(seen[1]![0], false);
    t.deepEqual([...seen[1]![1]].sort(), ['192.0.2.7:allow,RELAYCLIENT="",RBLSMTPD=""', '2001:db8::7:allow,RELAYCLIENT="",RBLSMTPD=""']);
    // Kept while time + maxAge > now: at now=2100 with maxAge=1000 the 1100 entry goes, the 2000 one stays.
    let rebuilt: readonly string[] = [];
    t.is(await f.backend.expireRelay(2100, 1000, (rules) => (rebuilt = rules)), 1);
    t.deepEqual(rebuilt, ['192.0.2.7:allow,RELAYCLIENT="",RBLSMTPD=""']);
    t.deepEqual(await f.backend.relayRules(), ['192.0.2.7:allow,RELAYCLIENT="",RBLSMTPD=""']);
    await t.throwsAsync(f.backend.openRelay('', 1), { instanceOf: PermError });
  });

  it('the ip map answers for mapped IPs only and forgets deleted pairs', async (t, f) => {
    t.is(await f.backend.getIpMap('192.0.2.1'), undefined);
    await f.backend.addIpMap('192.0.2.1', f.domain);
    await f.backend.addIpMap('192.0.2.2', 'other.test');
    t.is(await f.backend.getIpMap('192.0.2.1'), f.domain);
    const all: string[] = [];
    for await (const m of f.backend.listIpMap()) all.push(`${m.ip} ${m.domain}`);
    t.deepEqual(all.sort(), [`192.0.2.1 ${f.domain}`, '192.0.2.2 other.test']);
    t.true(await f.backend.delIpMap('192.0.2.1', f.domain));
    t.false(await f.backend.delIpMap('192.0.2.1', f.domain));
    t.is(await f.backend.getIpMap('192.0.2.1'), undefined);
  });

  it('limits round-trip, mailing-list sub-permissions included, and fall back to vlimits.default', async (t, f) => {
    t.is(await f.backend.getLimits(f.domain), undefined);
    t.is((await resolveDomainLimits(f.backend, f.config, f.domain)).source, 'built-in');
    writeFileSync(join(f.config.etcDir, 'vlimits.default'), 'maxpopaccounts: 7\n');
    t.is((await resolveDomainLimits(f.backend, f.config, f.domain)).limits.maxPopAccounts, 7);
    const limits = { ...DEFAULT_LIMITS, maxPopAccounts: 3, diskQuotaMb: 100, disableImap: true, permMaillist: 1, permMaillistUsers: 2, permMaillistModerators: 4, permQuota: 1 };
    await f.backend.setLimits(f.domain, limits);
    t.deepEqual(await f.backend.getLimits(f.domain), limits);
    t.deepEqual(await f.backend.getLimits(f.alias), limits);
    await f.backend.delLimits(f.domain);
    await f.backend.delLimits(f.domain);
    t.is(await f.backend.getLimits(f.domain), undefined);
    t.is(await vaCode(f.backend.setLimits('unknown.test', limits)), VA.DOMAIN_DOES_NOT_EXIST);
  });

  it('pw_flags add the domain\'s disable_* bits to pw_gid unless the user has V_OVERRIDE', async (t, f) => {
    await f.backend.setLimits(f.domain, { ...DEFAULT_LIMITS, disablePop: true, disableSmtp: true });
    const plain = entry(f, 'alice', { gid: PW_FLAG.NO_IMAP });
    const over = entry(f, 'bob', { gid: PW_FLAG.V_OVERRIDE });
    t.is(await userFlags(f.backend, f.config, f.domain, plain), PW_FLAG.NO_IMAP | PW_FLAG.NO_POP | PW_FLAG.NO_SMTP);
    t.is(await userFlags(f.backend, f.config, f.domain, over), PW_FLAG.V_OVERRIDE);
    await f.backend.delLimits(f.domain);
    t.is(await userFlags(f.backend, f.config, f.domain, plain), PW_FLAG.NO_IMAP);
  });

  it('dir-control state is a miss until written, reads back, and updates atomically', async (t, f) => {
    const users = { domain: f.domain };
    const domains = { uid: 89, gid: 89, domainsDir: f.config.domainsDir };
    for (const key of [users, domains]) {
      t.is(await f.backend.getDirControl(key), undefined);
      // Values whose third index equals the second, which every store reads back alike.
      const state = { ...INITIAL_DIR_CONTROL, curUsers: 250, levelIndex: [2, 0, 0] as const, theDir: '2' };
      await f.backend.setDirControl(key, state);
      t.is((await f.backend.getDirControl(key))?.curUsers, 250);
      t.is((await f.backend.getDirControl(key))?.theDir, '2');
      const buckets = await Promise.all(
        Array.from({ length: 60 }, () =>
          f.backend.updateDirControl(key, (s) => {
            const a = allocateBucket(s);
            return { state: a.state, result: a.bucket };
          }),
        ),
      );
      t.is((await f.backend.getDirControl(key))?.curUsers, 310);
      t.is(buckets.filter((b) => b === '3').length, 11); // 300..310
      await f.backend.delDirControl(key);
      t.is(await f.backend.getDirControl(key), undefined);
      t.is(await f.backend.updateDirControl(key, (s) => ({ state: s, result: s.curUsers })), 0);
    }
  });

  it('valias works where the backend has the table and is refused where it has not', async (t, f) => {
    if (!f.backend.hasValiasTable) {
      await t.throwsAsync(f.backend.addValiasLine(f.domain, 'info', '&bob@example.test'), { instanceOf: PermError });
      await t.throwsAsync(f.backend.getValias(f.domain, 'info'), { instanceOf: PermError });
      return;
    }
    t.is(await f.backend.getValias(f.domain, 'info'), undefined);
    await f.backend.addValiasLine(f.domain, 'info', '&bob@example.test');
    await f.backend.addValiasLine(f.domain, 'info', '|/usr/bin/true');
    t.deepEqual(await f.backend.getValias(f.domain, 'info'), ['&bob@example.test', '|/usr/bin/true']);
    t.true(await f.backend.delValiasLine(f.domain, 'info', '&bob@example.test'));
    t.false(await f.backend.delValiasLine(f.domain, 'info', '&bob@example.tes'));
    t.true(await f.backend.delValias(f.domain, 'info'));
    t.is(await f.backend.getValias(f.domain, 'info'), undefined);
  });

  it('domain hooks and close resolve', async (t, f) => {
    await t.notThrowsAsync(f.backend.addAliasDomain(f.alias, f.domain));
    await t.notThrowsAsync(f.backend.delAliasDomain(f.alias));
    await t.notThrowsAsync(f.backend.delDomain(f.domain));
    await t.notThrowsAsync(f.backend.close());
  });
}
