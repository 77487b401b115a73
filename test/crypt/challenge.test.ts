// CRAM-MD5 and APOP against a clear-text password: the RFC examples and C's exact-string comparison.
import test from 'ava';
import { apopDigest, cramMd5Response, verifyApop, verifyCramMd5 } from '../../lib/crypt/index.ts';

test('CRAM-MD5 gives the RFC 2195 example digest', (t) => {
  const challenge = '<1896.697170952@postoffice.reston.mci.net>';
  t.is(cramMd5Response('tanstaaftanstaaf', challenge), 'b913a602c7eda7a495b4e6e7334d3890');
  t.true(verifyCramMd5('tanstaaftanstaaf', challenge, 'b913a602c7eda7a495b4e6e7334d3890'));
  t.false(verifyCramMd5('tanstaaftanstaaF', challenge, 'b913a602c7eda7a495b4e6e7334d3890'));
  t.false(verifyCramMd5('tanstaaftanstaaf', `${challenge} `, 'b913a602c7eda7a495b4e6e7334d3890'));
});

test('APOP gives the RFC 1939 example digest', (t) => {
  const stamp = '<1896.697170952@dbc.mtview.ca.us>';
  t.is(apopDigest('tanstaaf', stamp), 'c4c9334bac560ecc979e58001b3e22fb');
  t.true(verifyApop('tanstaaf', stamp, 'c4c9334bac560ecc979e58001b3e22fb'));
  t.false(verifyApop('tanstaa', stamp, 'c4c9334bac560ecc979e58001b3e22fb'));
});

test('responses are compared as exact strings: upper-case hex, padding or a short digest fail without throwing', (t) => {
  const stamp = '<1896.697170952@dbc.mtview.ca.us>';
  for (const bad of ['C4C9334BAC560ECC979E58001B3E22FB', ' c4c9334bac560ecc979e58001b3e22fb', 'c4c9334bac560ecc979e58001b3e22f', '', 'c4c9334bac560ecc979e58001b3e22fbé']) {
    t.false(verifyApop('tanstaaf', stamp, bad));
    t.false(verifyCramMd5('tanstaaf', stamp, bad));
  }
});

test('text is UTF-8: a string and its UTF-8 bytes give the same digests', (t) => {
  t.is(cramMd5Response('pässwörd', '<1@x>'), cramMd5Response(Buffer.from('pässwörd', 'utf8'), Buffer.from('<1@x>')));
  t.is(apopDigest('pässwörd', '<1@x>'), apopDigest(Buffer.from('pässwörd', 'utf8'), '<1@x>'));
  t.not(apopDigest('pässwörd', '<1@x>'), apopDigest(Buffer.from('pässwörd', 'latin1'), '<1@x>'));
});
