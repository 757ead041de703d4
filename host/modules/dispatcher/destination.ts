/**
 * One dispatcher destination: what the list file / table says about it (immutable), and its
 * runtime state (state flags, keepalive counters, latency, call load) which the state machine
 * and the selection algorithms update in place.
 */
import { SiphonError } from '../../errors/registry.js';
import { uriHashParts } from './hash.js';
import { LatencyStats } from './latency.js';

/** State/config bits, identical in the list file, the DB `flags` column and at runtime (Kamailio dispatch.h). */
export const DsFlag = {
  INACTIVE: 1,
  TRYING: 2,
  DISABLED: 4,
  PROBING: 8,
  /** do not resolve the host at load; such a target is never matched by ds_is_from_list. */
  NODNS: 16,
  NOPING: 32,
  /** every bit a state change resets (Kamailio DS_STATES_ALL). */
  STATES_ALL: 63,
} as const;

/** A target is skipped by selection when inactive or disabled (Kamailio `ds_skip_dst`). */
export function isSkipped(flags: number): boolean {
  return (flags & (DsFlag.INACTIVE | DsFlag.DISABLED)) !== 0;
}

/** The destination as configured: one line of dispatcher.list or one row of the `dispatcher` table. */
export interface DestinationSpec {
  setid: number;
  uri: string;
  flags: number;
  priority: number;
  /** attribute string as written (`name=value;...`), '' when none. */
  attrs: string;
  /** DB description column (not used for routing). */
  description?: string;
  /** where it came from, for error messages ("file:line" or "dispatcher#id"). */
  where?: string;
}

/** Known attributes (Kamailio `ds_set_attrs`); unknown names are kept in `body`. */
export interface DestinationAttrs {
  /** the attribute string without a trailing ';', or null when the destination has none. */
  body: string | null;
  duid: string | null;
  maxload: number;
  /** 1..100 for alg 9 / 15 / congestion control; out of range becomes 0. */
  weight: number;
  /** 1..100 for alg 11; out of range becomes 0. */
  rweight: number;
  /** 1 = congestion control. */
  cc: number;
  socket: string | null;
  sockname: string | null;
  pingSocket: string | null;
  pingFrom: string | null;
  obproxy: string | null;
  /** `latency=` seed, when given. */
  latency: number | null;
  ocmin: number;
  ocmax: number;
  ocrate: number;
  /** every attribute, names lower-cased, in order. */
  all: ReadonlyArray<readonly [string, string]>;
}

/** Kamailio str2sint: an optional sign then digits, the whole value; otherwise undefined. */
function toInt(v: string): number | undefined {
  return /^[+-]?[0-9]+$/.test(v) ? Number.parseInt(v, 10) : undefined;
}

/** Parses `name=value;name=value` the way Kamailio's parse_params + ds_set_attrs read it. */
export function parseAttrs(text: string, attrsNone = false): DestinationAttrs {
  let body: string | null = text.length > 0 ? text : attrsNone ? 'none=yes' : null;
  if (body !== null && body.endsWith(';')) body = body.slice(0, -1);
  const a: DestinationAttrs = {
    body,
    duid: null,
    maxload: 0,
    weight: 0,
    rweight: 0,
    cc: 0,
    socket: null,
    sockname: null,
    pingSocket: null,
    pingFrom: null,
    obproxy: null,
    latency: null,
    ocmin: 0,
    ocmax: 100,
    ocrate: 0,
    all: [],
  };
  if (body === null) return a;
  const all: Array<[string, string]> = [];
  for (const part of body.split(';')) {
    if (part.trim().length === 0) continue;
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    let value = eq < 0 ? '' : part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    all.push([name, value]);
    const n = toInt(value);
    switch (name) {
      case 'duid':
        a.duid = value;
        break;
      case 'cc':
        a.cc = n ?? 0;
        break;
      case 'weight':
        a.weight = n !== undefined && n >= 1 && n <= 100 ? n : 0;
        break;
      case 'rweight':
        a.rweight = n !== undefined && n >= 1 && n <= 100 ? n : 0;
        break;
      case 'latency':
        if (n !== undefined) a.latency = n;
        break;
      case 'maxload':
        a.maxload = n ?? 0;
        break;
      case 'socket':
        a.socket = value;
        break;
      case 'sockname':
        a.sockname = value;
        break;
      case 'ping_socket':
        a.pingSocket = value;
        break;
      case 'ping_from':
        a.pingFrom = value;
        break;
      case 'obproxy':
        a.obproxy = value;
        break;
      case 'ocmin':
        a.ocmin = n ?? 0;
        break;
      case 'ocmax':
        a.ocmax = n ?? 0;
        break;
      case 'ocrate':
        a.ocrate = n ?? 0;
        break;
    }
  }
  a.all = all;
  // overload-control bounds, as ds_set_attrs clamps them
  if (a.ocmax > 100 || a.ocmax === 0) a.ocmax = 100;
  if (a.ocmin > 100 || a.ocmin > a.ocmax) a.ocmin = 0;
  if (a.ocrate > 100) a.ocrate = 0;
  if (a.ocrate < a.ocmin) a.ocrate = a.ocmin;
  if (a.ocrate > a.ocmax) a.ocrate = a.ocmax;
  return a;
}

export type DsProto = 'udp' | 'tcp' | 'tls' | 'sctp' | 'ws' | 'wss' | 'none';

