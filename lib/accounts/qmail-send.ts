// Tell a running qmail-send to re-read its control files after a domain change (SIGHUP).
//
// C runs `ps axww` and signals every line that contains "qmail-send" and none of supervise,
// multilog, runsv, svscan, so `tail -f .../qmail-send/current` gets the HUP too and dies (pitfall
// S13). We signal only processes whose name (/proc/<pid>/comm) is exactly `qmail-send`.
import { readFileSync, readdirSync } from 'node:fs';

/** SIGHUP every process named qmail-send; returns how many were signalled. Failures are ignored, as in C. */
export function signalQmailSend(procDir = '/proc'): number {
  let entries: string[];
  try {
    entries = readdirSync(procDir);
  } catch {
    return 0; // no /proc: nothing we can find safely
  }
  let count = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let comm: string;
    try {
      comm = readFileSync(`${procDir}/${entry}/comm`, 'latin1').replace(/\n$/, '');
    } catch {
      continue; // gone meanwhile
    }
    if (comm !== 'qmail-send') continue;
    try {
      process.kill(pid, 'SIGHUP');
      count++;
    } catch {
      // not ours to signal, or gone: C ignores this too
    }
  }
  return count;
}
