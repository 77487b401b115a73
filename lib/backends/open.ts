// Pick the backend the configuration names. SQL modules are imported only when selected, so a cdb
// installation never loads a database driver.
import type { Config } from '../config.ts';
import { TempError } from '../exit.ts';
import type { Backend } from './backend.ts';
import { createCdbBackend, type CdbBackendOptions } from './cdb.ts';

export async function openBackend(config: Config, options: CdbBackendOptions = {}): Promise<Backend> {
  switch (config.backend) {
    case 'cdb':
      return createCdbBackend(config, options);
    case 'mysql':
      return (await import('./mysql.ts')).openMysqlBackend(config, options.resolveDomain === undefined ? {} : { resolveDomain: options.resolveDomain });
    case 'pgsql':
      return (await import('./pgsql.ts')).openPgsqlBackend(config, options.resolveDomain === undefined ? {} : { resolveDomain: options.resolveDomain });
  }
  throw new TempError(`unknown backend ${String(config.backend)}`);
}
