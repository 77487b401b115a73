// vkill: SIGKILL every process whose program name is exactly the one given.
import { defineAgent } from '../lib/cli/agent.ts';
import { Getopt } from '../lib/cli/getopt.ts';
import { BUILD } from '../lib/config.ts';
import { signalProcessesByName } from '../lib/process-names.ts';
import { complain } from './_admin.ts';

const USAGE = `usage: vkill [-v] name
Kills (SIGKILL) every process running the program called exactly name, as /proc names it
(vkill pop3d kills pop3d, not vpop3d-helper and not "tail -f pop3d.log").
  -v  print the vpopmail version first
`;

export default defineAgent('vkill', ({ argv0, argv, io }) => {
  const g = new Getopt(argv, 'v');
  for (let e = g.next(); e !== undefined; e = g.next()) {
    if (e.kind !== 'opt') {
      complain(io, argv0, e);
      io.stdout(USAGE);
      return 255;
    }
    io.stdout(`version: ${BUILD.version}\n`);
  }
  const [name] = g.operands();
  if (name === undefined || name === '') {
    io.stdout(USAGE);
    return 255;
  }
  if (name.includes('/')) {
    io.stderr(`vkill: give a program name, not a path: ${name}\n`);
    return 255;
  }
  const result = signalProcessesByName(name, 'SIGKILL');
  for (const f of result.failed) io.stderr(`vkill: unable to kill process ${f.pid} (${name}): ${f.reason}\n`);
  return result.failed.length === 0 ? 0 : 255;
});
