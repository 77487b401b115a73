// Paths, ids and feature switches: compiled-in defaults, then ~vpopmail/etc files, then the environment.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TempError } from './exit.ts';

export type BackendName = 'cdb' | 'mysql' | 'pgsql';
export type LogLevel = 'n' | 'y' | 'e' | 'p' | 'v';
export type HashScheme = 'sha512' | 'sha256' | 'bcrypt' | 'md5';

/** Switches that C vpopmail fixes at configure time; ours are settings (defaults = the golden run's build). */
export interface Features {
  /** --enable-clear-passwd: keep the 8th vpasswd field (needed for CRAM-MD5 and APOP). */
  readonly clearPasswords: boolean;
  /** --enable-roaming-users: POP/IMAP login opens SMTP relay for the client's IP (open-smtp). */
  readonly roamingUsers: boolean;
  /** --enable-rebuild-tcpserver-file: run tcprules after open-smtp changes. */
  readonly rebuildTcpserverFile: boolean;
  /** --enable-ip-alias-domains: domain-less logins pick the domain from TCPLOCALIP. */
  readonly ipAliasDomains: boolean;
  /** --enable-qmail-ext: user-ext addresses and .qmail-<ext> files in user homes. */
  readonly qmailExt: boolean;
  /** --enable-learn-passwords: first login to a password-less account sets its password. */
  readonly learnPasswords: boolean;
  /** --enable-valias: aliases live in the backend's valias table instead of .qmail-* files. */
  readonly valias: boolean;
  /** --enable-logging level. */
  readonly logLevel: LogLevel;
  /** --enable-auth-logging: lastauth records. */
  readonly authLogging: boolean;
  /** --enable-users-big-dir: hash user directories into buckets. */
  readonly usersBigDir: boolean;
  /** Which store holds users: cdb files, MariaDB/MySQL or PostgreSQL. */
  readonly backend: BackendName;
  /** SQL: one `vpopmail` table for all domains (C's default, --enable-many-domains) or one table per domain. */
  readonly manyDomains: boolean;
  /** SQL: domain limits in the `limits` table (--enable-mysql-limits) instead of .qmailadmin-limits files. */
  readonly sqlLimits: boolean;
  /** Hash for new passwords (C: SHA-512 crypt). */
  readonly hashScheme: HashScheme;
  /** --enable-tcprules-prog. */
  readonly tcprulesProg: string;
  /** Write IPv6 roaming entries in ucspi-tcp-ipv6's rule syntax (Debian's ucspi-tcp is IPv4-only). */
  readonly tcprulesIpv6: boolean;
  /** RELAY_CLEAR_MINUTES. */
  readonly relayClearMinutes: number;
  /** Client addresses whose POP/IMAP logins count as webmail (C: 127.0.0.1, compiled in). */
  readonly webmailIps: readonly string[];
  /** Re-hash a weaker stored hash (DES, $1$) with hashScheme after a good login (off: C never does). */
  readonly upgradeHashOnLogin: boolean;
}

export interface BuildDefaults {
  /** The vpopmail release whose behaviour we keep; tools print it for -v (`version: 5.6.13`). */
  readonly version: string;
  /** This project's own version (package.json), set by build.mjs. */
  readonly projectVersion: string;
  readonly vpopmailHome: string;
  readonly qmailHome: string;
  /** VPOPMAILUID / VPOPMAILGID: hard-coded owner of maildirsize, open-smtp, tcp.smtp.cdb. */
  readonly vpopmailUid: number;
  readonly vpopmailGid: number;
  readonly features: Features;
}

export interface Config extends Features {
  readonly version: string;
  readonly vpopmailHome: string;
  readonly qmailHome: string;
  readonly vpopmailUid: number;
  readonly vpopmailGid: number;
  /** ~vpopmail/domains */
  readonly domainsDir: string;
  /** ~vpopmail/etc */
  readonly etcDir: string;
  /** ~vpopmail/bin: where .qmail-default points vdelivermail. */
  readonly binDir: string;
  /** False when set-uid/set-gid: the environment then belongs to the caller and steers nothing. */
  readonly trustEnv: boolean;
  /** Test-only fault injection (`VPOPMAIL_FAULT`), always undefined when the environment is not trusted. */
  readonly fault?: FaultSpec;
}

