// isatty(3) without paying for node:tty on every start: under Bun, loading node:tty costs about
// 16 ms, more than most of our programs' own work. Only a character device can be a terminal, so
// node:tty is asked (and loaded) just for those; files, pipes and sockets answer from one fstat.
import { fstatSync } from 'node:fs';

export function isTerminal(fd: number): boolean {
  try {
    if (!fstatSync(fd).isCharacterDevice()) return false;
  } catch {
    return false;
  }
  return process.getBuiltinModule('node:tty').isatty(fd);
}
