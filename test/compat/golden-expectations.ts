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
const VCHKPW_ENV: StreamRule = {
  kind: 'unordered',
  reason: '/usr/bin/env prints the environment vchkpw handed on, in environ order; the program it execs sees a set',
};

/** Steps not listed are compared exactly on both streams. */
export const STEP_RULES: Readonly<Record<number, StepRule>> = {
  20: { program: 'vdominfo', stdout: ERROR },
  114: { program: 'vmoduser', stdout: USAGE, stderr: USAGE },
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
  194: { program: 'vpopbull', stdout: USAGE },
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
export const DELIBERATE_DIFFERENCES: readonly DeliberateDifference[] = [
  // --- Password hashes: a 16-character salt makes each generated $6$ hash 8 bytes longer ----------
  ...[
    { step: 1, subject: 'state "domain tree after vadddomain"', changes: [
      '- f600 89 89 188 /home/vpopmail/domains/example.test/vpasswd',
      '- f600 89 89 2258 /home/vpopmail/domains/example.test/vpasswd.cdb',
      '+ f600 89 89 196 /home/vpopmail/domains/example.test/vpasswd',
      '+ f600 89 89 2266 /home/vpopmail/domains/example.test/vpasswd.cdb',
    ] },
    { step: 32, subject: 'state "example.test tree"', changes: [
      '- f600 89 89 1650 /home/vpopmail/domains/example.test/vpasswd',
      '- f600 89 89 3918 /home/vpopmail/domains/example.test/vpasswd.cdb',
      '+ f600 89 89 1714 /home/vpopmail/domains/example.test/vpasswd',
      '+ f600 89 89 3982 /home/vpopmail/domains/example.test/vpasswd.cdb',
    ] },
  ].map((x) => ({ ...x, aspect: 'state' as const, anchor: 'password-hashes', reason: 'vpasswd and vpasswd.cdb are 8 bytes longer per generated $6$ hash (16-character salt)' })),
  ...([
    ['big.test/vpasswd', '45235'], ['big.test/vpasswd.cdb', '53025'], // 261 generated hashes
    ['catch.test/vpasswd', '196'], ['catch.test/vpasswd.cdb', '2266'],
    ['example.test/vpasswd', '1543'], ['example.test/vpasswd.cdb', '3789'], // 7 generated, 2 given with -e
    ['path.test/vpasswd', '194'], ['path.test/vpasswd.cdb', '2264'],
  ] as const).map(([path, actual]) => ({
    tree: `/home/vpopmail/domains/${path}`, field: 'size' as const, actual, anchor: 'password-hashes',
    reason: '8 bytes more per generated $6$ hash (16-character salt); the contents match masked',
  })),

  // --- control/locals is never created ------------------------------------------------------------
  ...[1, 202].map((step) => ({
    step, aspect: 'state' as const, subject: `state "${step === 1 ? 'files written for example.test' : 'qmail control at the end'}": /var/qmail/control/locals`,
    changes: ['- (empty)', '+ (absent)'], anchor: 'usersassign-userscdb-and-the-qmail-control-files',
    reason: 'C creates an empty control/locals on a domain add (then nothing is local to qmail); we never create it',
  })),
  { tree: '/var/qmail/control/locals', field: 'presence', actual: 'missing', anchor: 'usersassign-userscdb-and-the-qmail-control-files', reason: 'we never create control/locals' },

  // --- vadddomain -c: refused, so with-c.test never exists ------------------------------------------
  { step: 2, aspect: 'exit', actual: "255 (stderr: /home/vpopmail/bin/vadddomain: invalid option -- 'c')", anchor: 'unknown-options', reason: 'an unknown option is refused with exit 255; C stops parsing options there and still creates the domain' },
  { step: 2, aspect: 'stdout', anchor: 'unknown-options', reason: 'the refusal prints our usage (C prints nothing and carries on)', changes: [
    '+ usage: vadddomain [options] domain [postmaster-password]',
    '+ Creates a virtual domain and its postmaster mailbox. Without a password and without -r the',
    '+ password is asked for on the terminal (twice), or read as one line from stdin.',
    '+   -q quota   quota of the postmaster mailbox (bytes; 10M, 500K; NOQUOTA)',
    '+   -e target  mail for unknown users: forwarded to target if it is an address, or delivered',
    '+              to that mailbox of the new domain if it is a user name (-e postmaster);',
    '+              without -e such mail is deleted',
    '+   -b         accepted for compatibility; does nothing',
    '+   -u user    take uid, gid and base directory from this system account',
    "+   -d dir     base directory: the domain goes into dir/domains/ (default: vpopmail's home)",
    "+   -i uid     owner uid of the domain's files",
    "+   -g gid     owner gid of the domain's files",
    '+   -O         bulk add: do not signal qmail-send or compile morercpthosts.cdb (leave it off',
    '+              for the last domain of a batch)',
    '+   -r[len]    make up a random postmaster password of len characters (default 12) and print it',
    '+   -v         print the vpopmail version first',
  ] },
  ...([
    ['rcpthosts', '- with-c.test'],
    ['virtualdomains', '- with-c.test:with-c.test'],
    ['assign', '- +with-c.test-:with-c.test:89:89:/home/vpopmail/domains/with-c.test:-::'],
  ] as const).map(([file, line]) => ({
    step: 9, aspect: 'state' as const, subject: `state "qmail control after the alias domain": /var/qmail/${file === 'assign' ? 'users' : 'control'}/${file}`,
    changes: ['@ line 7', line], anchor: 'unknown-options', reason: 'with-c.test was not created at step 2',
  })),
  { step: 10, aspect: 'stdout', anchor: 'unknown-options', reason: 'with-c.test was not created at step 2', changes: [
    '@ line 37', '- domain: with-c.test', '- uid:    89', '- gid:    89', '- dir:    /home/vpopmail/domains/with-c.test', '- users:  1', '- ',
  ] },
  { step: 202, aspect: 'exit', actual: '245', anchor: 'unknown-options', reason: 'with-c.test was not created at step 2: vdeldomain -f of an unknown domain' },
  { step: 202, aspect: 'stdout', changes: ['+ Error: Domain does not exist'], anchor: 'unknown-options', reason: 'with-c.test was not created at step 2: vdeldomain -f of an unknown domain' },

  // --- passwords in the tools -----------------------------------------------------------------------
  { step: 115, aspect: 'state', subject: 'state "vpasswd after vmoduser": /home/vpopmail/domains/example.test/vpasswd', anchor: 'passwords-in-the-tools',
    reason: "step 111's vmoduser -e left no stale clear-text password beside the new hash (C keeps erin's old random one)", changes: [
      '@ line 6',
      '- erin:$1$Gold3nSa$SCZGo/u1MpOW7fVg02r6g.:1:0:erin:/home/vpopmail/domains/example.test/erin:NOQUOTA:<random password, 8 chars>',
      '+ erin:$1$Gold3nSa$SCZGo/u1MpOW7fVg02r6g.:1:0:erin:/home/vpopmail/domains/example.test/erin:NOQUOTA:',
    ] },
  { step: 118, aspect: 'stdout', actual: 'Error: User does not exist\n', anchor: 'passwords-in-the-tools', reason: 'vpasswd of an unknown user says so (C: "Illegal username"); exit 255 as in C' },

  // --- vchkpw logs failed logins on stderr (C: syslog) ----------------------------------------------
  ...([
    [157, 'vchkpw-pop3: login failed user=alice domain=example.test ip=192.0.2.10 service=pop reason=password'],
    [158, 'vchkpw-pop3: login failed user=nobody domain=example.test ip=192.0.2.10 service=pop reason=no_such_user'],
    [159, 'vchkpw-pop3: pop access denied user=frank domain=example.test ip=192.0.2.11 service=pop'],
    [162, 'vchkpw-smtp: login failed user=alice domain=example.test ip=192.0.2.12 service=smtp reason=password'],
    [168, 'vchkpw-pop3: null password given user=alice domain=example.test ip=192.0.2.10 service=pop reason=null_password'],
  ] as const).map(([step, line]) => ({
    step, aspect: 'stderr' as const, actual: `${line}\n`, anchor: 'vchkpw', reason: 'one log line per failed login on stderr, where C writes to syslog',
  })),

  // --- installed files: ours, not C's ---------------------------------------------------------------
  ...[[155, 'etc after the POP3 login'], [170, 'etc after all logins']].map(([step, title]) => ({
    step: step as number, aspect: 'state' as const, subject: `state "${title as string}"`, anchor: 'installed-files',
    reason: "install-bin writes our own vlimits.default and password_strength.conf (C's copies are its own text) and has no vusagec.conf, lib_deps or inc_deps",
    changes: [
      '- f644 0 0 2115 /home/vpopmail/etc/password_strength.conf',
      '- f644 0 0 25 /home/vpopmail/etc/inc_deps',
      '- f644 0 0 42 /home/vpopmail/etc/lib_deps',
      '- f644 89 89 1114 /home/vpopmail/etc/vusagec.conf',
      '- f644 89 89 1161 /home/vpopmail/etc/vlimits.default',
      '+ f644 0 0 321 /home/vpopmail/etc/password_strength.conf',
      '+ f644 89 89 699 /home/vpopmail/etc/vlimits.default',
    ],
  })),

  // --- vpopbull: the source stays untouched, maildirsize is kept up to date -------------------------
  { step: 190, aspect: 'state', subject: 'state "path.test after the hard-link bulletin"', anchor: 'vpopbull',
    reason: "a hard link changes nothing of the bulletin (C chowns and chmods it to 89:89 0600); as root the links go to the domain owner's own 0600 copy, so the message is as C leaves it", changes: [
      '- f600 89 89 147 /home/vpopmail/golden-work/bulletin-dated.txt',
      '+ f644 0 0 147 /home/vpopmail/golden-work/bulletin-dated.txt',
    ] },
  { step: 191, aspect: 'state', subject: 'state "catch.test after the symlink bulletin"', anchor: 'vpopbull',
    reason: "as root, vpopbull serves each domain as its owner (the kernel enforces the owner's rights), so the symlink it makes is the owner's (C leaves it root's)", changes: [
      '- l777 0 0 39 /home/vpopmail/domains/catch.test/postmaster/Maildir/new/<time>.<pid>.mail.golden.test',
      '+ l777 89 89 39 /home/vpopmail/domains/catch.test/postmaster/Maildir/new/<time>.<pid>.mail.golden.test',
    ] },
  ...([['uid', '89'], ['gid', '89']] as const).map(([field, actual]) => ({
    tree: '/home/vpopmail/domains/catch.test/postmaster/Maildir/new/<time>.<pid>.mail.golden.test', field, actual, anchor: 'vpopbull',
    reason: "the -s symlink is made as the domain's owner (C makes it as root)",
  })),
  ...([
    ['catch.test/postmaster', '18', ['@ line 3', '+ 95 1']], // the -s bulletin
    ['example.test/bob', '25', ['@ line 4', '+ 154 1']],
    ['example.test/frank', '25', ['@ line 3', '+ 156 1', '+ 170 1']],
    ['example.test/postmaster', '25', ['@ line 3', '+ 161 1', '+ 175 1']],
    ['example.test/tiny', '25', ['@ line 3', '+ 155 1', '+ 169 1']],
    ['path.test/postmaster', '25', ['@ line 4', '+ 147 1']], // the -h bulletin
  ] as const).flatMap(([home, size, changes]) => {
    const tree = `/home/vpopmail/domains/${home}/Maildir/maildirsize`;
    const reason = 'vpopbull adds each bulletin it puts into a mailbox with a quota to maildirsize (C leaves it stale)';
    return [
      { tree, field: 'size' as const, actual: size, anchor: 'vpopbull', reason },
      { tree, field: 'content' as const, changes, anchor: 'vpopbull', reason },
    ];
  }),
  { step: 204, aspect: 'stdout', changes: ['@ line 135', '- usage:     77%', '+ usage:     88%'], anchor: 'vpopbull',
    reason: "tiny's usage counts the two bulletins vpopbull recorded in maildirsize (steps 189 and 192)" },

  // --- vdominfo and vsetuserquota leave files as they were ------------------------------------------
  ...['', 'big.test/', 'catch.test/', 'example.test/', 'path.test/'].map((dir) => ({
    tree: `/home/vpopmail/domains/${dir}.dir-control`, field: 'mode' as const, actual: 'f600', anchor: 'read-only-tools-write-nothing',
    reason: "vdominfo does not rewrite .dir-control (C's rewrite leaves it 0644)",
  })),
  ...['catch.test', 'path.test'].map((domain) => ({
    tree: `/home/vpopmail/domains/${domain}/.dir-control`, field: 'content' as const, changes: ['@ line 6', '- 0 2 2', '+ 0 2 4'], anchor: 'read-only-tools-write-nothing',
    reason: "only vadddomain wrote it, as `0 2 4` like C's vadddomain; C's vdominfo at step 203 rewrote it through its reader, which turns the line into `0 2 2` (see Directory hashing)",
  })),
  { tree: '/home/vpopmail/domains/catch.test/vpasswd', field: 'mode', actual: 'f600', anchor: 'read-only-tools-write-nothing', reason: "vsetuserquota keeps vpasswd 0600 (C's leaves it 0644, step 132)" },
];

/**
 * Other forms of a varying value that our programs produce on purpose (applied to our run only),
 * e.g. another unique Maildir file name form:
 *   { name: 'Maildir name, later deliveries of one process', pattern: /\b\d{10}\.P\d+Q\d+(?:_\d+)?\.mail\.golden\.test\b/g,
 *     replacement: MESSAGE_NAME_MASK, anchor: 'maildir-file-names', reason: '…' }
 */
export const DELIBERATE_MASKS: readonly DeliberateMask[] = [
  // Before the hash itself is masked: a cdb record (tinycdb's dump line) holding one of our hashes
  // is 8 bytes longer than C's; its length is shown as the C form's.
  {
    name: 'cdb record holding a SHA-512 hash with a 16-character salt',
    pattern: /^\+(\d+),(\d+):(.*?)\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}/gm,
    replacement: (_m: string, klen: string, dlen: string, before: string) => `+${klen},${Number(dlen) - 8}:${before}$6$<random salt>$<hash>`,
    anchor: 'password-hashes',
    reason: 'our $6$ hashes carry a 16-character salt from a CSPRNG (C: 8 characters from rand()), so each vpasswd.cdb record holding one is 8 bytes longer',
  },
  {
    name: 'SHA-512 hash with a 16-character random salt',
    pattern: /\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}/g,
    replacement: '$6$<random salt>$<hash>',
    anchor: 'password-hashes',
    reason: 'our $6$ hashes carry a 16-character salt from a CSPRNG; C makes 8 characters with rand()',
  },
];

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
