// Where the built executables are, for tests that run them through real pipes.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const PROJECT_ROOT = join(import.meta.dirname, '..', '..');
export const DIST = join(PROJECT_ROOT, 'dist');
export const DIST_BIN = join(DIST, 'bin');

export interface BuildInfo {
  readonly runtime: 'bun' | 'node';
  readonly programs: readonly string[];
  readonly executables: readonly { readonly file: string; readonly runtime: 'bun' | 'node'; readonly programs: readonly string[] }[];
  /** Programs that may be installed set-uid or set-gid. */
  readonly setid: readonly string[];
  /** vchkpw's V8 code cache, made by build.mjs after a login and checked to be taken by V8. */
  readonly vchkpwCodeCache?: { readonly bytes: number; readonly accepted: boolean };
  /** The runs that laid out the Bun executable's bytecode (Bun builds only). */
  readonly bytecodeOrder?: readonly { readonly program: string; readonly functions: number; readonly modules: number }[];
}

/** dist/build-info.json; `npm test` builds before running ava, so a missing build is an error. */
export function buildInfo(): BuildInfo {
  const path = join(DIST, 'build-info.json');
  if (!existsSync(path)) throw new Error(`${path} is missing: run node build.mjs first (npm test does)`);
  return JSON.parse(readFileSync(path, 'utf8')) as BuildInfo;
}

export function binPath(program: string): string {
  return join(DIST_BIN, program);
}
