// Mailing lists (spec §7.8, §7.3 list_lists): add/del/mod_list were never implemented by C 5.6;
// list_lists shows the ezmlm lists of a domain.
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Handler } from '../context.ts';
import { isSystemAdmin, loggedIn, mayAdministerDomain, resolveDomain } from '../lookup.ts';
import { data, err, libErr } from '../protocol.ts';
import { sysText } from '../errno.ts';
import { pageRange } from './domains.ts';

export const addList: Handler = async () => err(36, 4001);
export const delList: Handler = async () => err(36, 4101);
export const modList: Handler = async () => err(36, 4201);

/** The first line of a file (at most 1 KiB of it), or undefined when it cannot be read. */
async function firstLineOf(path: string): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
    const buf = Buffer.alloc(1024);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const text = buf.toString('latin1', 0, bytesRead);
    const nl = text.indexOf('\n');
    return nl < 0 ? text : text.slice(0, nl);
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

/** list_lists: `.qmail-*` files whose first line runs ezmlm-reject, by name case-insensitively. */
export const listLists: Handler = async (ctx, req) => {
  const login = loggedIn(ctx);
  const name = req.args[0];
  if (name === undefined) return err(6, 2902);
  const domain = await resolveDomain(ctx, name);
  if (domain === undefined) return err(11, isSystemAdmin(login) ? 2904 : 2903);
  if (!mayAdministerDomain(login, domain.domain)) return err(11, 2903);
  let names: string[];
  try {
    names = (await readdir(domain.dir)).filter((n) => n.startsWith('.qmail-'));
  } catch (e) {
    return libErr(2905, sysText(e));
  }
  const lists: string[] = [];
  for (const n of names) {
    const first = await firstLineOf(join(domain.dir, n));
    if (first?.includes('ezmlm-reject')) lists.push(n);
  }
  lists.sort((a, b) => {
    const x = a.toLowerCase();
    const y = b.toLowerCase();
    return x < y ? -1 : x > y ? 1 : 0;
  });
  const { from, to } = pageRange(req.args[1], req.args[2]);
  return data(lists.slice(from, to));
};
