/**
 * Private-address checks of nathelper (Kamailio is_rfc1918, and the address tests of nat_uac_test):
 * IPv4 only, as Kamailio's nets are IPv4; an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a
 * dual-stack socket reports) is checked as the IPv4 address it carries.
 *
 *   always (nat_addr_mode 0 and 1): 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918),
 *     100.64.0.0/10 (RFC 6598, carrier-grade NAT), 192.0.0.0/29 (RFC 7335)
 *   nat_addr_mode 1 (default) adds: 192.0.0.0/24 (RFC 6890 IETF protocol assignments)
 */
import { isIPv4 } from 'node:net';

/** [network, prefix length] pairs, network as an unsigned 32-bit number. */
const PRIVATE_NETS: ReadonlyArray<readonly [number, number]> = [
  [0x0a000000, 8],
  [0xac100000, 12],
  [0xc0a80000, 16],
  [0x64400000, 10],
  [0xc0000000, 29],
];
const RESERVED_NETS: ReadonlyArray<readonly [number, number]> = [[0xc0000000, 24]];

/** an IPv4 dotted quad as an unsigned 32-bit number; null when `text` is not one. */
export function ipv4ToNumber(text: string): number | null {
  if (!isIPv4(text)) return null;
  let n = 0;
  for (const part of text.split('.')) n = n * 256 + Number(part);
  return n;
}

/** `::ffff:a.b.c.d` → `a.b.c.d`; brackets dropped; anything else unchanged. */
export function plainAddress(text: string): string {
  let t = text;
  if (t.length > 1 && t.charCodeAt(0) === 0x5b && t.charCodeAt(t.length - 1) === 0x5d) t = t.slice(1, -1);
  if (t.length > 7 && t.slice(0, 7).toLowerCase() === '::ffff:' && isIPv4(t.slice(7))) return t.slice(7);
  return t;
}

function inNets(n: number, nets: ReadonlyArray<readonly [number, number]>): boolean {
  for (const [net, len] of nets) {
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    if (((n & mask) >>> 0) === net) return true;
  }
  return false;
}

/**
 * Kamailio is_rfc1918(ip): true for the private and shared ranges above. `text` may be bracketed or
 * IPv4-mapped; names and other IPv6 addresses are not private (false).
 */
export function isPrivateAddress(text: string, natAddrMode = 1): boolean {
  const n = ipv4ToNumber(plainAddress(text));
  if (n === null) return false;
  return inNets(n, PRIVATE_NETS) || (natAddrMode === 1 && inNets(n, RESERVED_NETS));
}

/** true when two address texts name the same address (brackets, IPv4-mapped form and case ignored). */
export function sameAddress(a: string, b: string): boolean {
  return plainAddress(a).toLowerCase() === plainAddress(b).toLowerCase();
}
