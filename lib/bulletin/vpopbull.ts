// vpopbull's run: the domains asked for (or every real domain in users/assign), each domain's
// users streamed from the Backend, one bulletin per mailbox, copies fsynced in concurrent batches.
//
// Durability (see COMPATIBILITY.md, vpopbull): a copy is written to tmp/, fsynced, then linked into
// new/, so a crash never leaves a partial message in new/. Links (hard or symbolic) are one
// metadata operation on a file whose data was fsynced once at the start, so they need no fsync of
// their own. No directory is fsynced per mailbox: a crash can lose a link made in the last moments
// (the mailbox then lacks the bulletin, and nothing half-made is visible), and each domain ends
// with one directory fsync, which on journaling file systems (ext4, XFS) commits all earlier links.
import { fsync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Backend, VpasswdEntry } from '../backends/backend.ts';
import type { Config } from '../config.ts';
import type { SwitchIds } from '../effective-ids.ts';
import { VA, VpopmailError, firstLine } from '../exit.ts';
import { DURABLE, type Durable } from '../fs/durable.ts';
import { effectiveUid, fsyncDir, type Owner } from '../maildir/deliver.ts';
import { remakeUserDir } from '../maildir/make.ts';
import { listAssignDomains, lookupAssignDomain, type AssignLookup } from '../store/assign.ts';
import { allocateBucket } from '../store/dir-control.ts';
import { copyHeaders, formatDateLine, type Bulletin } from './bulletin.ts';
import {
  abandonCopy,
  checkQuota,
  commitCopy,
  linkBulletin,
  mailboxTarget,
  refuseSymlinkedMaildir,
  MailboxError,
  recordDelivery,
  writeCopy,
  removeStaleLinkSources,
  writeLinkSource,
  type BulletinMode,
  type LinkFallback,
  type MailboxRun,
  type MailboxTarget,
  type PendingCopy,
} from './mailbox.ts';
import type { BulletinOutput } from './output.ts';

/** Copies written before their fsyncs are awaited together (the file system commits them in groups). */
export const DEFAULT_BATCH_SIZE = 128;

export interface BulletinRequest {
  readonly mode: BulletinMode;
  /** -V: print `user@domain` for each mailbox served, and the alias domains skipped. */
  readonly verbose: boolean;
  /** -n: write nothing, list the mailboxes that would get the bulletin. */
  readonly dryRun: boolean;
  /** Required unless dryRun. */
  readonly bulletin: Bulletin | undefined;
  /** Addresses to leave out (byte strings, exact). */
  readonly exclusions: ReadonlySet<string>;
  /** Domain names as given; undefined for every real domain in users/assign. */
  readonly domains: readonly string[] | undefined;
}

export interface BulletinProgress {
  readonly domain: string;
  readonly summary: BulletinSummary;
  /** False for the last call of a domain. */
  readonly isRunning: boolean;
}

export interface BulletinContext {
  readonly config: Config;
  readonly backend: Backend;
  readonly out: BulletinOutput;
  /** The machine's host name, for message file names. */
  readonly host: string;
  readonly pid: number;
  readonly now: () => number;
  readonly euid?: number;
  /**
   * Run as root with this, each domain's mailboxes are written as the domain's owner (its uid, gid
   * and only that group): the kernel then refuses whatever the owner could not do, a link the owner
   * planted included, with no check per mailbox. The program passes switchEffectiveIds; without it
   * (in-process callers) root checks each Maildir's directories instead (refuseSymlinkedMaildir).
   */
  readonly switchIds?: SwitchIds;
  readonly durable?: Durable;
  /** Called after every batch and at the end of each domain (the terminal progress line). */
  readonly progress?: (p: BulletinProgress) => void;
  readonly batchSize?: number;
}

