/**
 * Who a request comes from, for rate limits: which proxies are believed (TRUST_PROXY) and which
 * network an address belongs to.
 *
 * Failures are grouped by network rather than by address because one party usually holds many
 * addresses: an IPv6 host is handed a whole /64 (2^64 addresses), so counting per IPv6 address would
 * give it unlimited fresh counters. IPv4 addresses are counted one by one (NAT puts unrelated people
 * behind one address, so a coarser IPv4 grouping would punish bystanders), and an IPv4-mapped IPv6
 * address (`::ffff:203.0.113.7`, what a dual-stack socket reports) is the IPv4 address it maps.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { TrustProxySetting } from '../config/config.js';

type TrustProxyFunction = (address: string, hop: number) => boolean;

/**
 * The TRUST_PROXY setting as Fastify takes it. A hop count becomes a function trusting that many
 * hops from the socket: Fastify 5 ignores a bare number (it fails closed), which would silently turn
 * `TRUST_PROXY=1` into "trust nothing".
 */
export function fastifyTrustProxy(setting: TrustProxySetting): boolean | string[] | TrustProxyFunction {
  if (typeof setting !== 'number') return setting;
  const hops = setting;
  return (_address, hop) => hop < hops;
}

/** The eight 16-bit groups of an IPv6 address (zone id ignored), or null when it is not one. */
function ipv6Groups(address: string): number[] | null {
  const zone = address.indexOf('%');
  let s = zone >= 0 ? address.slice(0, zone) : address;
  if (!isIPv6(s)) return null;
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a, b, c, d] = tail.split('.').map(Number);
    s = `${s.slice(0, lastColon)}:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const gap = s.indexOf('::');
  let parts: string[];
  if (gap < 0) {
    parts = s.split(':');
  } else {
    const head = s.slice(0, gap) === '' ? [] : s.slice(0, gap).split(':');
    const rest = s.slice(gap + 2) === '' ? [] : s.slice(gap + 2).split(':');
    parts = [...head, ...new Array<string>(8 - head.length - rest.length).fill('0'), ...rest];
  }
  return parts.map((p) => parseInt(p, 16));
}

/**
 * The network a client address is counted under: the IPv4 address itself, or the /64 of an IPv6
 * address (`2001:db8:1:2::/64`). Anything else (no address, a malformed forwarded value) is its own
 * key; the global failure budget bounds how many of those can be made.
 */
export function networkOf(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  if (isIPv4(address)) return address;
  const g = ipv6Groups(address);
  if (g === null) return `raw:${address}`;
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `${g[6] >> 8}.${g[6] & 255}.${g[7] >> 8}.${g[7] & 255}`;
  }
  return `${g.slice(0, 4).map((n) => n.toString(16)).join(':')}::/64`;
}