/** Stop dead at the n-th call of one kind of durable operation (crash tests). */
export interface FaultSpec {
  readonly op: 'write' | 'fsync' | 'rename' | 'any';
  readonly n: number;
}

const SOURCE_DEFAULTS: BuildDefaults = {
  version: '5.6.13',
  projectVersion: 'source',
  vpopmailHome: '/home/vpopmail',
  qmailHome: '/var/qmail',
  vpopmailUid: 89,
  vpopmailGid: 89,
  features: {
    clearPasswords: true,
    roamingUsers: true,
    rebuildTcpserverFile: true,
    ipAliasDomains: true,
    qmailExt: false,
    learnPasswords: false,
    valias: false,
    logLevel: 'e',
    authLogging: true,
    usersBigDir: true,
    backend: 'cdb',
    manyDomains: true,
    sqlLimits: false,
    hashScheme: 'sha512',
    tcprulesProg: '/usr/bin/tcprules',
    tcprulesIpv6: false,
    relayClearMinutes: 180,
    webmailIps: ['127.0.0.1'],
    upgradeHashOnLogin: false,
  },
};

// build.mjs replaces this identifier with the values given to `--home`, `--qmail`, `--uid`, `--gid`, ...
declare const __VPOPMAIL_BUILD__: Partial<BuildDefaults> | undefined;

function buildDefaults(): BuildDefaults {
  const given: Partial<BuildDefaults> = typeof __VPOPMAIL_BUILD__ === 'undefined' ? {} : __VPOPMAIL_BUILD__;
  return {
    ...SOURCE_DEFAULTS,
    ...given,
    features: { ...SOURCE_DEFAULTS.features, ...(given.features ?? {}) },
  };
}

export const BUILD: BuildDefaults = buildDefaults();

export interface ProcessIds {
  readonly uid: number;
  readonly euid: number;
  readonly gid: number;
  readonly egid: number;
}

export function processIds(): ProcessIds {
  return {
    uid: process.getuid?.() ?? 0,
    euid: process.geteuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    egid: process.getegid?.() ?? 0,
  };
}

/** The one settings file, `~vpopmail/etc/vpopmail.conf`: `key = value` lines, `#` comments. */
export const CONFIG_FILE = 'vpopmail.conf';

type Setter = (value: string, where: string) => Partial<Record<keyof Features, unknown>>;

function parseBool(value: string, where: string): boolean {
  if (/^(yes|on|true|1)$/i.test(value)) return true;
  if (/^(no|off|false|0)$/i.test(value)) return false;
  throw new TempError(`${where}: expected yes or no, got ${JSON.stringify(value)}`);
}

function parseBackend(value: string, where: string): BackendName {
  if (value === 'cdb' || value === 'mysql' || value === 'pgsql') return value;
  throw new TempError(`${where}: backend must be cdb, mysql or pgsql, got ${JSON.stringify(value)}`);
}

const bool =
  (key: keyof Features): Setter =>
  (v, w) => ({ [key]: parseBool(v, w) });

const SETTINGS: ReadonlyMap<string, Setter> = new Map<string, Setter>([
  ['clear-passwords', bool('clearPasswords')],
  ['roaming-users', bool('roamingUsers')],
  ['rebuild-tcpserver-file', bool('rebuildTcpserverFile')],
  ['ip-alias-domains', bool('ipAliasDomains')],
  ['qmail-ext', bool('qmailExt')],
  ['learn-passwords', bool('learnPasswords')],
  ['valias', bool('valias')],
  ['auth-logging', bool('authLogging')],
  ['users-big-dir', bool('usersBigDir')],
  ['tcprules-ipv6', bool('tcprulesIpv6')],
  ['upgrade-hash-on-login', bool('upgradeHashOnLogin')],
  ['many-domains', bool('manyDomains')],
  ['sql-limits', bool('sqlLimits')],
  [
    'log-level',
    (v, w) => {
      if (!/^[nyepv]$/.test(v)) throw new TempError(`${w}: log-level must be one of n y e p v`);
      return { logLevel: v };
    },
  ],
  ['backend', (v, w) => ({ backend: parseBackend(v, w) })],
  [
    'hash-scheme',
    (v, w) => {
      if (v !== 'sha512' && v !== 'sha256' && v !== 'bcrypt' && v !== 'md5')
        throw new TempError(`${w}: hash-scheme must be sha512, sha256, bcrypt or md5`);
      return { hashScheme: v };
    },
  ],
  [
    'tcprules-prog',
    (v, w) => {
      if (!v.startsWith('/')) throw new TempError(`${w}: tcprules-prog must be an absolute path`);
      return { tcprulesProg: v };
    },
  ],
  [
    'relay-clear-minutes',
    (v, w) => {
      if (!/^\d{1,9}$/.test(v)) throw new TempError(`${w}: relay-clear-minutes must be a whole number`);
      return { relayClearMinutes: Number(v) };
    },
  ],
  ['webmail-ips', (v) => ({ webmailIps: v.split(/[\s,]+/).filter((s) => s !== '') })],
]);

