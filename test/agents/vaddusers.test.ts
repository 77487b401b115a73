// vaddusers through the executable: refused lines with their numbers and the right exit code, CSV on
// stdin, tinycdb reading what it wrote, and a kill at every write, fsync and rename leaving each
// domain's vpasswd and vpasswd.cdb whole and in agreement, with a rerun (-s) finishing the job.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseVpasswdLine } from '../../lib/store/vpasswd.ts';
import { agreedPairProblems, makeWorld, runBuilt, TRACE, vpasswdLinesOf, type World } from '../helpers/reliability.ts';

const HASH1 = '$1$benchsal$Qj0lzJCdqI2s9nRL5rA0v/';

async function twoDomains(t: Parameters<typeof makeWorld>[0]): Promise<World> {
  const w = makeWorld(t);
  await w.addDomain('a.test');
  await w.addDomain('b.test');
  return w;
}

const names = (w: World, d: string) => vpasswdLinesOf(w.domainDir(d)).map((l) => l.slice(0, l.indexOf(':')));

test('refused lines are reported by number on stderr, without their password; the rest is added and the exit is 1', async (t) => {
  const w = await twoDomains(t);
  const file = join(w.root, 'import.txt');
  writeFileSync(
    file,
    [
      '# a comment',
      'ann@a.test:Ann-Clear-pw1:5M:Ann A',
      'bob@nowhere.test:Bob-Clear-pw2::Bob',
      `cid@b.test:${HASH1}::Cid`,
      'ann@a.test:Ann-Again-pw3::Ann twice',
      'dee@b.test:Dee-Clear-pw4:lots:Dee',
      'eve@a.test:Eve-Clear-pw5',
      '',
    ].join('\n'),
  );
  const r = await runBuilt('vaddusers', [file], { env: w.env });
  t.is(r.code, 1, r.stderr);
  t.notRegex(`${r.stdout}${r.stderr}`, TRACE);
  for (const secret of ['Bob-Clear-pw2', 'Ann-Again-pw3', 'Dee-Clear-pw4', 'Ann-Clear-pw1']) t.false(`${r.stdout}${r.stderr}`.includes(secret), secret);
  const refused = r.stderr.split('\n').filter((l) => / line \d+: /.test(l));
  t.deepEqual(
    refused.map((l) => /line (\d+): (\S+):/.exec(l)?.slice(1, 3).join(' ')).sort(),
    ['3 bob@nowhere.test', '5 ann@a.test', '6 dee@b.test'],
    r.stderr,
  );
  t.deepEqual(names(w, 'a.test').filter((n) => n !== 'postmaster').sort(), ['ann', 'eve']);
  t.deepEqual(names(w, 'b.test').filter((n) => n !== 'postmaster'), ['cid']);
  const ann = parseVpasswdLine(vpasswdLinesOf(w.domainDir('a.test')).find((l) => l.startsWith('ann:'))!);
  t.is(ann.quota, '5242880S');
  t.is(ann.gecos, 'Ann A');
  const cid = parseVpasswdLine(vpasswdLinesOf(w.domainDir('b.test')).find((l) => l.startsWith('cid:'))!);
  t.is(cid.passwd, HASH1, 'a crypt hash is stored as it is');
  // tinycdb reads the cdb we wrote
  const q = spawnSync('cdb', ['-q', join(w.domainDir('a.test'), 'vpasswd.cdb'), 'eve'], { encoding: 'latin1' });
  t.is(q.status, 0);
  t.true(q.stdout.startsWith(vpasswdLinesOf(w.domainDir('a.test')).find((l) => l.startsWith('eve:'))!.slice(4)));
  // and vuserinfo finds a bulk-added user
  const info = await runBuilt('vuserinfo', ['-d', 'eve@a.test'], { env: w.env });
  t.is(info.code, 0, info.stderr);
  t.is(info.stdout.trim(), join(w.domainDir('a.test'), 'eve'));
});

test('CSV with a header on stdin; -n checks only and writes nothing; a bad option is a usage error', async (t) => {
  const w = await twoDomains(t);
  const csv = 'address,password,quota,gecos\nfay@a.test,Fay-Clear-pw1,NOQUOTA,"Fay, F"\ngus@b.test,Gus-Clear-pw2,2M,Gus\n';
  const dry = await runBuilt('vaddusers', ['-n', '-'], { env: w.env, input: csv });
  t.is(dry.code, 0, dry.stderr);
  t.deepEqual(names(w, 'a.test'), ['postmaster']);
  const r = await runBuilt('vaddusers', [], { env: w.env, input: csv });
  t.is(r.code, 0, r.stderr);
  const fay = parseVpasswdLine(vpasswdLinesOf(w.domainDir('a.test')).find((l) => l.startsWith('fay:'))!);
  t.is(fay.gecos, 'Fay, F');
  t.is(fay.quota, 'NOQUOTA');
  t.true(names(w, 'b.test').includes('gus'));
  const bad = await runBuilt('vaddusers', ['-Z'], { env: w.env });
  t.is(bad.code, 255);
  t.notRegex(`${bad.stdout}${bad.stderr}`, TRACE);
});

test('killed at every write, fsync and rename: vpasswd and vpasswd.cdb stay whole and agree, and a rerun with -s adds exactly the rest', async (t) => {
  t.timeout(10 * 60_000);
  const lines: string[] = [];
  for (const d of ['a.test', 'b.test']) for (let i = 0; i < 12; i++) lines.push(`k${i}@${d}:${HASH1}::K ${i}`);
  const input = `${lines.join('\n')}\n`;
  let trials = 0;
  for (const kind of ['write', 'fsync', 'rename'] as const) {
    for (let n = 1; ; n++) {
      const w = await twoDomains(t);
      const file = join(w.root, 'import.txt');
      writeFileSync(file, input);
      const r = await runBuilt('vaddusers', ['-e', file], { env: { ...w.env, VPOPMAIL_FAULT: `${kind}:${n}` } });
      trials++;
      for (const d of ['a.test', 'b.test']) {
        // A reader first: it rolls a change the kill interrupted after its commit point forward.
        await t.notThrowsAsync(w.backend.getUser(d, 'postmaster'), `${kind}:${n} ${d}: a reader after the kill`);
        t.deepEqual(agreedPairProblems(w.domainDir(d)), [], `${kind}:${n} ${d}`);
        const got = names(w, d).filter((x) => x !== 'postmaster');
        t.true(got.length === 0 || got.length === 12, `${kind}:${n} ${d}: a domain's users land all at once, not ${got.length}`);
      }
      const again = await runBuilt('vaddusers', ['-e', '-s', file], { env: w.env });
      t.is(again.code, 0, `${kind}:${n}: the rerun finishes: ${again.stderr}`);
      for (const d of ['a.test', 'b.test']) {
        t.deepEqual(names(w, d).filter((x) => x !== 'postmaster').sort(), Array.from({ length: 12 }, (_, i) => `k${i}`).sort(), `${kind}:${n} ${d} after the rerun`);
        t.deepEqual(agreedPairProblems(w.domainDir(d)), []);
      }
      if (r.signal === null) {
        t.is(r.code, 0, `${kind}:${n}: a run the switch did not reach ends well`);
        break;
      }
      t.true(n < 200, 'the fault switch never stopped firing');
    }
  }
  t.log(`${trials} crash trials`);
  t.true(trials >= 6, 'the fault switch reached too few operations: is VPOPMAIL_FAULT still honoured?');
});
