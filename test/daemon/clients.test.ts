// The requests real clients send (spec §9) and the way they read the replies, replayed byte for byte.
import test from 'ava';
import { connect } from 'node:net';
import { Client, greeted } from './harness.ts';
import { NET_VPOPMAILD_FLAGS } from './fixtures.ts';
import { world } from './world.ts';

/** Net_Vpopmaild's readInfo: `key value` split at the first space, value trimmed, until `.`, `+OK` or `-ERR`. */
function readInfo(lines: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of lines) {
    if (l === '') continue;
    const sp = l.indexOf(' ');
    out[sp < 0 ? l : l.slice(0, sp)] = sp < 0 ? '' : l.slice(sp + 1).trim();
  }
  return out;
}

/** Net_Vpopmaild's status tests. */
const statusOk = (l: string) => /^[+]OK/.test(l);
const statusOkMore = (l: string) => /^[+]OK[+]$/.test(l);

test('Net_Vpopmaild: clogin, then readInfo gives the user record with gidflags', async (t) => {
  const w = await world(t);
  const c = await greeted(w.server);
  c.send('clogin admin@example.com admin-pw'); // Net_Socket writeLine: CRLF
  const status = await c.line();
  t.true(statusOk(status));
  const info = readInfo(await c.block());
  t.is(info.name, 'admin');
  t.is(info.gidflags, '65536');
  t.is(info.vpopmail_dir, w.home.vpopmailHome);
  t.is(info.clear_text_password, 'admin-pw');
});

test('Net_Vpopmaild: listDomains, listUsers (records start at "name", empty lines skipped), userInfo, domainInfo', async (t) => {
  const w = await world(t);
  const c = await w.as('admin');
  const d = await c.command('list_domains 0 0');
  t.true(statusOkMore(d.status));
  const domains = Object.fromEntries(d.lines.map((l) => l.split(' ', 2)).map(([parent, domain]) => [domain, parent]));
  t.deepEqual(domains, { 'alias.example': 'example.com', 'example.com': 'example.com', 'other.org': 'other.org' });
  const u = await c.command('list_users example.com 0 0');
  const users: Record<string, Record<string, string>> = {};
  let current: string | undefined;
  for (const l of u.lines) {
    if (l === '') continue;
    const [name, value = ''] = [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)];
    if (name === 'name') users[(current = value)] = {};
    else users[current!]![name] = value.trim();
  }
  t.deepEqual(Object.keys(users), ['admin', 'bob', 'bobby', 'postmaster', 'qa', 'qaover']);
  t.is(users.qa!.gidflags, '4096');
  t.is(readInfo((await c.command('user_info bob@example.com')).lines).user_dir, `${w.dirs['example.com']}/bob`);
  t.is(readInfo((await c.command('dom_info example.com')).lines).path, w.dirs['example.com']);
  t.is(readInfo((await c.command('domain_count')).lines).count, '3');
  t.is(readInfo((await c.command('user_count example.com')).lines).count, '6');
  t.is(readInfo((await c.command('find_domain other.org 2')).lines).page, '2');
  t.deepEqual(readInfo((await c.command('get_lastauth bob@example.com')).lines), { time: '0', ip: '0.0.0.0' });
});

test('Net_Vpopmaild: getLimits drops the first data line and still finds every other key', async (t) => {
  const w = await world(t);
  const c = await w.as('admin');
  c.send('get_limits example.com');
  t.true(statusOk(await c.line()));
  await c.line(); // the client's own bug: it reads one line before readInfo
  const limits = readInfo(await c.block());
  t.is(limits.max_aliases, '-1');
  t.is(limits.perm_defaultquota, '0');
  t.false('max_popaccounts' in limits);
});

test('Net_Vpopmaild: setLimits reads one line after the command and one after "."', async (t) => {
  const w = await world(t);
  const c = await w.as('admin');
  c.send('set_limits other.org');
  t.true(statusOk(await c.line()));
  for (const l of ['max_popaccounts 50', 'default_quota 10485760', 'disable_pop 1', 'perm_maillist_users 2', 'perm_maillist_moderators 1', '.']) c.send(l);
  t.true(statusOk(await c.line()));
  t.true(readInfo((await c.command('get_limits other.org')).lines).disable_pop === '1');
});

test('Net_Vpopmaild: modUser with quota, comment, a password and all 19 flags from gidflags, one line after "."', async (t) => {
  const w = await world(t);
  const c = await w.as('admin');
  const flags = NET_VPOPMAILD_FLAGS;
  const gidflags = 0x02 | 0x4000; // no_pop, no_spamassassin
  const bits: Record<string, number> = { no_pop: 0x02, no_spamassassin: 0x4000 };
  c.send('mod_user bob@example.com');
  t.true(statusOk(await c.line()));
  c.send('quota 10MB');
  c.send('comment Bob B');
  c.send('clear_text_password Secret99');
  for (const f of flags) c.send(`${f} ${(gidflags & (bits[f] ?? 0)) !== 0 ? 1 : 0}`);
  c.send('.');
  t.true(statusOk(await c.line()));
  const info = readInfo((await c.command('user_info bob@example.com')).lines);
  t.is(info.quota, '10485760S');
  t.is(info.comment, 'Bob B');
  t.is(info.gidflags, String(gidflags));
  t.is(info.clear_text_password, 'Secret99');
});