export interface BulletinSummary {
  /** Domains whose users were visited. */
  domains: number;
  /** Mailboxes visited, excluded ones included. */
  mailboxes: number;
  delivered: number;
  /** -n: mailboxes listed. */
  listed: number;
  excluded: number;
  overQuota: number;
  failed: number;
  /** Hard links the file system refused (EXDEV, EMLINK), delivered as copies instead. */
  copiedInsteadOfLinked: number;
  /** Domains given that users/cdb does not know. */
  unknownDomains: number;
  /** Domains whose users could not be read, or whose run stopped (the run exits 111). */
  unreadableDomains: number;
  /** Iterating users/assign found no domain line at all (C: `What now - Success`). */
  noDomainEntries: boolean;
}

function emptySummary(): BulletinSummary {
  return {
    domains: 0,
    mailboxes: 0,
    delivered: 0,
    listed: 0,
    excluded: 0,
    overQuota: 0,
    failed: 0,
    copiedInsteadOfLinked: 0,
    unknownDomains: 0,
    unreadableDomains: 0,
    noDomainEntries: false,
  };
}

const FALLBACK_REASONS: Readonly<Record<LinkFallback, string>> = {
  EXDEV: 'it is on another file system',
  EMLINK: 'it has the most links the file system allows',
  EPERM: 'links to it are not allowed, e.g. to a file of another user under fs.protected_hardlinks',
};

/** One mailbox between its preparation and its report. */
interface Item {
  readonly address: string;
  readonly target?: MailboxTarget;
  pending?: PendingCopy;
  /** The copy stands in for a hard link the file system refused. */
  isFallback?: boolean;
  path?: string;
  sizeBytes?: number;
  overQuotaDetail?: string;
  /** From the quota check, for recordDelivery. */
  quotaRoot?: string;
  failure?: string;
}

/** The domains to visit, in order: each name given (joined and split on spaces, as C), or users/assign. */
function* domainsOf(ctx: BulletinContext, req: BulletinRequest, summary: BulletinSummary): Generator<{ readonly name: string; readonly info?: AssignLookup }> {
  if (req.domains !== undefined) {
    for (const name of req.domains.join(' ').split(' ')) if (name !== '') yield { name };
    return;
  }
  // C's get_domain_entries reads the text file; VA_CANNOT_READ_ASSIGN goes to the caller.
  const entries = listAssignDomains(ctx.config.qmailHome);
  if (entries.length === 0) summary.noDomainEntries = true; // C: only when there is no entry at all
  for (const e of entries) {
    if (e.name !== e.domain) {
      if (req.verbose) ctx.out.stderr(`skipping ${e.name} (alias of ${e.domain})\n`);
      continue;
    }
    yield { name: e.name, info: { domain: e.domain, uid: e.uid, gid: e.gid, dir: e.dir } };
  }
}

/** Can the domain's owner read the file a link points at (mode bits only)? */
function isReadableBy(b: Bulletin, owner: Owner): boolean {
  if (owner.uid === 0) return true;
  if ((b.mode & 0o004) !== 0) return true;
  if (b.uid === owner.uid) return (b.mode & 0o400) !== 0;
  return b.gid === owner.gid && (b.mode & 0o040) !== 0;
}

function fsyncAsync(fd: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => fsync(fd, (err) => resolve(err)));
}

/**
 * Send the bulletin. Per-mailbox problems are reported on stderr and counted; they do not stop the
 * run (C: exit 0). An unreadable users/assign (iterating all domains) throws VA_CANNOT_READ_ASSIGN.
 */