/** Where a destination URI points (Kamailio pack_dest). */
export interface DestinationAddress {
  uri: string;
  scheme: string;
  host: string;
  /** 0 when the URI has no port (then any source port matches in ds_is_from_list). */
  port: number;
  proto: DsProto;
}

const IPV4 = /^[0-9]{1,3}(\.[0-9]{1,3}){3}$/;

export function isIpLiteral(host: string): boolean {
  return IPV4.test(host) || (host.startsWith('[') && host.endsWith(']'));
}

/**
 * Parses a destination URI. A URI without scheme gets `sip:` prepended (as Kamailio does, with a
 * notice). Protocol per RFC 3263 as Kamailio applies it: `transport=` when given; otherwise UDP for
 * an IP address, UDP (sip:) / TCP (sips:) for a name with a port, and "none" (decided by DNS
 * later) for a bare name.
 */
export function parseDestinationUri(text: string, where?: string): DestinationAddress {
  let uri = text;
  let parts = uri.includes(':') ? uriHashParts(uri) : null;
  if (!parts || !['sip', 'sips'].includes(parts.scheme)) {
    if (!uri.toLowerCase().startsWith('sip:')) {
      uri = 'sip:' + text;
      parts = uriHashParts(uri);
    }
  }
  if (!parts || !['sip', 'sips'].includes(parts.scheme) || parts.host.length === 0 || /[\s"<>]/.test(parts.host)) {
    throw new SiphonError('DS_DESTINATION', `bad uri [${text}]`, { where });
  }
  const port = parts.portText !== undefined ? Number(parts.portText) : 0;
  if (port > 65535) throw new SiphonError('DS_DESTINATION', `bad port in uri [${text}]`, { where });
  const tm = /;transport=([a-z0-9]+)/i.exec(uri);
  let proto: DsProto;
  if (tm) {
    const t = tm[1]!.toLowerCase();
    proto = (['udp', 'tcp', 'tls', 'sctp', 'ws', 'wss'] as const).find((p) => p === t) ?? 'none';
  } else if (isIpLiteral(parts.host)) proto = 'udp';
  else if (port !== 0) proto = parts.scheme === 'sips' ? 'tcp' : 'udp';
  else proto = 'none';
  return { uri, scheme: parts.scheme, host: parts.host, port, proto };
}

/** Overload-control data of one target (Kamailio ds_ocdata_t, alg 64). */
export interface OverloadControl {
  ocrate: number;
  ocidx: number;
  ocseq: number;
  /** ms since epoch until which the rate applies. */
  octime: number;
  /** 100 slots, true = use, false = skip. */
  ocdist: boolean[];
}

let uidCounter = 0;

/** A destination inside a loaded snapshot. Configuration fields are readonly; state is mutable. */
export class Destination {
  readonly setid: number;
  readonly uri: string;
  readonly priority: number;
  readonly attrs: DestinationAttrs;
  readonly address: DestinationAddress;
  /** resolved IP addresses for ds_is_from_list (empty with flag 16 or when unresolvable). */
  readonly ips: readonly string[];
  /** flag 16 was given: never matched by source checks, never pinged. */
  readonly noDns: boolean;
  /** instance unique id (Kamailio IUID), used in keepalive From-tags. */
  readonly uid: string;
  readonly description: string;

  /** state bits (DsFlag). */
  flags: number;
  /** consecutive keepalive failures (towards TRYING → INACTIVE) or successes (INACTIVE → ACTIVE). */
  probingCount = 0;
  /** active calls for alg 10 (Kamailio dload). */
  load = 0;
  /** relative weight in use (alg 11); starts as the attribute, lowered by congestion control. */
  rweight: number;
  /** adjusted priority computed by alg 13. */
  rpriority = 0;
  readonly latency: LatencyStats;
  readonly oc: OverloadControl;
  /** a keepalive is outstanding. */
  pingInFlight = false;

  constructor(spec: DestinationSpec, address: DestinationAddress, ips: readonly string[], attrs: DestinationAttrs) {
    this.setid = spec.setid;
    this.uri = address.uri;
    this.priority = spec.priority;
    this.attrs = attrs;
    this.address = address;
    this.ips = ips;
    this.noDns = (spec.flags & DsFlag.NODNS) !== 0;
    this.flags = spec.flags;
    this.rweight = attrs.rweight;
    this.description = spec.description ?? '';
    uidCounter = (uidCounter + 1) >>> 0;
    this.uid = `${spec.setid}.${process.pid.toString(36)}.${uidCounter.toString(36).padStart(6, '0')}`;
    this.latency = new LatencyStats();
    if (attrs.latency !== null) this.latency.seed(attrs.latency);
    this.oc = { ocrate: attrs.ocrate, ocidx: 0, ocseq: 0, octime: 0, ocdist: new Array<boolean>(100).fill(true) };
    prepareOverloadDistribution(this.oc);
  }
}

/** Fills the 100-slot overload table: `ocrate` skip slots, the rest use, shuffled (ds_oc_prepare). */
export function prepareOverloadDistribution(oc: OverloadControl): void {
  for (let i = 0; i < 100; i++) oc.ocdist[i] = i >= oc.ocrate;
  for (let j = 0; j < 100; j++) {
    const k = j + Math.floor(Math.random() * (100 - j));
    const t = oc.ocdist[j]!;
    oc.ocdist[j] = oc.ocdist[k]!;
    oc.ocdist[k] = t;
  }
}
