// Helpers for tests of the vpasswd store: the golden domains, sample entries, and the pair check.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CdbReader } from '../../lib/cdb/reader.ts';
import type { VpasswdEntry } from '../../lib/store/vpasswd.ts';

export const GOLDEN = '/work/shared/fixtures/golden';
export const GOLDEN_DOMAINS = join(GOLDEN, 'tree', 'vpopmail', 'domains');

/** The domain directories of the golden tree that hold a vpasswd. */
export function goldenDomainDirs(): string[] {
  return readdirSync(GOLDEN_DOMAINS)
    .map((name) => join(GOLDEN_DOMAINS, name))
    .filter((dir) => existsSync(join(dir, 'vpasswd')));
}

export function sampleEntry(name: string, over: Partial<VpasswdEntry> = {}): VpasswdEntry {
  return {
    name,
    passwd: `$6$salt${name.length}$hash-of-${name}`,
    uid: 1,
    gid: 0,
    gecos: name,
    dir: `/home/vpopmail/domains/example.test/${name}`,
    quota: 'NOQUOTA',
    clear: `pw-${name}`,
    ...over,
  };
}

/** vpasswd's lines, or [] when there is no file. */
export function vpasswdLines(domainDir: string): string[] {
  const path = join(domainDir, 'vpasswd');
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'latin1');
  if (text === '') return [];
  if (!text.endsWith('\n')) throw new Error(`${path} does not end with a newline`);
  return text.slice(0, -1).split('\n');
}

/** A cdb's records as `key:data` lines in file order, or undefined when there is no such file. */
export function cdbRecords(path: string): string[] | undefined {
  if (!existsSync(path)) return undefined;
  const db = CdbReader.open(path);
  try {
    return [...db.entries()].map(([k, d]) => `${Buffer.from(k).toString('latin1')}:${Buffer.from(d).toString('latin1')}`);
  } finally {
    db.close();
  }
}

/** vpasswd.cdb's records as `key:data` lines in file order, or undefined when there is no cdb. */
export function cdbLines(domainDir: string): string[] | undefined {
  return cdbRecords(join(domainDir, 'vpasswd.cdb'));
}

export type PairState = 'agree' | 'cdb-behind';

/**
 * Check the pair invariant of lib/store/vpasswd.ts against the states a test allows (each a list of
 * vpasswd lines): vpasswd is one of them, the cdb is one of them, and the cdb is never ahead.
 * Returns whether they agree, or the cdb is behind (old cdb, new vpasswd) awaiting roll-forward.
 */
export function checkPair(domainDir: string, states: readonly (readonly string[])[]): PairState {
  const v = vpasswdLines(domainDir);
  const c = cdbLines(domainDir) ?? [];
  const vi = states.findIndex((s) => s.join('\n') === v.join('\n'));
  const ci = states.findIndex((s) => s.join('\n') === c.join('\n'));
  if (vi < 0) throw new Error(`vpasswd is in none of the allowed states:\n${v.join('\n')}`);
  if (ci < 0) throw new Error(`vpasswd.cdb is in none of the allowed states:\n${c.join('\n')}`);
  if (ci === vi) return 'agree';
  if (ci < vi) return 'cdb-behind';
  throw new Error('vpasswd.cdb is ahead of vpasswd');
}
