// vpopbull's command line (spec/vpopbull.md §1, §2, §8): options, start-up checks in C's order,
// the run, and on a terminal the progress line and a closing summary.
import type { Backend } from '../backends/backend.ts';
import { openBackend } from '../backends/open.ts';
import type { AgentContext } from '../cli/agent.ts';
import { Getopt, getoptMessage } from '../cli/getopt.ts';
import { loadConfig } from '../config.ts';
import { MailError, TempError, VA, VpopmailError, firstLine } from '../exit.ts';
import { durableFor } from '../fs/durable.ts';
import { BulletinError, closeBulletin, openBulletin, type Bulletin } from './bulletin.ts';
import { readExclusions } from './exclusions.ts';
import type { BulletinMode } from './mailbox.ts';
import { BulletinOutput } from './output.ts';
import { sendBulletin, type BulletinProgress, type BulletinSummary } from './vpopbull.ts';
import type { SwitchIds } from '../effective-ids.ts';

export const VPOPBULL_USAGE = `usage: vpopbull [-v] [-V] [-n] [-c | -h | -s] -f bulletin_file [-e exclude_file] [domain ...]
Puts one ready-made message (headers, a blank line, the body) into new/ of every mailbox of the
domains named, or of every domain in users/assign when none is named (alias domains are covered by
their real domain, so they are skipped).
  -f file  the bulletin
  -c       write a copy into each mailbox, headed by To: and, when the bulletin has none, Date:
           (the default)
  -h       hard-link the bulletin into each mailbox (same file system; the file is not changed)
  -s       symlink it into each mailbox (readers lose it when the file goes)
  -e file  addresses to leave out, one user@domain a line, compared exactly
  -n       deliver nothing: list the mailboxes that would get it (-f is then optional)
  -V       list each mailbox served, and the alias domains skipped
  -v       print the version and carry on
Mailboxes over their quota are skipped. On a terminal, progress and a summary go to stderr.
`;

/** What the program needs from its process, passed in by the agent. */
export interface VpopbullRuntime {
  /** Relative bulletin and exclusion paths are taken from here. */
  readonly cwd: string;
  readonly host: string;
  readonly pid: number;
  readonly now: () => number;
  /** stderr is a terminal: show progress (runs over 1,000 mailboxes) and the summary. */
  readonly isTerminal: boolean;
  /** The process's id switch (BulletinContext.switchIds): the program passes it, in-process tests do not. */
  readonly switchIds?: SwitchIds;
}

/** Progress shows once a run has visited more mailboxes than this. */
export const PROGRESS_AFTER_MAILBOXES = 1000;
const PROGRESS_EVERY_MS = 200;

interface Options {
  mode: BulletinMode;
  verbose: boolean;
  dryRun: boolean;
  bulletinName?: string;
  excludeName?: string;
}

const plural = (n: number, word: string) => `${n} ${n === 1 ? word : word.endsWith('x') ? `${word}es` : `${word}s`}`;

/** The closing line on a terminal: how many got it, and every reason a mailbox did not. */
export function formatSummary(s: BulletinSummary, mode: BulletinMode, dryRun: boolean): string {
  const skipped: string[] = [];
  if (s.excluded > 0) skipped.push(`${s.excluded} excluded`);
  if (s.overQuota > 0) skipped.push(`${s.overQuota} over quota`);
  if (s.failed > 0) skipped.push(`${s.failed} failed`);
  const how = mode === 'copy' ? 'copies' : mode === 'hard' ? 'hard links' : 'symbolic links';
  let line = dryRun
    ? `vpopbull: dry run: ${s.listed} of ${plural(s.mailboxes, 'mailbox')} in ${plural(s.domains, 'domain')} would get the bulletin`
    : `vpopbull: ${s.delivered} of ${plural(s.mailboxes, 'mailbox')} in ${plural(s.domains, 'domain')} got the bulletin (${how})`;
  if (skipped.length > 0) line += `; skipped ${s.mailboxes - (dryRun ? s.listed : s.delivered)}: ${skipped.join(', ')}`;
  if (s.copiedInsteadOfLinked > 0) line += `; ${s.copiedInsteadOfLinked} copied where a hard link was refused`;
  if (s.unknownDomains > 0) line += `; ${plural(s.unknownDomains, 'unknown domain')}`;
  if (s.unreadableDomains > 0) line += `; ${plural(s.unreadableDomains, 'domain')} not finished`;
  return `${line}\n`;
}

