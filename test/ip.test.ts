import test from 'ava';
import { isIP } from 'node:net';
import { ipVersion } from '../lib/ip.ts';

test('ipVersion agrees with node:net on hand-picked and generated strings', (t) => {
  const samples = [
    '1.2.3.4', '255.255.255.255', '256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', '', ':', '::', '::1', '1::', '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1::8', '1:::8', '1::2::3', 'fe80::1%eth0', '::ffff:1.2.3.4',
    '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '::1.2.3.4', '12345::1', 'g::1', '2001:db8::5', '2001:DB8:0:0:0:0:0:5', ':1::',
    '1:2:3:4:5:6:7:', ':1:2:3:4:5:6:7', '1.2.3.4::', '::1.2.3', '1:2:3:4:5::1.2.3.4', '1:2:3:4:5:6::1.2.3.4',
  ];
  const chars = '0123456789abcdefABCDEF:.';
  let seed = 42;
  for (let i = 0; i < 20_000; i++) {
    let s = '';
    const len = 1 + (i % 24);
    for (let j = 0; j < len; j++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      s += chars[seed % chars.length];
    }
    samples.push(s);
  }
  for (const s of samples) {
    if (s.includes('%')) continue; // node:net accepts zone indexes; we do not (below)
    const want = isIP(s);
    if (ipVersion(s) !== want) t.fail(`${JSON.stringify(s)}: node says ${want}, we say ${ipVersion(s)}`);
  }
  t.is(ipVersion('::1'), 6);
  t.is(ipVersion('192.0.2.1'), 4);
  t.is(ipVersion('fe80::1%eth0'), 0, 'no zone index: it cannot be a relay rule');
});