export async function sendBulletin(req: BulletinRequest, ctx: BulletinContext): Promise<BulletinSummary> {
  const summary = emptySummary();
  const durable = ctx.durable ?? DURABLE;
  const euid = ctx.euid ?? effectiveUid();
  const batchSize = Math.max(1, ctx.batchSize ?? DEFAULT_BATCH_SIZE);
  // The crash-test fault switch counts each fsync through `durable`; then fsync one at a time.
  const isConcurrent = durable === DURABLE;
  const out = ctx.out;
  const warned = new Set<LinkFallback>();
  let dateSec = -1;
  let dateLine = '';

  const baseRun: MailboxRun | undefined =
    req.bulletin === undefined ? undefined : { bulletin: req.bulletin, mode: req.mode, host: ctx.host, pid: ctx.pid, now: ctx.now, euid, durable, names: { sec: -1, name: '' } };
  /** The current domain's: baseRun, or baseRun as the domain's owner (ctx.switchIds). */
  let run = baseRun;

  const dateLineNow = (): string => {
    const nowMs = ctx.now();
    const sec = Math.floor(nowMs / 1000);
    if (sec !== dateSec) {
      dateSec = sec;
      dateLine = formatDateLine(nowMs);
    }
    return dateLine;
  };

  /** An account without a home (SQL imports): a bucket, the directories, and the new pw_dir stored. */
  const makeHome = async (info: AssignLookup, entry: VpasswdEntry, address: string): Promise<VpasswdEntry> => {
    const owner = { uid: info.uid, gid: info.gid };
    try {
      const bucket = ctx.config.usersBigDir
        ? await ctx.backend.updateDirControl({ domain: info.domain }, (state) => {
            const a = allocateBucket(state);
            return { state: a.state, result: a.bucket };
          })
        : '';
      const home = bucket === '' ? join(info.dir, entry.name) : join(info.dir, bucket, entry.name);
      remakeUserDir(info.dir, home, { owner, euid: run?.euid ?? euid, durable });
      const updated = { ...entry, dir: home };
      await ctx.backend.setUser(info.domain, updated);
      return updated;
    } catch (err) {
      throw new MailboxError(`Auto creation of maildir failed for ${address} (${firstLine(err)})`, { cause: err });
    }
  };

  /** One mailbox up to its fsync (copies) or done (links); synchronous, as the common case is. */
  const prepare = (info: AssignLookup, account: VpasswdEntry, address: string): Item => {
    const r = run!;
    try {
      const target = mailboxTarget(address, info.dir, account.dir, { uid: info.uid, gid: info.gid }, account.quota);
      // As root, never write through a link the domain's owner planted (copies and maildirsize use tmp/).
      refuseSymlinkedMaildir(r, target, req.mode === 'copy' || target.quota !== undefined ? ['new', 'tmp'] : ['new']);
      const item: Item = { address, target };
      const headers = req.mode === 'copy' ? copyHeaders(address, r.bulletin.hasDate ? undefined : dateLineNow()) : undefined;
      if (target.quota !== undefined) {
        const verdict = checkQuota(r, target, (headers?.length ?? 0) + r.bulletin.sizeBytes);
        if (verdict.isOverQuota) {
          item.overQuotaDetail = verdict.detail;
          return item;
        }
        item.quotaRoot = verdict.quotaRoot;
      }
      if (req.mode === 'copy') {
        item.pending = writeCopy(r, target, headers);
        return item;
      }
      let linked = linkBulletin(r, target);
      if ('fallback' in linked && linked.fallback === 'EMLINK' && r.linkSource !== undefined && renewLinkSource(r, target.domainDir)) {
        linked = linkBulletin(run!, target); // the domain's copy had the most links allowed: a fresh one
      }
      if ('path' in linked) {
        item.path = linked.path;
        item.sizeBytes = r.bulletin.sizeBytes;
        return item;
      }
      if (!warned.has(linked.fallback)) {
        warned.add(linked.fallback);
        const why = FALLBACK_REASONS[linked.fallback];
        out.stderr(`vpopbull: warning: cannot hard-link ${r.bulletin.path} into ${target.maildir}/new (${linked.fallback}: ${why}); copying instead\n`);
      }
      item.isFallback = true;
      item.pending = writeCopy(r, target, undefined);
      return item;
    } catch (err) {
      if (!(err instanceof MailboxError)) throw err;
      return { address, failure: err.line };
    }
  };

  /** An account without a home first gets one (the only step that waits for the Backend). */
  const prepareHomeless = async (info: AssignLookup, entry: VpasswdEntry, address: string): Promise<Item> => {
    try {
      return prepare(info, await makeHome(info, entry, address), address);
    } catch (err) {
      if (!(err instanceof MailboxError)) throw err;
      return { address, failure: err.line };
    }
  };

  /** fsync the batch's copies together, then link each into new/ and report, in list order. */
  const flush = async (batch: Item[], domain: string): Promise<string | undefined> => {
    const copies = batch.filter((i) => i.pending !== undefined);
    const errors = new Map<Item, NodeJS.ErrnoException>();
    if (isConcurrent) {
      const results = await Promise.all(copies.map((i) => fsyncAsync(i.pending!.fd)));
      results.forEach((err, k) => {
        if (err !== null) errors.set(copies[k]!, err);
      });
    } else {
      for (const i of copies) {
        try {
          durable.fsync(i.pending!.fd);
        } catch (err) {
          errors.set(i, err as NodeJS.ErrnoException);
        }
      }
    }
    let lastPath: string | undefined;
    for (const item of batch) {
      if (item.pending !== undefined) {
        const pending = item.pending;
        item.pending = undefined;
        const err = errors.get(item);
        if (err !== undefined) {
          abandonCopy(pending);
          item.failure = `${item.address}: ERROR COPYING TO ${item.target!.home} (fsync ${pending.tmpPath}: ${err.code ?? err.message})`;
        } else {
          try {
            item.path = commitCopy(run!, item.target!, pending);
            item.sizeBytes = pending.sizeBytes;
          } catch (e) {
            if (!(e instanceof MailboxError)) throw e;
            item.failure = e.line;
          }
        }
      }
      if (item.path !== undefined) {
        summary.delivered++;
        if (item.isFallback === true) summary.copiedInsteadOfLinked++;
        lastPath = item.path;
        try {
          recordDelivery(run!, item.target!, item.sizeBytes!, item.quotaRoot);
        } catch (err) {
          out.stderr(`vpopbull: warning: ${item.address}: maildirsize not updated (${firstLine(err)})\n`);
        }
        if (req.verbose) out.stdout(`${item.address}\n`);
      } else if (item.overQuotaDetail !== undefined) {
        summary.overQuota++;
        out.stderr(`${item.address}: over quota (${item.overQuotaDetail}), bulletin not delivered\n`);
      } else if (item.failure !== undefined) {
        summary.failed++;
        out.stderr(`${item.failure}\n`);
      }
    }
    batch.length = 0;
    ctx.progress?.({ domain, summary, isRunning: true });
    return lastPath === undefined ? undefined : dirname(lastPath);
  };

  /**
   * As root with ctx.switchIds, switch to the domain's owner: `run` says so (its euid), and hard links
   * go to a copy of the bulletin the owner may link to. Undefined when we stay as we are.
   */
  const becomeOwner = (info: AssignLookup): (() => void) | undefined => {
    if (baseRun === undefined || req.dryRun || ctx.switchIds === undefined || euid !== 0 || info.uid === 0) return undefined;
    let restore;
    try {
      restore = ctx.switchIds({ uid: info.uid, gid: info.gid });
    } catch (err) {
      out.stderr(`vpopbull: warning: ${info.domain}: cannot work as its owner (uid ${info.uid}, gid ${info.gid}: ${firstLine(err)}); checking each Maildir instead\n`);
      return undefined;
    }
    run = { ...baseRun, euid: info.uid };
    if (req.mode === 'hard') {
      // a run killed while it linked to its copy left that copy's name behind: the name goes now
      removeStaleLinkSources(info.dir, run.now());
      try {
        run = { ...run, linkSource: writeLinkSource(run, info.dir) };
      } catch (err) {
        out.stderr(`vpopbull: warning: ${info.domain}: no copy of the bulletin to link to (${firstLine(err)}); linking the bulletin itself\n`);
      }
    }
    return () => {
      if (run?.linkSource !== undefined) dropLinkSource(run.linkSource);
      run = baseRun;
      restore();
    };
  };

  /** The name of a copy linked to goes once the domain is done or the copy is full; its messages keep it. */
  const dropLinkSource = (source: string): void => {
    try {
      unlinkSync(source);
    } catch (err) {
      out.stderr(`vpopbull: warning: ${source} not removed (${firstLine(err)})\n`);
    }
  };

  /** A domain of more mailboxes than one file may have links (ext4: 65,000): the next copy to link to. */
  let sources = 0;
  const renewLinkSource = (current: MailboxRun, domainDir: string): boolean => {
    let fresh;
    try {
      fresh = writeLinkSource(current, domainDir, ++sources);
    } catch {
      return false; // then copies, with the EMLINK warning
    }
    dropLinkSource(current.linkSource!);
    run = { ...current, linkSource: fresh };
    return true;
  };

  const sendToDomain = async (name: string, info: AssignLookup): Promise<void> => {
    summary.domains++;
    const owner = { uid: info.uid, gid: info.gid };
    const backFromOwner = becomeOwner(info);
    try {
      await sendToMailboxes(name, info, owner);
    } finally {
      backFromOwner?.();
    }
  };

  const sendToMailboxes = async (name: string, info: AssignLookup, owner: Owner): Promise<void> => {
    // (hard links to the owner's own copy are readable by the owner whatever the bulletin's mode)
    if (run !== undefined && !req.dryRun && req.mode !== 'copy' && run.linkSource === undefined && !isReadableBy(run.bulletin, owner)) {
      out.stderr(
        `vpopbull: warning: ${run.bulletin.path} is not readable by the owner of ${info.domain} (uid ${owner.uid}, gid ${owner.gid}): its mailboxes cannot read the ${req.mode === 'hard' ? 'hard-linked' : 'symlinked'} bulletin\n`,
      );
    }
    const batch: Item[] = [];
    let lastNewDir: string | undefined;
    const flushNow = async () => {
      lastNewDir = (await flush(batch, info.domain)) ?? lastNewDir;
    };
    try {
      for await (const entry of ctx.backend.listUsers(info.domain)) {
        summary.mailboxes++;
        const address = `${entry.name}@${info.domain}`;
        if (req.exclusions.has(address)) {
          summary.excluded++;
          continue;
        }
        if (req.dryRun) {
          summary.listed++;
          out.stdout(`${address}\n`);
          if (summary.listed % batchSize === 0) ctx.progress?.({ domain: info.domain, summary, isRunning: true });
          continue;
        }
        batch.push(entry.dir === '' ? await prepareHomeless(info, entry, address) : prepare(info, entry, address));
        if (batch.length >= batchSize) await flushNow();
      }
    } catch (err) {
      await flushNow();
      if (err instanceof VpopmailError && err.code === VA.DOMAIN_DOES_NOT_EXIST) {
        summary.unknownDomains++;
        out.stderr(`Error: domain ${name} does not exist\n`);
      } else {
        summary.unreadableDomains++;
        out.stderr(`vpopbull: ${info.domain}: stopped: ${firstLine(err)}\n`);
      }
    }
    await flushNow();
    if (lastNewDir !== undefined) {
      try {
        fsyncDir(lastNewDir, durable);
      } catch (err) {
        out.stderr(`vpopbull: warning: ${firstLine(err)}\n`);
      }
    }
    ctx.progress?.({ domain: info.domain, summary, isRunning: false });
  };

  for (const { name, info: given } of domainsOf(ctx, req, summary)) {
    let info = given;
    if (info === undefined) {
      try {
        info = lookupAssignDomain(ctx.config.qmailHome, name);
      } catch (err) {
        summary.unreadableDomains++;
        out.stderr(`vpopbull: ${name}: ${firstLine(err)}\n`);
        continue;
      }
      if (info === undefined) {
        summary.unknownDomains++;
        out.stderr(`Error: domain ${name} does not exist\n`);
        continue;
      }
    }
    await sendToDomain(name, info);
  }
  out.flush();
  return summary;
}
