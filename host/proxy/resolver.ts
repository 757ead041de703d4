/**
 * Next-hop resolution for forwarded requests, RFC 3263 §4 (Kamailio's resolver with
 * `dns_try_naptr`, `dns_srv_lb` and `use_dns_failover`): the next hop is `$du` when set, else the
 * Request-URI (RFC 3261 §16.6 step 7 after loose routing), and its host becomes an ordered list
 * of targets (address, port, transport):
 *
 *   - an IP literal is used as is (§4.1, §4.2);
 *   - a port in the URI: A/AAAA of the host only (§4.2);
 *   - `;transport=` without a port: SRV of that transport, else A/AAAA (§4.1, §4.2);
 *   - neither: NAPTR (services SIP+D2U/D2T, SIPS+D2T for transports with a listener here, order
 *     then preference; rfc3263.ts), each record's SRV name; without NAPTR the SRV names of the
 *     transports we have, UDP then TCP then TLS (a sips URI: _sips._tcp only); without SRV A/AAAA
 *     with 5060/5061 and UDP (TLS for sips) (§4.1, §4.2);
 *   - SRV targets in RFC 2782 order (priority, then weighted random with `srv_lb`), each
 *     target's A then AAAA addresses.
 * The list is what failover walks (RFC 3263 §4.3, proxy.ts): the next target after a 503, a
 * timeout or a transport error. Port: the URI's, else 5060 (5061 for sips).
 *
 * Lookups: node:dns Resolver (c-ares) for NAPTR, SRV and, with `core.dns.servers` set, A/AAAA
 * with their TTLs; without servers A/AAAA go through dns.lookup (the system resolver, /etc/hosts
 * included), which reports no TTL. Answers are cached by record set (`naptr:`, `srv:`, `addr:`
 * name) so the message path does not wait on DNS for every request and the random SRV order is
 * drawn per request from cached records.
 *
 * The names come from requests, so from anyone: the cache is bounded (core.dns_cache): at most
 * `max_entries` record sets, least recently used evicted first, each kept for its TTL clamped to
 * [`min_ttl`, `max_ttl`] (`ttl` when the answer carries none: dns.lookup, NAPTR, SRV through
 * node), failures `negative_ttl`; a name longer than 253 characters (RFC 1035 §2.3.4) is
 * unresolvable without a lookup; at most `max_pending` lookups wait at once, further names are
 * answered unresolvable (478) without being cached; one answer contributes at most 16 NAPTR,
 * 16 SRV and 8 addresses, one resolution at most `max_targets` targets and 6 lookup rounds.
 * Kamailio bounds its DNS cache by memory (`dns_cache_max_mem`, 500 KB) with
 * `dns_cache_min_ttl`/`dns_cache_max_ttl` and `dns_neg_cache_ttl`.
 */
import dns from 'node:dns';
import net from 'node:net';
import type { Logger } from 'pino';
import { Errors } from '../errors/registry.js';
import type { Proto } from '../core/context.js';
import { parseUri } from '../sip/parser.js';
import { stripBrackets } from '../transport/reply-route.js';
import { chooseNaptr, keepSrv, orderSrv, srvName, type NaptrRecord, type SrvRecord } from './rfc3263.js';

