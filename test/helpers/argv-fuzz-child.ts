// Child process for test/security/hostile-input.test.ts: runs generated argv through the admin
// tools in-process (agents/*.ts under runAgent, output captured), one process for thousands of
// cases. It is a child so that stdin is /dev/null: a tool left without a password reads stdin,
// and an ava worker's stdin is a pipe that never ends.
//
//   node --import tsx argv-fuzz-child.ts <vhome> <qhome> <cage> <seed> <count>
// prints one JSON line: { cases, codes, problems, examples }.
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import vaddaliasdomain from '../../agents/vaddaliasdomain.ts';
import vadddomain from '../../agents/vadddomain.ts';
import vadduser from '../../agents/vadduser.ts';
import vdeluser from '../../agents/vdeluser.ts';
import vdominfo from '../../agents/vdominfo.ts';
import vmoduser from '../../agents/vmoduser.ts';
import vpasswd from '../../agents/vpasswd.ts';
import vsetuserquota from '../../agents/vsetuserquota.ts';
import vuserinfo from '../../agents/vuserinfo.ts';
import { captureIo, runAgent, type Agent } from '../../lib/cli/agent.ts';
import { hostileArgv, type ToolName } from './hostile.ts';

const [vhome, qhome, cage, seedText, countText] = process.argv.slice(2) as [string, string, string, string, string];
const env = { PATH: '/usr/bin:/bin', VPOPMAIL_HOME: vhome, QMAIL_HOME: qhome };

const AGENTS: Readonly<Record<ToolName, Agent>> = { vadduser, vdeluser, vmoduser, vpasswd, vuserinfo, vsetuserquota, vdominfo, vadddomain, vaddaliasdomain };
const TRACE = /\n\s+at |node:internal|TypeError|ReferenceError|RangeError|SyntaxError|Unhandled|Cannot read prop/;

/** What a cage holds before: the world and nothing else; below the world, only these top entries. */
const cageEntries = readdirSync(cage).sort().join(' ');
const domainsDir = join(vhome, 'domains');

function outsideProblems(): string[] {
  const problems: string[] = [];
  if (readdirSync(cage).sort().join(' ') !== cageEntries) problems.push(`something appeared next to the world: ${readdirSync(cage).join(' ')}`);
  for (const name of readdirSync(domainsDir)) {
    if (!/^[a-z0-9][a-z0-9.-]*$/.test(name) && !name.startsWith('.dir-control') && !name.startsWith('.dir_control')) problems.push(`odd entry in domains/: ${JSON.stringify(name)}`);
  }
  return problems;
}

/** Every vpasswd's homes lie in their domain directory, named in lower case. */
function homeProblems(): string[] {
  const problems: string[] = [];
  for (const domain of readdirSync(domainsDir)) {
    const dir = join(domainsDir, domain);
    if (!lstatSync(dir).isDirectory()) continue;
    let text = '';
    try {
      text = readFileSync(join(dir, 'vpasswd'), 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').filter((l) => l !== '')) {
      const f = line.split(':');
      const home = f[5] ?? '';
      if (!home.startsWith(`${dir}/`) || home.includes('/../') || home.includes('/./')) problems.push(`${domain}: ${f[0]} has home ${home}`);
      if (f[0] !== f[0]!.toLowerCase()) problems.push(`${domain}: user name not lower case: ${f[0]}`);
    }
  }
  return problems;
}

const count = Number(countText);
const codes: Record<string, number> = {};
const problems: string[] = [];
const examples: string[] = [];
let seed = Number(seedText);
for (let i = 0; i < count; i++) {
  const { tool, argv } = hostileArgv(seed++);
  const io = captureIo();
  let code: number;
  try {
    code = await runAgent(AGENTS[tool], { name: tool, argv0: tool, argv, env, io });
  } catch (err) {
    problems.push(`case ${i} (${tool} ${JSON.stringify(argv)}): runAgent threw ${String(err)}`);
    continue;
  }
  const key = `${tool} ${code}`;
  codes[key] = (codes[key] ?? 0) + 1;
  if (!Number.isInteger(code) || code < 0 || code > 255) problems.push(`case ${i} (${tool} ${JSON.stringify(argv)}): exit ${code}`);
  const out = io.out + io.err;
  if (TRACE.test(out)) problems.push(`case ${i} (${tool} ${JSON.stringify(argv)}): a trace: ${out.slice(0, 300)}`);
  if (i % 50 === 0) problems.push(...outsideProblems().map((p) => `after case ${i}: ${p}`));
  if (examples.length < 5 && code === 0 && tool === 'vadduser') examples.push(JSON.stringify(argv));
  if (problems.length > 50) break;
}
problems.push(...outsideProblems(), ...homeProblems());
process.stdout.write(`${JSON.stringify({ cases: count, codes, problems: problems.slice(0, 50), examples })}\n`);
