// The file-system commands (spec §7.6): mk_dir, rm_dir, list_dir, rm_file, rename_file, write_file,
// read_file, stat_file. All file work is async: its cost grows with what the client sends or asks for.
import { randomBytes } from 'node:crypto';
import { constants as fsc, type Dirent } from 'node:fs';
import { chown, lstat, mkdir, open, opendir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PW_FLAG } from '../../store/limits.ts';
import { DURABLE, fsyncDirSync } from '../../fs/durable.ts';
import type { Handler, HandlerContext, LoginState } from '../context.ts';
import { LEVEL } from '../context.ts';
import { loggedIn } from '../lookup.ts';
import { resolveClientPath, type PathUse, type ResolvedPath } from '../paths.ts';
import { OK, SENT, err, libErr, type Reply } from '../protocol.ts';
import { sysText } from '../errno.ts';

/**
 * Files whose content grants or records privileges: the user store, the domain limits and the
 * directory allocator. C lets a domain admin rewrite its domain's vpasswd (and so make itself a
 * system admin); below system admin we refuse to write, rename onto, rename or remove them.
 */
const STORE_FILES: ReadonlySet<string> = new Set([
  'vpasswd',
  'vpasswd.cdb',
  '.vpasswd.lock',
  '.qmailadmin-limits',
  '.dir-control',
  '.dir_control_free',
]);

/**
 * May this session create or change a file of this name (pitfalls S6)? Below system admin the store
 * files are off limits; a plain user may not install `.qmail*` delivery files (vdelivermail runs
 * their `|program` lines as the uid owning every mailbox) unless the account has SA_EXPERT.
 */
function mayChangeName(login: LoginState, target: ResolvedPath): boolean {
  const name = basename(target.path);
  if (login.level === LEVEL.systemAdmin) return true;
  if (STORE_FILES.has(name)) return false;
  if (login.level === LEVEL.user && name.startsWith('.qmail') && (login.gid & PW_FLAG.SA_EXPERT) === 0) return false;
  return true;
}

/** The uid/gid new files and directories get: those of the directory they are made in. */
async function ownerOf(dir: string): Promise<{ uid: number; gid: number } | undefined> {
  if (process.geteuid?.() !== 0) return undefined;
  const st = await stat(dir);
  return { uid: st.uid, gid: st.gid };
}

type Resolved = { ok: true; login: LoginState; target: ResolvedPath } | { ok: false; reply: Reply };

async function target(ctx: HandlerContext, arg: string, use: PathUse): Promise<Resolved> {
  const login = loggedIn(ctx);
  const r = await resolveClientPath(ctx, arg, use);
  return r.ok ? { ok: true, login, target: r.value } : r;
}

export const mkDir: Handler = async (ctx, req) => {
  const arg = req.args[0];
  if (arg === undefined) return err(27, 1601);
  const r = await target(ctx, arg, 'entry');
  if (!r.ok) return r.reply;
  if (r.target.path === r.target.root) return libErr(1602, 'File exists');
  try {
    await mkdir(r.target.path, { mode: 0o700 });
  } catch (e) {
    return libErr(1602, sysText(e));
  }
  try {
    const owner = await ownerOf(dirname(r.target.path));
    if (owner !== undefined) await chown(r.target.path, owner.uid, owner.gid);
  } catch (e) {
    return libErr(1603, sysText(e));
  }
  return OK;
};

export const rmDir: Handler = async (ctx, req) => {
  const arg = req.args[0];
  if (arg === undefined) return err(27, 1701);
  const r = await target(ctx, arg, 'entry');
  if (!r.ok) return r.reply;
  // The session's own root (its home, its domain, all domains) is not something to delete by path.
  if (r.target.path === r.target.root) return err(26, 1703);
  try {
    const st = await lstat(r.target.path);
    if (!st.isDirectory()) return libErr(1702, 'Not a directory');
    // fs.rm never follows symlinks below the top (C's walk does, layout.md §14.8).
    await rm(r.target.path, { recursive: true });
  } catch (e) {
    return libErr(1702, sysText(e));
  }
  return OK;
};

function direntType(e: Dirent): string {
  if (e.isFile()) return 'file';
  if (e.isDirectory()) return 'dir';
  if (e.isCharacterDevice()) return 'chardev';
  if (e.isBlockDevice()) return 'blkdev';
  if (e.isFIFO()) return 'fifo';
  if (e.isSymbolicLink()) return 'link';
  if (e.isSocket()) return 'sock';
  return 'unknown';
}

