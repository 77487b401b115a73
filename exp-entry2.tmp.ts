const t0 = performance.now();
import { processIo, runAgent } from './lib/cli/agent.ts';
import('./agents/vdelivermail.ts').then(async ({ default: agent }) => {
  const t1 = performance.now();
  const code = await runAgent(agent, { name: agent.name, argv0: 'vdelivermail', argv: process.argv.slice(2), env: process.env, io: processIo() });
  const t2 = performance.now();
  require('node:fs').writeSync(2, `entry ${t0.toFixed(2)} loaded ${t1.toFixed(2)} ran ${t2.toFixed(2)}\n`);
  process.exit(code);
});
