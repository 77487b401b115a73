// One line per event on stderr, `program: outcome key=value…`; the field set has no place for a secret.
import type { AgentIo } from './cli/agent.ts';

/**
 * What a log line may say. There is deliberately no field for a password, a hash, a DSN or a raw
 * protocol line: a secret cannot be logged by accident because the type has nowhere to put it.
 */
export interface LogFields {
  readonly user?: string;
  readonly domain?: string;
  readonly ip?: string;
  readonly service?: string;
  readonly port?: number;
  readonly auth?: 'PLAIN' | 'CRAM-MD5' | 'APOP';
  readonly reason?: string;
  readonly path?: string;
  readonly count?: number;
  readonly bytes?: number;
  readonly ms?: number;
  readonly conn?: string;
  readonly verb?: string;
  readonly len?: number;
  readonly code?: number;
}

const FIELD_ORDER: readonly (keyof LogFields)[] = [
  'conn', 'user', 'domain', 'ip', 'service', 'port', 'auth', 'verb', 'len', 'path', 'count', 'bytes', 'ms', 'code', 'reason',
];

/** Log values are one line with no spaces that could forge fields: control chars and spaces become `_`. */
function clean(value: string | number): string {
  const text = String(value);
  // eslint-disable-next-line no-control-regex
  return text.length > 200 ? `${text.slice(0, 200).replace(/[\x00-\x20\x7f]/g, '_')}...` : text.replace(/[\x00-\x20\x7f]/g, '_');
}

export function formatLogLine(program: string, outcome: string, fields: LogFields = {}): string {
  let line = `${program}: ${outcome}`;
  for (const key of FIELD_ORDER) {
    const value = fields[key];
    if (value !== undefined && value !== '') line += ` ${key}=${clean(value)}`;
  }
  return `${line}\n`;
}

export function logEvent(io: AgentIo, program: string, outcome: string, fields?: LogFields): void {
  io.stderr(formatLogLine(program, outcome, fields));
}