export const listDir: Handler = async (ctx, req) => {
  const arg = req.args[0];
  if (arg === undefined) return err(27, 1801);
  const r = await target(ctx, arg, 'follow');
  if (!r.ok) return r.reply;
  let dir: Awaited<ReturnType<typeof opendir>>;
  try {
    dir = await opendir(r.target.path);
  } catch (e) {
    return libErr(1802, sysText(e));
  }
  // Streamed: a Maildir/cur of 100 000 names never sits in memory. A read error half-way can no
  // longer become -ERR (C exits the process there, P5); the block is closed with `.` as always.
  async function* entries(): AsyncGenerator<string> {
    try {
      for await (const e of dir) yield `${e.name} ${direntType(e)}`;
    } catch (e) {
      ctx.log('list_dir stopped', { reason: sysText(e) });
    }
  }
  await ctx.send({ kind: 'data', lines: entries() });
  return SENT;
};

export const rmFile: Handler = async (ctx, req) => {
  const arg = req.args[0];
  if (arg === undefined) return err(30, 1901);
  const r = await target(ctx, arg, 'entry');
  if (!r.ok) return r.reply;
  if (!mayChangeName(r.login, r.target)) return err(9, 1903);
  try {
    await unlink(r.target.path);
  } catch (e) {
    return libErr(1902, sysText(e));
  }
  return OK;
};

export const renameFile: Handler = async (ctx, req) => {
  const [srcArg, dstArg] = req.args;
  if (srcArg === undefined) return err(28, 3801);
  if (dstArg === undefined) return err(29, 3801);
  const src = await target(ctx, srcArg, 'entry');
  if (!src.ok) return src.reply;
  const dst = await target(ctx, dstArg, 'entry');
  if (!dst.ok) return dst.reply;
  if (src.target.path === src.target.root || dst.target.path === dst.target.root) return err(26, 3802);
  if (!mayChangeName(src.login, src.target) || !mayChangeName(dst.login, dst.target)) return err(9, 3810);
  try {
    await rename(src.target.path, dst.target.path);
  } catch (e) {
    return libErr(3803, sysText(e));
  }
  return OK;
};

/**
 * write_file: the data block up to a line exactly `.` is written, LF after each line (the CR of
 * CRLF clients is not stored, pitfalls D13), to a temp file beside the target, fsynced and renamed
 * over it, so the old file stays whole until the new one is. The block is always read to its end,
 * also when the path is refused or the file cannot be made (C then runs the data as commands, P2).
 */
export const writeFile: Handler = async (ctx, req) => {
  const arg = req.args[0];
  if (arg === undefined) return err(30, 2001);
  const prepared = await prepareWrite(ctx, arg);
  const file = prepared.ok ? prepared.file : undefined;
  const maxBytes = ctx.daemon.limits.maxFileBytes;
  let bytes = 0;
  let failure: unknown;
  try {
    const block = await ctx.readBlock(
      (line) => line === '.',
      async (line) => {
        if (file === undefined || failure !== undefined) return;
        bytes += line.length + 1;
        if (bytes > maxBytes) failure = Object.assign(new Error('file too large'), { code: 'EFBIG' });
        else await file.write(`${line}\n`).catch((e: unknown) => (failure = e));
      },
    );
    if (!prepared.ok) return prepared.reply;
    if (block.overlong > 0) return err(39, 2004);
    if (failure === undefined) await file!.commit().catch((e: unknown) => (failure = e));
    return failure === undefined ? OK : libErr(2002, sysText(failure));
  } finally {
    await file?.discard();
  }
};

async function prepareWrite(ctx: HandlerContext, arg: string): Promise<{ ok: true; file: TempFile } | { ok: false; reply: Reply }> {
  const r = await target(ctx, arg, 'entry');
  if (!r.ok) return r;
  if (!mayChangeName(r.login, r.target)) return { ok: false, reply: err(9, 2003) };
  try {
    return { ok: true, file: await TempFile.create(r.target.path) };
  } catch (e) {
    return { ok: false, reply: libErr(2002, sysText(e)) };
  }
}

/** A temp file beside `path` that replaces it on commit: same mode and owner as the old file, or 0600 and the directory's owner. */
class TempFile {
  private buffered: string[] = [];
  private bufferedBytes = 0;
  private done = false;

  private constructor(
    private readonly handle: FileHandle,
    private readonly tmp: string,
    private readonly path: string,
  ) {}

