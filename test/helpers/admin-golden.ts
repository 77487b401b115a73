// The golden C run's steps for the admin-tool tests: expected stdout with the home paths of a
// test home, and the masks for what varies (hashes, random passwords, times).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GOLDEN_DIR, parseTranscript, type Step } from './golden.ts';

export function goldenSteps(): Map<number, Step> {
  const transcript = parseTranscript(readFileSync(join(GOLDEN_DIR, 'transcript.md'), 'utf8'));
  return new Map(transcript.steps.map((s) => [s.number, s]));
}

/** The step's stdout as C printed it, with /home/vpopmail moved to `vhome`. */
export function goldenStdout(steps: Map<number, Step>, n: number, vhome: string): string {
  const step = steps.get(n);
  if (step === undefined) throw new Error(`no golden step ${n}`);
  return step.stdout.text.replaceAll('/home/vpopmail', vhome);
}

/** Crypt hashes made by a tool (any salt length), and asctime stamps, masked. */
export function maskVarying(text: string): string {
  return text
    .replace(/\$(?:1|5|6)\$(?!Gold3nSa\$)[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{22,86}/g, '<hash>')
    .replace(/\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}/g, '<time>');
}
