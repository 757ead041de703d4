/**
 * Next-hop resolution for forwarded requests (RFC 3263 cut down as Kamailio does without
 * `dns_srv_lb`/NAPTR): the next hop is `$du` when set, else the Request-URI (RFC 3261 §16.6 step 7
 * after loose routing); its host is an IP literal (used as is) or a name looked up with
 * dns.lookup (A/AAAA, the system resolver). Answers are cached for `ttlMs` (dns.lookup reports no
 * TTL) so the message path does not wait on the resolver for every request; failures are cached
 * for a shorter time. Port: the URI's, else 5060 (5061 for sips). Transport: `;transport=` (udp,
 * tcp or tls), else TLS for a sips URI and UDP otherwise.
 *
 * The names come from requests, so from anyone: the cache is bounded (core.dns_cache): at most
 * `max_entries` names, least recently used evicted first, each kept `ttl` s (`negative_ttl` s for a
 * failure); a name longer than 253 characters (RFC 1035 §2.3.4) is unresolvable without a lookup;
 * at most `max_pending` lookups wait on the system resolver at once, further names are answered
 * unresolvable (478) without being cached. Kamailio bounds its DNS cache by memory
 * (`dns_cache_max_mem`, 500 KB) with `dns_cache_min_ttl`/`dns_cache_max_ttl` and `dns_neg_cache_ttl`.
 */
import dns from 'node:dns';
import net from 'node:net';
import type { Logger } from 'pino';
import { Errors } from '../errors/registry.js';
import type { Proto } from '../core/context.js';
import { parseUri } from '../sip/parser.js';
import { stripBrackets } from '../transport/reply-route.js';

export interface NextHop {
  /** host as written in the URI, without IPv6 brackets. */
  readonly host: string;
  readonly port: number;
  readonly proto: Proto;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
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
  for (const [name, value] of uri.params) {
    if (name === 'transport' && value !== null) {
      const t = value.toLowerCase();
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
  return Object.freeze({ host, port: uri.port ?? (proto === 'tls' ? 5061 : 5060), proto });
}

interface CacheEntry {
  expires: number;
  value: ResolvedAddress | null;
}

export type LookupFunction = (host: string, cb: (err: Error | null, address: string, family: number) => void) => void;

export interface ResolverOptions {
  /** how long a resolved name is reused (default 60 s). */
  ttlMs?: number;
  /** how long a failed lookup is remembered (default 5 s). */
  negativeTtlMs?: number;
  /** the lookup function (default dns.lookup). */
  lookup?: LookupFunction;
  /** names kept at most (least recently used evicted first; default 4096). */
  maxEntries?: number;
  /** lookups waiting on the resolver at most (default 256); more are answered unresolvable. */
  maxPending?: number;
  /** where "too many lookups in flight" is reported (E9012, at most every 10 s). */
  log?: Logger;
  /** clock in ms (tests). */
  now?: () => number;
}

/** Counters of the cache (tm statistics group: dns_*). */
export interface ResolverStats {
  hits: number;
  misses: number;
  /** entries dropped because the cache held max_entries. */
  evicted: number;
  /** entries found past their TTL. */
  expired: number;
  /** lookups started on the system resolver. */
  lookups: number;
  /** names answered unresolvable because max_pending lookups were in flight. */
  busy: number;
}

/** RFC 1035 §2.3.4: a domain name is at most 255 octets, 253 characters in text form. */
const MAX_NAME_LENGTH = 253;

export const RESOLVER_DEFAULTS = { ttlMs: 60_000, negativeTtlMs: 5_000, maxEntries: 4096, maxPending: 256 } as const;

export class Resolver {
  /** insertion order is recency order: the first key is the least recently used. */
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<ResolvedAddress | null>>();
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly lookup: LookupFunction;
  private readonly maxEntries: number;
  private readonly maxPending: number;
  private readonly log: Logger | undefined;
  private readonly now: () => number;
  private busyWarnAt = -Infinity;
  readonly stats: ResolverStats = { hits: 0, misses: 0, evicted: 0, expired: 0, lookups: 0, busy: 0 };

  constructor(opts: ResolverOptions = {}) {
    this.ttlMs = opts.ttlMs ?? RESOLVER_DEFAULTS.ttlMs;
    this.negativeTtlMs = opts.negativeTtlMs ?? RESOLVER_DEFAULTS.negativeTtlMs;
    this.lookup = opts.lookup ?? ((host, cb) => dns.lookup(host, cb));
    this.maxEntries = Math.max(1, opts.maxEntries ?? RESOLVER_DEFAULTS.maxEntries);
    this.maxPending = Math.max(1, opts.maxPending ?? RESOLVER_DEFAULTS.maxPending);
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
  }

  /** names cached now (at most max_entries). */
  get size(): number {
    return this.cache.size;
  }

  /** lookups in flight now (at most max_pending). */
  get pending(): number {
    return this.inflight.size;
  }

  /**
   * The address of `host` when known without waiting: an IP literal, or a cached answer.
   * undefined = must resolve asynchronously; null = known not to resolve.
   */
  resolveCached(host: string): ResolvedAddress | null | undefined {
    const family = net.isIP(host);
    if (family !== 0) return { address: host, family: family as 4 | 6 };
    if (host.length > MAX_NAME_LENGTH) return null;
    const key = host.toLowerCase();
    const e = this.cache.get(key);
    if (e === undefined) {
      this.stats.misses++;
      return undefined;
    }
    this.cache.delete(key);
    if (e.expires < this.now()) {
      this.stats.expired++;
      this.stats.misses++;
      return undefined;
    }
    this.cache.set(key, e); // most recently used now
    this.stats.hits++;
    return e.value;
  }

  /** Resolves `host` (IP literal, cache, then dns.lookup); null when it does not resolve. */
  resolve(host: string): Promise<ResolvedAddress | null> {
    const cached = this.resolveCached(host);
    if (cached !== undefined) return Promise.resolve(cached);
    const key = host.toLowerCase();
    let p = this.inflight.get(key);
    if (p === undefined) {
      if (this.inflight.size >= this.maxPending) return Promise.resolve(this.refuseBusy(host));
      this.stats.lookups++;
      let settle!: (v: ResolvedAddress | null) => void;
      p = new Promise<ResolvedAddress | null>((resolve) => (settle = resolve));
      // registered before the lookup starts: a lookup function may call back synchronously
      this.inflight.set(key, p);
      const done = (value: ResolvedAddress | null): void => {
        if (this.inflight.get(key) !== p) return; // answered already
        this.store(key, { expires: this.now() + (value === null ? this.negativeTtlMs : this.ttlMs), value });
        this.inflight.delete(key);
        settle(value);
      };
      try {
        this.lookup(host, (err, address, family) => done(err || !address ? null : { address, family: family === 6 ? 6 : 4 }));
      } catch {
        done(null); // dns.lookup throws on arguments it refuses
      }
    }
    return p;
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

  private refuseBusy(host: string): null {
    this.stats.busy++;
    const now = this.now();
    if (this.log !== undefined && now - this.busyWarnAt >= 10_000) {
      this.busyWarnAt = now;
      this.log.warn({ code: Errors.TM_DNS_BUSY.code, host, max: this.maxPending, refused: this.stats.busy }, 'too many DNS lookups in flight: next hop unresolvable [E9012]');
    }
    return null;
  }
}
