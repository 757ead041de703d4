/**
 * Flood detection (Kamailio pike): counts requests per source address over sampling windows and
 * reports the sources past the limit. What to do with a flooding source is the caller's decision:
 * the routing plugin (pike_check_req(), plugins/default REQINIT drops it, like kamailio.cfg's
 * WITH_ANTIFLOOD block) or the host's optional check before the plugin (`auto: drop|503`).
 *
 * All state is in this object and its PikeState (no module-level globals).
 */
import type { Logger } from 'pino';
import { isIP } from 'node:net';
import { Errors, SiphonError } from '../../errors/registry.js';
import type { PikeConfig } from './config.js';
import { PikeStats } from './stats.js';
import { PIKE_BLOCKED, PIKE_NEW_BLOCK, PIKE_OK, PikeTable, type PikeState, type SourceView } from './table.js';
import { ipv6PrefixKey } from './ipv6.js';

/** What the host check decided (SiphonServer's FloodGuard). */
export const enum Shed {
  PASS = 0,
  DROP = 1,
  REFUSE = 2,
}

/**
 * A worker shard's link to shard 0's table (core.workers, shard.ts PikeForwarder): every count is
 * also sent to shard 0, and a source shard 0 blocked answers blocked here.
 */
export interface PikeForwarder {
  count(key: string, weight: number): void;
  blocked(key: string): boolean;
}

/** Shard 0 of several: told of blocks and unblocks to broadcast (shard.ts). */
export interface PikeBlockListener {
  blocked(key: string): void;
  unblocked(key: string): void;
}

export interface PikeOptions {
  log?: Logger;
  /** monotonic clock in ms (tests inject one). */
  now?: () => number;
  /** the state; default a PikeTable sized by `max_entries`. */
  state?: PikeState;
  /** worker shards: shard 0 keeps the table that decides (shard.ts). */
  forward?: PikeForwarder;
}

export class Pike {
  readonly cfg: PikeConfig;
  readonly state: PikeState;
  readonly stats = new PikeStats();
  /** `Retry-After: <retry_after>` for the 503 of `auto: 503` (built once). */
  readonly retryAfterHeaders: readonly string[];
  private readonly now: () => number;
  private readonly log: Logger | undefined;
  private timer: NodeJS.Timeout | null = null;
  /** `untracked` at the last sweep (E7101 is logged once per window while it grows). */
  private lastUntracked = 0;
  /** the server's own addresses (kamailio.cfg `src_ip == myself`); none until a server is wired. */
  private ownAddress: (ip: string) => boolean = () => false;
  /** `trusted`: never counted. */
  private readonly trusted: ReadonlySet<string>;
  /** 16-bit groups of an IPv6 source that make its key (8 = the whole address). */
  private readonly v6Groups: number;
  private readonly forward: PikeForwarder | null;
  private listener: PikeBlockListener | null = null;

  constructor(cfg: PikeConfig, opts: PikeOptions = {}) {
    this.cfg = cfg;
    this.log = opts.log;
    this.now = opts.now ?? (() => performance.now());
    this.state =
      opts.state ??
      new PikeTable({
        capacity: cfg.max_entries,
        windowMs: cfg.sampling_time_unit * 1000,
        maxHits: cfg.reqs_density_per_unit,
        latencyMs: cfg.remove_latency * 1000,
        blockMs: cfg.block_time * 1000,
        onUnblock: (address) => {
          this.log?.info({ src: address }, 'pike: source unblocked');
          this.listener?.unblocked(address);
        },
      });
    this.retryAfterHeaders = cfg.retry_after > 0 ? [`Retry-After: ${cfg.retry_after}`] : [];
    for (const a of cfg.trusted) if (isIP(a) === 0) throw new SiphonError('CONFIG_SCHEMA', `modules.pike.trusted: '${a}' is not an IPv4 or IPv6 address`);
    this.trusted = new Set(cfg.trusted);
    this.v6Groups = cfg.ipv6_prefix >> 4;
    this.forward = opts.forward ?? null;
  }

  /** shard 0 of several: blocks and unblocks of this table are reported (shard.ts broadcasts them). */
  setBlockListener(listener: PikeBlockListener | null): void {
    this.listener = listener;
  }

  /**
   * Counts `weight` hits of a table key and answers as check(): the one place a hit enters the
   * table. A worker shard also forwards it and answers blocked for what shard 0 blocked; shard 0
   * reports a new block. Returns PIKE_NEW_BLOCK once per detection (in the shard that made it).
   */
  private hitKey(key: string, weight: number): number {
    const v = this.state.hit(key, this.now(), weight);
    const f = this.forward;
    if (f !== null) {
      f.count(key, weight);
      return v === PIKE_OK && f.blocked(key) ? PIKE_BLOCKED : v;
    }
    if (v === PIKE_NEW_BLOCK) this.listener?.blocked(key);
    return v;
  }

  /** shard 0: hits counted in a worker shard (already keyed, own and trusted addresses left out there). */
  hitForwarded(key: string, weight: number): number {
    const v = this.hitKey(key, weight);
    if (v === PIKE_NEW_BLOCK) this.logBlock(key, key, 'requests over all shards');
    return v;
  }

