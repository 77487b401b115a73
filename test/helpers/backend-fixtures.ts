// Backends for test/backends/contract.test.ts: each factory gives a fresh, empty store with one real
// domain and one alias of it. MariaDB and PostgreSQL factories join this list when those backends land.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { Backend } from '../../lib/backends/backend.ts';
import { createCdbBackend } from '../../lib/backends/cdb.ts';
import { loadConfig, type Config } from '../../lib/config.ts';
import { addAssignDomain } from '../../lib/store/assign.ts';
import { tempDir } from './cdb-tools.ts';
import { SQL_FACTORIES } from './sql-db.ts';

export interface BackendFixture {
  readonly backend: Backend;
  readonly config: Config;
  /** A real domain with no users yet. */
  readonly domain: string;
  /** An alias domain of `domain`. */
  readonly alias: string;
  /** A home directory for a user of `domain` that exists (lastauth lives there for cdb). */
  home(user: string): string;
}

export interface FixtureOptions {
  readonly clearPasswords?: boolean;
}

export interface BackendFactory {
  readonly name: string;
  make(t: ExecutionContext, options?: FixtureOptions): Promise<BackendFixture>;
}

export const cdbFactory: BackendFactory = {
  name: 'cdb',
  async make(t, options = {}) {
    const root = tempDir(t);
    const vpopmailHome = join(root, 'vpopmail');
    const qmailHome = join(root, 'qmail');
    mkdirSync(join(vpopmailHome, 'etc'), { recursive: true });
    mkdirSync(join(qmailHome, 'users'), { recursive: true });
    const loaded = loadConfig({ VPOPMAIL_HOME: vpopmailHome, QMAIL_HOME: qmailHome });
    const config: Config = Object.freeze({ ...loaded, clearPasswords: options.clearPasswords ?? loaded.clearPasswords });
    const domain = 'example.test';
    const alias = 'alias.test';
    const dir = join(config.domainsDir, domain);
    mkdirSync(dir, { recursive: true });
    addAssignDomain(qmailHome, { name: domain, domain, uid: 89, gid: 89, dir });
    addAssignDomain(qmailHome, { name: alias, domain, uid: 89, gid: 89, dir });
    const backend = createCdbBackend(config);
    await backend.addDomain(domain);
    t.teardown(() => backend.close());
    return {
      backend,
      config,
      domain,
      alias,
      home(user) {
        const home = join(dir, user);
        mkdirSync(home, { recursive: true });
        return home;
      },
    };
  },
};

export const BACKENDS: readonly BackendFactory[] = [cdbFactory, ...SQL_FACTORIES];
