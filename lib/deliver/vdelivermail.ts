// vdelivermail: local delivery for a virtual domain, run by qmail-local from `<dom>/.qmail-default`
// (spec/vdelivermail.md §3, §4, §7). Returns qmail-command(8)'s exit code: 0, 99, 100 or 111.
import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { hasDomainChars, hasUserChars } from '../address.ts';
import { PW_FLAG, type Backend, type VpasswdEntry } from '../backends/backend.ts';
import { openBackend } from '../backends/open.ts';
import { envRecord } from '../auth/exec.ts';
import type { AgentIo } from '../cli/agent.ts';
import type { Config } from '../config.ts';
import { EXIT, firstLine } from '../exit.ts';
import { durableFor, type Durable } from '../fs/durable.ts';
import { remakeUserDir } from '../maildir/make.ts';
import { lowerAscii, rememberingAssignLookup, usersCdbPath } from '../store/assign.ts';
import type { DeliveryContext, Recipient } from './context.ts';
import { dotQmailNames, readDotQmail } from './dot-qmail.ts';
import { deliverLines, isWorthDelivering, type Step } from './instruction.ts';
import { isLooping } from './loop.ts';
import { deliverToMailbox } from './mailbox.ts';
import { openMessage, type Message } from './message.ts';
import { bounce, defer, DeliveryEnd, readMsgFile, tempText, TEXT } from './texts.ts';

export interface VdelivermailRun {
  /** The arguments after the program name: `''` and the default action. */
  readonly argv: readonly string[];
  /** qmail-local's environment (EXT, HOST, RPLINE, DTLINE, ...), handed on to programs and qmail-inject. */
  readonly env: NodeJS.ProcessEnv;
  readonly config: Config;
  readonly io: AgentIo;
  /** The message (default fd 0). */
  readonly stdinFd?: number;
  /** The current directory qmail-local gave us: the domain directory. */
  readonly cwd: string;
  readonly hostname: string;
  readonly pid: number;
  readonly now: () => number;
  /** Where a pipe on stdin is copied to (TMPDIR, else /tmp). */
  readonly tmpDir: string;
  /** The user store; default openBackend(config), opened only once a user must be looked up. */
  readonly backend?: Backend;
  readonly durable?: Durable;
}

/** errno codes that say "try again later", whatever C makes of the failure. */
const TRANSIENT = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'ENOMEM', 'EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'EINTR', 'EROFS', 'ESTALE', 'ETIMEDOUT']);

function isTransient(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && TRANSIENT.has(code)) return true;
    if (TRANSIENT.has(/failed: ([A-Z]+)/.exec(e.message)?.[1] ?? '')) return true;
  }
  return false;
}

/**
 * C bounces (100) when a user's directory cannot be made; a full disk or an I/O error is not the
 * sender's fault and defers (111) instead, with the reason.
 */
function dirFailure(cText: string, err: unknown): DeliveryEnd {
  if (isTransient(err)) return defer(tempText(`${cText.replace(/ \(#[\d.]+\)$/, '')}: ${firstLine(err)}`), err);
  return bounce(cText);
}

/** Everything a run needs but the backend, which is opened late (C looks users up only if it must). */
interface Run {
  readonly ctx: DeliveryContext;
  readonly userBase: string;
  backend(): Promise<Backend>;
}

async function lookupUser(run: Run, user: string): Promise<VpasswdEntry | undefined> {
  if (user === '') return undefined;
  const backend = await run.backend();
  try {
    return await backend.getUser(run.ctx.recipient.domain, user);
  } catch (err) {
    throw defer(tempText(`unable to look up ${user}@${run.ctx.recipient.domain}: ${firstLine(err)}`), err);
  }
}

/** pw_dir empty (a record made elsewhere): make `<domain dir>/<user>` and store it in the record. */
async function createHome(run: Run, entry: VpasswdEntry): Promise<VpasswdEntry> {
  const { recipient } = run.ctx;
  if (recipient.domainDir === '' || entry.name.includes('/') || entry.name.startsWith('.')) throw bounce(TEXT.autoCreateFailed);
  const home = join(recipient.domainDir, entry.name);
  try {
    remakeUserDir(recipient.domainDir, home, { ...(recipient.owner === undefined ? {} : { owner: recipient.owner }), durable: run.ctx.durable });
    await (await run.backend()).setUser(recipient.domain, { ...entry, dir: home });
  } catch (err) {
    throw dirFailure(TEXT.autoCreateFailed, err);
  }
  const again = await lookupUser(run, entry.name);
  if (again === undefined || again.dir === '') throw bounce(TEXT.getpwFailed);
  return again;
}

/**
 * "No such user" from a cdb domain that has neither vpasswd nor vpasswd.cdb is a damaged domain (a
 * domain always has at least the file its postmaster was added to): defer rather than bounce or
 * hand the mail to the catch-all.
 */