/** Parse the settings file text; unknown keys and bad values are errors naming file and line. */
export function parseConfigFile(text: string, path: string): Partial<Features> {
  const out: Record<string, unknown> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*/, '').trim();
    if (line === '') continue;
    const where = `${path} line ${i + 1}`;
    const eq = line.indexOf('=');
    if (eq < 0) throw new TempError(`${where}: expected key = value`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const setter = SETTINGS.get(key);
    if (setter === undefined) throw new TempError(`${where}: unknown setting ${JSON.stringify(key)}`);
    Object.assign(out, setter(value, where));
  }
  return out as Partial<Features>;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TempError(`unable to read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
  }
}

function parseFault(value: string | undefined): FaultSpec | undefined {
  if (value === undefined || value === '') return undefined;
  const m = /^(write|fsync|rename|any):(\d+)$/.exec(value);
  if (m === null) throw new TempError(`VPOPMAIL_FAULT must look like write:3, fsync:1, rename:2 or any:5`);
  return { op: m[1] as FaultSpec['op'], n: Number(m[2]) };
}

export interface LoadConfigOptions {
  /** Override compiled-in defaults (tests). */
  readonly build?: BuildDefaults;
  readonly ids?: ProcessIds;
}

/**
 * Resolve the configuration once. The environment (`VPOPMAIL_HOME`, `QMAIL_HOME`, `VPOPMAIL_FAULT`)
 * counts only when real and effective ids agree: a set-id program's environment belongs to its caller.
 */
export function loadConfig(env: NodeJS.ProcessEnv, options: LoadConfigOptions = {}): Config {
  const build = options.build ?? BUILD;
  const ids = options.ids ?? processIds();
  const trustEnv = ids.uid === ids.euid && ids.gid === ids.egid;
  const vpopmailHome = (trustEnv && env.VPOPMAIL_HOME) || build.vpopmailHome;
  const qmailHome = (trustEnv && env.QMAIL_HOME) || build.qmailHome;
  const etcDir = join(vpopmailHome, 'etc');

  const filePath = join(etcDir, CONFIG_FILE);
  const fileText = readOptional(filePath);
  const fromFile = fileText === undefined ? {} : parseConfigFile(fileText, filePath);

  // ~vpopmail/etc/backend: one word choosing the store, beside the C-format connection files.
  const backendPath = join(etcDir, 'backend');
  const backendText = readOptional(backendPath);
  const fromBackendFile: Partial<Features> = {};
  if (backendText !== undefined && backendText.trim() !== '') {
    Object.assign(fromBackendFile, { backend: parseBackend(backendText.trim(), backendPath) });
  }

  const fault = trustEnv ? parseFault(env.VPOPMAIL_FAULT) : undefined;
  const config: Config = {
    ...build.features,
    ...fromFile,
    ...fromBackendFile,
    version: build.version,
    vpopmailHome,
    qmailHome,
    vpopmailUid: build.vpopmailUid,
    vpopmailGid: build.vpopmailGid,
    domainsDir: join(vpopmailHome, 'domains'),
    etcDir,
    binDir: join(vpopmailHome, 'bin'),
    trustEnv,
    ...(fault === undefined ? {} : { fault }),
  };
  return Object.freeze(config);
}
