// 100 sessions at once on loopback for a bounded time: every acknowledged change is in the store at
// the end, none is lost to another session's rewrite of the same vpasswd, and the daemon still answers.
// VPOPMAILD_STRESS_SECONDS sets the duration (default 30, as the issue asks; 3 for a quick look).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { greeted } from './harness.ts';
import { makeAccount } from './fixtures.ts';
import { world } from './world.ts';

const SESSIONS = 100;
const SECONDS = Number(process.env.VPOPMAILD_STRESS_SECONDS ?? '30');
const SHARED_FLAGS = ['no_pop', 'no_webmail', 'no_imap', 'bounce_mail', 'no_relay', 'no_dialup', 'user_flag_0', 'user_flag_1', 'user_flag_2', 'user_flag_3'];
const SHARED_BITS = [0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x100, 0x200, 0x400];

test(`${SESSIONS} concurrent sessions for ${SECONDS}s lose no update and leave the daemon answering`, async (t) => {
  t.timeout((SECONDS + 120) * 1000);
  const w = await world(t, '', {}, { maxSessions: SESSIONS + 1 });
  for (let i = 0; i < SESSIONS; i++) await makeAccount(w.home, w.backend, 'other.org', `u${i}`);
  await makeAccount(w.home, w.backend, 'other.org', 'shared');
  let deadline = 0;
  const lastComment: string[] = new Array<string>(SESSIONS).fill('');
  const lastFlag: number[] = new Array<number>(SHARED_FLAGS.length).fill(0);
  let commands = 0;

  async function worker(i: number, c: Awaited<ReturnType<typeof w.as>>): Promise<void> {
    // The first few workers each own one flag of one shared account and switch it on and off: the
    // account is rewritten by all of them, so a lost update shows as a wrong bit at the end.
    const flag = SHARED_FLAGS[i];
    for (let n = 0; n === 0 || Date.now() < deadline; n++) {
      c.send(`mod_user u${i}@other.org`);
      c.send(`comment s${i}-n${n}`);
      c.send('.');
      t.is(await c.line(), '+OK ');
      t.is(await c.line(), '+OK ');
      lastComment[i] = `s${i}-n${n}`;
      if (flag !== undefined) {
        c.send('mod_user shared@other.org');
        c.send(`${flag} ${n % 2}`);
        c.send('.');
        t.is(await c.line(), '+OK ');
        t.is(await c.line(), '+OK ');
        lastFlag[i] = n % 2;
      }
      c.send(`write_file other.org/f${i}`);
      c.send(`n=${n}`);
      c.send('.');
      t.is(await c.line(), '+OK ');
      c.send(`read_file other.org/f${i}`);
      t.is(await c.rawLine(), '+OK+\r\n');
      t.is(await c.rawLine(), `n=${n}\n`);
      t.is(await c.rawLine(), '.\r\n');
      commands += flag === undefined ? 3 : 4;
    }
    t.is((await c.command('quit')).status, '+OK ');
  }

  const clients = await Promise.all(Array.from({ length: SESSIONS }, () => w.as('admin', 'slogin')));
  deadline = Date.now() + SECONDS * 1000;
  await Promise.all(clients.map((c, i) => worker(i, c)));

  for (let i = 0; i < SESSIONS; i++) {
    const entry = await w.backend.getUser('other.org', `u${i}`);
    t.is(entry?.gecos, lastComment[i], `u${i}`);
  }
  const shared = await w.backend.getUser('other.org', 'shared');
  let expected = 0;
  for (let i = 0; i < SHARED_BITS.length; i++) if (lastFlag[i] === 1) expected |= SHARED_BITS[i]!;
  t.is(shared?.gid, expected, "every worker's last flag change is stored");
  const vpasswd = readFileSync(join(w.dirs['other.org']!, 'vpasswd'), 'latin1').split('\n').filter((l) => l !== '');
  t.is(vpasswd.length, SESSIONS + 3, 'no line lost or doubled (carol, postmaster, shared and the u<n>)');
  t.true(commands > SESSIONS);
  t.log(`${commands} commands in ${SECONDS}s`);
  const c = await greeted(w.server);
  t.is((await c.command('help')).status, '+OK+');
  t.is(w.server.sessions, 1);
});