function requireUserStore(config: Config, recipient: Recipient): void {
  if (config.backend !== 'cdb' || recipient.domainDir === '') return;
  const vpasswd = join(recipient.domainDir, 'vpasswd');
  if (existsSync(vpasswd) || existsSync(`${vpasswd}.cdb`)) return;
  throw defer(tempText(`unable to read ${vpasswd}: ENOENT`));
}

/** An existing mailbox (checkuser, spec §4). */
async function deliverToUser(run: Run, found: VpasswdEntry): Promise<number> {
  const { ctx } = run;
  const { recipient } = ctx;
  if ((found.gid & PW_FLAG.BOUNCE_MAIL) !== 0) throw bounce(TEXT.locked(`${recipient.ext}@${recipient.domain}`));
  const entry = found.dir === '' ? await createHome(run, found) : found;
  const home = isAbsolute(entry.dir) || recipient.domainDir === '' ? entry.dir : join(recipient.domainDir, entry.dir);
  // C recreates a missing home; a home whose Maildir is gone would defer every message, so that too.
  if (!existsSync(join(home, 'Maildir'))) {
    try {
      remakeUserDir(recipient.domainDir === '' ? '/' : recipient.domainDir, home, {
        ...(recipient.owner === undefined ? {} : { owner: recipient.owner }),
        durable: ctx.durable,
      });
    } catch (err) {
      throw dirFailure(TEXT.autoRecreateFailed, err);
    }
  }
  const dotQmail = readDotQmailOrDefer(home, recipient.extension, ctx.config.qmailExt);
  if (dotQmail !== undefined && dotQmail.length > 0) {
    return (await deliverLines(ctx, dotQmail, { cwd: home, quota: '' })) === 'stop' ? EXIT.stop : EXIT.ok;
  }
  const maildir = `${join(home, 'Maildir')}/`;
  if (isWorthDelivering(ctx, maildir)) deliverToMailbox(ctx, { maildir, quota: entry.quota, isCatchAll: false });
  return EXIT.ok;
}

function readDotQmailOrDefer(home: string, extension: string, qmailExt: boolean): readonly string[] | undefined {
  try {
    return readDotQmail(home, dotQmailNames(extension, qmailExt))?.lines;
  } catch (err) {
    throw defer(tempText(firstLine(err)), err);
  }
}

/** No such mailbox (usernotfound, spec §7): the default action. */
async function deliverToDefault(run: Run, cwd: string): Promise<number> {
  const { ctx } = run;
  const { recipient } = ctx;
  const action = ctx.defaultAction;
  if (action === 'delete') return EXIT.ok;
  if (action === 'bounce-no-mailbox') {
    throw new DeliveryEnd(EXIT.perm, readMsgFile(recipient.domainDir, ctx.config.domainsDir, '.no-user.msg') ?? `${TEXT.noMailbox}\n`);
  }
  let step: Step;
  if (action.startsWith('/')) {
    const dir = action.endsWith('/') ? action : `${action}/`;
    ctx.io.stdout(`${TEXT.willDeliver(dir)}\n`);
    const dotQmail = readDotQmailOrDefer(dir, recipient.extension, ctx.config.qmailExt);
    if (dotQmail !== undefined && dotQmail.length > 0) {
      // Relative lines of this home's .qmail mean paths in that home, as dot-qmail(5) reads them.
      step = await deliverLines(ctx, dotQmail, { cwd: dir, quota: '' });
    } else {
      const maildir = `${dir}Maildir/`;
      if (isWorthDelivering(ctx, maildir)) deliverToMailbox(ctx, { maildir, quota: '', isCatchAll: true });
      step = 'continue';
    }
  } else {
    step = await deliverLines(ctx, [action], { cwd, quota: '', isCatchAll: true });
  }
  return step === 'stop' ? EXIT.stop : EXIT.ok;
}

/** --enable-valias: the backend's alias table before the mailbox (spec §3 step 6). */
async function deliverToValias(run: Run, cwd: string): Promise<number | undefined> {
  const { ctx } = run;
  if (!ctx.config.valias) return undefined;
  const backend = await run.backend();
  if (!backend.hasValiasTable) return undefined;
  const { ext, domain } = ctx.recipient;
  let lines: string[] | undefined;
  try {
    lines = await backend.getValias(domain, ext);
    // `joe-lists-x` → `joe-lists-default` (DEFAULT=x), then `joe-default` (DEFAULT=lists-x)
    for (let i = ext.lastIndexOf('-'); lines === undefined && i >= 0; i = i > 0 ? ext.lastIndexOf('-', i - 1) : -1) {
      lines = await backend.getValias(domain, `${ext.slice(0, i + 1)}default`);
      if (lines !== undefined) ctx.childEnv['DEFAULT'] = ext.slice(i + 1);
    }
    if (lines === undefined && ctx.config.qmailExt && run.userBase !== ext) lines = await backend.getValias(domain, run.userBase);
  } catch (err) {
    throw defer(TEXT.databaseDown, err);
  }
  if (lines === undefined || lines.length === 0) return undefined;
  if ((await deliverLines(ctx, lines, { cwd, quota: '' })) === 'stop') return EXIT.stop;
  ctx.io.stdout(`${TEXT.valiasesProcessed}\n`);
  return EXIT.ok;
}

