// Generators of hostile input for test/security/hostile-input.test.ts: admin-tool argv, the
// environment qmail-local gives vdelivermail, and message bodies. Deterministic per seed, so a
// failing case can be replayed with its seed alone.
import { rng } from './reliability.ts';

export const DOMAIN = 'hostile.test';

/** Pieces names are made of: traversal, separators, case, dots, shell and vpasswd metacharacters. */
const NAME_PIECES = [
  'alice', 'ALICE', 'Alice', 'bob', 'postmaster', 'Postmaster', '../', '..', '.', '/', '%', '@', '\\', '*', ' ', '\t', '\n', '\r', ':',
  '$(touch pwned)', '`id`', ';', '|', '&', '-', '+', '.hidden', 'a/b', 'user.name', 'x', '0', 'root', '\u00e9', '\u00ff',
  'a'.repeat(70), '%2e%2e%2f', '..%2f', '-q', '--', '~', '#', '"', "'", '?', 'NUL\u0001', '\u007f',
];
const DOMAIN_PIECES = [
  DOMAIN, 'HOSTILE.TEST', 'Hostile.Test', `${DOMAIN}.`, `.${DOMAIN}`, 'hostile..test', `../${DOMAIN}`, `${DOMAIN}/..`, `${DOMAIN}/../../etc`,
  '/etc', '..', '.', '', 'other.test', 'x'.repeat(300), `${DOMAIN}%evil`, '\u00e9vil.test', 'a.b-c.test', '-x.test', 'evil.test',
];
const QUOTA_PIECES = ['1M', '10M,100C', '-5', '0', 'NOQUOTA', '99999999999999999999999', '1G', 'abc', '', '5000000S', '1K1M', ':', '1M\n2M'];

/** Strings an executable's argv or environment can carry (no NUL; valid UTF-16, so UTF-8 on the way). */
export function isPortable(s: string): boolean {
  return !s.includes('\0') && !/[\ud800-\udfff]/.test(s);
}

function picker(r: () => number) {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(r() * list.length)]!;
  const name = () => Array.from({ length: 1 + Math.floor(r() * 4) }, () => pick(NAME_PIECES)).join('');
  const domain = () => (r() < 0.55 ? DOMAIN : pick(DOMAIN_PIECES));
  const address = () => {
    const x = r();
    if (x < 0.45) return `${name()}@${domain()}`;
    if (x < 0.6) return `${name()}%${domain()}`;
    if (x < 0.7) return name();
    if (x < 0.8) return `${pick(['alice', 'bob', 'postmaster', 'carol'])}@${domain()}`;
    return `${name()}@${name()}`;
  };
  const password = () => (r() < 0.5 ? `Pw-${Math.floor(r() * 1e6)}!` : name());
  return { pick, name, domain, address, password };
}

export type ToolName = 'vadduser' | 'vdeluser' | 'vmoduser' | 'vpasswd' | 'vuserinfo' | 'vsetuserquota' | 'vdominfo' | 'vadddomain' | 'vaddaliasdomain';

const TOOL_WEIGHTS: readonly [ToolName, number][] = [
  ['vadduser', 25],
  ['vmoduser', 15],
  ['vpasswd', 12],
  ['vdeluser', 10],
  ['vuserinfo', 12],
  ['vsetuserquota', 8],
  ['vdominfo', 8],
  ['vadddomain', 5],
  ['vaddaliasdomain', 5],
];

/**
 * One generated admin command. Options the operator uses to name places on purpose (vadddomain
 * -d/-u/-i/-g, an absolute vmoduser -D) are left out: those are the operator's to point anywhere.
 */
export function hostileArgv(seed: number, portable = false): { tool: ToolName; argv: string[] } {
  const r = rng(seed * 7919 + 17);
  const g = picker(r);
  let x = r() * 100;
  let tool: ToolName = 'vadduser';
  for (const [t, w] of TOOL_WEIGHTS) {
    if (x < w) {
      tool = t;
      break;
    }
    x -= w;
  }
  const argv: string[] = [];
  const maybe = (p: number, f: () => void) => {
    if (r() < p) f();
  };
  maybe(0.08, () => argv.push(g.pick(['-Z', '-h', '--', '-', '--help', '-v'])));
  switch (tool) {
    case 'vadduser':
      maybe(0.3, () => argv.push('-q', g.pick(QUOTA_PIECES)));
      maybe(0.2, () => argv.push('-c', g.name()));
      maybe(0.1, () => argv.push('-e', g.pick(['$6$salt$hash', 'abcdefghijklm', 'x:y', '', g.name()])));
      maybe(0.15, () => argv.push(g.pick(['-r', '-r8', '-r0', '-rx', '-r999999'])));
      argv.push(g.address());
      maybe(0.85, () => argv.push(g.password()));
      break;
    case 'vmoduser':
      for (const o of ['-q', '-c', '-C', '-e', '-D']) {
        // -D: a relative or traversing directory (an absolute one is the operator's to choose)
        maybe(0.15, () => argv.push(o, o === '-q' ? g.pick(QUOTA_PIECES) : o === '-D' ? g.name().replace(/^\/+/, '') : g.name()));
      }
      maybe(0.3, () => argv.push(`-${g.pick([...'nxdpswibroaSEfFmu0123'])}`));
      argv.push(r() < 0.9 ? g.address() : g.domain());
      break;
    case 'vpasswd':
      maybe(0.15, () => argv.push(g.pick(['-r', '-r12', '-r0', '-r-1'])));
      argv.push(g.address());
      maybe(0.8, () => argv.push(g.password()));
      break;
    case 'vdeluser':
      argv.push(g.address());
      break;
    case 'vuserinfo':
      maybe(0.4, () => argv.push(`-${g.pick([...'anpCugcdqQl'])}`));
      if (r() < 0.15) argv.push('-D', g.domain());
      else argv.push(g.address());
      break;
    case 'vsetuserquota':
      argv.push(r() < 0.8 ? g.address() : g.domain(), g.pick(QUOTA_PIECES));
      break;
    case 'vdominfo':
      maybe(0.5, () => argv.push(`-${g.pick([...'anugdtr'])}`));
      maybe(0.8, () => argv.push(g.domain()));
      break;
    case 'vadddomain':
      maybe(0.2, () => argv.push('-q', g.pick(QUOTA_PIECES)));
      maybe(0.2, () => argv.push('-e', g.address()));
      maybe(0.3, () => argv.push('-O'));
      argv.push(g.pick(DOMAIN_PIECES.filter((d) => d !== DOMAIN)));
      argv.push(g.password());
      break;
    case 'vaddaliasdomain':
      argv.push(g.domain(), g.pick(DOMAIN_PIECES));
      break;
  }
  const out = portable ? argv.map((a) => (isPortable(a) ? a : a.replace(/[\0\ud800-\udfff]/g, '?'))) : argv;
  return { tool, argv: out };
}

