// The password strength policy, ~vpopmail/etc/password_strength.conf (passwords.md §4): its file
// format, the checks in C's order and the error texts scripts see after `Error: `.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TempError, VA, VpopmailError } from '../exit.ts';

export const PASSWORD_POLICY_FILE = 'password_strength.conf';

export type PolicyName = 'alphabet' | 'upperlower' | 'numeric' | 'other' | 'length';
export type PolicyOp = '<' | '<=' | '=' | '>' | '>=';

export interface PolicyRule {
  readonly name: PolicyName;
  readonly op: PolicyOp;
  readonly value: number;
}

export interface PasswordPolicy {
  /** Rules in file order; for each name the last one counts (C keeps one slot per name). */
  readonly rules: ReadonlyMap<PolicyName, PolicyRule>;
  /** The `Policy` line's text, told to the user after a refusal. */
  readonly description?: string;
  /** Lines that were skipped or stopped loading, as `<file> line N: why` (C prints them to stderr). */
  readonly warnings: readonly string[];
}

const NAMES: ReadonlyMap<string, PolicyName> = new Map([
  ['alphabet', 'alphabet'],
  ['upperlower', 'upperlower'],
  ['numeric', 'numeric'],
  ['other', 'other'],
  ['length', 'length'],
]);
const OPS: ReadonlySet<string> = new Set(['<', '<=', '=', '>', '>=']);

export const NO_POLICY: PasswordPolicy = Object.freeze({ rules: new Map(), warnings: [] });

/**
 * Parse the policy file. `#` starts a comment anywhere; a `Policy` line's third word onwards is the
 * description; other lines are `<Name> <op> <value>`. A line missing its op or value is skipped with
 * a warning; an unknown name or op stops reading, keeping the rules read so far, as C does.
 */
export function parsePasswordPolicy(text: string, file = PASSWORD_POLICY_FILE): PasswordPolicy {
  const rules = new Map<PolicyName, PolicyRule>();
  const warnings: string[] = [];
  let description: string | undefined;
  const lines = text.split(/\r?\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const where = `${file} line ${i + 1}`;
    const hash = lines[i]!.indexOf('#');
    const line = (hash < 0 ? lines[i]! : lines[i]!.slice(0, hash)).trim();
    if (line === '') continue;
    const words = line.split(/[ \t]+/);
    const key = words[0]!.toLowerCase();
    if (key === 'policy') {
      // `Policy <anything> <text>`: the text is the rest of the line after the second word.
      const m = /^\S+[ \t]+\S+[ \t]*(.*)$/.exec(line);
      if (m !== null && m[1] !== '') description = m[1];
      continue;
    }
    if (words.length < 3) {
      warnings.push(`${where}: syntax error: expected <name> <op> <value>`);
      continue;
    }
    const name = NAMES.get(key);
    if (name === undefined) {
      warnings.push(`${where}: unknown rule ${JSON.stringify(words[0])}; the rest of the file is ignored`);
      break;
    }
    const op = words[1]!;
    if (!OPS.has(op)) {
      warnings.push(`${where}: unknown operator ${JSON.stringify(op)}; the rest of the file is ignored`);
      break;
    }
    const value = Number.parseFloat(words[2]!);
    if (!Number.isFinite(value)) {
      warnings.push(`${where}: syntax error: ${JSON.stringify(words[2])} is not a number`);
      continue;
    }
    rules.set(name, { name, op: op as PolicyOp, value });
  }
  return { rules, warnings, ...(description === undefined ? {} : { description }) };
}

/** The policy of this installation; a missing file is no policy at all. */
export function loadPasswordPolicy(etcDir: string): PasswordPolicy {
  const path = join(etcDir, PASSWORD_POLICY_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return NO_POLICY;
    throw new TempError(`unable to read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`, { cause: err });
  }
  return parsePasswordPolicy(text, path);
}

/** A password the policy refuses: the VA_PWSTR_* code, C's text, and the policy's description. */
export class PasswordPolicyError extends VpopmailError {
  override name = 'PasswordPolicyError';
  readonly description: string | undefined;
  constructor(code: number, message: string, description: string | undefined) {
    super(code, message);
    this.description = description;
  }
}

function holds(measured: number, rule: PolicyRule): boolean {
  switch (rule.op) {
    case '<':
      return measured < rule.value;
    case '<=':
      return measured <= rule.value;
    case '=':
      return measured === rule.value;
    case '>':
      return measured > rule.value;
    case '>=':
      return measured >= rule.value;
  }
}

const THINGS: Readonly<Record<PolicyName, string>> = {
  length: 'characters',
  alphabet: 'alphabetical characters',
  numeric: 'numbers',
  other: 'punctuation, symbols, or other characters',
  upperlower: 'uppercase and lowercase character diversity',
};

const CODES: Readonly<Record<PolicyName, number>> = {
  length: VA.PWSTR_LENGTH,
  alphabet: VA.PWSTR_ALPHA,
  numeric: VA.PWSTR_NUMERIC,
  other: VA.PWSTR_OTHER,
  upperlower: VA.PWSTR_DELTA,
};

function formatValue(value: number): string {
  return String(value);
}

/** C's refusal text, trailing space included (scripts match the line as it is). */
function refusalText(rule: PolicyRule): string {
  if (rule.name === 'length' && rule.op === '=') return `password must always be ${formatValue(rule.value)} characters long `;
  // "less" and "more" are about the measured ratio; for UpperLower a low ratio is the good side.
  const wantsLess = rule.op === '<' || rule.op === '<=';
  let condition: string;
  if (rule.op === '=') condition = 'can only be';
  else if (rule.name === 'upperlower') condition = wantsLess ? 'requires more' : 'should have less';
  else condition = wantsLess ? 'should have less' : 'requires more';
  return `password ${condition} ${THINGS[rule.name]} `;
}

/**
 * Check a password (as the bytes it will be hashed from) against the policy: undefined when it
 * passes, else the error to report. Checks in C's order: Length, Alphabet, Numeric, Other,
 * UpperLower; the ratios are fractions of the length. Unlike C, only a–z count as lower case (C
 * also counts `[ \ ] ^ _` and the backtick) and an empty password with no Length rule is not a
 * division by zero.
 */
export function checkPasswordPolicy(policy: PasswordPolicy, password: string): PasswordPolicyError | undefined {
  const bytes = Buffer.from(password, 'utf8');
  const length = bytes.length;
  let upper = 0;
  let lower = 0;
  let digits = 0;
  for (const b of bytes) {
    if (b >= 0x41 && b <= 0x5a) upper++;
    else if (b >= 0x61 && b <= 0x7a) lower++;
    else if (b >= 0x30 && b <= 0x39) digits++;
  }
  const other = length - upper - lower - digits;
  const ratio = (n: number) => (length === 0 ? 0 : n / length);
  const measured: Readonly<Record<PolicyName, number>> = {
    length,
    alphabet: ratio(upper + lower),
    numeric: ratio(digits),
    other: ratio(other),
    upperlower: upper + lower === 0 ? 0 : Math.abs(upper - lower) / (upper + lower),
  };
  for (const name of ['length', 'alphabet', 'numeric', 'other', 'upperlower'] as const) {
    const rule = policy.rules.get(name);
    if (rule !== undefined && !holds(measured[name], rule)) return new PasswordPolicyError(CODES[name], refusalText(rule), policy.description);
  }
  return undefined;
}