export interface NextHop {
  /** host as written in the URI, without IPv6 brackets. */
  readonly host: string;
  readonly port: number;
  readonly proto: Proto;
  /** the URI had a port (RFC 3263 §4.2: A/AAAA only). */
  readonly portGiven?: boolean;
  /** the URI had `;transport=` (§4.1: no NAPTR). */
  readonly transportGiven?: boolean;
  /** a sips URI (§4.1: TLS only). */
  readonly secure?: boolean;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** one place a request may be sent to (RFC 3263 §4: address, port, transport). */
export interface Target extends ResolvedAddress {
  port: number;
  proto: Proto;
}

/**
 * The next hop a URI designates, or null when the URI cannot be routed (not sip/sips, unparsable,
 * a transport siphon does not speak).
 */
export function nextHopOf(uriText: string): NextHop | null {
  // t_relay() validates the target and the branch then uses it: the same URI (often the same
  // dispatcher $du for every call) is looked up twice per request, so the last answer is reused
  if (uriText === lastHopUri) return lastHop;
  const hop = computeNextHop(uriText);
  lastHopUri = uriText;
  lastHop = hop;
  return hop;
}

let lastHopUri: string | null = null;
let lastHop: NextHop | null = null;

function computeNextHop(uriText: string): NextHop | null {
  const uri = parseUri(uriText);
  if (uri === null || uri.scheme === 'tel' || uri.host.length === 0) return null;
  // RFC 5630 §3.1.3 / RFC 3261 §26.2.2: a sips URI is reached over TLS on every hop; the old
  // `sips:...;transport=tcp` spelling means TLS over TCP too; sips over UDP does not exist
  const secure = uri.scheme === 'sips';
  let proto: Proto = secure ? 'tls' : 'udp';
  let maddr: string | undefined;
  let transportGiven = false;
  for (const [name, value] of uri.params) {
    if (name === 'transport' && value !== null) {
      const t = value.toLowerCase();
      transportGiven = true;
      if (t === 'tls') proto = 'tls';
      else if (t === 'tcp') proto = secure ? 'tls' : 'tcp';
      else if (t === 'ws' || t === 'wss') proto = secure ? 'wss' : t; // RFC 7118 §5.2
      else if (t !== 'udp' || secure) return null;
    } else if (name === 'maddr' && value !== null) {
      maddr = value; // RFC 3261 §19.1.1: maddr overrides the host for the next hop
    }
  }
  const host = stripBrackets(maddr ?? uri.host);
  // frozen: the object is shared by every caller asking about the same URI
  return Object.freeze({ host, port: uri.port ?? (proto === 'tls' ? 5061 : 5060), proto, portGiven: uri.port !== undefined, transportGiven, secure });
}

type Records = NaptrRecord[] | SrvRecord[] | ResolvedAddress[];

interface CacheEntry {
  expires: number;
  /** null: the lookup failed (negative entry). */
  value: Records | null;
}

/** the legacy single-address lookup (dns.lookup's callback shape; tests inject one). */
export type LookupFunction = (host: string, cb: (err: Error | null, address: string, family: number) => void) => void;

export interface ResolverOptions {
  /** how long an answer without TTL is reused (default 60 s). */
  ttlMs?: number;
  /** how long a failed lookup is remembered (default 5 s). */
  negativeTtlMs?: number;
  /** DNS TTLs are clamped to [minTtlMs, maxTtlMs] (defaults 1 s, 3600 s). */
  minTtlMs?: number;
  maxTtlMs?: number;
  /** A/AAAA lookup for names when no `servers` are set (default dns.lookup, all addresses). */
  lookup?: LookupFunction;
  /** record sets kept at most (least recently used evicted first; default 4096). */
  maxEntries?: number;
  /** lookups waiting on the resolver at most (default 256); more are answered unresolvable. */
  maxPending?: number;
  /** DNS servers ("127.0.0.1:5353", "[::1]:53"); empty = the system's (/etc/resolv.conf). */
  servers?: readonly string[];
  /** per-try timeout of a DNS query in ms (default 2000) and tries (default 2). */
  timeoutMs?: number;
  tries?: number;
  /** RFC 3263 NAPTR step (Kamailio dns_try_naptr; default true). */
  tryNaptr?: boolean;
  /** SRV lookups at all (Kamailio dns_try_srv... always on there; default true). */
  trySrv?: boolean;
  /** weighted random order inside an SRV priority (Kamailio dns_srv_lb; default true). */
  srvLb?: boolean;
  /** targets one resolution yields at most (default 8). */
  maxTargets?: number;
  /** where "too many lookups in flight" is reported (E9012, at most every 10 s). */
  log?: Logger;
  /** clock in ms (tests). */
  now?: () => number;
  /** [0,1) source of the SRV weighted order (tests). */
  random?: () => number;
}

/** Counters of the cache (tm statistics group: dns_*). */
export interface ResolverStats {
  hits: number;
  misses: number;
  /** entries dropped because the cache held max_entries. */
  evicted: number;
  /** entries found past their TTL. */
  expired: number;
  /** lookups started (one per record set). */
  lookups: number;
  /** names answered unresolvable because max_pending lookups were in flight. */
  busy: number;
}

/** RFC 1035 §2.3.4: a domain name is at most 255 octets, 253 characters in text form. */
const MAX_NAME_LENGTH = 253;
/** records one answer contributes at most (the zone is anyone's). */
const MAX_NAPTR = 16;
const MAX_SRV = 16;
const MAX_ADDRESSES = 8;
/** NAPTR → SRV → A/AAAA is 3 rounds; a few more absorb an entry evicted between rounds. */
const MAX_ROUNDS = 6;

export const RESOLVER_DEFAULTS = {
  ttlMs: 60_000, negativeTtlMs: 5_000, minTtlMs: 1_000, maxTtlMs: 3_600_000, maxEntries: 4096, maxPending: 256,
  timeoutMs: 2000, tries: 2, maxTargets: 8,
} as const;

type Kind = 'naptr' | 'srv' | 'addr';

export class Resolver {
  /** insertion order is recency order: the first key is the least recently used. */
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly minTtlMs: number;
  private readonly maxTtlMs: number;
  private readonly lookup: LookupFunction | null;
  private readonly dnsResolver: dns.promises.Resolver;
  private readonly useServersForAddresses: boolean;
  private readonly maxEntries: number;
  private readonly maxPending: number;
  private readonly tryNaptr: boolean;
  private readonly trySrv: boolean;
  private readonly srvLb: boolean;
  readonly maxTargets: number;
  private readonly log: Logger | undefined;
  private readonly now: () => number;
  private readonly random: () => number;
  private busyWarnAt = -Infinity;
  /** which transports have a listener here (NAPTR/SRV only offer those; set by the proxy). */
  supports: (p: Proto) => boolean = () => true;
  readonly stats: ResolverStats = { hits: 0, misses: 0, evicted: 0, expired: 0, lookups: 0, busy: 0 };

