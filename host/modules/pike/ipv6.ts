/**
 * IPv6 sources are counted per prefix (`ipv6_prefix`, default /64): one subscriber or site usually
 * holds a whole /64 and can send from any of its 2^64 addresses, so counting per address would let a
 * single host rotate addresses and never reach the limit. Kamailio's tree counts per address (its
 * leaves), x to 9x requests before blocking.
 *
 * Input is the source address as Node reports it (RFC 5952 form: lower case, `::` compression,
 * possibly an IPv4 tail). The key is the prefix in the same form plus its length, e.g.
 * `2001:db8:0:1::/64`. Costs one scan and a few small strings, for IPv6 sources only.
 */

/** `address` reduced to its first `groups` 16-bit groups (1..7), as `g1:g2:...::/bits`. */
export function ipv6PrefixKey(address: string, groups: number): string {
  const dbl = address.indexOf('::');
  const head = dbl < 0 ? address : address.slice(0, dbl);
  const headGroups = head.length === 0 ? [] : head.split(':');
  let out: string[];
  if (headGroups.length >= groups) {
    out = headGroups.slice(0, groups);
  } else {
    // the missing groups up to the prefix are zeros (inside `::`) or come from the tail
    const tail = dbl < 0 ? '' : address.slice(dbl + 2);
    const tailGroups = tail.length === 0 ? [] : tail.split(':');
    const last = tailGroups.at(-1);
    const tailCount = tailGroups.length + (last !== undefined && last.includes('.') ? 1 : 0); // a.b.c.d = 2 groups
    const zeros = Math.max(0, 8 - headGroups.length - tailCount);
    out = headGroups.slice();
    for (let i = 0; i < zeros && out.length < groups; i++) out.push('0');
    for (let i = 0; i < tailGroups.length && out.length < groups; i++) out.push(tailGroups[i]!);
  }
  // canonical spelling of each group (no leading zeros), so equal prefixes give equal keys
  return `${out.map((g) => (g.length > 1 ? g.replace(/^0+(?=.)/, '') : g)).join(':')}::/${groups * 16}`;
}
