/**
 * Target selection (Kamailio ds_manage_routes and helpers): the algorithm yields an integer h, the
 * index is h % n (h % (n-1) with use_default, keeping the last entry as fallback); an inactive or
 * disabled pick walks forward (wrapping) to the next usable target, and falls back to the default
 * entry or fails. The failover list gets the chosen target, then those after it, then those before
 * it, then the default entry.
 */
import { dsHash, dsHashUri } from './hash.js';
import { isSkipped, type Destination } from './destination.js';
import type { DestinationSet } from './sets.js';
import type { DsTargetList } from './failover.js';
import type { CallLoadTable } from './call-load.js';

/** Algorithm numbers (`alg` argument). */
export const Alg = {
  HASH_CALLID: 0,
  HASH_FROM: 1,
  HASH_TO: 2,
  HASH_RURI: 3,
  ROUND_ROBIN: 4,
  HASH_AUTH_USER: 5,
  RANDOM: 6,
  HASH_PV: 7,
  SERIAL: 8,
  WEIGHT: 9,
  CALL_LOAD: 10,
  RELATIVE_WEIGHT: 11,
  PARALLEL: 12,
  LATENCY: 13,
  RR_OR_SERIAL: 14,
  PRIORITY_WEIGHT: 15,
  OVERLOAD: 64,
} as const;

/** What the hash algorithms read from a request. */
export interface DsMessage {
  readonly method: string;
  readonly callId: string;
  readonly fromUri?: string;
  readonly toUri?: string;
  readonly requestUri: string;
  /** digest username from Proxy-Authorization, else Authorization; undefined without credentials. */
  authUsername(): string | undefined;
  /** alg 7: the expanded `hash_pvar` text; undefined when unset. */
  hashPvValue(): string | undefined;
}

export interface SelectOptions {
  useDefault: boolean;
  /** module `flags` bit 1: hash URIs on the user part only. */
  hashUserOnly: boolean;
  /** module `flags` bit 2: keep failover targets. */
  failover: boolean;
  /** call-load table, present when ds_hash_size > 0. */
  callLoad: CallLoadTable | null;
  /** warn about an unknown algorithm (first entry is used). */
  warn?: (msg: string) => void;
}

/** Result of one selection: index into set.dests, or -1. */
export interface Selection {
  index: number;
  /** the algorithm actually applied (alg 10 falls back to 0 for non-INVITE). */
  alg: number;
}

function trimmed(s: string | undefined): string | undefined {
  return s === undefined ? undefined : s.trim();
}

/** The usable-target walk modulus: n, or n-1 when use_default keeps the last entry aside. */
function modulus(set: DestinationSet, useDefault: boolean): number {
  const n = set.dests.length;
  return useDefault && n !== 1 ? n - 1 : n;
}

/** alg 64: skip the target `ocrate` times in 100 while its rate is valid (ds_oc_skip). */
function overloadSkip(d: Destination, alg: number, now: number): boolean {
  if (alg !== Alg.OVERLOAD) return false;
  if (d.oc.octime < now) return false;
  const use = d.oc.ocdist[d.oc.ocidx]!;
  d.oc.ocidx = (d.oc.ocidx + 1) % 100;
  return !use;
}

/** alg 10: the usable target with the fewest active calls under its maxload (ds_get_leastloaded). */
function leastLoaded(set: DestinationSet): number {
  let k = -1;
  let t = 0x7fffffff;
  for (let j = 0; j < set.dests.length; j++) {
    const d = set.dests[j]!;
    if (!isSkipped(d.flags) && (d.attrs.maxload === 0 || d.load < d.attrs.maxload) && d.load < t) {
      k = j;
      t = d.load;
    }
  }
  return k;
}

function pushTarget(list: DsTargetList, set: DestinationSet, i: number, alg: number): void {
  const d = set.dests[i]!;
  list.push({
    setid: set.id,
    uri: d.uri,
    attrs: d.attrs.body,
    socket: d.attrs.socket,
    sockname: d.attrs.sockname,
    dstid: alg === Alg.CALL_LOAD ? d.attrs.duid : null,
  });
  list.cnt++;
}