  constructor(opts: ResolverOptions = {}) {
    this.ttlMs = opts.ttlMs ?? RESOLVER_DEFAULTS.ttlMs;
    this.negativeTtlMs = opts.negativeTtlMs ?? RESOLVER_DEFAULTS.negativeTtlMs;
    this.minTtlMs = opts.minTtlMs ?? RESOLVER_DEFAULTS.minTtlMs;
    this.maxTtlMs = Math.max(this.minTtlMs, opts.maxTtlMs ?? RESOLVER_DEFAULTS.maxTtlMs);
    this.lookup = opts.lookup ?? null;
    this.dnsResolver = new dns.promises.Resolver({ timeout: opts.timeoutMs ?? RESOLVER_DEFAULTS.timeoutMs, tries: opts.tries ?? RESOLVER_DEFAULTS.tries });
    const servers = opts.servers ?? [];
    if (servers.length > 0) this.dnsResolver.setServers([...servers]);
    this.useServersForAddresses = servers.length > 0 && opts.lookup === undefined;
    this.maxEntries = Math.max(1, opts.maxEntries ?? RESOLVER_DEFAULTS.maxEntries);
    this.maxPending = Math.max(1, opts.maxPending ?? RESOLVER_DEFAULTS.maxPending);
    // an injected single-address lookup (tests of the cache) means: no NAPTR/SRV unless asked
    this.tryNaptr = opts.tryNaptr ?? opts.lookup === undefined;
    this.trySrv = opts.trySrv ?? opts.lookup === undefined;
    this.srvLb = opts.srvLb ?? true;
    this.maxTargets = Math.max(1, opts.maxTargets ?? RESOLVER_DEFAULTS.maxTargets);
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
  }