test('Net_Vpopmaild: writeFile sends the lines without waiting, readFile reads to ".", listDir is "name type"', async (t) => {
  const w = await world(t);
  const c = await w.as('postmaster');
  c.send('write_file example.com/.qmail-sales');
  c.send('&bob@example.com');
  c.send('.');
  t.true(statusOk(await c.line()));
  // readFile reads lines with Net_Socket readLine, which strips CR and LF alike.
  c.send('read_file example.com/.qmail-sales');
  t.true(statusOk(await c.looseLine()));
  const content: string[] = [];
  for (let l = await c.looseLine(); l !== '.'; l = await c.looseLine()) content.push(l);
  t.deepEqual(content, ['&bob@example.com']);
  const dir = await c.command('list_dir example.com/');
  const entries = Object.fromEntries(dir.lines.map((l) => l.split(' ')));
  t.is(entries['.qmail-sales'], 'file');
  t.is(entries.bob, 'dir');
});

test('Roundcube password driver: greeting, slogin, the pipelined mod_user block, one line read, quit', async (t) => {
  const w = await world(t);
  const c = await Client.connect(w.server.port);
  t.true(statusOk(await c.line()));
  c.send('slogin bob@example.com bob-pw');
  t.true(statusOk(await c.line()));
  c.write('mod_user bob@example.com\r\nclear_text_password N3w-pass\r\n.\r\n');
  t.true(statusOk(await c.line())); // the driver reads only this (the intermediate OK)
  c.send('quit');
  // What it never reads: the final status, then quit's.
  t.is(await c.line(), '+OK ');
  t.is(await c.line(), '+OK ');
  await c.closed();
  const check = await greeted(w.server);
  t.is((await check.command('slogin bob@example.com N3w-pass')).status, '+OK ');
});

test('Roundcube with a wrong current password sees a line not matching ^+OK after slogin', async (t) => {
  const w = await world(t);
  const c = await greeted(w.server);
  c.send('slogin bob@example.com not-it');
  t.false(statusOk(await c.line()));
});

/** A Haraka-style client: each TCP chunk is one reply; lines end LF CR. */
async function harakaChunks(port: number, script: (chunk: string, n: number, write: (s: string) => void) => boolean): Promise<string[]> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.setEncoding('latin1');
  const chunks: string[] = [];
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: string) => {
      chunks.push(chunk);
      if (!script(chunk, chunks.length, (s) => socket.write(s))) socket.end();
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
  return chunks;
}

test('Haraka auth_vpopmaild: slogin + LF CR after the first +OK chunk, success when the second chunk is +OK', async (t) => {
  const w = await world(t);
  let success = false;
  const chunks = await harakaChunks(w.server.port, (chunk, n, write) => {
    if (!/^\+OK/.test(chunk)) return false;
    if (n === 1) write('slogin bob@example.com bob-pw\n\r');
    if (n === 2) {
      success = true;
      write('quit\n\r');
    }
    return true;
  });
  t.true(success);
  t.deepEqual(chunks, ['+OK \r\n', '+OK \r\n', '+OK \r\n']);
});

test('Haraka CRAM-MD5: the sysadmin reads clear_text_password out of the user_info chunks', async (t) => {
  const w = await world(t);
  let plain: string | undefined;
  let seen = '';
  await harakaChunks(w.server.port, (chunk, n, write) => {
    if (n === 1) {
      write('slogin admin@example.com admin-pw\n\r');
      return true;
    }
    if (n === 2) {
      if (!/^\+OK/.test(chunk)) return false;
      write('user_info bob@example.com\n\r');
      return true;
    }
    if (/^-ERR/.test(chunk)) return false;
    seen += chunk;
    const m = /clear_text_password\s(\S+)\s/.exec(chunk);
    if (m === null) return true;
    plain = m[1];
    write('quit\n\r');
    return true;
  });
  t.is(plain, 'bob-pw', seen);
});

test('Haraka: a wrong password makes the second chunk -ERR', async (t) => {
  const w = await world(t);
  const chunks = await harakaChunks(w.server.port, (chunk, n, write) => {
    if (n === 1) write('slogin bob@example.com wrong\n\r');
    return n < 2;
  });
  t.is(chunks[1], '-ERR 8.207 Invalid Login\r\n');
});

test('qpsmtpd auth_vpopmaild: login + LF CR, one line read, close without quit', async (t) => {
  const w = await world(t);
  const c = await greeted(w.server);
  c.write('login bob@example.com bob-pw\n\r');
  t.regex(await c.line(), /\+OK/);
  c.close();
  // The daemon is still there for the next client.
  const d = await greeted(w.server);
  t.is((await d.command('quit')).status, '+OK ');
});
