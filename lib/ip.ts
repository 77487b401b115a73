// IP address syntax without node:net: loading that module costs every program start-up time, and
// the hot paths (delivery, login) only need to know whether a string is an address.

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(text: string): boolean {
  return IPV4.test(text);
}

/** RFC 4291 text forms: eight groups, one `::`, an IPv4 tail; no zone index. */
export function isIPv6(text: string): boolean {
  if (text.length < 2 || text.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(text)) return false;
  let groups = text.split(':');
  let tailGroups = 0;
  const last = groups[groups.length - 1]!;
  if (last.includes('.')) {
    if (!isIPv4(last)) return false;
    groups = groups.slice(0, -1);
    groups.push('0'); // stands for the two groups of the IPv4 tail, counted below
    tailGroups = 1;
  }
  if (text.includes(':::')) return false;
  const doubles = text.split('::').length - 1;
  if (doubles > 1) return false;
  if (doubles === 0) {
    return groups.length + tailGroups === 8 && groups.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g));
  }
  // with `::`, empty groups appear at the gap (and at the ends when it starts or ends the text)
  if (text.startsWith(':') && !text.startsWith('::')) return false;
  if (text.endsWith(':') && !text.endsWith('::')) return false;
  const filled = groups.filter((g) => g !== '');
  return filled.length + tailGroups <= 7 && filled.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g));
}

/** 4, 6 or 0, as node:net's isIP answers. */
export function ipVersion(text: string): 0 | 4 | 6 {
  if (isIPv4(text)) return 4;
  return isIPv6(text) ? 6 : 0;
}
