// Exit-code tables of every contract we keep, and the error classes that carry a code to runAgent.

/** qmail-command(8): what qmail-local makes of a delivery program's exit. */
export const EXIT = { ok: 0, stop: 99, perm: 100, temp: 111 } as const;

/** checkpassword plus vpopmail's own vchkpw codes (spec/vchkpw.md §9); 111 when we could not look. */
export const VCHKPW_EXIT = {
  ok: 0,
  denied: 1,
  misuse: 2,
  badLogin: 3,
  setgid: 4,
  setuid: 5,
  chdir: 6,
  putenvUser: 7,
  putenvHome: 8,
  putenvShell: 9,
  putenvVpopuser: 10,
  noFd3: 11,
  nullUser: 12,
  nullPassword: 13,
  dirAutoCreate: 14,
  noStoredPassword: 15,
  badChars: 20,
  temp: 111,
} as const;

/** vpopmail library error codes (spec/tools.md §0.3). A tool exits with 256 + code. */
export const VA = {
  SUCCESS: 0,
  ILLEGAL_USERNAME: -1,
  USERNAME_EXISTS: -2,
  BAD_DIR: -3,
  BAD_U_DIR: -4,
  BAD_D_DIR: -5,
  BAD_V_DIR: -6,
  EXIST_U_DIR: -7,
  BAD_U_DIR2: -8,
  SUBDIR_CREATION: -9,
  USER_DOES_NOT_EXIST: -10,
  DOMAIN_DOES_NOT_EXIST: -11,
  INVALID_DOMAIN_NAME: -12,
  DOMAIN_ALREADY_EXISTS: -13,
  COULD_NOT_MAKE_DOMAIN_DIR: -14,
  COULD_NOT_OPEN_QMAIL_DEFAULT: -15,
  CAN_NOT_MAKE_DOMAINS_DIR: -16,
  COULD_NOT_UPDATE_FILE: -17,
  CRYPT_FAILED: -18,
  COULD_NOT_OPEN_DOT_QMAIL: -19,
  BAD_CHAR: -20,
  SQWEBMAIL_PASS_FAIL: -21,
  BAD_UID: -22,
  NO_AUTH_CONNECTION: -23,
  MEMORY_ALLOC_ERR: -24,
  USER_NAME_TOO_LONG: -25,
  DOMAIN_NAME_TOO_LONG: -26,
  PASSWD_TOO_LONG: -27,
  GECOS_TOO_LONG: -28,
  QUOTA_TOO_LONG: -29,
  DIR_TOO_LONG: -30,
  CLEAR_PASSWD_TOO_LONG: -31,
  ALIAS_LINE_TOO_LONG: -32,
  NULL_POINTER: -33,
  INVALID_EMAIL_CHAR: -34,
  PARSE_ERROR: -35,
  CANNOT_READ_LIMITS: -36,
  CANNOT_READ_ASSIGN: -37,
  CANNOT_DELETE_CATCHALL: -55,
  PWSTR_EMPTY: -69,
  PWSTR_LENGTH: -70,
  PWSTR_ALPHA: -71,
  PWSTR_NUMERIC: -72,
  PWSTR_OTHER: -73,
  PWSTR_DELTA: -74,
} as const;

export type VaCode = (typeof VA)[keyof typeof VA];

/** verror() texts, byte for byte: tools print `Error: <text>` and scripts match on them. */
const VA_TEXT: ReadonlyMap<number, string> = new Map([
  [0, 'Success'],
  [-1, 'Illegal username'],
  [-2, 'Username exists'],
  [-3, 'Unable to chdir to vpopmail directory'],
  [-4, 'Unable to chdir to vpopmail/users directory'],
  [-5, 'Unable to chdir to vpopmail/domains directory'],
  [-6, 'Unable to chdir to vpopmail/domains/domain directory'],
  [-7, "User's directory already exists"],
  [-8, "Unable to chdir to user's directory"],
  [-9, "Creation of user's subdirectories failed"],
  [-10, 'User does not exist'],
  [-11, 'Domain does not exist'],
  [-12, 'Invalid domain name'],
  [-13, 'Domain already exists'],
  [-14, 'Could not make domain dir'],
  [-15, 'Could not open qmail default'],
  [-16, 'Can not make domains directory'],
  [-17, 'Could not update file'],
  [-18, 'Crypt failed'],
  [-19, 'Could not open dot qmail file'],
  [-20, 'bad character'],
  [-22, 'running as invalid uid'],
  [-23, 'no authentication database connection'],
  [-24, 'memory allocation error'],
  [-25, 'user name too long (max=64)'],
  [-26, 'domain name too long (max=96)'],
  [-27, 'password too long (max=128)'],
  [-28, 'gecos too long (max=64)'],
  [-29, 'quota too long (max=20)'],
  [-30, 'dir too long (max=160)'],
  [-31, 'clear password too long (max=128)'],
  [-32, 'alias line too long (max=160)'],
  [-33, 'null pointer'],
  [-34, 'invalid email character'],
  [-35, 'parsing database configuration file'],
  [-36, "can't read domain limits"],
  [-37, "can't read users/assign file"],
  [-55, "can't delete catchall account"],
]);

export function vaText(code: number): string {
  return VA_TEXT.get(code) ?? 'Unknown error';
}

/** The shell's view of `exit(code)` for a negative library code: 256 + code (−11 → 245). */
export function vaExit(code: number): number {
  return code < 0 ? (256 + code) & 0xff : code & 0xff;
}

export type Stream = 'stdout' | 'stderr';

export interface MailErrorOptions extends ErrorOptions {
  /** Where runAgent prints the message (C writes many errors to stdout). Default stderr. */
  stream?: Stream;
  /** Print the message exactly as given, without the `<program>: ` prefix. */
  bare?: boolean;
}

/** An error that knows the exit code its caller understands. runAgent is the only place that prints it. */
export class MailError extends Error {
  override name = 'MailError';
  readonly exitCode: number;
  readonly stream: Stream;
  readonly bare: boolean;
  constructor(message: string, exitCode: number, options: MailErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.exitCode = exitCode;
    this.stream = options.stream ?? 'stderr';
    this.bare = options.bare ?? false;
  }
}

/** Give up: qmail bounces (100). */
export class PermError extends MailError {
  override name = 'PermError';
  constructor(message: string, options?: MailErrorOptions) {
    super(message, EXIT.perm, options);
  }
}

/** Try again later: qmail retries (111). Doubt is always this. */
export class TempError extends MailError {
  override name = 'TempError';
  constructor(message: string, options?: MailErrorOptions) {
    super(message, EXIT.temp, options);
  }
}

/** A vpopmail library failure with its VA_* code; the message is verror()'s text unless given. */
export class VpopmailError extends MailError {
  override name = 'VpopmailError';
  readonly code: number;
  constructor(code: number, message: string = vaText(code), options?: MailErrorOptions) {
    super(message, vaExit(code), options);
    this.code = code;
  }
}

/** The first line of an error's message, for one-line reports; never a stack. */
export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const nl = text.indexOf('\n');
  return nl < 0 ? text : text.slice(0, nl);
}
