// Mailing-list commands: named in the protocol, never implemented by C 5.6 (spec §7.8).
import type { Handler } from '../context.ts';
import { err } from '../protocol.ts';

export const addList: Handler = async () => err(36, 4001);
export const delList: Handler = async () => err(36, 4101);
export const modList: Handler = async () => err(36, 4201);
