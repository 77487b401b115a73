// Buffered stdout for vpopbull's per-mailbox lines: one write per 32 KiB, not one per mailbox.
import type { AgentIo } from '../cli/agent.ts';

const FLUSH_BYTES = 32 * 1024;

/**
 * Lines for stdout are collected and written in blocks; anything for stderr first flushes what is
 * pending, so a terminal showing both streams shows them in the order they happened. Text is a
 * stdout carries addresses, byte strings (latin1) as vpasswd holds them, written as those bytes;
 * stderr carries our messages, written as UTF-8 text.
 */
export class BulletinOutput {
  private pending: string[] = [];
  private pendingBytes = 0;
  /** A progress line is on the terminal, without its line end. */
  private hasStatus = false;

  constructor(private readonly io: AgentIo) {}

  stdout(line: string): void {
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
  }

  stderr(text: string): void {
    this.flush();
    this.clearStatus();
    this.io.stderr(text);
  }

  /** Show (or replace) the one-line progress report at the start of the terminal's last line. */
  status(line: string): void {
    this.flush();
    this.io.stderr(`\r\x1b[K${line}`);
    this.hasStatus = true;
  }

  clearStatus(): void {
    if (!this.hasStatus) return;
    this.io.stderr('\r\x1b[K');
    this.hasStatus = false;
  }

  flush(): void {
    if (this.pending.length === 0) return;
    this.clearStatus(); // stdout may be the same terminal
    const text = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    this.io.stdout(Buffer.from(text, 'latin1'));
  }
}
