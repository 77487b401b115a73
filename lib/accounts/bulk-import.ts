// vaddusers: many mailboxes in one run. Every line is checked first (address, domain, name, quota,
// password and its policy, no repeat within the input or of an existing user); then each domain's
// mailboxes are made in parallel and flushed to disk once, and its vpasswd and vpasswd.cdb are
// rewritten once. The result is what adding the users one at a time in input order leaves (the
// same buckets, .dir-control, .dir_control_free, lines, files and modes), without the rewrite of
// the whole domain per user. A bad line is reported and stops nothing else.
//
// Memory stays flat in the number of users: checked users wait in an unlinked scratch file in
// their domain directory, and only their names, line numbers and offsets stay in memory.
import { closeSync, lstatSync, openSync, readSync, unlinkSync, writeSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { prepareEntry, type Backend } from '../backends/backend.ts';
import type { SqlBackend } from '../backends/sql-backend.ts';
import { CdbReader } from '../cdb/reader.ts';
import { schemeOf, stripSchemePrefix } from '../crypt/scheme.ts';
import { MailError, PermError, TempError, VA, VpopmailError, firstLine } from '../exit.ts';
import { fsyncDirSync, replaceFileSync, unlinkQuiet } from '../fs/durable.ts';
import { recalculateMaildirsize } from '../maildir/maildirsize.ts';
import { NOQUOTA, parseQuotaStrict } from '../quota.ts';
import {
  DIR_CONTROL_FREE_FILE,
  DIR_CONTROL_FREE_LOCK_FILE,
  INITIAL_DIR_CONTROL,
  allocateBucket,
  countBackfill,
  isBucketName,
  releaseBucket,
  type DirControlState,
} from '../store/dir-control.ts';
import { NEVER_LOGGED_IN_IP } from '../store/lastauth.ts';
import { withLock } from '../store/lock.ts';
import { addVpasswdEntries, iterateVpasswd, recoverVpasswd, VPASSWD_CDB_FILE, type VpasswdEntry } from '../store/vpasswd.ts';
import { GARBAGE_EVERY, defaultHomeConcurrency, deferredDurable, fsyncPaths, makeHomes, syncFileSystem } from './bulk-homes.ts';
import { collectGarbage } from '../runtime.ts';
import type { BulkInputItem } from './bulk-input.ts';
import { storeOptions, type AccountsContext } from './context.ts';
import { isBareUserDir, makeDirsBelow } from './dirs.ts';
import { findDomain, ownerOf, type DomainRef } from './lookup.ts';
import { NameError, parseUserAddress } from './names.ts';
import { withOperationLocks } from './op-lock.ts';
import { removeTreeBelow } from './remove-tree.ts';
import {
  MAX_DIR_LENGTH,
  addPreparedUser,
  defaultQuotaOf,
  maildirsizeOptions,
  prepareAddUser,
  pwUidFor,
  type PreparedUser,
} from './users.ts';

export interface BulkImportOptions {
  /** Check everything, write nothing. */
  readonly dryRun?: boolean;
  /** Quota (stored form) for lines without one; default the domain's default quota. */
  readonly defaultQuota?: string;
  /** A user that exists already is skipped and counted, not refused (re-running an import). */
  readonly skipExisting?: boolean;
  /** Apply password_strength.conf to clear passwords (default true, as vadduser). */
  readonly checkPolicy?: boolean;
  /** Mailboxes made at the same time (default: 1 on one or two cores, else twice the cores, at most 16). */
  readonly concurrency?: number;
  readonly onRefused?: (refusal: BulkRefusal) => void;
  readonly onProgress?: (progress: BulkProgress) => void;
}

/** A line that is not imported, and why. */
export interface BulkRefusal {
  readonly line: number;
  /** As written, when the line got that far. */
  readonly address: string | undefined;
  readonly reason: string;
}

export type BulkStage = 'checking' | 'mailboxes' | 'writing';

export interface BulkProgress {
  readonly stage: BulkStage;
  readonly domain?: string;
  readonly done: number;
  readonly total?: number;
}

export interface BulkDomainResult {
  readonly domain: string;
  /** Users added (or, in a dry run, that would be). */
  readonly added: number;
  /** The domain could not be written: none of its users were added. */
  readonly error?: MailError;
  /** The users are in, but a step after their commit failed. */
  readonly warning?: string;
}

export interface BulkImportSummary {
  /** Records read (users and unreadable lines). */
  readonly records: number;
  readonly added: number;
  readonly refused: number;
  readonly skipped: number;
  readonly domains: readonly BulkDomainResult[];
}

// --- compact per-domain storage ---------------------------------------------------------------

class NumberList {
  private data: Float64Array | Uint32Array;
  length = 0;
  constructor(private readonly wide: boolean) {
    this.data = wide ? new Float64Array(1024) : new Uint32Array(1024);
  }
  push(value: number): void {
    if (this.length === this.data.length) {
      const grown = this.wide ? new Float64Array(this.length * 2) : new Uint32Array(this.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }
  at(i: number): number {
    return this.data[i]!;
  }
}

/** Names back to back in one buffer: 1,000,000 names cost their bytes, not a million strings. */
class NameArena {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private used = 0;
  private readonly starts = new NumberList(false);
  private readonly ends = new NumberList(false);
  get count(): number {
    return this.starts.length;
  }
  add(name: string): void {
    const n = Buffer.byteLength(name, 'latin1');
    if (this.used + n > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + n));
      this.buf.copy(grown, 0, 0, this.used);
      this.buf = grown;
    }
    this.buf.write(name, this.used, 'latin1');
    this.starts.push(this.used);
    this.used += n;
    this.ends.push(this.used);
  }
  name(i: number): string {
    return this.buf.toString('latin1', this.starts.at(i), this.ends.at(i));
  }
  /** Byte order of names i and j. */
  compare(i: number, j: number): number {
    return this.buf.compare(this.buf, this.starts.at(j), this.ends.at(j), this.starts.at(i), this.ends.at(i));
  }
  /** Byte order of name i and `name`. */
  compareWith(i: number, name: Buffer): number {
    return name.compare(this.buf, this.starts.at(i), this.ends.at(i)) * -1;
  }
}

/** What a checked user needs beyond its name: the rest of its vpasswd line except the home. */
interface SpooledUser {
  readonly passwd: string;
  readonly clear: string | undefined;
  readonly gecos: string;
  readonly quota: string;
}

const NO_CLEAR = 0xffff;

/**
 * Checked users, written to a file that is unlinked as soon as it is open: it needs no cleaning up
 * after a crash and nobody else can open it. Records are `passwd gecos quota clear` behind four
 * 16-bit lengths (every field is at most 128 bytes).
 */
class Spool {
  private readonly fd: number;
  private readonly buf = Buffer.allocUnsafe(64 * 1024);
  private len = 0;
  /** File offset of buf[0]. */
  private bufPos = 0;

  constructor(dir: string) {
    const path = join(dir, `.vaddusers.${process.pid}`);
    unlinkQuiet(path); // a leftover of a crashed run that had our pid
    try {
      this.fd = openSync(path, fsc.O_RDWR | fsc.O_CREAT | fsc.O_EXCL, 0o600);
    } catch (err) {
      throw new TempError(`unable to create ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
    }
    unlinkSync(path);
  }

  /** Append a record; returns its offset. */
  append(u: SpooledUser): { offset: number; length: number } {
    const fields = [u.passwd, u.gecos, u.quota, u.clear ?? ''];
    const length = 8 + fields.reduce((n, f) => n + Buffer.byteLength(f, 'latin1'), 0);
    if (this.len + length > this.buf.length) this.flush();
    const offset = this.bufPos + this.len;
    let p = this.len;
    for (let k = 0; k < 4; k++) {
      this.buf.writeUInt16LE(k === 3 && u.clear === undefined ? NO_CLEAR : Buffer.byteLength(fields[k]!, 'latin1'), p);
      p += 2;
    }
    for (const f of fields) p += this.buf.write(f, p, 'latin1');
    this.len = p;
    return { offset, length };
  }

  read(offset: number, length: number): SpooledUser {
    if (offset + length > this.bufPos) this.flush();
    const rec = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = readSync(this.fd, rec, got, length - got, offset + got);
      if (n === 0) throw new TempError('vaddusers scratch file ended early');
      got += n;
    }
    const lens = [rec.readUInt16LE(0), rec.readUInt16LE(2), rec.readUInt16LE(4), rec.readUInt16LE(6)];
    let p = 8;
    const take = (n: number) => {
      const s = rec.toString('latin1', p, p + n);
      p += n;
      return s;
    };
    const passwd = take(lens[0]!);
    const gecos = take(lens[1]!);
    const quota = take(lens[2]!);
    const clear = lens[3] === NO_CLEAR ? undefined : take(lens[3]!);
    return { passwd, gecos, quota, clear };
  }

  private flush(): void {
    let off = 0;
    while (off < this.len) off += writeSync(this.fd, this.buf, off, this.len - off, this.bufPos + off);
    this.bufPos += this.len;
    this.len = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}

const VALID = 0;
const REFUSED = 1;
const SKIPPED = 2;

/** The users of one domain, in input order. */
class DomainBatch {
  readonly names = new NameArena();
  readonly lines = new NumberList(false);
  readonly offsets = new NumberList(true);
  readonly lengths = new NumberList(false);
  /** Set by check(): VALID, REFUSED or SKIPPED per user. */
  state = new Uint8Array(0);
  /** Indexes sorted by name (then input order). */
  sorted = new Uint32Array(0);
  /** Set by plan(): each user's bucket, as an index into `buckets`, and whether its home is reused. */
  bucketOf = new Uint32Array(0);
  readonly buckets: string[] = [];
  /** join(domain dir, bucket) of each bucket, so a home is one concatenation. */
  readonly bucketDirs: string[] = [];
  /** 1 where the user has a quota (a maildirsize to write). */
  readonly hasQuota = new NumberList(false);
  reuse = new Uint8Array(0);
  /** What plan() leaves for after the commit. */
  dirControl: DirControlState | undefined;
  freeList: FreeList | undefined;
  error: MailError | undefined;
  warning: string | undefined;
  added = 0;

  constructor(
    readonly ref: DomainRef,
    readonly defaultQuota: string,
    readonly spool: Spool | undefined,
  ) {}

  get count(): number {
    return this.names.count;
  }

  home(i: number): string {
    // join(dir, bucket, name): a checked name has no `/` and does not start with a dot.
    return `${this.bucketDirs[this.bucketOf[i]!]!}/${this.names.name(i)}`;
  }

  record(i: number): SpooledUser {
    return this.spool!.read(this.offsets.at(i), this.lengths.at(i));
  }

  /** Is `name` one of the users this batch adds? Binary search over `sorted`. */
  adds(name: string): boolean {
    const bytes = Buffer.from(name, 'latin1');
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.names.compareWith(this.sorted[mid]!, bytes) < 0) lo = mid + 1;
      else hi = mid;
    }
    for (let k = lo; k < this.sorted.length && this.names.compareWith(this.sorted[k]!, bytes) === 0; k++) {
      if (this.state[this.sorted[k]!] === VALID) return true;
    }
    return false;
  }
}

// --- passwords ----------------------------------------------------------------------------------

const CRYPT64 = '[./0-9A-Za-z]';
const SHAPES: readonly RegExp[] = [
  new RegExp(`^\\$1\\$[^$:]{0,8}\\$${CRYPT64}{22}$`),
  new RegExp(`^\\$5\\$(rounds=[0-9]+\\$)?[^$:]{0,16}\\$${CRYPT64}{43}$`),
  new RegExp(`^\\$6\\$(rounds=[0-9]+\\$)?[^$:]{0,16}\\$${CRYPT64}{86}$`),
  new RegExp(`^\\$2[abxy]\\$[0-9]{2}\\$${CRYPT64}{53}$`),
];

/**
 * How `auto` tells a hash from a clear password: a complete `$1$`, `$5$`, `$6$` or bcrypt hash, or
 * a `{SCHEME}` prefix before any hash we know (DES included). A 13-character clear password would
 * otherwise pass for DES, so bare DES hashes need `-e`.
 */
export function looksLikeCryptHash(field: string): boolean {
  if (field.startsWith('{') && field.includes('}')) return schemeOf(field) !== undefined;
  const h = stripSchemePrefix(field);
  return SHAPES.some((re) => re.test(h));
}

// --- .dir_control_free, as takeFreeBucket and recordFreeBucket change it -----------------------------

/**
 * The backfill list as text, changed as one vadduser after another would: take the first usable
 * line (lib/store/dir-control.ts takeFreeBucket's rules), or append a bucket put back by an add
 * that failed (recordFreeBucket). Written once at the end, keeping the file's mode and owner.
 */
class FreeList {
  changed = false;
  constructor(
    private text: string,
    readonly mode: number,
    readonly uid: number,
    readonly gid: number,
  ) {}

  take(): string | undefined {
    const lines = this.text.split('\n');
    const hadFinalNewline = this.text.endsWith('\n');
    if (hadFinalNewline) lines.pop();
    for (let i = 0; i < lines.length; i++) {
      const hash = lines[i]!.indexOf('#');
      const value = (hash < 0 ? lines[i]! : lines[i]!.slice(0, hash)).trim();
      if (value === '' || !isBucketName(value)) continue;
      lines.splice(i, 1);
      this.text = lines.length === 0 ? '' : `${lines.join('\n')}${hadFinalNewline ? '\n' : ''}`;
      this.changed = true;
      return value;
    }
    return undefined;
  }

  putBack(bucket: string): void {
    this.text += `${bucket}\n`;
    this.changed = true;
  }

  get content(): string {
    return this.text;
  }
}

function readFreeList(domainDir: string): FreeList | undefined {
  const path = join(domainDir, DIR_CONTROL_FREE_FILE);
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TempError(`unable to open ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
  }
  try {
    const st = lstatSync(path);
    const chunks: Buffer[] = [];
    const buf = Buffer.allocUnsafe(64 * 1024);
    for (let n = readSync(fd, buf, 0, buf.length, null); n > 0; n = readSync(fd, buf, 0, buf.length, null)) chunks.push(Buffer.from(buf.subarray(0, n)));
    return new FreeList(Buffer.concat(chunks).toString('latin1'), st.mode & 0o7777, st.uid, st.gid);
  } finally {
    closeSync(fd);
  }
}

// --- the import ---------------------------------------------------------------------------------

function reasonOf(err: unknown): string {
  if (err instanceof NameError) return `${firstLine(err)} (${err.detail})`;
  return firstLine(err);
}

function isSqlBackend(b: Backend): b is SqlBackend {
  return typeof (b as Partial<SqlBackend>).replaceUsers === 'function';
}

function asMailError(err: unknown): MailError {
  return err instanceof MailError ? err : new TempError(firstLine(err), { cause: err });
}

/**
 * Import every user of `input` (see BulkInputReader). Refused lines go to `onRefused` as they are
 * found, valid ones are added; a domain whose files cannot be written keeps none of its new users
 * and is reported in the summary with the error.
 */
export async function importUsers(ctx: AccountsContext, input: Iterable<BulkInputItem>, options: BulkImportOptions = {}): Promise<BulkImportSummary> {
  const batches = new Map<string, DomainBatch>();
  const unknown = new Set<string>();
  let records = 0;
  let refused = 0;
  const refuse = (line: number, address: string | undefined, reason: string) => {
    refused++;
    options.onRefused?.({ line, address, reason });
  };
  const batchOf = async (name: string): Promise<DomainBatch | undefined> => {
    if (unknown.has(name)) return undefined;
    const ref = findDomain(ctx, name);
    if (ref === undefined) {
      unknown.add(name);
      return undefined;
    }
    // An alias domain adds to its real domain, as vadduser does.
    let batch = batches.get(ref.domain);
    if (batch === undefined) {
      batch = new DomainBatch(ref, await defaultQuotaOf(ctx, ref), options.dryRun === true ? undefined : new Spool(ref.dir));
      batches.set(ref.domain, batch);
    }
    return batch;
  };
  const known = new Map<string, DomainBatch | undefined>();

  try {
    // Pass 1, without locks (hashing clear passwords can take long): each line on its own.
    for (const item of input) {
      records++;
      if (records % 256 === 0) options.onProgress?.({ stage: 'checking', done: records });
      if (records % GARBAGE_EVERY === 0) collectGarbage();
      if (item.kind === 'error') {
        refuse(item.line, undefined, item.reason);
        continue;
      }
      try {
        const address = parseUserAddress(item.address, () => '');
        if (address.domain === '') throw new PermError('not a full address (user@domain)');
        let batch = known.get(address.domain);
        if (!known.has(address.domain)) {
          batch = await batchOf(address.domain);
          known.set(address.domain, batch);
        }
        if (batch === undefined) throw new VpopmailError(VA.DOMAIN_DOES_NOT_EXIST);
        const kind = item.passwordKind === 'auto' ? (looksLikeCryptHash(item.password) ? 'hash' : 'clear') : item.passwordKind;
        if (item.password === '') throw new PermError(kind === 'hash' ? 'no hash' : 'no password');
        const quota = item.quota === undefined || item.quota === '' ? options.defaultQuota : parseQuotaStrict(item.quota);
        const { prepared } = prepareAddUser(ctx, {
          user: address.user,
          password: kind === 'hash' ? { hash: item.password } : { clear: item.password },
          ...(item.gecos === undefined ? {} : { gecos: item.gecos }),
          ...(quota === undefined ? {} : { quota }),
          checkPolicy: options.checkPolicy ?? true,
        });
        batch.names.add(prepared.user);
        batch.lines.push(item.line);
        if (batch.spool !== undefined) {
          const userQuota = prepared.quota ?? batch.defaultQuota;
          batch.hasQuota.push(userQuota === NOQUOTA ? 0 : 1);
          const at = batch.spool.append({ passwd: prepared.password.passwd, clear: prepared.password.clear, gecos: prepared.gecos, quota: userQuota });
          batch.offsets.push(at.offset);
          batch.lengths.push(at.length);
        }
      } catch (err) {
        // Could not look (users/cdb, the policy file): stop before anything is written.
        if (!(err instanceof MailError) || err instanceof TempError) throw err;
        refuse(item.line, item.address, reasonOf(err));
      }
    }
    options.onProgress?.({ stage: 'checking', done: records });

    const all = [...batches.values()];
    const run = async () => {
      let skipped = 0;
      for (const batch of all) skipped += await check(ctx, batch, options, refuse);
      if (options.dryRun !== true) await write(ctx, all, options, refuse);
      return skipped;
    };
    // The existence checks and the writes hold every domain's operation lock, as vadduser does.
    const skipped = options.dryRun === true ? await run() : await withOperationLocks(ctx, all.map((b) => b.ref.domain), run);
    const domains: BulkDomainResult[] = all.map((b) => ({
      domain: b.ref.domain,
      added: options.dryRun === true ? countState(b, VALID) : b.added,
      ...(b.error === undefined ? {} : { error: b.error }),
      ...(b.warning === undefined ? {} : { warning: b.warning }),
    }));
    return { records, added: domains.reduce((n, d) => n + d.added, 0), refused, skipped, domains };
  } finally {
    for (const b of batches.values()) b.spool?.close();
  }
}

function countState(batch: DomainBatch, state: number): number {
  let n = 0;
  for (let i = 0; i < batch.count; i++) if (batch.state[i] === state) n++;
  return n;
}

type Refuse = (line: number, address: string | undefined, reason: string) => void;

/** The existing names of a cdb domain, through vpasswd.cdb (or vpasswd when there is none). */
function cdbNameLookup(ctx: AccountsContext, batch: DomainBatch, dryRun: boolean): { has(name: string): boolean; close(): void } {
  const dir = batch.ref.dir;
  if (!dryRun) recoverVpasswd(dir, { ...storeOptions(ctx), owner: ownerOf(batch.ref) });
  let db: CdbReader;
  try {
    db = CdbReader.open(join(dir, VPASSWD_CDB_FILE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TempError(`unable to read ${join(dir, VPASSWD_CDB_FILE)}: ${firstLine(err)}`, { cause: err });
    const names = new Set<string>();
    for (const e of iterateVpasswd(dir)) names.add(e.name);
    return { has: (name) => names.has(name), close: () => {} };
  }
  return {
    has(name) {
      try {
        return db.get(Buffer.from(name, 'latin1')) !== undefined;
      } catch (err) {
        throw new TempError(`unable to read ${join(dir, VPASSWD_CDB_FILE)}: ${firstLine(err)}`, { cause: err });
      }
    },
    close: () => db.close(),
  };
}

/**
 * Pass 2 for one domain: repeats within the input (the first line wins) and users that exist.
 * Returns how many were skipped as existing.
 */
async function check(ctx: AccountsContext, batch: DomainBatch, options: BulkImportOptions, refuse: Refuse): Promise<number> {
  const n = batch.count;
  batch.state = new Uint8Array(n);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => batch.names.compare(a, b) || a - b);
  batch.sorted = order;
  const late: [number, string, string][] = [];
  const refuseLate = (i: number, reason: string) => {
    batch.state[i] = REFUSED;
    late.push([batch.lines.at(i), `${batch.names.name(i)}@${batch.ref.name}`, reason]);
  };
  for (let k = 1, first = order[0]!; k < n; k++) {
    const i = order[k]!;
    if (batch.names.compare(i, first) === 0) refuseLate(i, `repeats line ${batch.lines.at(first)}`);
    else first = i;
  }
  let skipped = 0;
  const exists = (i: number) => {
    if (options.skipExisting === true) {
      batch.state[i] = SKIPPED;
      skipped++;
    } else refuseLate(i, 'User already exists');
  };
  const { backend } = ctx;
  try {
    if (backend.name === 'cdb') {
      const lookup = cdbNameLookup(ctx, batch, options.dryRun === true);
      try {
        for (const i of order) if (batch.state[i] === VALID && lookup.has(batch.names.name(i))) exists(i);
      } finally {
        lookup.close();
      }
    } else if (isSqlBackend(backend)) {
      // Both sides in byte order (SQL lists by bytes, as vpasswd is sorted): one merge.
      const existing = backend.listUsers(batch.ref.domain)[Symbol.asyncIterator]();
      try {
        let cur = await existing.next();
        for (const i of order) {
          if (batch.state[i] !== VALID) continue;
          const name = batch.names.name(i);
          while (cur.done !== true && cur.value.name < name) cur = await existing.next();
          if (cur.done !== true && cur.value.name === name) exists(i);
        }
      } finally {
        await existing.return?.();
      }
    } else {
      for (const i of order) if (batch.state[i] === VALID && (await backend.getUser(batch.ref.domain, batch.names.name(i))) !== undefined) exists(i);
    }
  } catch (err) {
    if (!(err instanceof MailError)) throw err;
    batch.error = err;
    for (let i = 0; i < n; i++) if (batch.state[i] === VALID) batch.state[i] = REFUSED;
  }
  late.sort((a, b) => a[0] - b[0]);
  for (const [line, address, reason] of late) refuse(line, address, reason);
  return skipped;
}

/**
 * The buckets of a domain's new users, in input order, as one vadduser after another would take
 * them (a freed bucket first, else the next allocation), with their failures: a home that would be
 * too long, or that exists and is not a bare leftover, refuses that user and gives its allocation
 * back as vadduser's rollback does, so the users after it land where they would have.
 */
async function plan(ctx: AccountsContext, batch: DomainBatch, refuse: Refuse): Promise<void> {
  const { ref } = batch;
  const hashed = ctx.config.usersBigDir;
  let state = hashed ? ((await ctx.backend.getDirControl({ domain: ref.domain })) ?? INITIAL_DIR_CONTROL) : undefined;
  const free = hashed ? readFreeList(ref.dir) : undefined;
  const ids = new Map<string, number>();
  const bucketProblem = new Map<string, string | undefined>();
  batch.bucketOf = new Uint32Array(batch.count);
  batch.reuse = new Uint8Array(batch.count);
  for (let i = 0; i < batch.count; i++) {
    if (batch.state[i] !== VALID) continue;
    let bucket = '';
    let fromFree = false;
    if (state !== undefined) {
      const taken = free?.take();
      if (taken !== undefined) {
        bucket = taken;
        fromFree = true;
        state = countBackfill(state);
      } else {
        const a = allocateBucket(state);
        state = a.state;
        bucket = a.bucket;
      }
    }
    const name = batch.names.name(i);
    const home = bucket === '' ? join(ref.dir, name) : join(ref.dir, bucket, name);
    const fail = (reason: string) => {
      batch.state[i] = REFUSED;
      refuse(batch.lines.at(i), `${name}@${ref.name}`, reason);
      if (state === undefined) return;
      if (fromFree) free!.putBack(bucket);
      state = releaseBucket(state);
    };
    if (home.length > MAX_DIR_LENGTH) {
      fail(new VpopmailError(VA.DIR_TOO_LONG).message);
      continue;
    }
    if (!bucketProblem.has(bucket)) bucketProblem.set(bucket, problemWithBucket(ref.dir, bucket));
    const problem = bucketProblem.get(bucket);
    if (problem !== undefined) {
      fail(problem);
      continue;
    }
    if (existsAt(home)) {
      if (!isBareUserDir(home)) {
        fail(`${new VpopmailError(VA.EXIST_U_DIR).message} (mkdir(${home}) failed: EEXIST)`);
        continue;
      }
      batch.reuse[i] = 1;
    }
    let id = ids.get(bucket);
    if (id === undefined) {
      id = batch.buckets.length;
      batch.buckets.push(bucket);
      batch.bucketDirs.push(bucket === '' ? join(ref.dir) : join(ref.dir, bucket));
      ids.set(bucket, id);
    }
    batch.bucketOf[i] = id;
  }
  batch.dirControl = state;
  batch.freeList = free;
}

function existsAt(path: string): boolean {
  // throwIfNoEntry: a new home is the common case, and an Error with its stack for each of a
  // million users was most of the import's garbage
  try {
    return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
  } catch (err) {
    throw new TempError(`lstat(${path}) failed: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
  }
}

/** Why a bucket directory could not hold homes (a symlink or a file on the way), as makeUserDir refuses it. */
function problemWithBucket(domainDir: string, bucket: string): string | undefined {
  let path = domainDir;
  for (const part of bucket === '' ? [] : bucket.split('/')) {
    path = join(path, part);
    try {
      const st = lstatSync(path);
      if (!st.isDirectory()) return `${new VpopmailError(VA.SUBDIR_CREATION).message} (refusing ${path}: ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'})`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return `${new VpopmailError(VA.SUBDIR_CREATION).message} (lstat(${path}) failed: ${(err as NodeJS.ErrnoException).code ?? err})`;
    }
  }
  return undefined;
}

/** Pass 3: plan, make the mailboxes, flush once, then commit each domain. */
async function write(ctx: AccountsContext, batches: readonly DomainBatch[], options: BulkImportOptions, refuse: Refuse): Promise<void> {
  const { backend, config } = ctx;
  const bulkPath = backend.name === 'cdb' || isSqlBackend(backend);
  const live = batches.filter((b) => b.error === undefined);
  if (!bulkPath) {
    for (const batch of live) await addOneByOne(ctx, batch, refuse);
    return;
  }
  const deferred = deferredDurable(ctx.durable);
  const concurrency = options.concurrency ?? defaultHomeConcurrency();
  const total = live.reduce((n, b) => n + countState(b, VALID), 0);
  let madeBefore = 0;
  const made = new Map<DomainBatch, number>();
  for (const batch of live) {
    collectGarbage();
    try {
      await plan(ctx, batch, refuse);
      const owner = ownerOf(batch.ref);
      // As makeUserDir makes them: 0700, owned by the domain, never through a symlink.
      for (const bucket of batch.buckets) {
        if (bucket !== '') makeDirsBelow(batch.ref.dir, join(batch.ref.dir, bucket), owner, VA.SUBDIR_CREATION, deferred);
      }
      const mdOptions = { ...maildirsizeOptions(ctx, batch.ref), durable: deferred };
      const n = await makeHomes(
        (i) => {
          if (batch.state[i] !== VALID) return undefined;
          const quota = batch.hasQuota.at(i) === 1 ? batch.record(i).quota : undefined;
          return {
            home: batch.home(i),
            reuse: batch.reuse[i] === 1,
            lastauthSec: config.authLogging && backend.name === 'cdb' ? Math.floor(ctx.now() / 1000) : undefined,
            ...(quota === undefined ? {} : { after: (home: string) => void recalculateMaildirsize(join(home, 'Maildir'), quota, mdOptions) }),
          };
        },
        batch.count,
        {
          domainDir: batch.ref.dir,
          owner,
          durable: deferred,
          concurrency,
          onProgress: (done) => options.onProgress?.({ stage: 'mailboxes', domain: batch.ref.domain, done: madeBefore + done, total }),
        },
      );
      made.set(batch, n);
      madeBefore += n;
    } catch (err) {
      batch.error = asMailError(err);
      undoHomes(ctx, batch);
    }
  }
  const ready = live.filter((b) => b.error === undefined);
  await flushHomes(ctx, ready, concurrency);
  for (const batch of ready) {
    collectGarbage();
    options.onProgress?.({ stage: 'writing', domain: batch.ref.domain, done: 0, total: made.get(batch) });
    try {
      batch.added = await commit(ctx, batch);
    } catch (err) {
      batch.error = asMailError(err);
      undoHomes(ctx, batch);
      continue;
    }
    await afterCommit(ctx, batch);
    options.onProgress?.({ stage: 'writing', domain: batch.ref.domain, done: batch.added, total: made.get(batch) });
  }
}

/** Remove the homes of a domain whose commit did not happen (they hold nothing but empty Maildirs). */
function undoHomes(ctx: AccountsContext, batch: DomainBatch): void {
  if (batch.bucketOf.length !== batch.count) return;
  for (let i = 0; i < batch.count; i++) {
    if (batch.state[i] !== VALID) continue;
    try {
      removeTreeBelow(batch.ref.dir, batch.home(i), ctx.durable);
    } catch {
      // what cannot be removed stays a bare home, which the next add of that name reuses
    }
  }
}

/**
 * Make every new home durable before any vpasswd names it: one syncfs per file system, then a
 * counted fsync of each domain directory (the crash tests' fault switch sees that one). Without
 * syncfs, each directory and file made is fsynced.
 */
async function flushHomes(ctx: AccountsContext, batches: readonly DomainBatch[], concurrency: number): Promise<void> {
  const devices = new Map<number, string>();
  for (const b of batches) devices.set(lstatSync(b.ref.dir).dev, b.ref.dir);
  for (const dir of devices.values()) {
    if (syncFileSystem(dir)) continue;
    await fsyncPaths(pathsMadeOn(batches, lstatSync(dir).dev), concurrency);
  }
  for (const b of batches) fsyncDirSync(b.ref.dir, ctx.durable);
}

function* pathsMadeOn(batches: readonly DomainBatch[], dev: number): Generator<string> {
  for (const b of batches) {
    if (lstatSync(b.ref.dir).dev !== dev) continue;
    for (const bucket of b.buckets) {
      let path = b.ref.dir;
      for (const part of bucket === '' ? [] : bucket.split('/')) {
        path = join(path, part);
        yield path;
      }
    }
    for (let i = 0; i < b.count; i++) {
      if (b.state[i] !== VALID) continue;
      const home = b.home(i);
      yield home;
      yield join(home, 'Maildir');
      if (b.hasQuota.at(i) === 1) yield join(home, 'Maildir', 'maildirsize');
    }
  }
}

/** The entries a domain gains, sorted by name, read back from the scratch file. */
function* sortedEntries(ctx: AccountsContext, batch: DomainBatch): Generator<VpasswdEntry> {
  const uid = pwUidFor(ctx.backend);
  let n = 0;
  for (const i of batch.sorted) {
    if (batch.state[i] !== VALID) continue;
    if (++n % GARBAGE_EVERY === 0) collectGarbage();
    const r = batch.record(i);
    yield prepareEntry({ name: batch.names.name(i), passwd: r.passwd, uid, gid: 0, gecos: r.gecos, dir: batch.home(i), quota: r.quota, clear: r.clear }, ctx.config);
  }
}

/** One rewrite of vpasswd and vpasswd.cdb (cdb), or one transaction (SQL). Returns how many were added. */
async function commit(ctx: AccountsContext, batch: DomainBatch): Promise<number> {
  const { backend } = ctx;
  if (backend.name === 'cdb') {
    return addVpasswdEntries(batch.ref.dir, sortedEntries(ctx, batch), {
      ...storeOptions(ctx),
      owner: ownerOf(batch.ref),
      isNewName: (name) => batch.adds(name),
    });
  }
  const sql = backend as SqlBackend;
  const fresh = sortedEntries(ctx, batch);
  let added = 0;
  // Their bulk path replaces a domain's users in one transaction: the old ones and the new, merged.
  async function* merged(): AsyncGenerator<VpasswdEntry> {
    let next = fresh.next();
    for await (const old of sql.listUsers(batch.ref.domain)) {
      while (next.done !== true && next.value.name < old.name) {
        added++;
        yield next.value;
        next = fresh.next();
      }
      if (next.done !== true && next.value.name === old.name) throw new VpopmailError(VA.USERNAME_EXISTS, `user ${old.name} already exists`);
      yield old;
    }
    for (; next.done !== true; next = fresh.next()) {
      added++;
      yield next.value;
    }
  }
  await sql.replaceUsers(batch.ref.domain, merged());
  return added;
}

/** After the users are in: the allocator state and the backfill list, then (SQL) lastauth rows. */
async function afterCommit(ctx: AccountsContext, batch: DomainBatch): Promise<void> {
  const { backend, config } = ctx;
  const problems: string[] = [];
  try {
    if (batch.dirControl !== undefined) await backend.setDirControl({ domain: batch.ref.domain }, batch.dirControl);
    const free = batch.freeList;
    if (free?.changed === true) {
      const path = join(batch.ref.dir, DIR_CONTROL_FREE_FILE);
      withLock(
        join(batch.ref.dir, DIR_CONTROL_FREE_LOCK_FILE),
        () => replaceFileSync(path, Buffer.from(free.content, 'latin1'), { mode: free.mode, tmpPath: `${path}.bak`, durable: ctx.durable, owner: { uid: free.uid, gid: free.gid } }),
        ctx.lockTimeoutMs === undefined ? {} : { timeoutMs: ctx.lockTimeoutMs },
      );
    }
  } catch (err) {
    problems.push(`directory counter not updated: ${firstLine(err)}`);
  }
  if (config.authLogging && backend.name !== 'cdb') {
    try {
      for (const entry of sortedEntries(ctx, batch)) await backend.setLastauth(batch.ref.domain, entry, NEVER_LOGGED_IN_IP, Math.floor(ctx.now() / 1000));
    } catch (err) {
      problems.push(`lastauth not recorded: ${firstLine(err)}`);
    }
  }
  if (problems.length > 0) batch.warning = problems.join('; ');
}

/** A backend without a bulk path: the users one by one through the Backend interface, as vadduser adds them. */
async function addOneByOne(ctx: AccountsContext, batch: DomainBatch, refuse: Refuse): Promise<void> {
  for (let i = 0; i < batch.count; i++) {
    if (batch.state[i] !== VALID) continue;
    const r = batch.record(i);
    const prepared: PreparedUser = { user: batch.names.name(i), password: { passwd: r.passwd, clear: r.clear }, gecos: r.gecos, quota: r.quota };
    try {
      await addPreparedUser(ctx, batch.ref, prepared);
      batch.added++;
    } catch (err) {
      if (!(err instanceof MailError)) throw err;
      batch.state[i] = REFUSED;
      refuse(batch.lines.at(i), `${prepared.user}@${batch.ref.name}`, reasonOf(err));
    }
  }
}
