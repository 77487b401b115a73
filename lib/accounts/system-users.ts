// The system account database (/etc/passwd) for vadddomain -u: C asks getpwnam(3); a Node program
// has no such call, so we read the file the way the files NSS module does.
import { readFileSync } from 'node:fs';
import { TempError } from '../exit.ts';

export const PASSWD_FILE = '/etc/passwd';

export interface SystemUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

/** The first `name:x:uid:gid:gecos:home:shell` line of `name`; undefined when there is none. */
export function lookupSystemUser(name: string, passwdFile = PASSWD_FILE): SystemUser | undefined {
  let text: string;
  try {
    text = readFileSync(passwdFile, 'latin1');
  } catch (err) {
    throw new TempError(`unable to read ${passwdFile}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || f[0] !== name) continue;
    if (!/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) continue;
    return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! };
  }
  return undefined;
}