  /** record sets cached now (at most max_entries). */
  get size(): number {
    return this.cache.size;
  }

  /** lookups in flight now (at most max_pending). */
  get pending(): number {
    return this.inflight.size;
  }

  // ---- RFC 3263 targets -----------------------------------------------------------------------

  /**
   * The targets of `hop` when known without waiting (IP literal, or every record set needed is
   * cached), in the order to try them. undefined = must resolve asynchronously; null = known not
   * to resolve.
   */
  targetsCached(hop: NextHop): Target[] | null | undefined {
    const missing = new Map<string, Kind>();
    const r = this.plan(hop, missing, null);
    if (r === undefined) this.stats.misses++;
    else this.stats.hits++;
    return r;
  }

  /** Resolves `hop` into its ordered targets (RFC 3263 §4); null when nothing resolves. */
  async resolveTargets(hop: NextHop): Promise<Target[] | null> {
    const failed = new Set<string>();
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const missing = new Map<string, Kind>();
      const r = this.plan(hop, missing, failed);
      if (r !== undefined) return r;
      if (missing.size === 0) return null;
      await Promise.all([...missing].map(([key, kind]) => this.fetch(key, kind).then((ok) => {
        if (!ok) failed.add(key); // busy: treated as failed for this resolution, not cached
      })));
    }
    return null;
  }

  /**
   * RFC 3263 §4.1/§4.2 on the cache: fills `missing` with the record sets still needed and
   * returns undefined, or the targets (null: none). `failed` keys count as failed lookups.
   */
  private plan(hop: NextHop, missing: Map<string, Kind>, failed: Set<string> | null): Target[] | null | undefined {
    const host = hop.host;
    const family = net.isIP(host);
    if (family !== 0) return [{ address: host, family: family as 4 | 6, port: hop.port, proto: hop.proto }];
    if (host.length > MAX_NAME_LENGTH || host.length === 0) return null;
    const name = host.toLowerCase();
    if (hop.portGiven === true || !this.trySrv) return this.addressTargets(name, hop.port, hop.proto, [], missing, failed);
    if (hop.transportGiven === true) {
      const srv = srvName(hop.proto, name);
      if (srv === undefined) return this.addressTargets(name, hop.port, hop.proto, [], missing, failed);
      const viaSrv = this.srvTargets(srv, hop.proto, [], missing, failed);
      if (viaSrv === undefined) return undefined;
      return viaSrv.length > 0 ? viaSrv : this.addressTargets(name, hop.port, hop.proto, [], missing, failed);
    }
    const secure = hop.secure === true;
    if (this.tryNaptr) {
      const naptr = this.get(`naptr:${name}`, 'naptr', missing, failed);
      if (naptr === undefined) return undefined;
      const choices = chooseNaptr((naptr ?? []) as NaptrRecord[], secure, this.supports, MAX_NAPTR);
      if (choices.length > 0) {
        const out: Target[] = [];
        let waiting = false;
        for (const c of choices) {
          if (out.length >= this.maxTargets) break;
          const t = this.srvTargets(c.srv.toLowerCase(), c.proto, out, missing, failed);
          if (t === undefined) waiting = true;
        }
        if (waiting) return undefined;
        if (out.length > 0) return out;
        // RFC 3263 §4.1: NAPTR records whose SRV names lead nowhere: as if there were none
      }
    }
    // §4.1: no NAPTR: the SRV names of the transports supported, the first that answers
    // (every name asked at once; the preferred transport's answer decides first)
    const protos: Proto[] = secure ? ['tls'] : ['udp', 'tcp', 'tls'];
    const found: Array<Target[] | undefined> = [];
    for (const proto of protos) {
      if (this.supports(proto)) found.push(this.srvTargets(srvName(proto, name)!, proto, [], missing, failed));
    }
    for (const t of found) {
      if (t === undefined) return undefined;
      if (t.length > 0) return t;
    }
    return this.addressTargets(name, hop.port, hop.proto, [], missing, failed);
  }

