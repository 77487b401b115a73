// vmoddomlimits as built: the golden steps, -d on vlimits.default, refused values, unknown domains.
import test from 'ava';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { addAliasDomain, addDomain } from '../../lib/accounts/domains.ts';
import { goldenStdout, goldenSteps } from '../helpers/admin-golden.ts';
import { domainDir, makeHome, run, type Home } from '../helpers/accounts-home.ts';

const steps = goldenSteps();
const SHIPPED_DEFAULTS = 'maxpopaccounts: -1\nmaxaliases: 0\nmaxforwards: -1\nmaxautoresponders: -1\nmaxmailinglists: -1\n# quota: 0\nperm_account: 0\nperm_alias: 0\nperm_forward: 0\nperm_autoresponder: 0\nperm_maillist: 0\nperm_quota: 0\nperm_defaultquota: 0\n';

async function homeWithDomain(t: Parameters<typeof makeHome>[0]): Promise<Home & { dir: string }> {
  const h = makeHome(t, { limits: SHIPPED_DEFAULTS });
  await addDomain(h.ctx, { domain: 'example.test', postmaster: { password: { hash: '' } } });
  await addAliasDomain(h.ctx, 'example.test', 'alias.test');
  return { ...h, dir: domainDir(h, 'example.test') };
}

test('golden steps 149-154 give C\'s exit codes, outputs and limits file', async (t) => {
  const h = await homeWithDomain(t);
  for (let n = 149; n <= 154; n++) {
    const step = steps.get(n)!;
    const r = run(h, 'vmoddomlimits', step.argv);
    t.deepEqual([r.status, r.stdout, r.stderr], [step.exit, goldenStdout(steps, n, h.vhome), step.stderr.text], `step ${n}: vmoddomlimits ${step.argv.join(' ')}`);
    if (n === 150) {
      const state = step.states[0]!;
      if (state.kind !== 'files') throw new Error('step 150 records the limits file');
      t.is(readFileSync(join(h.dir, '.qmailadmin-limits'), 'latin1'), state.files[0]!.content.text);
      t.is(statSync(join(h.dir, '.qmailadmin-limits')).mode & 0o7777, 0o600);
    }
  }
  t.false(existsSync(join(h.dir, '.qmailadmin-limits')));
});

test('-S with changes applies them first and shows the result; an alias domain edits its real domain', async (t) => {
  const h = await homeWithDomain(t);
  const r = run(h, 'vmoddomlimits', ['-S', '-P', '9', '-g', 'i', '-x', 'a', 'alias.test']);
  t.is(r.status, 0);
  t.regex(r.stdout, /^Domain: alias\.test\n--\nMax Pop Accounts: 9\n/);
  t.regex(r.stdout, /GID Flags:\n {2}NO_IMAP\nFlags \(for commandline\): i\n/);
  t.regex(r.stdout, /\n {2}quota: {18}DENY_CREATE {2}DENY_MODIFY {2}DENY_DELETE {2}\n/);
  t.regex(readFileSync(join(h.dir, '.qmailadmin-limits'), 'latin1'), /^maxpopaccounts: 9\n[\s\S]*disable_imap\n[\s\S]*perm_quota: 7\n/);
});

test('list-user and moderator permissions go into perm_maillist and come back (pitfall D1)', async (t) => {
  const h = await homeWithDomain(t);
  t.is(run(h, 'vmoddomlimits', ['-l', 'c', '-u', 'm', '-o', 'd', '-x', 'c', 'example.test']).status, 0);
  const file = readFileSync(join(h.dir, '.qmailadmin-limits'), 'latin1');
  t.regex(file, /\nperm_maillist: 273\nperm_quota: 1\n/); // 1 | 2<<3 | 4<<6
  const shown = run(h, 'vmoddomlimits', ['-S', 'example.test']).stdout;
  t.regex(shown, /mailinglist: {12}DENY_CREATE {2}ALLOW_MODIFY ALLOW_DELETE \n {2}mailinglist users: {6}ALLOW_CREATE DENY_MODIFY {2}ALLOW_DELETE \n {2}mailinglist moderators: ALLOW_CREATE ALLOW_MODIFY DENY_DELETE {2}\n {2}quota: {18}DENY_CREATE {2}ALLOW_MODIFY ALLOW_DELETE \n/);
  // a second edit of something else keeps them
  t.is(run(h, 'vmoddomlimits', ['-P', '3', 'example.test']).status, 0);
  t.regex(readFileSync(join(h.dir, '.qmailadmin-limits'), 'latin1'), /\nperm_maillist: 273\nperm_quota: 1\n/);
});