/**
 * alg 13 (ds_manage_route_algo13): starting at the round-robin position, each usable target gets
 * an adjusted priority `priority - latency/priority` (when latency > priority; floor 1), latency
 * being EST, or EST-AVG with cc=1; the best adjusted priority wins and the list follows that order.
 */
function latencyOptimised(set: DestinationSet, opts: SelectOptions, limit: number, list: DsTargetList): number {
  const n = set.dests.length;
  const sorted: Array<{ idx: number; priority: number }> = [];
  let z = set.last;
  for (let y = 0; y < n; y++) {
    const d = set.dests[z]!;
    if (!isSkipped(d.flags)) {
      const prio = d.priority;
      let lat = Math.trunc(d.latency.estimate);
      if (d.attrs.cc) lat = Math.trunc(d.latency.estimate - d.latency.average);
      let handicap = 0;
      if (lat > prio && prio > 0) handicap = Math.trunc(lat / prio);
      d.rpriority = prio - handicap;
      if (d.rpriority < 1 && prio > 0) d.rpriority = 1;
      sorted.push({ idx: z, priority: d.rpriority });
    } else sorted.push({ idx: -1, priority: -1 });
    z = opts.useDefault && n !== 1 ? (z + 1) % (n - 1) : (z + 1) % n;
  }
  // Kamailio's bubble pass is a stable sort by priority, highest first
  sorted.sort((a, b) => b.priority - a.priority);
  const hash = n > 0 ? sorted[0]!.idx : -1;
  if (opts.failover) {
    for (let i = 0; i < n && list.cnt < limit; i++) {
      const s = sorted[i]!;
      if (s.idx < 0 || (opts.useDefault && s.idx === n - 1)) continue;
      pushTarget(list, set, s.idx, Alg.LATENCY);
    }
  }
  set.last = (((hash + 1) % n) + n) % n;
  return hash;
}

/**
 * Runs one selection on `set`. Fills `list` (after the caller reset it) when failover is on.
 * Returns the chosen index or -1 (no usable target, hash input missing).
 */
