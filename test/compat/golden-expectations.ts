// How each golden step is compared, and the differences from C we keep on purpose.
//
// Every step's exit code is compared, and so is which of stdout/stderr carries output (C often
// writes errors to stdout; callers read the stream they expect). Streams are compared exactly
// (masked as golden/VARIES.md says) unless a rule below says otherwise, with its reason:
//   stream     usage texts and human error wording are ours (C's must not be copied): stream only
//   unordered  the same lines in any order
//   match      the stream, plus a pattern our text must match (a code other programs read)
// A deliberate difference is allowed only with the COMPATIBILITY.md section that explains it
// (`anchor`: the heading's GitHub anchor); golden.test.ts checks that the section exists.
import type { DeliberateDifference, DeliberateMask, Expectations, StateRule, StepRule, StreamRule } from '../helpers/golden.ts';

const stream = (reason: string): StreamRule => ({ kind: 'stream', reason });

const USAGE = stream('usage text: the wording is ours, C prints its usage here');
const ERROR = stream('human error message: the wording is ours');
const GETOPT = stream("getopt's complaint about an unknown option: human text");
const NOTICE = stream('a human notice for the log or the bounce, not parsed by anything');
const VCHKPW_ENV: StreamRule = {
  kind: 'unordered',
  reason: '/usr/bin/env prints the environment vchkpw handed on, in environ order; the program it execs sees a set',
};

/** Steps not listed are compared exactly on both streams. */
export const STEP_RULES: Readonly<Record<number, StepRule>> = {
  2: { program: 'vadddomain', stderr: GETOPT },
  3: { program: 'vadddomain', stdout: ERROR },
  9: { program: 'vaddaliasdomain', stdout: ERROR },
  20: { program: 'vdominfo', stdout: ERROR },
  29: { program: 'vadduser', stdout: ERROR },
  30: { program: 'vadduser', stdout: ERROR },
  31: { program: 'vadduser', stdout: ERROR, stderr: ERROR },
  46: { program: 'vuserinfo', stdout: ERROR },
  114: { program: 'vmoduser', stdout: USAGE, stderr: USAGE },
  115: { program: 'vmoduser', stdout: ERROR },
  118: { program: 'vpasswd', stdout: ERROR },
  133: { program: 'vsetuserquota', stdout: ERROR },
  152: { program: 'vmoddomlimits', stdout: stream('a confirmation message ("Limits deleted"): human text') },
  155: { program: 'vchkpw', stdout: VCHKPW_ENV },
  160: { program: 'vchkpw', stdout: VCHKPW_ENV },
  161: { program: 'vchkpw', stdout: VCHKPW_ENV },
  163: { program: 'vchkpw', stdout: VCHKPW_ENV },
  164: { program: 'vchkpw', stdout: VCHKPW_ENV },
  165: { program: 'vchkpw', stdout: VCHKPW_ENV },
  166: { program: 'vchkpw', stdout: VCHKPW_ENV },
  167: { program: 'vchkpw', stdout: VCHKPW_ENV },
  169: { program: 'vchkpw', stdout: VCHKPW_ENV },
  170: { program: 'vchkpw', stderr: ERROR },
  175: {
    program: 'vdelivermail',
    stdout: {
      kind: 'match',
      pattern: /\(#5\.1\.1\)/,
      reason: 'qmail-local puts stdout into the bounce: the wording is ours, the enhanced status code 5.1.1 is read by MTAs and bounce parsers',
    },
  },
  178: { program: 'vdelivermail', stdout: NOTICE },
  181: { program: 'vdelivermail', stdout: NOTICE },
  183: { program: 'vdelivermail', stdout: NOTICE },
  185: { program: 'vdelivermail', stdout: NOTICE },
  186: { program: 'vdelivermail', stdout: ERROR },
  187: { program: 'vdelivermail', stdout: ERROR },
  193: { program: 'vpopbull', stderr: ERROR },
  194: { program: 'vpopbull', stdout: USAGE, stderr: ERROR },
  195: { program: 'vpopbull', stderr: ERROR },
  197: { program: 'vdeluser', stdout: ERROR },
  201: { program: 'vdeldomain', stdout: ERROR },
};

export const STATE_RULES: readonly StateRule[] = [
  {
    step: 195,
    title: 'a copied bulletin (Date header added)',
    kind: 'one-of-final-tree',
    reason: "run.sh shows `ls -1 carol/Maildir/new/* | head -1`, and which file sorts first depends on the time and pid in the names (in the C run it was the message delivered at step 182, not a bulletin)",
  },
];

/**
 * Differences from C that we keep on purpose, each pinned to a step (or a final-tree path) and to
 * the COMPATIBILITY.md section that explains it. Example:
 *   { step: 126, aspect: 'stdout', actual: '1073741824S\n', anchor: 'quota-suffixes',
 *     reason: 'C stores 1G as 1S; we store the bytes' }
 *   { tree: '/home/vpopmail/etc/open-smtp.lock', field: 'presence', anchor: 'locking', reason: '…' }
 */
export const DELIBERATE_DIFFERENCES: readonly DeliberateDifference[] = [];

/**
 * Other forms of a varying value that our programs produce on purpose (applied to our run only),
 * e.g. another unique Maildir file name form:
 *   { name: 'Maildir name, later deliveries of one process', pattern: /\b\d{10}\.P\d+Q\d+(?:_\d+)?\.mail\.golden\.test\b/g,
 *     replacement: MESSAGE_NAME_MASK, anchor: 'maildir-file-names', reason: '…' }
 */
export const DELIBERATE_MASKS: readonly DeliberateMask[] = [];

/** golden/VARIES.md: copied verbatim from C's source by `make install`; listed in tree-listing.txt, not in tree/. */
export const VERBATIM_INSTALL_FILES: readonly string[] = [
  '/home/vpopmail/etc/vlimits.default',
  '/home/vpopmail/etc/vusagec.conf',
  '/home/vpopmail/etc/password_strength.conf',
  '/home/vpopmail/etc/lib_deps',
  '/home/vpopmail/etc/inc_deps',
];

export const EXPECTATIONS: Expectations = {
  stepRules: STEP_RULES,
  stateRules: STATE_RULES,
  deliberate: DELIBERATE_DIFFERENCES,
  oursMasks: DELIBERATE_MASKS,
  verbatimInstallFiles: VERBATIM_INSTALL_FILES,
};
