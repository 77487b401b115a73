// localtime(3)'s UTC offset, read from the zone file itself (TZ, else /etc/localtime) instead of
// the runtime's first local-time Date call: under Bun that call loads ICU's time zone data and costs
// about 17 ms, more than the rest of a vuserinfo run. Anything this reader does not handle exactly
// (a POSIX TZ string as TZ, leap-second zones, Julian-day rules, an unreadable file) falls back to Date.
import { readFileSync } from 'node:fs';

/** Broken-down local time, as struct tm has it (month 0-11, weekday 0 = Sunday). */
export interface LocalTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hours: number;
  readonly minutes: number;
  readonly seconds: number;
  readonly weekday: number;
}

interface Zone {
  /** Transition times (seconds since the epoch), ascending. */
  readonly times: readonly number[];
  /** Index into offsets for each transition. */
  readonly kinds: readonly number[];
  /** UTC offset (seconds) and DST flag of each local time type. */
  readonly types: readonly { readonly offset: number; readonly dst: boolean }[];
  /** The POSIX TZ rule for times after the last transition, when the file has one. */
  readonly rule: Rule | undefined;
}

/** A POSIX TZ rule with `Mm.w.d` dates (or no DST at all). */
interface Rule {
  readonly std: number;
  readonly dst?: { readonly offset: number; readonly start: RuleDate; readonly end: RuleDate };
}

interface RuleDate {
  readonly month: number;
  readonly week: number;
  readonly weekday: number;
  /** Seconds after local midnight (may be negative or above 24 h). */
  readonly time: number;
}

/** Not something this reader takes on: use Date. */
class Unsupported extends Error {}

function parseTzif(buf: Buffer): Zone {
  if (buf.length < 44 || buf.toString('latin1', 0, 4) !== 'TZif') throw new Unsupported('not TZif');
  const version = buf[4]!;
  const counts = (at: number) => ({
    isut: buf.readUInt32BE(at + 20),
    isstd: buf.readUInt32BE(at + 24),
    leap: buf.readUInt32BE(at + 28),
    time: buf.readUInt32BE(at + 32),
    type: buf.readUInt32BE(at + 36),
    chars: buf.readUInt32BE(at + 40),
  });
  let c = counts(0);
  let at = 44;
  let timeSize = 4;
  if (version >= 0x32) {
    // Skip the 32-bit block; the 64-bit one follows with its own header.
    at += c.time * 5 + c.type * 6 + c.chars + c.leap * 8 + c.isstd + c.isut;
    if (buf.toString('latin1', at, at + 4) !== 'TZif') throw new Unsupported('bad v2 header');
    c = counts(at);
    at += 44;
    timeSize = 8;
  }
  if (c.leap !== 0) throw new Unsupported('leap seconds');
  if (c.type === 0) throw new Unsupported('no types');
  const times: number[] = [];
  for (let i = 0; i < c.time; i++) times.push(timeSize === 8 ? Number(buf.readBigInt64BE(at + i * 8)) : buf.readInt32BE(at + i * 4));
  at += c.time * timeSize;
  const kinds: number[] = [];
  for (let i = 0; i < c.time; i++) kinds.push(buf[at + i]!);
  at += c.time;
  const types: { offset: number; dst: boolean }[] = [];
  for (let i = 0; i < c.type; i++) types.push({ offset: buf.readInt32BE(at + i * 6), dst: buf[at + i * 6 + 4] !== 0 });
  at += c.type * 6 + c.chars + c.leap * (timeSize + 4) + c.isstd + c.isut;
  if (kinds.some((k) => k >= types.length)) throw new Unsupported('bad type index');
  let rule: Rule | undefined;
  if (timeSize === 8 && buf[at] === 0x0a) {
    const end = buf.indexOf(0x0a, at + 1);
    const footer = end < 0 ? '' : buf.toString('latin1', at + 1, end);
    rule = footer === '' ? undefined : parseRule(footer);
  }
  return { times, kinds, types, rule };
}

/** `[+-]hh[:mm[:ss]]` at s[i], as seconds; returns [value, next index]. */
function parseClock(s: string, i: number): [number, number] {
  const m = /^([+-]?)(\d{1,3})(?::(\d{1,2}))?(?::(\d{1,2}))?/.exec(s.slice(i));
  if (m === null) throw new Unsupported(`bad time in ${s}`);
  const v = Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
  return [m[1] === '-' ? -v : v, i + m[0].length];
}

/** A zone abbreviation: letters, or `<...>`. */
function skipName(s: string, i: number): number {
  if (s[i] === '<') {
    const j = s.indexOf('>', i);
    if (j < 0) throw new Unsupported(`bad name in ${s}`);
    return j + 1;
  }
  let j = i;
  while (j < s.length && /[A-Za-z]/.test(s[j]!)) j++;
  if (j - i < 3) throw new Unsupported(`bad name in ${s}`);
  return j;
}

