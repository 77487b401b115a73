// vconvert: copy the users of domains between stores (cdb files, MariaDB/MySQL, PostgreSQL).
import { convertDomains, type ConvertProgress } from '../lib/accounts/convert.ts';
import type { Backend } from '../lib/backends/backend.ts';
import { openBackend } from '../lib/backends/open.ts';
import { defineAgent } from '../lib/cli/agent.ts';
import { Getopt, getoptMessage } from '../lib/cli/getopt.ts';
import { loadConfig, type BackendName, type Config } from '../lib/config.ts';
import { firstLine } from '../lib/exit.ts';
import { isTerminal } from '../lib/cli/tty.ts';
import { normalJit } from '../lib/runtime.ts';

const USAGE = `usage: vconvert FROM TO [domain ...]
The first store option is where the users come from, the second where they go:
  -c  cdb: the domain's vpasswd and vpasswd.cdb files
  -m  the SQL store the configuration names (the backend setting when it is mysql or pgsql,
      else MariaDB/MySQL), as C's -m means the SQL module it was built with
  -M  MariaDB/MySQL (~vpopmail/etc/vpopmail.mysql)
  -G  PostgreSQL (~vpopmail/etc/vpopmail.pgsql)
Without domains every real domain in users/assign is converted; alias domains are skipped.
The target's users of each domain are replaced in one step: it holds the old users until the new
ones are all in, and running vconvert again gives the same result. Password hashes are copied as
they are. The hashed-directory state goes along with the users.
  -v  print the version
  -d  debug (accepted, no effect)
`;

function storeOf(opt: string, config: Config): BackendName | undefined {
  switch (opt) {
    case 'c':
      return 'cdb';
    case 'm':
      return config.backend === 'pgsql' ? 'pgsql' : 'mysql';
    case 'M':
      return 'mysql';
    case 'G':
      return 'pgsql';
    default:
      return undefined;
  }
}

const NOT_YET: ReadonlyMap<string, string> = new Map([
  ['e', '-e (/etc/passwd import)'],
  ['p', '-p (user:hash file import)'],
  ['S', '-S (sqwebmail-pass files)'],
]);

export default defineAgent('vconvert', async ({ argv0, argv, env, io }) => {
  normalJit();
  const config = loadConfig(env);
  const stores: BackendName[] = [];
  const g = new Getopt(argv, 'cmMGep:Sdv');
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') {
      io.stderr(getoptMessage(argv0, e) ?? '');
      io.stdout(USAGE);
      return 255;
    }
    if (e.opt === 'v') {
      io.stdout(`version: ${config.version}\n`);
      continue;
    }
    if (e.opt === 'd') continue;
    const later = NOT_YET.get(e.opt);
    if (later !== undefined) {
      io.stderr(`vconvert: ${later} is not supported by this version\n`);
      return 255;
    }
    const store = storeOf(e.opt, config);
    if (store !== undefined) stores.push(store);
  }
  if (stores.length !== 2 || stores[0] === stores[1]) {
    io.stdout(USAGE);
    return 255;
  }
  const [fromName, toName] = stores as [BackendName, BackendName];

  const tty = isTerminal(2);
  let lastDraw = 0;
  const progress = (p: ConvertProgress) => {
    const now = Date.now();
    const finished = p.total !== undefined && p.done >= p.total;
    if (!finished && now - lastDraw < 100) return;
    lastDraw = now;
    const width = 30;
    const filled = p.total === undefined || p.total === 0 ? width : Math.min(width, Math.round((p.done / p.total) * width));
    io.stderr(`\r${p.domain} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${p.done}/${p.total ?? '?'}${finished ? '\n' : ''}`);
  };

  let from: Backend | undefined;
  let to: Backend | undefined;
  try {
    from = await openBackend({ ...config, backend: fromName });
    to = await openBackend({ ...config, backend: toName });
    const summary = await convertDomains({
      config,
      from,
      to,
      domains: g.operands(),
      print: (text) => io.stdout(text),
      ...(tty ? { progress, countTotals: true } : {}),
    });
    for (const f of summary.failed) io.stderr(`vconvert: ${f.domain}: ${firstLine(f.error)}\n`);
    io.stdout(
      `vconvert: ${summary.users} users in ${summary.domains} domain${summary.domains === 1 ? '' : 's'} converted from ${fromName} to ${toName}${summary.failed.length === 0 ? '' : `, ${summary.failed.length} failed`}\n`,
    );
    return summary.failed.length === 0 ? 0 : summary.failed[0]!.error.exitCode;
  } finally {
    await from?.close();
    await to?.close();
  }
});
