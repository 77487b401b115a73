// vaddusers' command line: usage, the input file, refused lines as they are found, a progress line
// on a terminal, and the closing summary.
import { closeSync, fstatSync, openSync } from 'node:fs';
import type { AgentIo } from '../cli/agent.ts';
import { TempError } from '../exit.ts';
import { importUsers, type BulkImportSummary, type BulkProgress, type BulkRefusal } from './bulk-import.ts';
import { BulkInputReader, type BulkFormat, type PasswordKind } from './bulk-input.ts';
import type { AccountsContext } from './context.ts';

export const VADDUSERS_USAGE = `usage: vaddusers [options] [file]
Adds many mailboxes at once, from the file or from stdin (no file, or -). One user a line:
  user@domain:password:quota:comment      (quota and comment may be left out or empty)
or CSV whose first line names its columns: address (or user and domain), password or hash,
quota, gecos. Blank lines and lines starting with # are skipped.
Every line is checked before anything is written: the address and user name, that the domain
exists, that the user does not exist yet and is asked for once (the first line wins), the quota,
and the password policy for clear passwords. A line that fails is reported with its number and not
imported; every other line is. Each domain then gets its mailboxes and one rewrite of vpasswd and
vpasswd.cdb: the same files, buckets and .dir-control as adding the users one at a time with
vadduser, in the order of the input.
  -e         every password field is a crypt(3) hash ($6$..., $1$..., DES), stored as it is
  -p         every password field is a clear password; by default a complete $1$, $5$, $6$ or
             bcrypt hash, or one with a {SCHEME} prefix, is stored as a hash, anything else is
             a clear password
  -q quota   quota of lines without one: 10M, 500K, 2G, 1000C, 10M,1000C or NOQUOTA (default:
             the domain's default quota). 1G is a gibibyte here (vadduser -q, as C, reads 1 byte)
  -F format  colon or csv (default: csv when the first line is such a header)
  -n         check only: report the lines that would be refused, write nothing
  -s         skip users that exist already instead of refusing them (to finish an import that
             was interrupted)
  -v         print the vpopmail version first
Progress and the summary go to stderr and stdout; refused lines to stderr, as
"<file> line N: <address>: <reason>". Exit status: 0 every line added (or skipped with -s),
1 some lines refused and the others added, 111 a domain could not be written (none of its users
were added: run again), 255 a usage error or unreadable input.
`;

export interface VaddusersRequest {
  /** A path, or undefined / `-` for stdin. */
  readonly file: string | undefined;
  readonly format?: BulkFormat;
  readonly passwordKind: PasswordKind;
  readonly defaultQuota?: string;
  readonly dryRun: boolean;
  readonly skipExisting: boolean;
}

export interface VaddusersRuntime {
  readonly io: AgentIo;
  /** stderr is a terminal: draw the progress line. */
  readonly isTerminal: boolean;
  readonly stdinFd: number;
  readonly now: () => number;
}

const PROGRESS_EVERY_MS = 200;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** `[#####.....]` for a fraction. */
function bar(done: number, total: number | undefined): string {
  const width = 24;
  const filled = total === undefined || total === 0 ? 0 : Math.min(width, Math.round((done / total) * width));
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

function formatSummary(s: BulkImportSummary, dryRun: boolean): string {
  const domains = s.domains.filter((d) => d.added > 0).length;
  let line = dryRun
    ? `vaddusers: dry run: ${plural(s.added, 'user')} would be added to ${plural(domains, 'domain')}`
    : `vaddusers: ${plural(s.added, 'user')} added to ${plural(domains, 'domain')}`;
  if (s.skipped > 0) line += `, ${s.skipped} skipped (they exist)`;
  line += `, ${plural(s.refused, 'line')} refused`;
  const failed = s.domains.filter((d) => d.error !== undefined).length;
  if (failed > 0) line += `, ${plural(failed, 'domain')} not written`;
  return `${line}\n`;
}

/** Read, check and import; returns the exit code. */
export async function runVaddusers(ctx: AccountsContext, request: VaddusersRequest, rt: VaddusersRuntime): Promise<number> {
  const { io } = rt;
  const fromStdin = request.file === undefined || request.file === '-';
  const source = fromStdin ? 'stdin' : request.file!;
  let fd: number;
  try {
    fd = fromStdin ? rt.stdinFd : openSync(request.file!, 'r');
  } catch (err) {
    io.stderr(`vaddusers: unable to open ${source}: ${(err as NodeJS.ErrnoException).code ?? err}\n`);
    return 255;
  }
  let status = false; // a progress line is on the terminal
  const clearStatus = () => {
    if (!status) return;
    io.stderr('\r\x1b[K');
    status = false;
  };
  try {
    let size: number | undefined;
    try {
      const st = fstatSync(fd);
      if (st.isFile()) size = st.size;
    } catch {
      // a pipe: no size, no percentage
    }
    const reader = new BulkInputReader(fd, source, { ...(request.format === undefined ? {} : { format: request.format }), passwordKind: request.passwordKind });
    let lastDraw = 0;
    const progress = (p: BulkProgress) => {
      const now = rt.now();
      if (now - lastDraw < PROGRESS_EVERY_MS) return;
      lastDraw = now;
      let text: string;
      if (p.stage === 'checking') {
        const pct = size === undefined || size === 0 ? '' : ` ${bar(reader.bytesRead, size)} ${Math.floor((reader.bytesRead * 100) / size)}%`;
        text = `vaddusers: checking${pct} ${plural(p.done, 'line')}`;
      } else if (p.stage === 'mailboxes') text = `vaddusers: mailboxes ${bar(p.done, p.total)} ${p.done}/${p.total ?? '?'}`;
      else text = `vaddusers: writing ${p.domain ?? ''}`;
      io.stderr(`\r\x1b[K${text}`);
      status = true;
    };
    const onRefused = (r: BulkRefusal) => {
      clearStatus();
      io.stderr(`${source} line ${r.line}: ${r.address === undefined || r.address === '' ? '' : `${r.address}: `}${r.reason}\n`);
    };
    let summary: BulkImportSummary;
    try {
      summary = await importUsers(ctx, reader.items(), {
        dryRun: request.dryRun,
        skipExisting: request.skipExisting,
        ...(request.defaultQuota === undefined ? {} : { defaultQuota: request.defaultQuota }),
        onRefused,
        ...(rt.isTerminal ? { onProgress: progress } : {}),
      });
    } catch (err) {
      clearStatus();
      if (err instanceof TempError && err.message.startsWith(`unable to read ${source}`)) {
        io.stderr(`vaddusers: ${err.message}\n`);
        return 255;
      }
      throw err;
    }
    clearStatus();
    for (const d of summary.domains) {
      if (d.error !== undefined) io.stderr(`vaddusers: ${d.domain}: not written, none of its new users were added: ${d.error.message}\n`);
      else if (d.warning !== undefined) io.stderr(`vaddusers: ${d.domain}: users added, but ${d.warning}\n`);
    }
    io.stdout(formatSummary(summary, request.dryRun));
    if (summary.domains.some((d) => d.error !== undefined)) return 111;
    return summary.refused > 0 ? 1 : 0;
  } finally {
    clearStatus();
    if (!fromStdin) closeSync(fd);
  }
}