async function deliver(run: VdelivermailRun, opened: { message?: Message; backend?: Backend }): Promise<number> {
  const { argv, env, config } = run;
  if (argv.length !== 2) throw defer(TEXT.invalidSyntax);
  if (env['EXT'] === undefined) throw bounce(TEXT.noExt);
  if (env['HOST'] === undefined) throw bounce(TEXT.noHost);
  const ext = lowerAscii(env['EXT']);
  const host = lowerAscii(env['HOST']);
  if (!hasUserChars(ext)) throw bounce(TEXT.invalidUsername);
  if (!hasDomainChars(host)) throw bounce(TEXT.invalidDomain);

  const dash = config.qmailExt ? ext.indexOf('-') : -1;
  const userBase = dash < 0 ? ext : ext.slice(0, dash);
  const extension = dash < 0 ? '' : ext.slice(dash + 1).replaceAll('.', ':');
  if (!hasUserChars(userBase)) return EXIT.perm;

  // The recipient's domain is read from users/cdb once: the user store is given the same answers.
  const resolveDomain = rememberingAssignLookup(config.qmailHome);
  let assign;
  try {
    assign = resolveDomain(host);
  } catch (err) {
    throw defer(tempText(firstLine(err)), err);
  }
  // qmail-local runs us only for a domain it found in users/cdb: without that file the install is
  // broken, not the address, and a bounce (or the catch-all) would lose the mail until it is mended.
  if (assign === undefined && !existsSync(usersCdbPath(config.qmailHome))) {
    throw defer(tempText(`unable to read ${usersCdbPath(config.qmailHome)}: ENOENT`));
  }
  const recipient: Recipient = {
    ext,
    domain: assign?.domain ?? host,
    domainDir: assign?.dir ?? '',
    owner: assign === undefined ? undefined : { uid: assign.uid, gid: assign.gid },
    extension,
  };
  let message: Message;
  try {
    message = openMessage(run.stdinFd ?? 0, { tmpDir: run.tmpDir, pid: run.pid });
  } catch (err) {
    throw defer(tempText(firstLine(err)), err);
  }
  opened.message = message;
  const rpline = env['RPLINE'];
  const dtline = env['DTLINE'];
  const ctx: DeliveryContext = {
    config,
    io: run.io,
    message,
    childEnv: envRecord(env),
    rpline,
    dtline,
    deliverToStdout: env['DELIVER_TO_STDOUT'] !== undefined,
    recipient,
    defaultAction: argv[1]!,
    hostname: run.hostname,
    pid: run.pid,
    now: run.now,
    durable: run.durable ?? durableFor(config),
    stored: 0,
  };
  if (isLooping(message, dtline, `${ext}@${recipient.domain}`)) throw bounce(TEXT.looping);

  const r: Run = {
    ctx,
    userBase,
    backend: async () => {
      if (opened.backend === undefined) {
        try {
          opened.backend = run.backend ?? (await openBackend(config, { resolveDomain }));
        } catch (err) {
          throw defer(tempText(`unable to open the ${config.backend} backend: ${firstLine(err)}`), err);
        }
      }
      return opened.backend;
    },
  };
  const viaValias = await deliverToValias(r, run.cwd);
  if (viaValias !== undefined) return viaValias;

  const entry = (await lookupUser(r, ext)) ?? (config.qmailExt && userBase !== ext ? await lookupUser(r, userBase) : undefined);
  if (entry !== undefined) return deliverToUser(r, entry);
  requireUserStore(config, recipient);
  return deliverToDefault(r, run.cwd);
}

/**
 * Deliver the message on stdin for EXT@HOST and return the exit code. Every outcome is printed here
 * (stdout, where qmail-local takes it into the bounce or the log): C's texts for C's outcomes, our
 * own ending in `(#4.3.0)` for failures C does not have. Anything unforeseen is 111.
 */
export async function vdelivermail(run: VdelivermailRun): Promise<number> {
  const opened: { message?: Message; backend?: Backend } = {};
  try {
    return await deliver(run, opened);
  } catch (err) {
    if (err instanceof DeliveryEnd) {
      if (err.text !== '') run.io.stdout(err.text);
      return err.exitCode;
    }
    run.io.stdout(`${tempText(firstLine(err))}\n`);
    return EXIT.temp;
  } finally {
    opened.message?.close();
    if (opened.backend !== undefined && opened.backend !== run.backend) {
      try {
        await opened.backend.close();
      } catch {
        // the delivery is decided; a close failure changes nothing
      }
    }
  }
}
