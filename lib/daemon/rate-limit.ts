// Failed logins per client address (pitfalls S4): past the limit, logins from that address are
// refused without a password check until its window has passed.
import { isIPv6 } from 'node:net';

export interface LoginLimiterOptions {
  /** Failed logins allowed per address and window. */
  readonly maxFailures: number;
  readonly windowMs: number;
  /** Addresses remembered at most; the least recently failing is forgotten first. */
  readonly maxAddresses: number;
}

export const DEFAULT_LOGIN_LIMITER: LoginLimiterOptions = Object.freeze({
  maxFailures: 10,
  windowMs: 60_000,
  maxAddresses: 10_000,
});

interface Window {
  readonly startMs: number;
  readonly failures: number;
}

/**
 * The key an address is counted under: IPv4 as is (an IPv4-mapped IPv6 address as its IPv4 form),
 * IPv6 by its /64, because one client usually holds a whole /64.
 */
export function limiterKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped !== null) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  const zeros = Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0');
  const groups = ip.includes('::') ? [...headGroups, ...zeros, ...tailGroups] : headGroups;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export class LoginLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly options: LoginLimiterOptions,
    private readonly now: () => number,
  ) {}

  /** True when this address has used up its failed logins for the current window. */
  isBlocked(ip: string): boolean {
    const w = this.current(limiterKey(ip));
    return w !== undefined && w.failures >= this.options.maxFailures;
  }

  recordFailure(ip: string): void {
    const key = limiterKey(ip);
    const w = this.current(key);
    this.windows.delete(key); // re-inserted last: Map order is then least recently failing first
    this.windows.set(key, w === undefined ? { startMs: this.now(), failures: 1 } : { startMs: w.startMs, failures: w.failures + 1 });
    while (this.windows.size > this.options.maxAddresses) {
      const oldest = this.windows.keys().next().value;
      if (oldest === undefined) break;
      this.windows.delete(oldest);
    }
  }

  /** Addresses currently remembered (for tests and the memory bound). */
  get size(): number {
    return this.windows.size;
  }

  private current(key: string): Window | undefined {
    const w = this.windows.get(key);
    if (w === undefined) return undefined;
    if (this.now() - w.startMs >= this.options.windowMs) {
      this.windows.delete(key);
      return undefined;
    }
    return w;
  }
}
