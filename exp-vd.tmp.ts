import agent from './agents/vdelivermail.ts';
import { processIo, runAgent } from './lib/cli/agent.ts';
runAgent(agent, { name: agent.name, argv0: 'vdelivermail', argv: process.argv.slice(2), env: process.env, io: processIo() }).then((c) => process.exit(c), () => process.exit(111));
