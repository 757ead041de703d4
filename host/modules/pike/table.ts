/**
 * The table of tracked sources behind pike (README.md "Overview", "The table and its bound").
 *
 * Kamailio's pike counts hits in a tree of address bytes, swaps "previous" and "current" counters of
 * every node on a timer each sampling_time_unit, and marks an address red when one of its two
 * counters reaches reqs_density_per_unit (ip_tree.c is_hot_leaf); a red address is unblocked at the
 * first swap after which neither counter reaches the limit (pike_funcs.c refresh_node). This table
 * keeps the same two counters per source address, but:
 *
 *  - one entry per address (exact match: the limit is x, where Kamailio's tree needs x to 3x hits for
 *    IPv4 and up to 9x for IPv6 depending on which prefixes are already expanded);
 *  - the window swap is lazy: an entry remembers the window number its `curr` belongs to and shifts
 *    when it is next touched, so no timer walks the table (O(1) per request);
 *  - the table has a fixed capacity (`max_entries`); its columns are typed arrays allocated once, and
 *    the only allocation on the request path is the Map entry of a source seen for the first time;
 *  - entries live on two intrusive doubly linked lists: LRU (not blocked, most recently seen first)
 *    and RED (blocked). A new source takes a free slot, else the LRU tail (expired, or else the least
 *    recently seen unblocked source: evicted). Blocked sources are never evicted; when every slot is
 *    blocked a new source is not tracked (its check answers 1, as Kamailio's internal-error case) and
 *    counted in `untracked`.
 *
 * The state sits behind the small PikeState interface. With several shards (core.workers) shard 0's
 * table decides and worker shards forward their counts to it (shard.ts).
 */

/** pike_check_req() return codes (Kamailio pike_funcs.c). */
export const PIKE_OK = 1;
/** the source is blocked, detected earlier. */
export const PIKE_BLOCKED = -1;
/** the source was detected as flooding by this very request (first detection). */
export const PIKE_NEW_BLOCK = -2;

/** One source as RPC shows it (counters as of `now`). */
export interface SourceView {
  address: string;
  hitsPrev: number;
  hitsCurr: number;
  /** ms until the entry would be removed for idleness (remove_latency after its last request). */
  expiresInMs: number;
  blocked: boolean;
  /** ms left of the minimum block time (0 = until a window under the limit). */
  blockedForMs: number;
  hot: boolean;
  warm: boolean;
}

export interface PikeTableOptions {
  /** slots (max_entries). */
  capacity: number;
  windowMs: number;
  /** reqs_density_per_unit. */
  maxHits: number;
  /** remove_latency in ms. */
  latencyMs: number;
  /** minimum block time in ms (block_time). */
  blockMs: number;
  /** called when a blocked source is unblocked by time (not by RPC). */
  onUnblock?: (address: string) => void;
}

/** The state interface the module owns (README.md "Sharding"). */
export interface PikeState {
  /** counts one request (or `weight` requests) of `address` at `now` (ms) and returns 1, -1 or -2. */
  hit(address: string, now: number, weight?: number): number;
  /** unblocks one address now (RPC); false when it is not blocked. */
  unblock(address: string, now: number): boolean;
  /** expires idle entries and unblocks quiet blocked sources; cost O(expired + blocked). */
  sweep(now: number): void;
  /** visits every tracked source (RPC); `blockedOnly` walks the blocked list alone. */
  forEach(now: number, blockedOnly: boolean, visit: (v: SourceView) => void): void;
  readonly size: number;
  readonly blockedCount: number;
  readonly counters: TableCounters;
  clear(): void;
}

export interface TableCounters {
  /** sources detected as flooding (Kamailio's pike:blocked_ips counter). */
  blocked: number;
  /** sources unblocked by time. */
  unblocked: number;
  /** sources removed after remove_latency without requests. */
  expired: number;
  /** unblocked sources dropped from a full table to make room for a new one. */
  evicted: number;
  /** requests of new sources not tracked because every slot held a blocked source. */
  untracked: number;
}

const U32_MAX = 0xffffffff;