function parseRuleDate(s: string, i: number): [RuleDate, number] {
  const m = /^M(\d{1,2})\.(\d)\.(\d)/.exec(s.slice(i));
  if (m === null) throw new Unsupported(`only Mm.w.d dates: ${s}`);
  let j = i + m[0].length;
  let time = 7200;
  if (s[j] === '/') [time, j] = parseClock(s, j + 1);
  const date = { month: Number(m[1]), week: Number(m[2]), weekday: Number(m[3]), time };
  if (date.month < 1 || date.month > 12 || date.week < 1 || date.week > 5 || date.weekday > 6) throw new Unsupported(`bad date in ${s}`);
  return [date, j];
}

function parseRule(s: string): Rule {
  let i = skipName(s, 0);
  let std: number;
  [std, i] = parseClock(s, i);
  if (i === s.length) return { std: -std };
  i = skipName(s, i);
  let dstOffset = -std + 3600;
  if (s[i] !== ',') {
    let v: number;
    [v, i] = parseClock(s, i);
    dstOffset = -v;
  }
  if (s[i] !== ',') throw new Unsupported(`no DST dates: ${s}`);
  let start: RuleDate;
  let end: RuleDate;
  [start, i] = parseRuleDate(s, i + 1);
  if (s[i] !== ',') throw new Unsupported(`bad rule ${s}`);
  [end, i] = parseRuleDate(s, i + 1);
  if (i !== s.length) throw new Unsupported(`trailing text in ${s}`);
  return { std: -std, dst: { offset: dstOffset, start, end } };
}

const DAY = 86_400;

/** The rule's day in `year`: its midnight as seconds since the epoch, read as if local time were UTC. */
function ruleDay(year: number, d: RuleDate): number {
  const first = Date.UTC(year, d.month - 1, 1) / 1000;
  const firstWeekday = new Date(first * 1000).getUTCDay();
  let day = 1 + ((d.weekday - firstWeekday + 7) % 7) + (d.week - 1) * 7;
  const inMonth = new Date(Date.UTC(year, d.month, 0)).getUTCDate();
  while (day > inMonth) day -= 7;
  return first + (day - 1) * DAY;
}

function ruleOffset(rule: Rule, t: number): number {
  if (rule.dst === undefined) return rule.std;
  const { offset: dst, start, end } = rule.dst;
  const year = new Date((t + rule.std) * 1000).getUTCFullYear();
  // The year's change times in UTC: DST starts at a standard-time wall clock, ends at a DST one.
  const startUtc = ruleDay(year, start) + start.time - rule.std;
  const endUtc = ruleDay(year, end) + end.time - dst;
  const inDst = startUtc < endUtc ? t >= startUtc && t < endUtc : !(t >= endUtc && t < startUtc);
  return inDst ? dst : rule.std;
}

function zoneOffset(z: Zone, t: number): number {
  const n = z.times.length;
  if (n === 0 || t < z.times[0]!) {
    if (n === 0 && z.rule !== undefined) return ruleOffset(z.rule, t);
    // Before the first transition: the first standard-time type (as glibc does), else type 0.
    return (z.types.find((x) => !x.dst) ?? z.types[0]!).offset;
  }
  if (t >= z.times[n - 1]! && z.rule !== undefined) return ruleOffset(z.rule, t);
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (z.times[mid]! <= t) lo = mid;
    else hi = mid - 1;
  }
  return z.types[z.kinds[lo]!]!.offset;
}

/** Where the zone comes from: TZ (a zone name or a file), else /etc/localtime. */
function zoneFile(tz: string | undefined): string {
  if (tz === undefined) return '/etc/localtime';
  const name = tz.startsWith(':') ? tz.slice(1) : tz;
  if (name === '') return '/usr/share/zoneinfo/UTC';
  if (name.startsWith('/')) return name;
  if (name.includes('..') || !/^[A-Za-z0-9_+\-/]+$/.test(name)) throw new Unsupported('not a zone name');
  return `/usr/share/zoneinfo/${name}`;
}

const cache = new Map<string, Zone | null>();

function loadZone(tz: string | undefined): Zone | null {
  const key = tz ?? '';
  let z = cache.get(key);
  if (z === undefined) {
    try {
      z = parseTzif(readFileSync(zoneFile(tz)));
    } catch {
      z = null; // a POSIX TZ string, an unreadable or unusual file: Date will know
    }
    cache.set(key, z);
  }
  return z;
}

/** The local time of `timeSec` in the zone of `tz` (the TZ variable's value; undefined: the system's). */
export function localTime(timeSec: number, tz: string | undefined = process.env.TZ): LocalTime {
  const z = loadZone(tz);
  if (z === null) {
    const d = new Date(timeSec * 1000);
    return { year: d.getFullYear(), month: d.getMonth(), day: d.getDate(), hours: d.getHours(), minutes: d.getMinutes(), seconds: d.getSeconds(), weekday: d.getDay() };
  }
  const d = new Date((timeSec + zoneOffset(z, timeSec)) * 1000);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth(), day: d.getUTCDate(), hours: d.getUTCHours(), minutes: d.getUTCMinutes(), seconds: d.getUTCSeconds(), weekday: d.getUTCDay() };
}
