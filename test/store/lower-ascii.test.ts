import test from 'ava';
import { lowerAscii } from '../../lib/store/assign.ts';

test('lowerAscii folds A-Z only, as C tolower in the C locale', (t) => {
  t.is(lowerAscii('example.test'), 'example.test');
  t.is(lowerAscii('Example.TEST'), 'example.test');
  t.is(lowerAscii('ÀÉÎ-Straße-İ-Z'), 'ÀÉÎ-straße-İ-z');
  t.is(lowerAscii('@[\\]^_`{'), '@[\\]^_`{'); // the neighbours of A-Z and a-z stay
  t.is(lowerAscii(''), '');
  for (let c = 0; c < 256; c++) {
    const ch = String.fromCharCode(c);
    t.is(lowerAscii(`x${ch}`), `x${c >= 0x41 && c <= 0x5a ? String.fromCharCode(c + 32) : ch}`);
  }
});