export class PikeTable implements PikeState {
  readonly counters: TableCounters = { blocked: 0, unblocked: 0, expired: 0, evicted: 0, untracked: 0 };
  private readonly cap: number;
  private readonly windowMs: number;
  private readonly maxHits: number;
  private readonly latencyMs: number;
  private readonly blockMs: number;
  private readonly onUnblock: ((address: string) => void) | undefined;
  private readonly index = new Map<string, number>();
  private readonly keys: string[];
  private readonly prevHits: Uint32Array;
  private readonly currHits: Uint32Array;
  private readonly window: Float64Array;
  private readonly lastSeen: Float64Array;
  private readonly blockedUntil: Float64Array;
  private readonly red: Uint8Array;
  /** list links; slots cap and cap+1 are the sentinels of the LRU and RED circular lists. */
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly LRU: number;
  private readonly RED: number;
  private readonly free: Int32Array;
  private freeTop: number;
  private redCount = 0;

  constructor(opts: PikeTableOptions) {
    const cap = opts.capacity;
    if (!Number.isInteger(cap) || cap < 1) throw new RangeError('pike table capacity must be a positive integer');
    this.cap = cap;
    this.windowMs = opts.windowMs;
    this.maxHits = opts.maxHits;
    this.latencyMs = opts.latencyMs;
    this.blockMs = opts.blockMs;
    this.onUnblock = opts.onUnblock;
    this.keys = new Array<string>(cap).fill('');
    this.prevHits = new Uint32Array(cap);
    this.currHits = new Uint32Array(cap);
    this.window = new Float64Array(cap);
    this.lastSeen = new Float64Array(cap);
    this.blockedUntil = new Float64Array(cap);
    this.red = new Uint8Array(cap);
    this.next = new Int32Array(cap + 2);
    this.prev = new Int32Array(cap + 2);
    this.LRU = cap;
    this.RED = cap + 1;
    for (const s of [this.LRU, this.RED]) {
      this.next[s] = s;
      this.prev[s] = s;
    }
    this.free = new Int32Array(cap);
    for (let i = 0; i < cap; i++) this.free[i] = cap - 1 - i;
    this.freeTop = cap;
  }

  get size(): number {
    return this.index.size;
  }

  get blockedCount(): number {
    return this.redCount;
  }

  /** counts `weight` requests (1 per request; auth failures weigh more) of `address`. */
  hit(address: string, now: number, weight = 1): number {
    const w = Math.floor(now / this.windowMs);
    let s = this.index.get(address);
    if (s === undefined) {
      s = this.take(now);
      if (s < 0) {
        this.counters.untracked++;
        return PIKE_OK;
      }
      this.keys[s] = address;
      this.index.set(address, s);
      this.prevHits[s] = 0;
      this.currHits[s] = 0;
      this.window[s] = w;
      this.red[s] = 0;
      this.blockedUntil[s] = 0;
      this.linkHead(this.LRU, s);
    } else {
      this.roll(s, w);
      if (this.red[s] === 1 && this.mayUnblock(s, now)) this.release(s, now, true);
    }
    this.currHits[s] = Math.min(U32_MAX, this.currHits[s]! + weight);
    this.lastSeen[s] = now;
    if (this.red[s] === 1) return PIKE_BLOCKED;
    this.unlink(s);
    if (this.isHot(s)) {
      // ip_tree.c mark_node: a leaf that turns hot becomes red; pike_check_req answers -2 once
      this.red[s] = 1;
      this.redCount++;
      this.blockedUntil[s] = now + this.blockMs;
      this.counters.blocked++;
      this.linkHead(this.RED, s);
      return PIKE_NEW_BLOCK;
    }
    this.linkHead(this.LRU, s);
    return PIKE_OK;
  }

  unblock(address: string, now: number): boolean {
    const s = this.index.get(address);
    if (s === undefined || this.red[s] !== 1) return false;
    this.prevHits[s] = 0;
    this.currHits[s] = 0;
    this.release(s, now, false);
    return true;
  }

  sweep(now: number): void {
    // idle entries leave from the LRU tail (the list is ordered by last request)
    for (let t = this.prev[this.LRU]!; t !== this.LRU && this.lastSeen[t]! + this.latencyMs <= now; t = this.prev[this.LRU]!) {
      this.remove(t);
      this.counters.expired++;
    }
    // pike_funcs.c swap_routine/refresh_node: a blocked source whose windows fell under the limit
    const w = Math.floor(now / this.windowMs);
    for (let s = this.next[this.RED]!; s !== this.RED; ) {
      const after = this.next[s]!;
      this.roll(s, w);
      if (this.mayUnblock(s, now)) this.release(s, now, true);
      s = after;
    }
  }

