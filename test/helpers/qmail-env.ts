// vdelivermail as qmail-local runs it: the environment it sets, a message on a seekable stdin, the
// domain's uid/gid, cwd = the domain dir; a recording qmail-inject stand-in; Maildir inspection.
import type { ExecutionContext } from 'ava';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordOutput } from './capture.ts';
import { binPath } from './dist.ts';
import { mailWorld, type MailWorld } from './mail-world.ts';

export const SENDER = 'sender@remote.test';

/** What qmail-local sets for `<ext>@<host>` (golden run.sh's qenv), before any override. */
export function qmailLocalEnv(ext: string, host: string, domainDir: string, sender = SENDER): Record<string, string> {
  return {
    USER: host,
    HOME: domainDir,
    LOCAL: `${host}-${ext}`,
    HOST: host,
    RECIPIENT: `${host}-${ext}@${host}`,
    SENDER: sender,
    NEWSENDER: sender,
    EXT: ext,
    DEFAULT: ext,
    DTLINE: `Delivered-To: ${host}-${ext}@${host}\n`,
    RPLINE: `Return-Path: <${sender}>\n`,
  };
}

/** The headers vdelivermail prepends for a stored message. */
export function storedPrefix(address: string, sender = SENDER): string {
  return `Return-Path: <${sender}>\nDelivered-To: ${address}\n`;
}

export interface DeliveryWorld extends MailWorld {
  /** Where the qmail-inject stand-in appends `=== qmail-inject [arg]...`, stdin, `=== end`. */
  readonly injectLog: string;
  /** Write a message file (mode 0644) and return its path. */
  message(name: string, body: string | Buffer): string;
}

/**
 * A mail world with a qmail-inject stand-in in QMAIL_HOME/bin that records what it is given (the
 * golden run's), exiting with the code in `$INJECT_EXIT` (default 0). Everything is reachable by
 * uid 89, as vdelivermail runs as the domain owner.
 */
export async function deliveryWorld(t: ExecutionContext, settings = ''): Promise<DeliveryWorld> {
  const world = await mailWorld(t, settings);
  const injectLog = join(world.qhome, 'inject.log');
  writeFileSync(injectLog, '');
  chmodSync(injectLog, 0o666);
  const inject = join(world.qhome, 'bin', 'qmail-inject');
  writeFileSync(
    inject,
    [
      '#!/bin/sh',
      `log=${injectLog}`,
      `{ printf '=== qmail-inject'; for a in "$@"; do printf ' [%s]' "$a"; done; printf '\\n'; cat; printf '=== end\\n'; } >> "$log"`,
      'exit "${INJECT_EXIT:-0}"',
      '',
    ].join('\n'),
  );
  chmodSync(inject, 0o755);
  for (const d of [world.qhome, join(world.qhome, 'bin'), world.vhome, join(world.vhome, 'etc')]) chmodSync(d, 0o755);
  const msgDir = join(world.root, 'msgs');
  mkdirSync(msgDir, { mode: 0o755 });
  chmodSync(msgDir, 0o755);
  return Object.assign(world, {
    injectLog,
    message(name: string, body: string | Buffer) {
      const path = join(msgDir, name);
      writeFileSync(path, body);
      chmodSync(path, 0o644);
      return path;
    },
  });
}

export interface DeliverOptions {
  /** Message file given as stdin (a seekable regular file, as qmail-local does). */
  readonly file?: string;
  /** Bytes fed through a pipe instead (not seekable). */
  readonly pipe?: string | Buffer;
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  /** Run as this uid/gid (default the golden run's 89:89); null keeps ours (root). */
  readonly ids?: { uid: number; gid: number } | null;
  readonly args?: readonly string[];
  /** A command vdelivermail runs under (e.g. strace and its options). */
  readonly wrap?: readonly string[];
}

/**
 * Run the built vdelivermail for `ext@host` with qmail-local's environment (overrides in
 * options.env; an undefined value removes a variable), stdin from a file or a pipe.
 */
export function runVdelivermail(world: MailWorld, ext: string, host: string, action: string, options: DeliverOptions = {}): SpawnSyncReturns<string> {
  const domainDir = join(world.vhome, 'domains', host);
  const env: Record<string, string> = { ...world.env, ...qmailLocalEnv(ext, host, domainDir) };
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const ids = options.ids === undefined ? { uid: 89, gid: 89 } : options.ids;
  const fd = options.file === undefined ? undefined : openSync(options.file, 'r');
  try {
    const argv = [...(options.wrap ?? []), binPath('vdelivermail'), ...(options.args ?? ['', action])];
    const r = spawnSync(argv[0]!, argv.slice(1), {
      env,
      cwd: options.cwd ?? (existsSync(domainDir) ? domainDir : world.root),
      encoding: 'utf8',
      stdio: [fd ?? 'pipe', 'pipe', 'pipe'],
      ...(options.pipe === undefined ? {} : { input: options.pipe }),
      ...(ids === null ? {} : { uid: ids.uid, gid: ids.gid }),
      timeout: 120_000,
      maxBuffer: 256 << 20,
    });
    recordOutput('vdelivermail', options.args ?? ['', action], r.stdout, r.stderr); // for the secrets check (capture.ts)
    return r;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The files in `<maildir>/<sub>` (sorted), [] when the directory is missing. */
export function maildirFiles(maildir: string, sub: 'new' | 'cur' | 'tmp' = 'new'): string[] {
  const dir = join(maildir, sub);
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** The messages in new/ as bytes, in name order. */
export function newMessages(maildir: string): Buffer[] {
  return maildirFiles(maildir).map((f) => readFileSync(join(maildir, 'new', f)));
}

/** `f600 89:89 <size>` of a path, for mode and owner checks. */
export function modeLine(path: string): string {
  const st = lstatSync(path);
  return `${st.isDirectory() ? 'd' : 'f'}${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}${st.isDirectory() ? '' : ` ${st.size}`}`;
}

/** Give a file written by the test to the domain owner, as the golden harness does for .qmail. */
export function giveTo89(path: string): void {
  chownSync(path, 89, 89);
}

/** The golden run's messages (run.sh mkmsg): Received, [extra], From, To, Subject, Message-ID, body. */
export function goldenMessage(file: string, to: string, subject: string, extra?: string): string {
  return [
    'Received: from remote.test by mail.golden.test with SMTP\n',
    extra === undefined ? '' : `${extra}\n`,
    `From: Sender <sender@remote.test>\nTo: ${to}\nSubject: ${subject}\nMessage-ID: <${file}@remote.test>\n\n`,
    `This is a golden test message for ${to}.\n`,
    'Line two of the body.\n',
  ].join('');
}

/** The golden run's ~900-byte message (msg-900.eml) for `to`. */
export function goldenMessage900(to: string): string {
  let text = goldenMessage('msg-alice.eml', 'alice@example.test', 'hello alice');
  for (let i = 1; i <= 12; i++) text += `filler line ${String(i).padStart(2, '0')} .......................................................\n`;
  return text.replaceAll('alice@example.test', to);
}

export function spawnOk(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}