  /** the SRV set `srv` → targets appended to `out` (returned; undefined while records are missing). */
  private srvTargets(srv: string, proto: Proto, out: Target[], missing: Map<string, Kind>, failed: Set<string> | null): Target[] | undefined {
    if (srv.length > MAX_NAME_LENGTH) return out;
    const recs = this.get(`srv:${srv}`, 'srv', missing, failed);
    if (recs === undefined) return undefined;
    if (recs === null || recs.length === 0) return out;
    let waiting = false;
    for (const r of orderSrv(recs as SrvRecord[], this.srvLb, this.random)) {
      if (out.length >= this.maxTargets) break;
      if (this.addressTargets(r.name.toLowerCase(), r.port, proto, out, missing, failed) === undefined) waiting = true;
    }
    return waiting ? undefined : out;
  }

  /** A/AAAA of `name` → targets appended to `out` (null when `out` stays empty and it failed). */
  private addressTargets(name: string, port: number, proto: Proto, out: Target[], missing: Map<string, Kind>, failed: Set<string> | null): Target[] | null | undefined {
    const family = net.isIP(name);
    if (family !== 0) {
      out.push({ address: name, family: family as 4 | 6, port, proto });
      return out;
    }
    if (name.length > MAX_NAME_LENGTH) return out.length > 0 ? out : null;
    const addrs = this.get(`addr:${name}`, 'addr', missing, failed);
    if (addrs === undefined) return undefined;
    if (addrs !== null) {
      for (const a of addrs as ResolvedAddress[]) {
        if (out.length >= this.maxTargets) break;
        out.push({ address: a.address, family: a.family, port, proto });
      }
    }
    return out.length > 0 ? out : null;
  }

  /** a cached record set (null = failed lookup), or undefined after noting it in `missing`. */
  private get(key: string, kind: Kind, missing: Map<string, Kind>, failed: Set<string> | null): Records | null | undefined {
    const e = this.cache.get(key);
    if (e !== undefined) {
      this.cache.delete(key);
      if (e.expires >= this.now()) {
        this.cache.set(key, e); // most recently used now
        return e.value;
      }
      this.stats.expired++;
    }
    if (failed !== null && failed.has(key)) return null;
    missing.set(key, kind);
    return undefined;
  }

  // ---- lookups ----------------------------------------------------------------------------------

  /** looks one record set up and caches it; false when refused (max_pending). */
  private fetch(key: string, kind: Kind): Promise<boolean> {
    const running = this.inflight.get(key);
    if (running !== undefined) return running.then(() => true);
    if (this.inflight.size >= this.maxPending) return Promise.resolve(this.refuseBusy(key));
    this.stats.lookups++;
    const name = key.slice(key.indexOf(':') + 1);
    let settle!: () => void;
    const p = new Promise<void>((resolve) => (settle = resolve));
    // registered before the lookup starts: a lookup function may call back synchronously
    this.inflight.set(key, p);
    const done = (value: Records | null, ttlMs?: number): void => {
      if (this.inflight.get(key) !== p) return;
      const ttl = value === null ? this.negativeTtlMs : Math.min(this.maxTtlMs, Math.max(this.minTtlMs, ttlMs ?? this.ttlMs));
      this.store(key, { expires: this.now() + ttl, value });
      this.inflight.delete(key);
      settle();
    };
    try {
      if (kind === 'naptr') {
        // RFC 3263 §4.1: a failed NAPTR query means "no NAPTR": SRV next (cached as empty)
        this.dnsResolver.resolveNaptr(name).then((r) => done(r.slice(0, MAX_NAPTR * 4)), () => done([], this.negativeTtlMs));
      } else if (kind === 'srv') {
        this.dnsResolver.resolveSrv(name).then((r) => done(keepSrv(r.slice(0, MAX_SRV * 16), MAX_SRV)), () => done([], this.negativeTtlMs));
      } else if (this.useServersForAddresses) {
        this.lookupServers(name, done);
      } else {
        this.lookupSystem(name, done);
      }
    } catch {
      done(null); // node:dns throws on arguments it refuses
    }
    return p.then(() => true);
  }

