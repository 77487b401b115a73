import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILD, loadConfig, parseConfigFile, type ProcessIds } from '../lib/config.ts';
import { MailError } from '../lib/exit.ts';

const plain: ProcessIds = { uid: 0, euid: 0, gid: 0, egid: 0 };
const setuid: ProcessIds = { uid: 65534, euid: 0, gid: 65534, egid: 65534 };
const setgid: ProcessIds = { uid: 65534, euid: 65534, gid: 65534, egid: 89 };

function tempHome(t: import('ava').ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'vpop-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'etc'));
  return dir;
}

test('the compiled-in defaults are the golden run configuration', (t) => {
  const c = loadConfig({}, { ids: plain, build: { ...BUILD, vpopmailHome: '/nonexistent-vpop' } });
  t.is(c.vpopmailHome, '/nonexistent-vpop');
  t.is(c.qmailHome, '/var/qmail');
  t.true(c.clearPasswords);
  t.true(c.roamingUsers);
  t.true(c.ipAliasDomains);
  t.false(c.qmailExt);
  t.false(c.learnPasswords);
  t.false(c.valias);
  t.is(c.logLevel, 'e');
  t.is(c.backend, 'cdb');
  t.is(c.vpopmailUid, 89);
  t.is(c.domainsDir, '/nonexistent-vpop/domains');
});

test('VPOPMAIL_HOME and QMAIL_HOME count when real and effective ids agree', (t) => {
  const home = tempHome(t);
  const c = loadConfig({ VPOPMAIL_HOME: home, QMAIL_HOME: '/tmp/q' }, { ids: plain });
  t.is(c.vpopmailHome, home);
  t.is(c.qmailHome, '/tmp/q');
  t.true(c.trustEnv);
});

test('a set-uid or set-gid process ignores the environment, including the fault switch', (t) => {
  for (const ids of [setuid, setgid]) {
    const c = loadConfig({ VPOPMAIL_HOME: '/tmp/evil', QMAIL_HOME: '/tmp/evilq', VPOPMAIL_FAULT: 'write:1' }, { ids, build: { ...BUILD, vpopmailHome: '/nonexistent-vpop' } });
    t.is(c.vpopmailHome, '/nonexistent-vpop');
    t.is(c.qmailHome, BUILD.qmailHome);
    t.is(c.fault, undefined);
    t.false(c.trustEnv);
  }
});

test('~vpopmail/etc/vpopmail.conf overrides the compiled-in features', (t) => {
  const home = tempHome(t);
  writeFileSync(join(home, 'etc/vpopmail.conf'), '# site settings\nclear-passwords = no\nqmail-ext = yes   # extensions\nlog-level = n\nrelay-clear-minutes = 60\n');
  const c = loadConfig({ VPOPMAIL_HOME: home }, { ids: plain });
  t.false(c.clearPasswords);
  t.true(c.qmailExt);
  t.is(c.logLevel, 'n');
  t.is(c.relayClearMinutes, 60);
});

test('~vpopmail/etc/backend picks the backend by one word', (t) => {
  const home = tempHome(t);
  writeFileSync(join(home, 'etc/backend'), 'pgsql\n');
  t.is(loadConfig({ VPOPMAIL_HOME: home }, { ids: plain }).backend, 'pgsql');
  writeFileSync(join(home, 'etc/backend'), 'oracle\n');
  t.throws(() => loadConfig({ VPOPMAIL_HOME: home }, { ids: plain }), { instanceOf: MailError, message: /backend must be cdb, mysql or pgsql/ });
});

test('a bad settings line is an error naming the file and line, never ignored', (t) => {
  t.throws(() => parseConfigFile('clear-passwords = yes\nclear-pasword = no\n', '/x/vpopmail.conf'), { message: '/x/vpopmail.conf line 2: unknown setting "clear-pasword"' });
  t.throws(() => parseConfigFile('roaming-users = maybe\n', 'f'), { message: /f line 1: expected yes or no/ });
  t.throws(() => parseConfigFile('just words\n', 'f'), { message: /f line 1: expected key = value/ });
});

test('the fault switch is parsed strictly', (t) => {
  const home = tempHome(t);
  t.deepEqual(loadConfig({ VPOPMAIL_HOME: home, VPOPMAIL_FAULT: 'rename:3' }, { ids: plain }).fault, { op: 'rename', n: 3 });
  t.throws(() => loadConfig({ VPOPMAIL_HOME: home, VPOPMAIL_FAULT: 'crash' }, { ids: plain }));
});