  static async create(path: string): Promise<TempFile> {
    const tmp = join(dirname(path), `.${basename(path)}.vpopmaild.${process.pid}.${randomBytes(4).toString('hex')}`);
    let mode = 0o600;
    let owner = await ownerOf(dirname(path));
    try {
      const old = await lstat(path);
      if (old.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      if (old.isFile()) {
        mode = old.mode & 0o7777;
        if (owner !== undefined) owner = { uid: old.uid, gid: old.gid };
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const handle = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode);
    const file = new TempFile(handle, tmp, path);
    try {
      await handle.chmod(mode);
      if (owner !== undefined) await handle.chown(owner.uid, owner.gid);
    } catch (e) {
      await file.discard();
      throw e;
    }
    return file;
  }

  async write(text: string): Promise<void> {
    this.buffered.push(text);
    this.bufferedBytes += text.length;
    if (this.bufferedBytes >= 64 * 1024) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.bufferedBytes === 0) return;
    const data = Buffer.from(this.buffered.join(''), 'latin1');
    this.buffered = [];
    this.bufferedBytes = 0;
    await this.handle.write(data);
  }

  /** fsync, close, rename over the target, fsync the directory (lib/fs/durable.ts's order). */
  async commit(): Promise<void> {
    await this.flush();
    await this.handle.sync();
    await this.handle.close();
    DURABLE.rename(this.tmp, this.path);
    this.done = true;
    fsyncDirSync(dirname(this.path));
  }

  async discard(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.handle.close().catch(() => undefined);
    await unlink(this.tmp).catch(() => undefined);
  }
}

/**
 * read_file: `+OK+`, the file's lines as stored (LF, not CRLF), a line that is exactly `.` sent as
 * `..`, an extra CRLF when the file does not end in a newline, then `.`. Streamed in chunks.
 */
export const readFile: Handler = async (ctx, req) => {
  const arg = req.args[0];
  if (arg === undefined) return err(30, 2101);
  const r = await target(ctx, arg, 'follow');
  if (!r.ok) return r.reply;
  let handle: FileHandle;
  try {
    handle = await open(r.target.path, fsc.O_RDONLY);
  } catch (e) {
    return libErr(2102, sysText(e));
  }
  try {
    if (!(await handle.stat()).isFile()) return libErr(2102, 'Not a regular file');
    await ctx.sendRaw('+OK+\r\n');
    const chunk = Buffer.allocUnsafe(64 * 1024);
    let atLineStart = true;
    let pendingDot = false; // a line started with "." and nothing after it yet
    for (;;) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(chunk, 0, chunk.length, null));
      } catch (e) {
        ctx.log('read_file stopped', { reason: sysText(e) });
        break; // after +OK+ an error can only end the block (closed below as always)
      }
      if (bytesRead === 0) break;
      const text = chunk.toString('latin1', 0, bytesRead);
      let out = '';
      let i = 0;
      while (i < text.length) {
        if (pendingDot) {
          pendingDot = false;
          if (text[i] === '\n') {
            out += '..\n';
            i++;
            continue; // atLineStart stays true
          }
          out += '.';
        } else if (atLineStart && text[i] === '.') {
          pendingDot = true;
          i++;
          continue;
        }
        const nl = text.indexOf('\n', i);
        if (nl < 0) {
          out += text.slice(i);
          atLineStart = false;
          break;
        }
        out += text.slice(i, nl + 1);
        atLineStart = true;
        i = nl + 1;
      }
      if (out !== '') await ctx.sendRaw(out);
    }
    if (pendingDot) await ctx.sendRaw('..');
    if (pendingDot || !atLineStart) await ctx.sendRaw('\r\n');
    await ctx.sendRaw('.\r\n');
    return SENT;
  } finally {
    await handle.close().catch(() => undefined);
  }
};

/** stat_file: `+OK+`, `uid: <owner>` ended by LF alone (as C sends it), `.`. */
export const statFile: Handler = async (ctx, req) => {
  const arg = req.args[0];
  if (arg === undefined) return err(30, 2201);
  const r = await target(ctx, arg, 'follow');
  if (!r.ok) return r.reply;
  let uid: number;
  try {
    uid = (await stat(r.target.path)).uid;
  } catch (e) {
    return libErr(2202, sysText(e));
  }
  await ctx.sendRaw(`+OK+\r\nuid: ${uid}\n.\r\n`);
  return SENT;
};
