/**
 * ds_is_from_list (Kamailio ds_is_addr_from_list): does a request's source, or the address of a
 * URI, belong to a destination of a set? Pure matching over a loaded snapshot.
 */
import { isIpLiteral, isSkipped } from './destination.js';
import { uriHashParts } from './hash.js';
import type { DestinationSet, DispatcherSets } from './sets.js';

/** Where a request came from, for ds_is_from_list. */
export interface DsSource {
  address: string;
  port: number;
  proto: string;
  /** the receiving socket as `proto:ip:port`, for mode 8. */
  localSocket?: string;
}

export interface FromListMatch {
  rc: number;
  setid?: number;
  attrs?: string | null;
}

/** ds_is_from_list mode bits. */
export const MatchMode = { ALL: 0, NOPORT: 1, NOPROTO: 2, ACTIVE: 4, SOCKET: 8, BEST: 16 } as const;

/**
 * ds_is_from_list(set, mode, uri?): does the source (or the address of `uri`) belong to a
 * destination of the set (-1 = every set)? Mode bits: 1 ignore port, 2 ignore protocol, 4 only
 * usable targets, 8 match the receiving socket, 16 best partial match. Destinations without a
 * port match any port. A `uri` must name an IP address or a destination host (no DNS here:
 * the message path stays synchronous).
 */
export function matchFromList(sets: DispatcherSets, setid: number, mode: number, src: DsSource, uri?: string): FromListMatch {
  let address = src.address;
  let port = src.port;
  let proto = src.proto.toLowerCase();
  if (uri !== undefined && uri.length > 0) {
    const p = uriHashParts(uri);
    if (!p) return { rc: -1 };
    const host = p.host.startsWith('[') ? p.host.slice(1, -1) : p.host;
    port = p.portText !== undefined ? Number(p.portText) : 0;
    // linear: a literal prefix, then one greedy class that ends the match (no backtracking)
    const tm = /;transport=([a-z0-9]+)/i.exec(uri);
    proto = tm ? tm[1]!.toLowerCase() : isIpLiteral(p.host) || port !== 0 ? (p.scheme === 'sips' ? 'tcp' : 'udp') : 'none';
    if (isIpLiteral(p.host)) address = host;
    else {
      const known = resolveKnownHost(sets, host);
      if (!known) return { rc: -1 };
      address = known;
    }
  }
  address = address.toLowerCase();
  const best = { score: 0, set: null as DestinationSet | null, idx: -1 };
  const chosen = setid === -1 ? sets.ordered : [sets.get(setid)].filter((s): s is DestinationSet => !!s);
  for (const set of chosen) {
    for (let j = 0; j < set.dests.length; j++) {
      const d = set.dests[j]!;
      if (d.noDns || !d.ips.some((ip) => ip.toLowerCase() === address)) continue;
      const dport = d.address.port;
      const dproto = d.address.proto;
      const sockOk = !(mode & MatchMode.SOCKET) || !d.attrs.socket || sameSocket(d.attrs.socket, src.localSocket);
      const ok =
        (mode & MatchMode.NOPORT || dport === 0 || port === dport || mode & MatchMode.BEST) &&
        (mode & MatchMode.NOPROTO || proto === dproto || mode & MatchMode.BEST) &&
        (!(mode & MatchMode.ACTIVE) || !isSkipped(d.flags)) &&
        sockOk;
      if (!ok) continue;
      if (mode & MatchMode.BEST) {
        let score = 1;
        if (dport && port === dport) score |= 2;
        if (dproto !== 'none' && proto === dproto) score |= 4;
        if (d.attrs.socket && sameSocket(d.attrs.socket, src.localSocket)) score |= 8;
        if (score === 15) return { rc: 1, setid: set.id, attrs: d.attrs.body };
        if (best.score < score) Object.assign(best, { score, set, idx: j });
        continue;
      }
      return { rc: 1, setid: set.id, attrs: d.attrs.body };
    }
  }
  if (best.set) return { rc: 1, setid: best.set.id, attrs: best.set.dests[best.idx]!.attrs.body };
  return { rc: -1 };
}

function resolveKnownHost(sets: DispatcherSets, host: string): string | null {
  const lc = host.toLowerCase();
  for (const set of sets.ordered) for (const d of set.dests) if (d.address.host.toLowerCase() === lc && d.ips.length > 0) return d.ips[0]!;
  return null;
}

function sameSocket(a: string, b: string | undefined): boolean {
  return b !== undefined && a.toLowerCase() === b.toLowerCase();
}
