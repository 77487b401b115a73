import test from 'ava';
import { checkPasswordPolicy, parsePasswordPolicy, PasswordPolicyError } from '../../lib/accounts/password-policy.ts';
import { VA } from '../../lib/exit.ts';

test("C's shipped policy accepts any non-empty password and refuses the empty one with its description", (t) => {
  const policy = parsePasswordPolicy('# shipped\nPolicy = Passwords must be at least one character long\nLength >= 1\n');
  t.is(policy.description, 'Passwords must be at least one character long');
  t.is(checkPasswordPolicy(policy, 'x'), undefined);
  const err = checkPasswordPolicy(policy, '');
  t.true(err instanceof PasswordPolicyError);
  t.is(err?.code, VA.PWSTR_LENGTH);
  t.is(err?.message, 'password requires more characters ');
  t.is(err?.description, 'Passwords must be at least one character long');
});

test('rules are checked in C order: Length, Alphabet, Numeric, Other, UpperLower', (t) => {
  const policy = parsePasswordPolicy('Length >= 8\nAlphabet >= 0.5\nNumeric >= 0.2\nOther >= 0.1\nUpperLower <= 0.5\n');
  t.is(checkPasswordPolicy(policy, 'short')?.code, VA.PWSTR_LENGTH);
  t.is(checkPasswordPolicy(policy, '12345678!')?.code, VA.PWSTR_ALPHA);
  t.is(checkPasswordPolicy(policy, 'abcdefgh!')?.code, VA.PWSTR_NUMERIC);
  t.is(checkPasswordPolicy(policy, 'abcdef12')?.code, VA.PWSTR_OTHER);
  t.is(checkPasswordPolicy(policy, 'abcdef12!')?.code, VA.PWSTR_DELTA);
  t.is(checkPasswordPolicy(policy, 'abcDEF12!'), undefined);
});

test('refusal texts read as C writes them, with the trailing space', (t) => {
  const text = (rules: string, pw: string) => checkPasswordPolicy(parsePasswordPolicy(rules), pw)?.message;
  t.is(text('Length <= 4', 'toolong'), 'password should have less characters ');
  t.is(text('Length = 6', 'abc'), 'password must always be 6 characters long ');
  t.is(text('Alphabet = 1', 'ab1'), 'password can only be alphabetical characters ');
  t.is(text('Numeric > 0.5', 'ab1'), 'password requires more numbers ');
  t.is(text('Other >= 0.5', 'ab1'), 'password requires more punctuation, symbols, or other characters ');
  t.is(text('UpperLower < 0.2', 'abc'), 'password requires more uppercase and lowercase character diversity ');
  t.is(text('UpperLower > 0.9', 'aBcD'), 'password should have less uppercase and lowercase character diversity ');
});

test('a line without op or value is skipped with a warning; an unknown rule stops reading but keeps what came before', (t) => {
  const policy = parsePasswordPolicy('Length >= 3\nNumeric\nBogus > 1\nAlphabet >= 1\n', 'p.conf');
  t.deepEqual([...policy.rules.keys()], ['length']);
  t.is(policy.warnings.length, 2);
  t.regex(policy.warnings[0]!, /^p\.conf line 2: syntax error/);
  t.regex(policy.warnings[1]!, /^p\.conf line 3: unknown rule/);
});

test('comments may start anywhere on a line and names are case-insensitive', (t) => {
  const policy = parsePasswordPolicy('lEnGtH >= 2 # at least two\n   # nothing\n\n');
  t.is(checkPasswordPolicy(policy, 'a')?.code, VA.PWSTR_LENGTH);
  t.is(checkPasswordPolicy(policy, 'ab'), undefined);
});

test('only a-z count as lower case: [ \\ ] ^ _ and the backtick are other characters', (t) => {
  const policy = parsePasswordPolicy('Other >= 0.5\n');
  t.is(checkPasswordPolicy(policy, 'ab[]'), undefined);
  t.truthy(checkPasswordPolicy(policy, 'abc['));
});

test('generated passwords are judged by their byte counts', (t) => {
  const policy = parsePasswordPolicy('Length >= 4\nNumeric >= 0.25\n');
  for (let len = 0; len < 12; len++) {
    for (let digits = 0; digits <= len; digits++) {
      const pw = '1'.repeat(digits) + 'a'.repeat(len - digits);
      const expected = len < 4 ? VA.PWSTR_LENGTH : digits / len < 0.25 ? VA.PWSTR_NUMERIC : undefined;
      t.is(checkPasswordPolicy(policy, pw)?.code, expected, JSON.stringify(pw));
    }
  }
});