export function selectTarget(
  set: DestinationSet,
  requestedAlg: number,
  limitIn: number,
  msg: DsMessage,
  opts: SelectOptions,
  list: DsTargetList,
): Selection {
  const n = set.dests.length;
  const limit = limitIn <= 0 ? 0xffffffff : limitIn;
  let alg = requestedAlg;
  if (n === 0) return { index: -1, alg };
  const valg = alg === Alg.RR_OR_SERIAL ? (set.rrserial !== 0 ? Alg.ROUND_ROBIN : Alg.SERIAL) : alg;
  let hash = 0;
  let ulast = false;
  let vlast = 0;
  let filled = false;
  const roundRobin = (): void => {
    hash = set.last;
    set.last = (set.last + 1) % n;
    vlast = set.last;
    ulast = true;
  };
  switch (valg) {
    case Alg.HASH_CALLID: {
      hash = dsHash(trimmed(msg.callId) ?? '');
      break;
    }
    case Alg.HASH_FROM:
    case Alg.HASH_TO:
    case Alg.HASH_RURI: {
      const u = valg === Alg.HASH_FROM ? msg.fromUri : valg === Alg.HASH_TO ? msg.toUri : msg.requestUri;
      const h = u === undefined ? null : dsHashUri(u.trim(), opts.hashUserOnly);
      if (h === null) return { index: -1, alg };
      hash = h;
      break;
    }
    case Alg.ROUND_ROBIN:
    case Alg.OVERLOAD:
      roundRobin();
      break;
    case Alg.HASH_AUTH_USER: {
      // Kamailio hashes the user part of the digest username ("alice" of username="alice@example.com",
      // its digest parser splits at '@'); checked against Kamailio 5.6.3 by test/oracle/dispatcher.test.ts
      const whole = trimmed(msg.authUsername());
      const at = whole === undefined ? -1 : whole.indexOf('@');
      const user = at < 0 ? whole : whole!.slice(0, at);
      if (user === undefined || user.length === 0) roundRobin();
      else hash = dsHash(user);
      break;
    }
    case Alg.RANDOM:
      hash = Math.floor(Math.random() * 0x7fffffff);
      break;
    case Alg.HASH_PV: {
      const v = trimmed(msg.hashPvValue());
      if (v === undefined || v.length === 0) return { index: -1, alg };
      hash = dsHash(v);
      break;
    }
    case Alg.SERIAL:
    case Alg.PARALLEL:
      hash = 0;
      break;
    case Alg.WEIGHT:
      hash = set.wlist[set.wlast]!;
      set.wlast = (set.wlast + 1) % 100;
      break;
    case Alg.CALL_LOAD: {
      if (msg.method !== 'INVITE' || !opts.callLoad) {
        hash = 0;
        alg = 0;
        break;
      }
      const i = leastLoaded(set);
      if (i < 0) return { index: -1, alg };
      hash = i;
      const d = set.dests[i]!;
      if (!d.attrs.duid) alg = 0;
      else {
        opts.callLoad.add(msg.callId, set.id, d.attrs.duid);
        d.load++;
      }
      break;
    }
    case Alg.RELATIVE_WEIGHT:
      hash = set.rwlist[set.rwlast]!;
      set.rwlast = (set.rwlast + 1) % 100;
      break;
    case Alg.LATENCY:
      hash = latencyOptimised(set, opts, limit, list);
      if (hash < 0) return { index: -1, alg };
      filled = true;
      break;
    case Alg.PRIORITY_WEIGHT:
      hash = set.pwlist[set.pwlast]!;
      set.pwlast = (set.pwlast + 1) % 100;
      break;
    default:
      opts.warn?.(`algorithm ${requestedAlg} not implemented - using first entry`);
      hash = 0;
  }

  const m = modulus(set, opts.useDefault);
  hash = hash % m;
  let i = hash;
  const now = Date.now();
  while (!filled && (isSkipped(set.dests[i]!.flags) || overloadSkip(set.dests[i]!, alg, now))) {
    i = (i + 1) % m;
    if (i === hash) {
      if (opts.useDefault) {
        i = n - 1;
        if (isSkipped(set.dests[i]!.flags) || overloadSkip(set.dests[i]!, alg, now)) return { index: -1, alg };
        break;
      }
      return { index: -1, alg };
    }
  }
  hash = i;
  // the next round-robin start is after the target actually used, unless it moved meanwhile
  if (ulast && vlast === set.last) set.last = (hash + 1) % n;

  if (alg === Alg.PARALLEL) {
    list.parallel = true;
    pushTarget(list, set, hash, alg);
    for (let j = 0; j < n; j++) {
      if (j !== hash && !isSkipped(set.dests[j]!.flags)) pushTarget(list, set, j, alg);
    }
    return { index: hash, alg };
  }
  if (!opts.failover) return { index: hash, alg };
  if (!filled) fillFailover(set, hash, alg, limit, opts, list);
  if (opts.useDefault && hash !== n - 1 && list.cnt < limit) pushTarget(list, set, n - 1, alg);
  return { index: hash, alg };
}

/** The failover order: chosen, those after it, those before it (ds_manage_routes_fill_xavp). */
function fillFailover(set: DestinationSet, hash: number, alg: number, limit: number, opts: SelectOptions, list: DsTargetList): void {
  const n = set.dests.length;
  pushTarget(list, set, hash, alg);
  const usable = (i: number): boolean => {
    const d = set.dests[i]!;
    if (isSkipped(d.flags) || (opts.useDefault && i === n - 1)) return false;
    return !(alg === Alg.CALL_LOAD && d.attrs.maxload !== 0 && d.load >= d.attrs.maxload);
  };
  for (let i = hash + 1; i < n && list.cnt < limit; i++) if (usable(i)) pushTarget(list, set, i, alg);
  for (let i = 0; i < hash && list.cnt < limit; i++) if (usable(i)) pushTarget(list, set, i, alg);
}