  /** A then AAAA from the configured servers, with their TTLs (the lowest of the set). */
  private lookupServers(name: string, done: (v: ResolvedAddress[] | null, ttlMs?: number) => void): void {
    const none = (): dns.RecordWithTtl[] => [];
    void Promise.all([
      this.dnsResolver.resolve4(name, { ttl: true }).catch(none),
      this.dnsResolver.resolve6(name, { ttl: true }).catch(none),
    ]).then(([v4, v6]) => {
      const out: ResolvedAddress[] = [];
      let ttl = Infinity;
      for (const [list, family] of [[v4, 4], [v6, 6]] as const) {
        for (const r of list) {
          if (out.length >= MAX_ADDRESSES) break;
          out.push({ address: r.address, family });
          ttl = Math.min(ttl, r.ttl * 1000);
        }
      }
      if (out.length > 0) done(out, ttl);
      else this.lookupSystem(name, done); // /etc/hosts names (localhost) are not in DNS
    });
  }

  /** dns.lookup (getaddrinfo: /etc/hosts, then DNS), no TTL; or the injected lookup. */
  private lookupSystem(name: string, done: (v: ResolvedAddress[] | null, ttlMs?: number) => void): void {
    if (this.lookup !== null) {
      this.lookup(name, (err, address, family) => done(err || !address ? null : [{ address, family: family === 6 ? 6 : 4 }]));
      return;
    }
    dns.lookup(name, { all: true }, (err, addrs) => {
      if (err || addrs.length === 0) return done(null);
      done(addrs.slice(0, MAX_ADDRESSES).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 })));
    });
  }

  // ---- single address (response routing, local requests, tests) ---------------------------------

  /**
   * The first address of `host` when known without waiting: an IP literal, or a cached answer.
   * undefined = must resolve asynchronously; null = known not to resolve.
   */
  resolveCached(host: string): ResolvedAddress | null | undefined {
    const family = net.isIP(host);
    if (family !== 0) return { address: host, family: family as 4 | 6 };
    if (host.length > MAX_NAME_LENGTH) return null;
    const v = this.get(`addr:${host.toLowerCase()}`, 'addr', new Map(), null);
    if (v === undefined) {
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    return v === null || v.length === 0 ? null : (v[0] as ResolvedAddress);
  }

  /** Resolves `host` to its first address (IP literal, cache, then a lookup); null when it does not resolve. */
  async resolve(host: string): Promise<ResolvedAddress | null> {
    const cached = this.resolveCached(host);
    if (cached !== undefined) return cached;
    const key = `addr:${host.toLowerCase()}`;
    if (!(await this.fetch(key, 'addr'))) return null;
    const e = this.cache.get(key);
    return e === undefined || e.value === null || e.value.length === 0 ? null : (e.value[0] as ResolvedAddress);
  }

  private store(key: string, entry: CacheEntry): void {
    this.cache.delete(key);
    this.cache.set(key, entry);
    while (this.cache.size > this.maxEntries) {
      // Map keys iterate in insertion order: the first is the least recently used
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
      this.stats.evicted++;
    }
  }

  private refuseBusy(key: string): false {
    this.stats.busy++;
    const now = this.now();
    if (this.log !== undefined && now - this.busyWarnAt >= 10_000) {
      this.busyWarnAt = now;
      this.log.warn({ code: Errors.TM_DNS_BUSY.code, name: key, max: this.maxPending, refused: this.stats.busy }, 'too many DNS lookups in flight: next hop unresolvable [E9012]');
    }
    return false;
  }
}
