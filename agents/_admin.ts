// Shared pieces of the admin tools: opening the store, reporting failures as C's tools do (library
// errors as `Error: <text>` on stdout with exit 256 + code), reading addresses and passwords.
import { machineHostname } from '../lib/hostname.ts';
import { accountsContext, type AccountsContext } from '../lib/accounts/context.ts';
import { defaultDomainOf } from '../lib/accounts/default-domain.ts';
import { NameError, parseUserAddress, type UserAddress } from '../lib/accounts/names.ts';
import { PasswordPolicyError } from '../lib/accounts/password-policy.ts';
import type { Backend } from '../lib/backends/backend.ts';
import { openBackend } from '../lib/backends/open.ts';
import type { AgentIo } from '../lib/cli/agent.ts';
import { getoptMessage, type OptEvent } from '../lib/cli/getopt.ts';
import { readNewPassword } from '../lib/cli/password.ts';
import { loadConfig, type Config } from '../lib/config.ts';
import { MailError, TempError, VpopmailError, firstLine } from '../lib/exit.ts';
import { randomPassword, RANDOM_PASSWORD_DEFAULT_LENGTH } from '../lib/crypt/random.ts';
import { rememberingAssignLookup } from '../lib/store/assign.ts';

export interface AdminTool {
  readonly config: Config;
  readonly backend: Backend;
  readonly ctx: AccountsContext;
}

export interface AdminOptions {
  /** The tool never changes users/assign or users/cdb: each domain's users/cdb answer is read once and kept for the run. */
  readonly readOnly?: boolean;
}

/** Load the configuration, open the store, run fn, close the store; failures are reported by `report`. */
export async function withAdmin(
  name: string,
  env: NodeJS.ProcessEnv,
  io: AgentIo,
  fn: (tool: AdminTool) => Promise<number>,
  options: AdminOptions = {},
): Promise<number> {
  let backend: Backend | undefined;
  try {
    const config = loadConfig(env);
    const resolveDomain = options.readOnly === true ? rememberingAssignLookup(config.qmailHome) : undefined;
    backend = await openBackend(config, resolveDomain === undefined ? {} : { resolveDomain });
    const ctx = accountsContext(config, backend, machineHostname(), resolveDomain === undefined ? {} : { resolveDomain });
    return await fn({ config, backend, ctx });
  } catch (err) {
    return report(name, io, err);
  } finally {
    await backend?.close();
  }
}

/**
 * Print a failure the way C's tools do and return the exit code: a library error as
 * `Error: <text>` on stdout and 256 + its code (a bad name first gets C's `user invalid <u>` line on
 * stderr; a refused password the policy's description); anything else (an unreadable file, a busy
 * lock) as one line on stderr, 111 when it may pass (TempError), else 255.
 */
export function report(name: string, io: AgentIo, err: unknown): number {
  if (err instanceof MailError && err.bare) {
    (err.stream === 'stdout' ? io.stdout : io.stderr)(`${firstLine(err)}\n`);
    return err.exitCode;
  }
  if (err instanceof NameError) io.stderr(`${err.detail}\n`);
  if (err instanceof VpopmailError) {
    io.stdout(`Error: ${firstLine(err)}\n`);
    if (err instanceof PasswordPolicyError && err.description !== undefined) {
      io.stdout(`A password policy is in place:\n\t${err.description}\n`);
    }
    return err.exitCode;
  }
  io.stderr(`${name}: ${firstLine(err)}\n`);
  return err instanceof TempError ? err.exitCode : 255;
}

/** A getopt complaint in glibc's words, on stderr. */
export function complain(io: AgentIo, argv0: string, e: OptEvent): void {
  io.stderr(getoptMessage(argv0, e) ?? '');
}

/** user@domain with the default domain filled in; '' domain when there is none. */
export async function readAddress(tool: AdminTool, env: NodeJS.ProcessEnv, address: string): Promise<UserAddress> {
  const parsed = parseUserAddress(address, () => '');
  if (parsed.domain !== '') return parsed;
  const domain = await defaultDomainOf(tool.config, tool.backend, env);
  return domain === '' ? parsed : parseUserAddress(`${parsed.user}@${domain}`, () => '');
}

/**
 * `-r[len]`: the length of a random password (default 12). Not a whole number above 0: a usage
 * error (C reads garbage as 0). Longer than 128 is refused by randomPassword (VA_PASSWD_TOO_LONG).
 */
export function randomLength(arg: string | undefined): number | undefined {
  if (arg === undefined) return RANDOM_PASSWORD_DEFAULT_LENGTH;
  if (!/^\d{1,6}$/.test(arg) || Number(arg) === 0) return undefined;
  return Number(arg);
}

/** The password of a new account or a change: given, random, or read (terminal or stdin); undefined when none came. */
export function obtainPassword(io: AgentIo, given: string | undefined, random: number | undefined, address: string): string | undefined {
  if (given !== undefined) return given;
  if (random !== undefined) return randomPassword(random);
  return readNewPassword({ prompt: `Please enter password for ${address}: `, io });
}

/** A failure the tool itself reports, C's way: `Error: <text>` on stdout. */
export function toolError(message: string, exitCode = 255): MailError {
  return new MailError(`Error: ${message}`, exitCode, { stream: 'stdout', bare: true });
}