function formatProgress(p: BulletinProgress): string {
  const s = p.summary;
  const skipped = s.excluded + s.overQuota + s.failed;
  return `vpopbull: ${p.domain}: ${plural(s.mailboxes, 'mailbox')} so far, ${s.delivered} delivered, ${skipped} skipped`;
}

/** The whole program; returns the exit code. */
export async function vpopbullMain(ctx: AgentContext, rt: VpopbullRuntime): Promise<number> {
  const { argv, io } = ctx;
  if (argv.length === 0) {
    io.stdout(VPOPBULL_USAGE);
    return 255;
  }
  const config = loadConfig(ctx.env);
  let backend: Backend;
  try {
    backend = await openBackend(config);
  } catch (err) {
    io.stderr(`Error - ${firstLine(err)}. Initial open.\n`);
    return err instanceof MailError ? err.exitCode : 111;
  }
  let bulletin: Bulletin | undefined;
  try {
    const options: Options = { mode: 'copy', verbose: false, dryRun: false };
    const g = new Getopt(argv, 'Vvcshnf:e:');
    for (let e = g.next(); e !== undefined; e = g.next()) {
      if (e.kind !== 'opt') {
        io.stderr(getoptMessage(ctx.argv0, e) ?? '');
        io.stdout(VPOPBULL_USAGE);
        return 255;
      }
      switch (e.opt) {
        case 'v':
          io.stdout(`version: ${config.version}\n`);
          break;
        case 'V':
          options.verbose = true;
          break;
        case 'n':
          options.dryRun = true;
          break;
        case 'c':
          options.mode = 'copy';
          break;
        case 'h':
          options.mode = 'hard';
          break;
        case 's':
          options.mode = 'symlink';
          break;
        case 'f':
          options.bulletinName = e.arg!;
          break;
        case 'e':
          options.excludeName = e.arg!;
          break;
      }
    }
    if (options.bulletinName !== undefined) bulletin = openBulletin(options.bulletinName, rt.cwd);
    if (bulletin === undefined && !options.dryRun) {
      io.stderr('Error: email_file not specified\n');
      io.stdout(VPOPBULL_USAGE);
      return 255;
    }
    const exclusions = options.excludeName === undefined ? new Set<string>() : readExclusions(options.excludeName, rt.cwd);
    const durable = durableFor(config);
    if (bulletin !== undefined && options.mode !== 'copy' && !options.dryRun) {
      // Every link will share this inode (or point at it): its data goes to disk once, first.
      try {
        durable.fsync(bulletin.fd);
      } catch (err) {
        throw new TempError(`fsync(${bulletin.path}) failed: ${(err as NodeJS.ErrnoException).code ?? firstLine(err)}`, { cause: err });
      }
    }

    const out = new BulletinOutput(io);
    let lastDraw = 0;
    const progress = (p: BulletinProgress) => {
      if (p.summary.mailboxes <= PROGRESS_AFTER_MAILBOXES) return;
      const now = rt.now();
      if (p.isRunning && now - lastDraw < PROGRESS_EVERY_MS) return;
      lastDraw = now;
      out.status(formatProgress(p));
    };
    let summary: BulletinSummary;
    try {
      summary = await sendBulletin(
        { mode: options.mode, verbose: options.verbose, dryRun: options.dryRun, bulletin, exclusions, domains: g.operands().length > 0 ? g.operands() : undefined },
        { config, backend, out, host: rt.host, pid: rt.pid, now: rt.now, durable, ...(rt.isTerminal ? { progress } : {}), ...(rt.switchIds === undefined ? {} : { switchIds: rt.switchIds }) },
      );
    } catch (err) {
      out.flush();
      out.clearStatus();
      if (err instanceof VpopmailError && err.code === VA.CANNOT_READ_ASSIGN) {
        io.stdout(`Can't get domain entries - ${firstLine(err)}\n`);
        return 255;
      }
      throw err;
    }
    out.clearStatus();
    if (summary.noDomainEntries) {
      io.stdout('What now - Success\n');
      return 0;
    }
    if (rt.isTerminal) io.stderr(formatSummary(summary, options.mode, options.dryRun));
    return summary.unreadableDomains > 0 ? 111 : 0;
  } catch (err) {
    if (!(err instanceof BulletinError)) throw err;
    io.stderr(`${err.message}\n`);
    return err.exitCode;
  } finally {
    if (bulletin !== undefined) closeBulletin(bulletin);
    await backend.close();
  }
}
