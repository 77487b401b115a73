// Which service a login is for (SMTP, POP, IMAP, webmail) and from which client address, as vchkpw decides it.
import { ipVersion } from '../ip.ts';

export type Service = 'smtp' | 'pop' | 'imap' | 'webmail';

export interface Connection {
  readonly service: Service;
  /** `vchkpw-pop3`, `vchkpw-smtp`, ... `vchkpw-<port>`: C's log name, kept for our log lines. */
  readonly logName: string;
  /** Normalised client address; '' when unknown or not an address. */
  readonly remoteIp: string;
  readonly localPort: number;
}

const PORTS: ReadonlyMap<number, [Service, string]> = new Map([
  [25, ['smtp', 'smtp']],
  [465, ['smtp', 'smtps']],
  [587, ['smtp', 'submission']],
  [110, ['pop', 'pop3']],
  [995, ['pop', 'pop3s']],
  [143, ['imap', 'imap']],
  [993, ['imap', 'imaps']],
]);

/**
 * The client address as we record and relay it: IPv4 dotted quad, or IPv6 in its canonical
 * compressed form; `::ffff:a.b.c.d` becomes `a.b.c.d`. Anything else, or nothing, is ''. C instead
 * mangles `::1` into an empty string and longer IPv6 into fragments (vchkpw.md pitfall 7).
 */
export function normalizeIp(raw: string | undefined): string {
  if (raw === undefined) return '';
  const text = raw.trim();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(text);
  if (mapped !== null && ipVersion(mapped[1]!) === 4) return mapped[1]!;
  const kind = ipVersion(text);
  if (kind === 4) return text;
  if (kind === 6) {
    try {
      return new URL(`http://[${text}]/`).hostname.slice(1, -1);
    } catch {
      return '';
    }
  }
  return '';
}

/** C's integer reading of TCPLOCALPORT: unset or garbage is 0. */
function localPortOf(env: NodeJS.ProcessEnv): number {
  const m = /^\s*(\d+)/.exec(env.TCPLOCALPORT ?? '');
  return m === null ? 0 : Number(m[1]);
}

/**
 * C's decision (vchkpw.md §3): the well-known ports first; otherwise the program name (`true` →
 * SMTP, `imap` → IMAP, else POP). Beyond C, a caller that names its service — Dovecot sets SERVICE
 * to imap, pop3, ... — is believed on ports C does not know. POP or IMAP from a webmail address is
 * WEBMAIL.
 */
export function detectConnection(env: NodeJS.ProcessEnv, program: string | undefined, webmailIps: readonly string[]): Connection {
  const localPort = localPortOf(env);
  const remoteIp = normalizeIp(env.TCPREMOTEIP ?? env.REMOTE_HOST);
  const known = PORTS.get(localPort);
  let service: Service;
  let logName: string;
  if (known !== undefined) {
    [service, logName] = [known[0], `vchkpw-${known[1]}`];
  } else {
    logName = `vchkpw-${localPort}`;
    const named = (env.SERVICE ?? '').toLowerCase();
    if (named === 'imap') service = 'imap';
    else if (named === 'pop3') service = 'pop';
    else if (named === 'smtp' || named === 'submission') service = 'smtp';
    else if (program?.includes('true')) service = 'smtp';
    else if (program?.includes('imap')) service = 'imap';
    else service = 'pop';
  }
  if ((service === 'pop' || service === 'imap') && remoteIp !== '' && webmailIps.includes(remoteIp)) {
    service = 'webmail';
    logName = 'vchkpw-webmail';
  }
  return { service, logName, remoteIp, localPort };
}