  forEach(now: number, blockedOnly: boolean, visit: (v: SourceView) => void): void {
    const w = Math.floor(now / this.windowMs);
    const lists = blockedOnly ? [this.RED] : [this.RED, this.LRU];
    for (const head of lists) {
      for (let s = this.next[head]!; s !== head; s = this.next[s]!) {
        const d = w - this.window[s]!;
        const hitsPrev = d <= 0 ? this.prevHits[s]! : d === 1 ? this.currHits[s]! : 0;
        const hitsCurr = d <= 0 ? this.currHits[s]! : 0;
        visit({
          address: this.keys[s]!,
          hitsPrev,
          hitsCurr,
          expiresInMs: Math.max(0, this.lastSeen[s]! + this.latencyMs - now),
          blocked: this.red[s] === 1,
          blockedForMs: this.red[s] === 1 ? Math.max(0, this.blockedUntil[s]! - now) : 0,
          hot: hitsPrev >= this.maxHits || hitsCurr >= this.maxHits,
          warm: hitsCurr >= this.maxHits >> 2,
        });
      }
    }
  }

  clear(): void {
    for (const s of this.index.values()) this.keys[s] = '';
    this.index.clear();
    for (const h of [this.LRU, this.RED]) {
      this.next[h] = h;
      this.prev[h] = h;
    }
    for (let i = 0; i < this.cap; i++) this.free[i] = this.cap - 1 - i;
    this.freeTop = this.cap;
    this.red.fill(0);
    this.redCount = 0;
  }

  // ---- internals ------------------------------------------------------------------------------

  /** ip_tree.c is_hot_leaf: either counter at the limit (their mean reaching it implies one does). */
  private isHot(s: number): boolean {
    return this.prevHits[s]! >= this.maxHits || this.currHits[s]! >= this.maxHits;
  }

  /** shifts the counters of slot `s` into window `w` (the swap Kamailio's timer does for all nodes). */
  private roll(s: number, w: number): void {
    const d = w - this.window[s]!;
    if (d <= 0) return;
    this.prevHits[s] = d === 1 ? this.currHits[s]! : 0;
    this.currHits[s] = 0;
    this.window[s] = w;
  }

  private mayUnblock(s: number, now: number): boolean {
    return now >= this.blockedUntil[s]! && !this.isHot(s);
  }

  /** blocked → LRU head; `now` counts as its last activity so the LRU stays ordered. */
  private release(s: number, now: number, timed: boolean): void {
    this.red[s] = 0;
    this.redCount--;
    this.blockedUntil[s] = 0;
    this.lastSeen[s] = now;
    this.unlink(s);
    this.linkHead(this.LRU, s);
    if (timed) {
      this.counters.unblocked++;
      this.onUnblock?.(this.keys[s]!);
    }
  }

  /** a slot for a new source: free, else the LRU tail (expired or evicted); -1 when all are blocked. */
  private take(now: number): number {
    if (this.freeTop > 0) return this.free[--this.freeTop]!;
    const t = this.prev[this.LRU]!;
    if (t === this.LRU) return -1;
    if (this.lastSeen[t]! + this.latencyMs <= now) this.counters.expired++;
    else this.counters.evicted++;
    this.index.delete(this.keys[t]!);
    this.keys[t] = '';
    this.unlink(t);
    return t;
  }

  private remove(s: number): void {
    this.index.delete(this.keys[s]!);
    this.keys[s] = '';
    if (this.red[s] === 1) {
      this.red[s] = 0;
      this.redCount--;
    }
    this.unlink(s);
    this.free[this.freeTop++] = s;
  }

  private linkHead(head: number, s: number): void {
    const first = this.next[head]!;
    this.next[s] = first;
    this.prev[s] = head;
    this.prev[first] = s;
    this.next[head] = s;
  }

  private unlink(s: number): void {
    const p = this.prev[s]!;
    const n = this.next[s]!;
    this.next[p] = n;
    this.prev[n] = p;
    this.next[s] = s;
    this.prev[s] = s;
  }
}
