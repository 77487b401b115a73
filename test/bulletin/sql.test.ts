// vpopbull over the SQL backends (real MariaDB and PostgreSQL): users streamed in table order, and
// imported accounts without a home get one (allocated, made, pw_dir stored) and the bulletin.
import test from 'ava';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closeBulletin, openBulletin } from '../../lib/bulletin/bulletin.ts';
import { BulletinOutput } from '../../lib/bulletin/output.ts';
import { sendBulletin } from '../../lib/bulletin/vpopbull.ts';
import { captureIo } from '../../lib/cli/agent.ts';
import type { VpasswdEntry } from '../../lib/store/vpasswd.ts';
import { SQL_FACTORIES } from '../helpers/sql-db.ts';

const BULLETIN = 'From: postmaster@example.test\nSubject: s\n\nbody\n';

for (const factory of SQL_FACTORIES.slice(0, 2)) {
  test(`${factory.name}: every user gets the bulletin, and an account without a home first gets one from the directory allocator, stored in the table`, async (t) => {
    const f = await factory.make(t);
    const user = (name: string, dir: string): VpasswdEntry => ({ name, passwd: '$6$s$h', uid: 0, gid: 0, gecos: name, dir, quota: 'NOQUOTA', clear: '' });
    const withHome = f.home('alice'); // a bare home: the Maildir is made on the way
    await f.backend.addUser(f.domain, user('alice', withHome));
    await f.backend.addUser(f.domain, user('bob', ''));
    await f.backend.addUser(f.domain, user('carol', ''));
    const path = join(f.home('work'), 'b.txt');
    writeFileSync(path, BULLETIN);
    const bulletin = openBulletin(path, '/');
    t.teardown(() => closeBulletin(bulletin));
    const io = captureIo();
    const summary = await sendBulletin(
      { mode: 'copy', verbose: true, dryRun: false, bulletin, exclusions: new Set(), domains: [f.domain] },
      { config: f.config, backend: f.backend, out: new BulletinOutput(io), host: 'mail.test', pid: 99, now: Date.now },
    );
    t.is(io.err, '');
    t.is(io.out, `alice@${f.domain}\nbob@${f.domain}\ncarol@${f.domain}\n`, 'by name, as the SQL backends list');
    t.is(summary.delivered, 3);
    for (const name of ['alice', 'bob', 'carol']) {
      const stored = (await f.backend.getUser(f.domain, name))!;
      t.true(stored.dir.startsWith(`${f.config.domainsDir}/${f.domain}/`) && stored.dir.endsWith(`/${name}`), `${name} has a home: ${stored.dir}`);
      const newDir = join(stored.dir, 'Maildir', 'new');
      const [file] = readdirSync(newDir);
      t.is(readFileSync(join(newDir, file!), 'latin1').replace(/^Date: .*\n/m, ''), `To: ${name}@${f.domain}\n${BULLETIN}`);
    }
  });
}
