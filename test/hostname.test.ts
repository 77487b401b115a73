import test from 'ava';
import { hostname } from 'node:os';
import { machineHostname } from '../lib/hostname.ts';

test('machineHostname is what gethostname(2) says (os.hostname)', (t) => {
  t.is(machineHostname(), hostname());
  t.notRegex(machineHostname(), /\n/);
});
