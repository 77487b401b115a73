import test from 'ava';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasDeliveredToHeader, isDeliveredToLine, isLooping } from '../../lib/deliver/loop.ts';
import { tempDir } from '../helpers/maildir-tools.ts';

function withMessage(t: import('ava').ExecutionContext, text: string | Buffer, fn: (src: { fd: number; sizeBytes: number }) => void): void {
  const path = join(tempDir(t), 'msg');
  writeFileSync(path, text);
  const fd = openSync(path, 'r');
  try {
    fn({ fd, sizeBytes: Buffer.byteLength(text) });
  } finally {
    closeSync(fd);
  }
}

/** The rule, written plainly: header lines up to the first that starts with CR or LF. */
function reference(text: string, address: string): boolean {
  const lines = text.split(/(?<=\n)/);
  for (const line of lines) {
    if (line.startsWith('\n') || line.startsWith('\r')) return false;
    if (line.toLowerCase() === `delivered-to: ${address}\n`.toLowerCase()) return true;
  }
  return false;
}

test('a Delivered-To line of the address in the header section is a loop, in any ASCII case', (t) => {
  const text = 'Received: x\nDELIVERED-TO: Alice@Example.TEST\nSubject: s\n\nbody\n';
  withMessage(t, text, (src) => {
    t.true(hasDeliveredToHeader(src, 'alice@example.test'));
    t.false(hasDeliveredToHeader(src, 'bob@example.test'));
    t.false(hasDeliveredToHeader(src, 'alice@example.tes'));
  });
});

test('a Delivered-To line in the body, after the empty line or a line starting with CR, does not count', (t) => {
  withMessage(t, 'Subject: s\n\nDelivered-To: alice@example.test\n', (src) => t.false(hasDeliveredToHeader(src, 'alice@example.test')));
  withMessage(t, 'Subject: s\r\nX: y\n\rDelivered-To: a@b.test\nDelivered-To: a@b.test\n', (src) => t.false(hasDeliveredToHeader(src, 'a@b.test')));
});

test('trailing blanks, a CR or extra text make another line; a last line without LF never matches', (t) => {
  for (const line of ['Delivered-To: a@b.test \n', 'Delivered-To: a@b.test\r\n', 'Delivered-To: a@b.testx\n', 'Delivered-To:a@b.test\n', 'Delivered-To: a@b.test']) {
    withMessage(t, `X: 1\n${line}`, (src) => t.false(hasDeliveredToHeader(src, 'a@b.test'), JSON.stringify(line)));
  }
});

test('a header longer than any buffer neither ends the scan nor yields a false match from its tail', (t) => {
  const long = `X-Long: ${'y'.repeat(200_000)}Delivered-To: a@b.test\n`;
  withMessage(t, `${long}Delivered-To: a@b.test\n`, (src) => t.true(hasDeliveredToHeader(src, 'a@b.test')));
  withMessage(t, `${long}Subject: no\n`, (src) => t.false(hasDeliveredToHeader(src, 'a@b.test')));
  // C reads 155-byte pieces: a piece boundary right before "Delivered-To" made it a line of its own.
  const at155 = `X: ${'z'.repeat(151)}Delivered-To: a@b.test\n`;
  withMessage(t, at155, (src) => t.false(hasDeliveredToHeader(src, 'a@b.test')));
});

test('DTLINE counts with the same rule, a leading & of the address is ignored', (t) => {
  withMessage(t, 'Subject: s\n\n', (src) => {
    t.true(isLooping(src, 'Delivered-To: joe@example.test\n', '&joe@example.test'));
    t.false(isLooping(src, 'Delivered-To: example.test-joe@example.test\n', 'joe@example.test'));
    t.false(isLooping(src, undefined, 'joe@example.test'));
  });
  t.true(isDeliveredToLine('delivered-to: JOE@x.test\n', 'joe@X.test'));
});

test('a UTF-8 address matches the bytes of the header', (t) => {
  withMessage(t, Buffer.from('Delivered-To: jöe@example.test\n\n', 'utf8'), (src) => t.true(hasDeliveredToHeader(src, 'jöe@example.test')));
});

test('4000 generated header sections agree with the plain reading of the rule', (t) => {
  let seed = 12345; // mulberry32: the same cases every run
  const rnd = (n: number) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) % n;
  };
  const pieces = ['Delivered-To: a@b.test\n', 'delivered-to: A@B.TEST\n', 'Delivered-To: a@b.test \n', 'Delivered-To: c@b.test\n', 'X: y\n', '\n', '\r\n', 'Subject: Delivered-To: a@b.test\n', ' Delivered-To: a@b.test\n', 'Delivered-To: a@b.test', `X: ${'q'.repeat(rnd(300))}\n`];
  const dir = tempDir(t);
  let loops = 0;
  for (let i = 0; i < 4000; i++) {
    let text = '';
    const n = rnd(8);
    for (let j = 0; j < n; j++) text += pieces[rnd(pieces.length)]!;
    const path = join(dir, `m${i}`);
    writeFileSync(path, text);
    const fd = openSync(path, 'r');
    const got = hasDeliveredToHeader({ fd, sizeBytes: text.length }, 'a@b.test');
    closeSync(fd);
    const want = reference(text, 'a@b.test');
    if (got !== want) {
      t.fail(`case ${i}: ${JSON.stringify(text)}: got ${got}, want ${want}`);
      return;
    }
    if (want) loops++;
  }
  t.true(loops > 500 && loops < 3500, `a mix of loops and not (${loops})`);
});

test('a Delivered-To line, or the end of the header section, found wherever it falls against the 16 KiB read boundary', (t) => {
  const target = 'Delivered-To: a@b.test\n';
  for (let at = 16384 - target.length - 3; at <= 16384 + 3; at++) {
    // filler header lines up to `at`, then the line (or an empty line and the line in the body)
    const filler = `X: ${'f'.repeat(at - 5)}\n`;
    t.is(filler.length, at - 1);
    for (const [text, want] of [
      [`${filler}Z\n${target}`, true],
      [`${filler}\n${target}`, false],
      [`${filler}Z\n${target.slice(0, -1)}X\n`, false],
      [`${filler}Z\nDelivered-To: A@B.TEST\nmore: x\n\nbody\n`, true],
    ] as const) {
      t.is(reference(text, 'a@b.test'), want, `reference at ${at}`);
      withMessage(t, text, (src) => t.is(hasDeliveredToHeader(src, 'a@b.test'), want, `at ${at}: ${JSON.stringify(text.slice(-40))}`));
    }
  }
});
