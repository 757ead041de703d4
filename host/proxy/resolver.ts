/**
 * Next-hop resolution for forwarded requests (RFC 3263 cut down as Kamailio does without
 * `dns_srv_lb`/NAPTR): the next hop is `$du` when set, else the Request-URI (RFC 3261 §16.6 step 7
 * after loose routing); its host is an IP literal (used as is) or a name looked up with
 * dns.lookup (A/AAAA, the system resolver). Answers are cached for `ttlMs` (dns.lookup reports no
 * TTL) so the message path does not wait on the resolver for every request; failures are cached
 * for a shorter time. Port: the URI's, else 5060 (5061 for sips). Transport: `;transport=` (udp or
 * tcp), else UDP.
 */
import dns from 'node:dns';
import net from 'node:net';
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
  let proto: Proto = 'udp';
  let maddr: string | undefined;
  for (const [name, value] of uri.params) {
    if (name === 'transport' && value !== null) {
      const t = value.toLowerCase();
      if (t === 'tcp') proto = 'tcp';
      else if (t !== 'udp') return null;
    } else if (name === 'maddr' && value !== null) {
      maddr = value; // RFC 3261 §19.1.1: maddr overrides the host for the next hop
    }
  }
  const host = stripBrackets(maddr ?? uri.host);
  // frozen: the object is shared by every caller asking about the same URI
  return Object.freeze({ host, port: uri.port ?? (uri.scheme === 'sips' ? 5061 : 5060), proto });
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
}

export class Resolver {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<ResolvedAddress | null>>();
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly lookup: LookupFunction;

  constructor(opts: ResolverOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.negativeTtlMs = opts.negativeTtlMs ?? 5_000;
    this.lookup = opts.lookup ?? ((host, cb) => dns.lookup(host, cb));
  }

  /**
   * The address of `host` when known without waiting: an IP literal, or a cached answer.
   * undefined = must resolve asynchronously; null = known not to resolve.
   */
  resolveCached(host: string): ResolvedAddress | null | undefined {
    const family = net.isIP(host);
    if (family !== 0) return { address: host, family: family as 4 | 6 };
    const e = this.cache.get(host.toLowerCase());
    if (e === undefined) return undefined;
    if (e.expires < Date.now()) {
      this.cache.delete(host.toLowerCase());
      return undefined;
    }
    return e.value;
  }

  /** Resolves `host` (IP literal, cache, then dns.lookup); null when it does not resolve. */
  resolve(host: string): Promise<ResolvedAddress | null> {
    const cached = this.resolveCached(host);
    if (cached !== undefined) return Promise.resolve(cached);
    const key = host.toLowerCase();
    let p = this.inflight.get(key);
    if (p === undefined) {
      p = new Promise<ResolvedAddress | null>((resolve) => {
        this.lookup(host, (err, address, family) => {
          const value: ResolvedAddress | null = err || !address ? null : { address, family: family === 6 ? 6 : 4 };
          this.cache.set(key, { expires: Date.now() + (value === null ? this.negativeTtlMs : this.ttlMs), value });
          this.inflight.delete(key);
          resolve(value);
        });
      });
      this.inflight.set(key, p);
    }
    return p;
  }
}