test('-d edits vlimits.default (0644), -d -S shows it, -d -D is refused with 255 and nothing deleted', async (t) => {
  const h = await homeWithDomain(t);
  const path = join(h.vhome, 'etc', 'vlimits.default');
  t.is(run(h, 'vmoddomlimits', ['-d', '-A', '12', '-g', 'pw']).status, 0);
  t.is(statSync(path).mode & 0o7777, 0o644);
  const shown = run(h, 'vmoddomlimits', ['-d', '-S']);
  t.is(shown.status, 0);
  t.regex(shown.stdout, new RegExp(`^Default limits: ${path.replaceAll('/', '\\/')}\n--\nMax Pop Accounts: -1\nMax Aliases: 12\n`));
  t.regex(shown.stdout, /GID Flags:\n {2}NO_POP\n {2}NO_WEBMAIL\nFlags \(for commandline\): pw\n/);
  t.false(existsSync(join(h.dir, '.qmailadmin-limits')));
  const refused = run(h, 'vmoddomlimits', ['-d', '-D']);
  t.is(refused.status, 255);
  t.is(refused.stdout.split('\n').length - 1, 3);
  t.true(existsSync(path));
});

test('-d without vlimits.default: an error on stdout and 255 for showing or changing, nothing created', async (t) => {
  const h = makeHome(t);
  for (const args of [['-d', '-S'], ['-d', '-P', '4']]) {
    const r = run(h, 'vmoddomlimits', args);
    t.is(r.status, 255, args.join(' '));
    t.regex(r.stdout, /^Error: .*vlimits\.default/);
  }
  t.false(existsSync(join(h.vhome, 'etc', 'vlimits.default')));
});

test('an unknown domain exits 245 with Error: Domain does not exist on stdout for every form (C: silent 0)', async (t) => {
  const h = await homeWithDomain(t);
  for (const args of [['-S', 'nowhere.test'], ['-P', '5', 'nowhere.test'], ['-D', 'nowhere.test'], ['nowhere.test']]) {
    const r = run(h, 'vmoddomlimits', args);
    t.deepEqual([r.status, r.stdout, r.stderr], [245, 'Error: Domain does not exist\n', ''], args.join(' '));
  }
  t.false(existsSync(join(h.vhome, 'domains', 'nowhere.test')));
});

test('bad values and letters are refused with 255 before anything is written', async (t) => {
  const h = await homeWithDomain(t);
  for (const args of [['-P', 'ten'], ['-P', '-2'], ['-Q', '-1'], ['-q', '10M,100C'], ['-q', 'lots'], ['-g', 'pz'], ['-p', 'q'], ['-M', '1.5']]) {
    const r = run(h, 'vmoddomlimits', [...args, 'example.test']);
    t.is(r.status, 255, args.join(' '));
    t.regex(r.stdout, /^Error: /, args.join(' '));
  }
  t.false(existsSync(join(h.dir, '.qmailadmin-limits')));
  const combined = run(h, 'vmoddomlimits', ['-D', '-P', '4', 'example.test']);
  t.is(combined.status, 255);
});

test('usage: no domain 255, -h 0, -v prints the version and goes on, an unknown option 255', async (t) => {
  const h = await homeWithDomain(t);
  const none = run(h, 'vmoddomlimits', []);
  t.is(none.status, 255);
  t.regex(none.stdout, /^usage: vmoddomlimits/);
  const help = run(h, 'vmoddomlimits', ['-h']);
  t.is(help.status, 0);
  t.regex(help.stdout, /^usage: vmoddomlimits/);
  const version = run(h, 'vmoddomlimits', ['-v']);
  t.is(version.status, 255);
  t.regex(version.stdout, /^version: 5\.6\.13\nusage: vmoddomlimits/);
  const bad = run(h, 'vmoddomlimits', ['-k', 'example.test']);
  t.is(bad.status, 255);
  t.regex(bad.stderr, /invalid option -- 'k'/);
  const nothing = run(h, 'vmoddomlimits', ['example.test']);
  t.deepEqual([nothing.status, nothing.stdout], [0, '']);
  t.false(existsSync(join(h.dir, '.qmailadmin-limits'))); // nothing asked, nothing written
});
