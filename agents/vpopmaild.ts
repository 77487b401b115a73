// vpopmaild: the administration daemon. No options: one session on stdin/stdout (tcpserver, inetd),
// as C runs; -p port: a standalone server on 127.0.0.1 (lib/daemon/daemon.ts has the options).
import { defineAgent } from '../lib/cli/agent.ts';
import { parseVpopmaildArgs, runVpopmaild } from '../lib/daemon/daemon.ts';
import { normalJit } from '../lib/runtime.ts';

export default defineAgent('vpopmaild', ({ argv0, argv, env, io }) => {
  normalJit();
  return runVpopmaild(
    {
      env,
      io,
      stdin: process.stdin,
      stdout: process.stdout,
      pid: process.pid,
      onSignal(signal, handler) {
        process.on(signal, handler);
        return () => process.off(signal, handler);
      },
    },
    parseVpopmaildArgs(argv0, argv),
  );
});