  private logBlock(address: string, key: string, why: string): void {
    this.log?.warn(
      { src: address, key, code: Errors.PIKE_BLOCKED.code, reqs_density_per_unit: this.cfg.reqs_density_per_unit, sampling_time_unit: this.cfg.sampling_time_unit },
      `pike: blocking ${key === address ? address : `${key} (${address})`}: ${why} [E${Errors.PIKE_BLOCKED.code}]`,
    );
  }

  /**
   * The table key of a source: an IPv4 address as is (also one written IPv4-mapped, `::ffff:a.b.c.d`),
   * an IPv6 address reduced to its `ipv6_prefix` (ipv6.ts).
   */
  keyOf(address: string): string {
    if (address.indexOf(':') < 0) return address;
    if (address.startsWith('::ffff:') && address.indexOf('.') > 0) return address.slice(7);
    return this.v6Groups >= 8 ? address : ipv6PrefixKey(address, this.v6Groups);
  }

  /**
   * Kamailio pike_check_req() for a source address: 1 not blocked, -1 blocked (detected earlier),
   * -2 detected as flooding by this request. Logs the first detection (Kamailio logs at
   * pike_log_level "PIKE - BLOCKing ip").
   */
  check(address: string): number {
    this.stats.checks++;
    const key = this.keyOf(address);
    const v = this.hitKey(key, 1);
    // worker shards leave the log line to shard 0, whose table holds every shard's requests
    if (v === PIKE_NEW_BLOCK && this.forward === null) this.logBlock(address, key, `more than ${this.cfg.reqs_density_per_unit} requests in ${this.cfg.sampling_time_unit} s`);
    return v;
  }

  /**
   * pike_check_req() for a request from `address`: the server's own addresses and the `trusted`
   * ones answer 1 uncounted (kamailio.cfg runs pike only `if (src_ip != myself)` and tells to exclude
   * trusted peers such as PSTN gateways).
   */
  checkSource(address: string): number {
    return this.ownAddress(address) || this.trusted.has(address) ? PIKE_OK : this.check(address);
  }

  /**
   * Counts `weight` requests of `address` without a request behind them: failed digest
   * authentications (host/modules/auth, modules.auth.pike_weight), so a password guesser is blocked
   * after a few attempts per window. Own and trusted addresses are not counted. Returns as check().
   */
  penalize(address: string, weight: number): number {
    if (this.ownAddress(address) || this.trusted.has(address)) return PIKE_OK;
    this.stats.penalized++;
    const key = this.keyOf(address);
    const v = this.hitKey(key, Math.max(1, Math.floor(weight)));
    if (v === PIKE_NEW_BLOCK && this.forward === null) this.log?.warn({ src: address, key, code: Errors.PIKE_BLOCKED.code }, `pike: blocking ${key}: failed authentications [E${Errors.PIKE_BLOCKED.code}]`);
    return v;
  }

  /** which addresses are the server's own (set by the node's wiring, host/server/app.ts). */
  setOwnAddress(isOwn: (ip: string) => boolean): void {
    this.ownAddress = isOwn;
  }

  /** The host check (`auto`): PASS, or DROP / REFUSE (503) for a blocked source. */
  shed(address: string): Shed {
    if (this.trusted.has(address) || this.check(address) === PIKE_OK) return Shed.PASS;
    if (this.cfg.auto === '503') {
      this.stats.autoRejected++;
      return Shed.REFUSE;
    }
    this.stats.autoDropped++;
    return Shed.DROP;
  }

  /** unblocks the source of `address` (its IPv6 prefix, or the key itself as pike.list shows it). */
  unblock(address: string): boolean {
    const key = address.endsWith(`::/${this.cfg.ipv6_prefix}`) ? address : this.keyOf(address);
    const done = this.state.unblock(key, this.now());
    if (done) {
      this.stats.unblockedByRpc++;
      this.log?.info({ src: address }, 'pike: source unblocked by RPC');
      this.listener?.unblocked(key);
    }
    return done;
  }

  /** sources, as of now (RPC). */
  sources(blockedOnly: boolean): SourceView[] {
    const out: SourceView[] = [];
    this.state.forEach(this.now(), blockedOnly, (v) => out.push(v));
    return out;
  }

  /** expires idle entries and unblocks quiet sources once per sampling window (Kamailio's timers). */
  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.tick(), this.cfg.sampling_time_unit * 1000);
    this.timer.unref();
  }

  /** one sampling window: sweep, and report a table that could not track new sources. */
  tick(): void {
    this.state.sweep(this.now());
    const u = this.state.counters.untracked;
    if (u !== this.lastUntracked) {
      this.log?.warn(
        { code: Errors.PIKE_TABLE_FULL.code, untracked: u - this.lastUntracked, max_entries: this.cfg.max_entries, blocked: this.state.blockedCount },
        `pike: table full of blocked sources, ${u - this.lastUntracked} requests of new sources not tracked (max_entries ${this.cfg.max_entries}) [E${Errors.PIKE_TABLE_FULL.code}]`,
      );
      this.lastUntracked = u;
    }
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** worker shards: a key shard 0 unblocked is unblocked here too (its local counts restart). */
  unblockKey(key: string): void {
    this.state.unblock(key, this.now());
  }

  statistics(): Record<string, number> {
    const all = this.stats.toStatistics(this.state);
    if (this.forward === null) return all;
    // worker shards: the table that decides is shard 0's; only the work done here is counted
    return { checks: all.checks!, auto_dropped: all.auto_dropped!, auto_rejected: all.auto_rejected!, auth_failures: all.auth_failures! };
  }
}
