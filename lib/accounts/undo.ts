// Undoing what an operation did when a later step fails, and saying what could not be undone.
import { MailError, TempError, VpopmailError, firstLine } from '../exit.ts';

/** The undo steps of one operation, run newest first. */
export class UndoLog {
  readonly #steps: { what: string; run: () => unknown }[] = [];

  push(what: string, run: () => unknown): void {
    this.#steps.push({ what, run });
  }

  /** Undo everything recorded; what could not be undone comes back as one-line notes. */
  async run(): Promise<string[]> {
    const failed: string[] = [];
    for (const step of this.#steps.reverse()) {
      try {
        await step.run();
      } catch (err) {
        failed.push(`could not undo ${step.what}: ${firstLine(err)}`);
      }
    }
    this.#steps.length = 0;
    return failed;
  }
}

/** The error that stopped an operation, with the undo failures appended to its message. */
export function withUndoNotes(err: unknown, undoFailures: readonly string[]): unknown {
  if (undoFailures.length === 0) return err;
  const note = undoFailures.join('; ');
  if (err instanceof VpopmailError) return new VpopmailError(err.code, `${err.message} (${note})`, { cause: err, stream: err.stream });
  if (err instanceof MailError) return new TempError(`${err.message} (${note})`, { cause: err });
  return new TempError(`${firstLine(err)} (${note})`, { cause: err });
}
