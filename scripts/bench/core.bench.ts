// Start-up of the multi-call executable itself: the floor every program pays.
import { join } from 'node:path';
import type { Bench } from './harness.ts';

export default async function core(b: Bench): Promise<void> {
  b.section('multi-call executable');
  const t = b.time('vpopmail --version', { argv: [join(b.dist, 'vpopmail'), '--version'], runs: 40 });
  b.report(t, ['true', 'runtime', 'bun-compiled']);
}
