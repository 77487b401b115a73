import test from 'ava';
import { forwardDeliveredToLine, maildirAddress, returnPathLine, utcDateLine } from '../../lib/deliver/headers.ts';

test('the address of a Maildir path: the user before Maildir, the nearest dotted component above it', (t) => {
  t.is(maildirAddress('/home/vpopmail/domains/example.test/alice/Maildir'), 'alice@example.test');
  t.is(maildirAddress('/home/vpopmail/domains/example.com/0/joe/Maildir'), 'joe@example.com');
  t.is(maildirAddress('/home/vpopmail/domains/3/example.com/x/y/joe/Maildir'), 'joe@example.com');
  t.is(maildirAddress('/home/vpopmail/domains/example.com/joe/Maildir/.Sent'), 'joe@example.com');
  t.is(maildirAddress('/home/vpopmail/domains/example.com/joe/Mail'), undefined);
  t.is(maildirAddress('/home/vpopmail/domains/nodots/joe/Maildir'), undefined);
  t.is(maildirAddress('/Maildir'), undefined);
});

test('a forward carries DTLINE without the <domain>- prefix, counted as C counts it', (t) => {
  t.is(forwardDeliveredToLine('Delivered-To: example.test-carol@example.test\n', 'carol@elsewhere.test'), 'Delivered-To: carol@example.test\n');
  t.is(forwardDeliveredToLine('Delivered-To: catch.test-ghost@catch.test\n', 'x@y.test'), 'Delivered-To: ghost@catch.test\n');
  t.is(forwardDeliveredToLine('Delivered-To: alias.test-Joe@alias.test\n', 'x@y.test'), 'Delivered-To: Joe@alias.test\n');
  // without its LF the line still ends in one, and the same prefix goes
  t.is(forwardDeliveredToLine('Delivered-To: example.test-carol@example.test', 'x@y.test'), 'Delivered-To: carol@example.test\n');
});

test('without a usable DTLINE a forward names the forward address', (t) => {
  t.is(forwardDeliveredToLine(undefined, 'bob@example.net'), 'Delivered-To: bob@example.net\n');
  t.is(forwardDeliveredToLine('Delivered-To: ', 'bob@example.net'), 'Delivered-To: bob@example.net\n');
  t.is(forwardDeliveredToLine('Delivered-To: no-at-sign\n', 'bob@example.net'), 'Delivered-To: bob@example.net\n');
});

test('2000 generated qmail recipients lose exactly their <domain>- prefix', (t) => {
  for (let i = 0; i < 2000; i++) {
    const domain = `d${i % 37}.example${'x'.repeat(i % 5)}.test`;
    const user = `u${i}-${'ab'.repeat(i % 4)}`;
    t.is(forwardDeliveredToLine(`Delivered-To: ${domain}-${user}@${domain}\n`, 'f@x.test'), `Delivered-To: ${user}@${domain}\n`);
  }
});

test('Return-Path is RPLINE as given, an LF added if it lacks one, nothing (not "(null)") when unset', (t) => {
  t.is(returnPathLine('Return-Path: <a@b.test>\n'), 'Return-Path: <a@b.test>\n');
  t.is(returnPathLine('Return-Path: <>'), 'Return-Path: <>\n');
  t.is(returnPathLine(undefined), '');
  t.is(returnPathLine(''), '');
});

test('the warning Date line is RFC 5322 in UTC with a two-digit day', (t) => {
  t.is(utcDateLine(Date.UTC(2024, 0, 1, 0, 0, 0)), 'Date: Mon, 01 Jan 2024 00:00:00 +0000\n');
  t.is(utcDateLine(Date.UTC(2026, 11, 31, 23, 59, 59, 999)), 'Date: Thu, 31 Dec 2026 23:59:59 +0000\n');
  for (let ms = 0; ms < 4e12; ms += 9.7e9) {
    // toUTCString is "Www, DD Mon YYYY hh:mm:ss GMT" for these years
    t.is(utcDateLine(ms), `Date: ${new Date(ms).toUTCString().replace(/GMT$/, '+0000')}\n`);
  }
});
