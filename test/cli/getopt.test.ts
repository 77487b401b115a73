import test from 'ava';
import { Getopt, getoptMessage, type OptEvent } from '../../lib/cli/getopt.ts';

function scan(argv: string[], optstring: string): { events: OptEvent[]; operands: string[] } {
  const g = new Getopt(argv, optstring);
  const events = g.all();
  return { events, operands: g.operands() };
}

test('bundled letters and an attached or separate argument are read as glibc does', (t) => {
  const { events, operands } = scan(['-vq', '5000', '-efoo@bar', 'example.test', 'pw'], 'vq:e:');
  t.deepEqual(events, [
    { kind: 'opt', opt: 'v' },
    { kind: 'opt', opt: 'q', arg: '5000' },
    { kind: 'opt', opt: 'e', arg: 'foo@bar' },
  ]);
  t.deepEqual(operands, ['example.test', 'pw']);
});

test('options after operands are still options (argument permutation)', (t) => {
  const { events, operands } = scan(['alice@example.test', '-q', '1000', 'pw'], 'q:');
  t.deepEqual(events, [{ kind: 'opt', opt: 'q', arg: '1000' }]);
  t.deepEqual(operands, ['alice@example.test', 'pw']);
});

test('an optional argument must be attached: -r16 has one, -r 16 has none', (t) => {
  t.deepEqual(scan(['-r16', 'x'], 'r::').events, [{ kind: 'opt', opt: 'r', arg: '16' }]);
  const sep = scan(['-r', '16', 'x'], 'r::');
  t.deepEqual(sep.events, [{ kind: 'opt', opt: 'r' }]);
  t.deepEqual(sep.operands, ['16', 'x']);
});

test('-- ends the options and a lone - is an operand', (t) => {
  const { events, operands } = scan(['-a', '--', '-b', '-'], 'ab');
  t.deepEqual(events, [{ kind: 'opt', opt: 'a' }]);
  t.deepEqual(operands, ['-b', '-']);
});

test('an unknown letter and a missing argument are reported with glibc wording', (t) => {
  const { events } = scan(['-c', '-q'], 'q:');
  t.deepEqual(events, [
    { kind: 'invalid', opt: 'c' },
    { kind: 'missing', opt: 'q' },
  ]);
  t.is(getoptMessage('/home/vpopmail/bin/vadddomain', events[0]!), "/home/vpopmail/bin/vadddomain: invalid option -- 'c'\n");
  t.is(getoptMessage('vadduser', events[1]!), "vadduser: option requires an argument -- 'q'\n");
});

test('leaving the loop at an invalid option leaves the rest as operands, as vadddomain -c shows', (t) => {
  const g = new Getopt(['-c', 'with-c.test', 'pw-c'], 'vq:be:u:d:i:g:Or::');
  t.deepEqual(g.next(), { kind: 'invalid', opt: 'c' });
  t.deepEqual(g.operands(), ['with-c.test', 'pw-c']);
});

test('a leading + stops at the first operand', (t) => {
  const { events, operands } = scan(['-a', 'x', '-b'], '+ab');
  t.deepEqual(events, [{ kind: 'opt', opt: 'a' }]);
  t.deepEqual(operands, ['x', '-b']);
});
