/**
 * The addresses this node is (Kamailio's myself check, RFC 3261 §16.4 / §19.1.1): the listen
 * addresses, every interface address when one of them is a wildcard, and core.aliases
 * (host[:port], a missing port matching any). Split out of server.ts.
 */
import os from 'node:os';
import type { ListenAddress } from '../transport/listen-uri.js';
import { stripBrackets } from '../transport/reply-route.js';

/** the lower-cased hosts of the listen addresses; a wildcard (0.0.0.0, ::) adds every interface's address. */
export function localAddresses(listen: readonly ListenAddress[]): Set<string> {
  const set = new Set<string>();
  let wildcard = false;
  for (const a of listen) {
    set.add(a.host.toLowerCase());
    if (a.host === '0.0.0.0' || a.host === '::') wildcard = true;
}
if (wildcard) {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const ni of list ?? []) set.add(ni.address.toLowerCase());
  }
}
return set;
}

/** a core.aliases entry: host[:port] ([v6]:port too); no port matches any port. */
export function parseAlias(text: string): { host: string; port: number | undefined } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(text.trim());
  if (!m) return { host: text.trim().toLowerCase(), port: undefined };
  return { host: stripBrackets(m[1]!).toLowerCase(), port: m[2] !== undefined ? Number(m[2]) : undefined };
}
