// deliver_mail: carry out one instruction (a `.qmail` line, a valias line, the default action or
// the mailbox itself) after the loop check (spec/vdelivermail.md §6).
import { closeSync } from 'node:fs';
import { resolve } from 'node:path';
import { EXIT } from '../exit.ts';
import type { DeliveryContext } from './context.ts';
import { parseInstruction } from './dot-qmail.ts';
import { forwardMessage, qmailInjectPath } from './forward.ts';
import { forwardDeliveredToLine, headerBytes, returnPathLine } from './headers.ts';
import { isLooping } from './loop.ts';
import { deliverToMailbox } from './mailbox.ts';
import { runProgram } from './program.ts';
import { bounce, defer, DeliveryEnd, tempText, TEXT } from './texts.ts';

/** After an instruction: go on with the next one, or stop here with exit 99 (a program said so). */
export type Step = 'continue' | 'stop';

export interface InstructionOptions {
  /** Where relative Maildir paths and programs start (the domain dir, or the home of the `.qmail`). */
  readonly cwd: string;
  /** Quota for a Maildir target; '' takes it from that Maildir's maildirsize. */
  readonly quota: string;
  /** The default action's own target (Delivered-To names the recipient). */
  readonly isCatchAll?: boolean;
}

/**
 * What comes before every delivery: a message that carries `Delivered-To: <target>` is looping
 * (100); an empty message is dropped without a word, as C's make-seekable build does (false).
 */
export function isWorthDelivering(ctx: DeliveryContext, target: string): boolean {
  if (isLooping(ctx.message, ctx.dtline, target)) throw bounce(TEXT.looping);
  return ctx.message.sizeBytes > 0;
}

async function forward(ctx: DeliveryContext, address: string, cwd: string): Promise<Step> {
  const injectPath = qmailInjectPath(ctx.config.qmailHome);
  const r = await forwardMessage({
    injectPath,
    address,
    headers: headerBytes(returnPathLine(ctx.rpline), forwardDeliveredToLine(ctx.dtline, address)),
    source: ctx.message,
    cwd,
    env: ctx.childEnv,
  });
  if (r.kind === 'spawn-failed') throw defer(tempText(`unable to run ${injectPath}: ${r.code}`));
  if (r.kind === 'write-failed') throw defer(tempText(`write to qmail-inject failed: ${r.code}`));
  if (r.outcome === EXIT.ok) return 'continue';
  throw new DeliveryEnd(r.outcome, `${TEXT.injectFailed}\n`);
}

function program(ctx: DeliveryContext, command: string, cwd: string): Step {
  const stdinFd = ctx.message.openForChild();
  let r;
  try {
    r = runProgram({ command, stdinFd, cwd, env: ctx.childEnv });
  } finally {
    closeSync(stdinFd);
  }
  if (r.spawnError !== undefined) throw defer(tempText(`unable to run /bin/sh: ${r.spawnError}`));
  if (r.outcome === EXIT.ok) return 'continue';
  if (r.outcome === EXIT.stop) return 'stop';
  throw new DeliveryEnd(r.outcome, ''); // the program has said why on our stdout
}

/** Carry out one instruction line (see parseInstruction for the forms). */
export async function deliverInstruction(ctx: DeliveryContext, line: string, options: InstructionOptions): Promise<Step> {
  const ins = parseInstruction(line);
  if (ins.kind === 'comment') return 'continue';
  const target = ins.kind === 'forward' ? ins.address : ins.kind === 'program' ? ins.command : ins.path;
  if (!isWorthDelivering(ctx, target)) return 'continue';
  switch (ins.kind) {
    case 'mbox':
      throw defer(TEXT.mbox(ins.path));
    case 'maildir':
      deliverToMailbox(ctx, { maildir: `${resolve(options.cwd, ins.path)}/`, quota: options.quota, isCatchAll: options.isCatchAll ?? false });
      return 'continue';
    case 'program':
      return program(ctx, ins.command, options.cwd);
    case 'forward':
      return forward(ctx, ins.address, options.cwd);
  }
}

/** Carry out a `.qmail` file's lines in order; 'stop' as soon as one says so. */
export async function deliverLines(ctx: DeliveryContext, lines: readonly string[], options: InstructionOptions): Promise<Step> {
  for (const line of lines) {
    if ((await deliverInstruction(ctx, line, options)) === 'stop') return 'stop';
  }
  return 'continue';
}
