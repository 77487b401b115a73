// The standard state of the command tests: two domains, an alias domain, one account per level.
import type { ExecutionContext } from 'ava';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import type { RunningServer, ServerOptions } from '../../lib/daemon/server.ts';
import { Client, daemonContext, greeted, logIo, serve, tempHome, type DaemonOverrides } from './harness.ts';
import { PEOPLE, makeAccount, makeAliasDomain, makeDomain, passwordOf, sha512Crypt, type World } from './fixtures.ts';

const FLAGS: Readonly<Record<string, number>> = {
  admin: 0x10000,
  qa: 0x1000,
  qaover: 0x1000 | 0x2000,
};

export interface ServedWorld extends World {
  readonly server: RunningServer;
  readonly io: ReturnType<typeof logIo>;
  /** A new session logged in with `clogin` (or the given verb) as one of PEOPLE. */
  as(who: keyof typeof PEOPLE, verb?: 'login' | 'clogin' | 'slogin'): Promise<Client>;
}

export async function world(t: ExecutionContext, settings = '', over: DaemonOverrides = {}, serverOptions: ServerOptions = {}): Promise<ServedWorld> {
  const home = tempHome(t, settings);
  const backend = createCdbBackend(home.config);
  const io = logIo();
  const daemon = daemonContext(home, { backend, io, limiter: false, ...over });
  const dirs = { 'example.com': makeDomain(home, 'example.com'), 'other.org': makeDomain(home, 'other.org') };
  makeAliasDomain(home, 'alias.example', 'example.com');
  for (const [key, address] of Object.entries(PEOPLE)) {
    const [user, domain] = address.split('@') as [string, string];
    const pw = passwordOf(address);
    await makeAccount(home, backend, domain, user, { passwd: sha512Crypt(pw), clear: pw, gid: FLAGS[key] ?? 0 });
  }
  const server = await serve(t, daemon, serverOptions);
  return {
    home,
    backend,
    daemon,
    dirs,
    server,
    io,
    async as(who, verb = 'clogin') {
      const c = await greeted(server);
      t.teardown(() => c.close());
      const address = PEOPLE[who];
      c.send(`${verb} ${address} ${passwordOf(address)}`);
      const status = await c.line();
      if (!status.startsWith('+OK')) throw new Error(`${verb} as ${address} failed: ${status}`);
      if (status === '+OK+') await c.block();
      return c;
    },
  };
}
