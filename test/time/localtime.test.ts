// Our zone-file reader gives the local time libc's localtime(3) gives (through Python's time module,
// reading the same system zone files C vpopmail's asctime(localtime()) reads) for every zone we test,
// across DST changes, both hemispheres, half-hour and 45-minute offsets, and past the last
// transition a zone file lists (where its POSIX rule takes over).
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { localTime } from '../../lib/time/localtime.ts';

const ZONES = ['UTC', 'Etc/UTC', 'Europe/Berlin', 'Europe/London', 'America/New_York', 'America/Sao_Paulo', 'America/St_Johns', 'Australia/Lord_Howe', 'Australia/Sydney', 'Asia/Kolkata', 'Asia/Kathmandu', 'Pacific/Chatham', 'Africa/Casablanca', 'America/Santiago', 'Asia/Tehran', 'Pacific/Apia', 'EST5EDT', 'Europe/Dublin'];

function instants(): number[] {
  const out: number[] = [];
  let x = 20261202;
  const next = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0), x);
  for (let i = 0; i < 400; i++) out.push(next() % 4_102_444_800); // 1970..2100
  // Around DST changes: every 15 minutes through late March and late October, and early April/October (south).
  for (const year of [2026, 2031, 2047]) {
    for (const [m, d] of [[2, 20], [9, 20], [3, 1], [8, 28], [10, 1]] as const) {
      const start = Date.UTC(year, m, d) / 1000;
      for (let s = 0; s < 14 * 86_400; s += 900) out.push(start + s);
    }
  }
  return out;
}

/** What libc's localtime(3) says in a process whose TZ is `zone`, for each instant. */
function libcSays(zone: string | undefined, times: readonly number[]): string[] {
  const script = 'import json,sys,time\nts=json.load(sys.stdin)\nprint(json.dumps([" ".join(str(v) for v in (l.tm_year, l.tm_mon - 1, l.tm_mday, l.tm_hour, l.tm_min, l.tm_sec, (l.tm_wday + 1) % 7)) for l in map(time.localtime, ts)]))';
  const env: Record<string, string> = { PATH: '/usr/bin:/bin' };
  if (zone !== undefined) env.TZ = zone;
  const r = spawnSync('python3', ['-c', script], { input: JSON.stringify(times), env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as string[];
}

const ours = (t: number, zone: string | undefined) => {
  const l = localTime(t, zone);
  return [l.year, l.month, l.day, l.hours, l.minutes, l.seconds, l.weekday].join(' ');
};

for (const zone of [...ZONES, undefined, ':Europe/Berlin', '/usr/share/zoneinfo/Asia/Tokyo']) {
  test(`local time in ${zone ?? 'the system zone (no TZ)'} is what localtime(3) says`, (t) => {
    if (zone !== undefined && !zone.includes(',') && !zone.startsWith('/') && !statSync(join('/usr/share/zoneinfo', zone.replace(/^:/, '')), { throwIfNoEntry: false })) {
      t.fail(`no zone file for ${zone}: tzdata is missing`);
      return;
    }
    const times = instants();
    const want = libcSays(zone, times);
    const got = times.map((x) => ours(x, zone));
    const wrong = times.filter((_, i) => got[i] !== want[i]).map((x, i) => `${x}: ${got[i]} vs ${want[i]}`);
    t.deepEqual(wrong.slice(0, 5), [], `${wrong.length} of ${times.length} differ`);
  });
}

test('a sample of every zone file on the machine agrees with localtime(3) at 50 instants each', (t) => {
  const root = '/usr/share/zoneinfo';
  const zones: string[] = [];
  for (const area of ['Europe', 'America', 'Asia', 'Australia', 'Africa', 'Pacific', 'Atlantic', 'Indian']) {
    for (const name of readdirSync(join(root, area))) if (statSync(join(root, area, name)).isFile()) zones.push(`${area}/${name}`);
  }
  t.true(zones.length > 300, `${zones.length} zones`);
  const times = instants().filter((_, i) => i % 97 === 0);
  let compared = 0;
  const wrong: string[] = [];
  for (const zone of zones.filter((_, i) => i % 4 === 0)) {
    const want = libcSays(zone, times);
    times.forEach((x, i) => {
      compared++;
      if (ours(x, zone) !== want[i]) wrong.push(`${zone} ${x}: ${ours(x, zone)} vs ${want[i]}`);
    });
  }
  t.log(`${compared} comparisons`);
  t.deepEqual(wrong.slice(0, 10), [], `${wrong.length} differ`);
});
