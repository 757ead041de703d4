/**
 * RFC 3263 §4 target selection, the pure parts (no I/O): which NAPTR records a client may follow
 * (§4.1: services SIP+D2U, SIP+D2T, SIPS+D2T, "s" flag, only transports it has listeners for,
 * order then preference), the SRV names of a transport (§4.1, RFC 2782 `_Service._Proto.Name`)
 * and the order SRV targets are tried in (RFC 2782: lowest priority first; inside one priority
 * a weighted random order; Kamailio `dns_srv_lb`). host/proxy/resolver.ts does the lookups and
 * caching and calls these on cached answers.
 */
import type { Proto } from '../core/context.js';

/** a NAPTR record as node:dns reports it (RFC 3403 §4.1). */
export interface NaptrRecord {
  flags: string;
  service: string;
  regexp: string;
  replacement: string;
  order: number;
  preference: number;
}

/** an SRV record as node:dns reports it (RFC 2782). */
export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/** a NAPTR record reduced to what the client follows: the SRV name and the transport. */
export interface NaptrChoice {
  proto: Proto;
  srv: string;
}

/**
 * RFC 3263 §4.1 service fields and the transport each names; SIPS+D2T is TLS over TCP. SCTP
 * (D2S) and WebSocket (D2W, RFC 7118) are not listed: siphon has no SCTP and a WebSocket
 * client cannot be dialed from a NAPTR answer.
 */
const NAPTR_SERVICES: Readonly<Record<string, Proto>> = { 'sip+d2u': 'udp', 'sip+d2t': 'tcp', 'sips+d2t': 'tls' };

/** RFC 3263 §4.1: the SRV prefix of a transport; undefined for transports SRV does not cover. */
export function srvName(proto: Proto, host: string): string | undefined {
  switch (proto) {
    case 'udp':
      return `_sip._udp.${host}`;
    case 'tcp':
      return `_sip._tcp.${host}`;
    case 'tls':
      return `_sips._tcp.${host}`;
    default:
      return undefined; // ws/wss: RFC 7118 §5 defines no SRV/NAPTR use for dialing
  }
}

/**
 * The NAPTR records a client follows, best first: "s" flag (the replacement is an SRV name;
 * RFC 3263 §4.1 uses no regexp rewriting), a SIP service for a transport `supports` accepts,
 * only SIPS services for a sips URI (§4.1: a SIPS URI needs TLS), sorted by order then
 * preference (RFC 3403 §4.1). At most `max` are kept (the answer comes from anyone's zone).
 */
export function chooseNaptr(records: readonly NaptrRecord[], secure: boolean, supports: (p: Proto) => boolean, max: number): NaptrChoice[] {
  const usable: Array<NaptrRecord & { proto: Proto }> = [];
  for (const r of records) {
    if (r.flags.toLowerCase() !== 's' || r.replacement.length === 0 || r.replacement === '.') continue;
    const proto = NAPTR_SERVICES[r.service.toLowerCase()];
    if (proto === undefined || (secure && proto !== 'tls') || !supports(proto)) continue;
    usable.push({ ...r, proto });
  }
  usable.sort((a, b) => a.order - b.order || a.preference - b.preference);
  const out: NaptrChoice[] = [];
  for (const r of usable) {
    if (out.length >= max) break;
    if (out.some((c) => c.srv === r.replacement && c.proto === r.proto)) continue;
    out.push({ proto: r.proto, srv: r.replacement });
  }
  return out;
}

/**
 * The SRV records kept for a name: "." targets dropped (RFC 2782: the service is decidedly not
 * available there), sorted by priority, at most `max` (the lowest priorities).
 */
export function keepSrv(records: readonly SrvRecord[], max: number): SrvRecord[] {
  const out = records.filter((r) => r.name.length > 0 && r.name !== '.');
  out.sort((a, b) => a.priority - b.priority);
  if (out.length > max) out.length = max;
  return out;
}

/**
 * RFC 2782 target order: priority groups lowest first; inside a group, with `weighted` (Kamailio
 * dns_srv_lb) each pick chooses among the remaining records with probability proportional to
 * its weight (weight 0 records get a small chance, placed first in the running sum as the RFC
 * says); without it the heaviest first. `records` are sorted by priority (keepSrv) and at most a
 * few dozen, so the quadratic pick is cheap. `random` returns [0, 1).
 */
export function orderSrv(records: readonly SrvRecord[], weighted: boolean, random: () => number = Math.random): SrvRecord[] {
  const out: SrvRecord[] = [];
  let i = 0;
  while (i < records.length) {
    let j = i;
    while (j < records.length && records[j]!.priority === records[i]!.priority) j++;
    const group = records.slice(i, j);
    if (!weighted) {
      group.sort((a, b) => b.weight - a.weight);
      out.push(...group);
    } else {
      // weight 0 first, so a zero-weight record is chosen only when the draw is exactly 0
      group.sort((a, b) => (a.weight === 0 ? 0 : 1) - (b.weight === 0 ? 0 : 1));
      while (group.length > 0) {
        let sum = 0;
        for (const r of group) sum += r.weight;
        const draw = sum === 0 ? 0 : Math.floor(random() * (sum + 1));
        let running = 0;
        let k = 0;
        for (; k < group.length - 1; k++) {
          running += group[k]!.weight;
          if (running >= draw) break;
        }
        out.push(group[k]!);
        group.splice(k, 1);
      }
    }
    i = j;
  }
  return out;
}