/**
 * The environment qmail-local sets, made hostile: EXT and HOST with traversal, separators, case,
 * dots; DTLINE/RPLINE missing, enormous or odd; SENDER odd. The rest as qmail-local sets it.
 */
export function hostileQmailEnv(seed: number, domainDir: string): Record<string, string> {
  const r = rng(seed * 104729 + 3);
  const g = picker(r);
  const ext = r() < 0.35 ? g.pick(['box', 'BOX', 'Box', 'alice', 'ALICE', 'postmaster', 'box.', 'box-ext', 'ghost']) : g.name();
  const host = r() < 0.6 ? g.pick([DOMAIN, 'HOSTILE.TEST', 'Hostile.Test']) : g.domain();
  const sender = r() < 0.7 ? 'sender@remote.test' : g.pick(['', '#@[]', '<>', g.address(), 'x'.repeat(2000), 'a\nb']);
  const env: Record<string, string> = {
    USER: host,
    HOME: domainDir,
    LOCAL: `${host}-${ext}`,
    HOST: host,
    RECIPIENT: `${host}-${ext}@${host}`,
    SENDER: sender,
    NEWSENDER: sender,
    EXT: ext,
    DEFAULT: ext,
    DTLINE: `Delivered-To: ${host}-${ext}@${host}\n`,
    RPLINE: `Return-Path: <${sender}>\n`,
  };
  const x = r();
  if (x < 0.05) delete env['EXT'];
  else if (x < 0.1) delete env['HOST'];
  else if (x < 0.15) delete env['RPLINE'];
  else if (x < 0.2) delete env['DTLINE'];
  else if (x < 0.25) env['RPLINE'] = `Return-Path: <${'r'.repeat(100_000)}>\n`;
  else if (x < 0.3) env['DTLINE'] = g.name();
  else if (x < 0.33) env['DELIVER_TO_STDOUT'] = '1';
  for (const [k, v] of Object.entries(env)) if (!isPortable(v)) env[k] = v.replace(/[\0\ud800-\udfff]/g, '?');
  return env;
}

/** A message body that mail software gets wrong: NULs, long lines, no final newline, bad UTF-8, CR. */
export function hostileBody(seed: number): Buffer {
  const r = rng(seed * 15485863 + 11);
  const size = Math.floor(r() ** 3 * 300_000);
  const kind = Math.floor(r() * 9);
  const head = Buffer.from(`Subject: hostile ${seed}\nMessage-ID: <${seed}@remote.test>\n\n`);
  switch (kind) {
    case 0: {
      const b = Buffer.alloc(size, 0x61);
      for (let i = 0; i < b.length; i += 1 + Math.floor(r() * 50)) b[i] = 0;
      return Buffer.concat([head, b]);
    }
    case 1:
      return Buffer.concat([head, Buffer.alloc(Math.max(size, 100_000), 0x6c)]); // one line, no newline at all
    case 2:
      return Buffer.concat([head, Buffer.from('line one\nline two without a newline')]);
    case 3:
      return Buffer.concat([head, Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c, 0xbc, 0xf8, 0xa1, 0xa1, 0xa1, 0xa1, 0xed, 0xa0, 0x80, 0x0a]), Buffer.alloc(size, 0xff)]);
    case 4:
      return Buffer.concat([head, Buffer.from('crlf\r\nbare cr\rmixed\n\r\n.\r\n..\n')]);
    case 5:
      return Buffer.alloc(0); // nothing at all
    case 6:
      return Buffer.from(`Subject: only headers ${seed}`);
    case 7:
      return Buffer.concat([Buffer.from(`Delivered-To: box@${DOMAIN}\n`), head, Buffer.from('a loop\n')]);
    default:
      return Buffer.from(Array.from({ length: size }, () => Math.floor(r() * 256)));
  }
}
