// node:crypto, fetched when a function needs it instead of imported. Loading it costs a fresh Node
// 24 about 24M instructions, a quarter of `node -e 0` (callgrind), and a vchkpw that verifies a $6$
// or $5$ hash in wasm (sha-wasm.ts) needs none of it. Bun has process.getBuiltinModule too.
import type * as NodeCrypto from 'node:crypto';

export function nodeCrypto(): typeof NodeCrypto {
  return process.getBuiltinModule('node:crypto');
}
