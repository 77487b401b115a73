// vconvert's work (spec/tools.md §19): copy every user of a domain from one store to another —
// cdb files, MariaDB/MySQL, PostgreSQL, in any direction — streaming, and so that the target holds
// the old set or the whole new one, never half (D10: C drops the SQL rows first, then imports).
// Hashes are copied as they are: no temporary password, so no password policy stands in the way.
import { closeSync, openSync, writeSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Backend, VpasswdEntry } from '../backends/backend.ts';
import type { SqlBackend } from '../backends/sql-backend.ts';
import type { Config } from '../config.ts';
import { MailError, PermError, TempError, VA, VpopmailError, firstLine } from '../exit.ts';
import { unlinkQuiet } from '../fs/durable.ts';
import { listAssignDomains, lookupAssignDomain } from '../store/assign.ts';
import { formatVpasswdLine, parseVpasswdLine, readLinesSync, replaceVpasswdEntries } from '../store/vpasswd.ts';

export interface ConvertProgress {
  readonly domain: string;
  readonly done: number;
  /** Undefined when the count was not asked for. */
  readonly total: number | undefined;
}

export interface ConvertOptions {
  readonly config: Config;
  readonly from: Backend;
  readonly to: Backend;
  /** Domains to convert; none: every real domain in users/assign. */
  readonly domains?: readonly string[];
  /** C's lines (`converting <d> `, `done`, alias notes) go here, in C's words. */
  readonly print: (text: string) => void;
  /** Called every few hundred users; with `countTotals` the total is known up front. */
  readonly progress?: (p: ConvertProgress) => void;
  readonly countTotals?: boolean;
}

export interface ConvertSummary {
  readonly domains: number;
  readonly users: number;
  readonly failed: readonly { readonly domain: string; readonly error: MailError }[];
}

const PROGRESS_EVERY = 250;

function isSqlBackend(b: Backend): b is SqlBackend {
  return typeof (b as Partial<SqlBackend>).replaceUsers === 'function';
}

/** The domains to convert: as given (an alias is named and skipped, as C does), else every real domain. */
function* domainsToConvert(config: Config, given: readonly string[] | undefined, print: (t: string) => void): Generator<string> {
  if (given !== undefined && given.length > 0) {
    for (const raw of given) {
      const domain = raw.toLowerCase();
      const info = lookupAssignDomain(config.qmailHome, domain);
      if (info !== undefined && info.domain !== domain) print(`${domain} is an alias of ${info.domain}.\n`);
      else yield domain;
    }
    return;
  }
  const seen = new Set<string>();
  for (const e of listAssignDomains(config.qmailHome)) {
    if (e.name !== e.domain) {
      print(`${e.name} is an alias of ${e.domain}.\n`);
      continue;
    }
    if (seen.has(e.domain)) continue;
    seen.add(e.domain);
    yield e.domain;
  }
}

async function countUsers(backend: Backend, domain: string): Promise<number> {
  if (isSqlBackend(backend)) return backend.countUsers(domain);
  let n = 0;
  for await (const _ of backend.listUsers(domain)) n++;
  return n;
}

/**
 * Write the stream into the cdb store of the domain: staged in a file beside vpasswd (the source may
 * be a socket, the vpasswd rewrite is synchronous), then swapped in by the locked rewrite that builds
 * vpasswd and vpasswd.cdb together.
 */
async function replaceCdbUsers(config: Config, domain: string, entries: AsyncIterable<VpasswdEntry>): Promise<number> {
  const info = lookupAssignDomain(config.qmailHome, domain);
  if (info === undefined) throw new VpopmailError(VA.DOMAIN_DOES_NOT_EXIST);
  const stage = join(info.dir, `.vpasswd.vconvert.${process.pid}`);
  unlinkQuiet(stage);
  let fd: number | undefined;
  try {
    try {
      fd = openSync(stage, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
    } catch (err) {
      throw new TempError(`unable to create ${stage}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
    }
    let chunk: string[] = [];
    let size = 0;
    const flush = () => {
      if (chunk.length === 0) return;
      writeSync(fd!, Buffer.from(chunk.join(''), 'latin1'));
      chunk = [];
      size = 0;
    };
    for await (const entry of entries) {
      const line = `${formatVpasswdLine(entry)}\n`;
      chunk.push(line);
      size += line.length;
      if (size >= 64 * 1024) flush();
    }
    flush();
    closeSync(fd);
    fd = openSync(stage, fsc.O_RDONLY);
    const staged = fd;
    function* lines(): Generator<VpasswdEntry> {
      for (const l of readLinesSync(staged, stage)) yield parseVpasswdLine(l.text, { file: stage, line: l.number });
    }
    return replaceVpasswdEntries(info.dir, lines(), { owner: { uid: info.uid, gid: info.gid } });
  } finally {
    if (fd !== undefined) closeSync(fd);
    unlinkQuiet(stage);
  }
}

/** Convert one domain; returns how many users the target now holds. */
export async function convertDomain(options: ConvertOptions, domain: string): Promise<number> {
  const { config, from, to, progress } = options;
  const total = progress !== undefined && options.countTotals === true ? await countUsers(from, domain) : undefined;
  let done = 0;
  async function* source(): AsyncGenerator<VpasswdEntry> {
    for await (const entry of from.listUsers(domain)) {
      done++;
      if (progress !== undefined && done % PROGRESS_EVERY === 0) progress({ domain, done, total });
      yield entry;
    }
  }
  let count: number;
  if (isSqlBackend(to)) {
    await to.addDomain(domain);
    count = await to.replaceUsers(domain, source());
  } else if (to.name === 'cdb') {
    count = await replaceCdbUsers(config, domain, source());
  } else {
    throw new PermError(`vconvert cannot write to the ${to.name} backend`);
  }
  progress?.({ domain, done, total: total ?? done });

  // The allocator state travels with the users (C resets it: D5), and so do limits kept apart.
  const key = { domain };
  const state = await from.getDirControl(key);
  if (state === undefined) await to.delDirControl(key);
  else await to.setDirControl(key, state);
  const limits = await from.getLimits(domain);
  if (limits !== undefined && !isDeepStrictEqual(await to.getLimits(domain), limits)) await to.setLimits(domain, limits);
  return count;
}

/** Convert every domain asked for; a failing domain is reported and the others still run. */
export async function convertDomains(options: ConvertOptions): Promise<ConvertSummary> {
  if (options.from.name === options.to.name) throw new PermError(`source and target are both ${options.from.name}`);
  let domains = 0;
  let users = 0;
  const failed: { domain: string; error: MailError }[] = [];
  for (const domain of domainsToConvert(options.config, options.domains, options.print)) {
    options.print(`converting ${domain} `);
    try {
      users += await convertDomain(options, domain);
      domains++;
      options.print('done\n');
    } catch (err) {
      const error = err instanceof MailError ? err : new TempError(firstLine(err), { cause: err });
      failed.push({ domain, error });
      options.print('domain conversion failed\n');
    }
  }
  return { domains, users, failed };
}
