// vpopmaild as tcpserver runs it: one stdio session per process. A system admin logs in (one
// SHA-512 verify) and lists a 10,000-user domain (streamed under backpressure), then quits.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashPassword } from '../../lib/crypt/index.ts';
import { addAssignDomain } from '../../lib/store/assign.ts';
import { replaceVpasswdEntries, type VpasswdEntry } from '../../lib/store/vpasswd.ts';
import type { Bench } from './harness.ts';

const USERS = 10_000;
const DOMAIN = 'list.test';

export default async function vpopmaild(b: Bench): Promise<void> {
  b.section(`vpopmaild (stdio session, ${USERS.toLocaleString('en')}-user domain)`);
  const vhome = join(b.root, 'vpopmail');
  const qhome = join(b.root, 'qmail');
  for (const d of [join(vhome, 'etc'), join(vhome, 'domains'), join(qhome, 'users'), join(qhome, 'control')]) mkdirSync(d, { recursive: true });
  const dir = join(vhome, 'domains', DOMAIN);
  mkdirSync(dir, { recursive: true });
  addAssignDomain(qhome, { name: DOMAIN, domain: DOMAIN, uid: 89, gid: 89, dir });
  const hash = hashPassword('bench-pw', 'sha512');
  function* users(): Generator<VpasswdEntry> {
    yield { name: 'admin', passwd: hash, uid: 1, gid: 0x10000, gecos: 'admin', dir: join(dir, 'admin'), quota: 'NOQUOTA', clear: '' };
    for (let i = 0; i < USERS; i++) {
      const name = `user${String(i).padStart(5, '0')}`;
      yield { name, passwd: hash, uid: 1, gid: 0, gecos: `User ${i}`, dir: join(dir, name), quota: 'NOQUOTA', clear: '' };
    }
  }
  replaceVpasswdEntries(dir, users());
  const env = { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: vhome, QMAIL_HOME: qhome };
  const exe = join(b.dist, 'bin', 'vpopmaild');
  const quit = join(b.root, 'quit.txt');
  writeFileSync(quit, 'quit\r\n');
  b.report(b.time('vpopmaild greeting + quit', { argv: [exe], env, stdin: quit, runs: 20 }), ['true', 'runtime', 'bun-compiled']);
  const login = join(b.root, 'login.txt');
  writeFileSync(login, `slogin admin@${DOMAIN} bench-pw\r\nquit\r\n`);
  b.report(b.time('vpopmaild slogin (SHA-512) + quit', { argv: [exe], env, stdin: login, runs: 20 }), ['true', 'runtime', 'bun-compiled']);
  const list = join(b.root, 'list.txt');
  writeFileSync(list, `slogin admin@${DOMAIN} bench-pw\r\nlist_users ${DOMAIN}\r\nquit\r\n`);
  b.report(b.time(`vpopmaild list_users (${USERS} users)`, { argv: [exe], env, stdin: list, runs: 10 }), ['true', 'runtime']);
}
