// tinycdb as the peer that judges our cdb files: build with `cdb -c`, dump with `cdb -d`, query with `cdb -q`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';

export type CdbRecord = readonly [Uint8Array, Uint8Array];

/** A fresh temp dir, removed when the test ends. */
export function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'vpop-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The `+klen,dlen:key->data\n` dump format, ended by an empty line (what `cdb -c` reads). */
export function formatCdbDump(records: Iterable<CdbRecord>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, data] of records) {
    parts.push(Buffer.from(`+${key.length},${data.length}:`, 'latin1'), Buffer.from(key), Buffer.from('->'), Buffer.from(data), Buffer.from('\n'));
  }
  parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}

/** Parse `cdb -d` output back into records (binary-safe: lengths, not separators). */
export function parseCdbDump(dump: Buffer): [Buffer, Buffer][] {
  const out: [Buffer, Buffer][] = [];
  let pos = 0;
  for (;;) {
    if (dump[pos] === 0x0a) break;
    if (dump[pos] !== 0x2b) throw new Error(`cdb dump: expected '+' at ${pos}`);
    const colon = dump.indexOf(0x3a, pos);
    const [klen, dlen] = dump.subarray(pos + 1, colon).toString('latin1').split(',').map(Number) as [number, number];
    const keyAt = colon + 1;
    const key = dump.subarray(keyAt, keyAt + klen);
    if (dump.subarray(keyAt + klen, keyAt + klen + 2).toString('latin1') !== '->') throw new Error(`cdb dump: expected '->' at ${keyAt + klen}`);
    const data = dump.subarray(keyAt + klen + 2, keyAt + klen + 2 + dlen);
    if (dump[keyAt + klen + 2 + dlen] !== 0x0a) throw new Error('cdb dump: expected newline after a record');
    out.push([Buffer.from(key), Buffer.from(data)]);
    pos = keyAt + klen + 2 + dlen + 1;
  }
  return out;
}

/** Build `path` with tinycdb's `cdb -c` from these records, in this order. */
export function tinycdbMake(path: string, records: Iterable<CdbRecord>): void {
  execFileSync('cdb', ['-c', '-t', `${path}.tinytmp`, path], { input: formatCdbDump(records), stdio: ['pipe', 'ignore', 'pipe'] });
}

/** Every record of `path` as tinycdb reads it. */
export function tinycdbDump(path: string): [Buffer, Buffer][] {
  return parseCdbDump(execFileSync('cdb', ['-d', path], { maxBuffer: 1 << 30 }));
}

/** tinycdb's answer for one key: the first value, or undefined when `cdb -q` exits 100 (not found). */
export function tinycdbQuery(path: string, key: string): Buffer | undefined {
  try {
    return execFileSync('cdb', ['-q', path, key], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    if ((err as { status?: number }).status === 100) return undefined;
    throw err;
  }
}
