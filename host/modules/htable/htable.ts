/**
 * The node's named tables (Kamailio htable): every operation the plugin functions and the RPC
 * methods perform, with the module's counters and the expiry timer.
 *
 * State is per node, not per plugin version: the tables live in this object, owned by the module,
 * so every version of the routing plugin (a hot swap, a rollback) reads and writes the same items.
 * With several shards (`core.workers`) shard 0's Htable is the authoritative one; a worker shard's
 * Htable is a replica that applies its own writes at once (the plugin gets its answer synchronously)
 * and forwards them to shard 0 as operations, and takes shard 0's resulting state from broadcasts
 * (shard.ts, README "Shards").
 */
import type { Logger } from 'pino';
import type { TableSpec } from './config.js';
import type { Matcher } from './match.js';
import { HtTable, type HtItem, type HtValue, type Refusal } from './table.js';

/** An operation a worker shard forwards to shard 0 (plain data: it crosses threads). */
export type HtOp =
  | { o: 'set'; t: string; k: string; v: HtValue }
  | { o: 'inc'; t: string; k: string; d: number }
  | { o: 'rm'; t: string; k: string }
  | { o: 'ex'; t: string; k: string; s: number }
  | { o: 'rmm'; t: string; f: 'name' | 'value'; op: number; p: string }
  | { o: 'reset'; t: string };

/**
 * The state of one key after a change, as shard 0 broadcasts it: [table, key, value, expires];
 * value null = the key is gone; key null = the whole table was emptied.
 */
export type HtChange = readonly [string, string | null, HtValue | null, number];

/** items one sweep removes per loop turn (a mass expiry is spread over turns). */
export const SWEEP_BUDGET = 10_000;
/** a refusal of a table is logged at most once per this many ms. */
const REFUSAL_LOG_MS = 60_000;

export class HtableStats {
  gets = 0;
  sets = 0;
  incs = 0;
  deletes = 0;
  expired = 0;
  refusedFull = 0;
  refusedKey = 0;
  refusedValue = 0;
  refusedBytes = 0;
  matchScans = 0;
  dbLoaded = 0;
  dbStored = 0;
  dbSkipped = 0;
  /** worker shards: operations forwarded to shard 0; shard 0: operations applied from workers. */
  forwarded = 0;
  /** shard 0: changes broadcast to worker shards. */
  broadcast = 0;
}

export interface HtableOptions {
  log: Logger;
  now?: () => number;
  /** worker shards: where this shard's writes go (shard 0's `htable` service). */
  forward?: (op: HtOp) => void;
}

export class Htable {
  readonly tables = new Map<string, HtTable>();
  readonly specs = new Map<string, TableSpec>();
  readonly stats = new HtableStats();
  readonly now: () => number;
  private readonly log: Logger;
  private readonly forward: ((op: HtOp) => void) | null;
  private sink: ((c: HtChange) => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private sweeping = false;
  private readonly lastRefusalLog = new Map<string, number>();

  constructor(specs: readonly TableSpec[], opts: HtableOptions) {
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
    this.forward = opts.forward ?? null;
    for (const s of specs) {
      this.specs.set(s.name, s);
      this.tables.set(s.name, new HtTable(s.name, s, this.now()));
    }
  }

  /** true on a worker shard's replica. */
  get isReplica(): boolean {
    return this.forward !== null;
  }

  /** shard 0: receives the state of every key this node changes (to broadcast it). */
  onChange(sink: (c: HtChange) => void): void {
    this.sink = sink;
  }

  table(name: string): HtTable | undefined {
    return this.tables.get(name);
  }

  // ---- reads ------------------------------------------------------------------------------------

  /** $sht(t=>k): the live item, null when absent, undefined when there is no such table. */
  get(t: string, k: string): HtItem | null | undefined {
    const tab = this.tables.get(t);
    if (tab === undefined) return undefined;
    this.stats.gets++;
    return tab.get(k, this.now());
  }

  // ---- writes (each emits the key's new state, and on a worker is forwarded) ---------------------

  /** $sht(t=>k) = v. */
  set(t: string, k: string, v: HtValue): HtItem | Refusal | undefined {
    const tab = this.tables.get(t);
    if (tab === undefined) return undefined;
    const r = tab.set(k, v, this.now());
    if (typeof r === 'string') return this.refused(tab, r);
    this.stats.sets++;
    this.emit(t, r);
    this.forward?.({ o: 'set', t, k, v });
    return r;
  }

  /**
   * $shtinc / $shtdec / sht_inc: adds d to an integer item (32-bit wrap-around) and returns the new
   * value; a missing (or expired) item starts from initval, else 0 (Kamailio ht_cell_value_add).
   * 'str' when the item holds a string.
   */
  inc(t: string, k: string, d: number): number | 'str' | Refusal | undefined {
    const tab = this.tables.get(t);
    if (tab === undefined) return undefined;
    const now = this.now();
    const cur = tab.get(k, now);
    if (cur !== null && typeof cur.value === 'string') return 'str';
    if (cur !== null) {
      // the common case (a counter that exists): one Map lookup, updated in place
      const v = ((cur.value as number) + d) | 0;
      tab.updateInt(cur, v, now);
      this.stats.incs++;
      this.emit(t, cur);
      this.forward?.({ o: 'inc', t, k, d });
      return v;
    }
    const next = ((this.specs.get(t)!.initval ?? 0) + d) | 0;
    const r = tab.set(k, next, now);
    if (typeof r === 'string') return this.refused(tab, r);
    this.stats.incs++;
    this.emit(t, r);
    this.forward?.({ o: 'inc', t, k, d });
    return next;
  }

  /** sht_rm / $sht(t=>k) = $null: true when an item was removed. */
  remove(t: string, k: string): boolean | undefined {
    const tab = this.tables.get(t);
    if (tab === undefined) return undefined;
    const had = tab.get(k, this.now()) !== null;
    if (tab.delete(k)) {
      this.emitGone(t, k);
      if (had) this.stats.deletes++;
    }
    this.forward?.({ o: 'rm', t, k });
    return had;
  }

  /** $shtex(t=>k) = s. null when the item is absent. */
  setExpire(t: string, k: string, s: number): HtItem | null | undefined {
    const tab = this.tables.get(t);
    if (tab === undefined) return undefined;
    const it = tab.setExpire(k, s, this.now());
    if (it === null) return null;
    this.emit(t, it);
    this.forward?.({ o: 'ex', t, k, s });
    return it;
  }

  /** sht_rm_name / sht_rm_value (and their _re forms): removes the live items that match; how many. */
  removeMatching(t: string, field: 'name' | 'value', m: Matcher, op: number, p: string): number | undefined {
    const tab = this.tables.get(t);
    if (tab === undefined) return undefined;
    this.stats.matchScans++;
    let n = 0;
    for (const it of tab.live(this.now())) {
      if (!m(field === 'name' ? it.key : String(it.value))) continue;
      tab.delete(it.key);
      this.emitGone(t, it.key);
      n++;
    }
    this.stats.deletes += n;
    this.forward?.({ o: 'rmm', t, f: field, op, p });
    return n;
  }

  /** counts the live items whose name / value matches ($shtcn, $shtcv, sht_has_name). */
  countMatching(t: string, field: 'name' | 'value', m: Matcher, stopAtFirst = false): number | undefined {
    const tab = this.tables.get(t);
    if (tab === undefined) return undefined;
    this.stats.matchScans++;
    let n = 0;
    for (const it of tab.live(this.now())) {
      if (m(field === 'name' ? it.key : String(it.value))) {
        n++;
        if (stopAtFirst) break;
      }
    }
    return n;
  }

  /** sht_reset / htable.flush: empties the table; how many items went. */
  reset(t: string): number | undefined {
    const tab = this.tables.get(t);
    if (tab === undefined) return undefined;
    const n = tab.clear();
    this.stats.deletes += n;
    this.sink?.([t, null, null, 0]);
    this.forward?.({ o: 'reset', t });
    return n;
  }

  /** replaces a table's items (htable.reload; a worker's start): no forwarding, one reset + every item emitted. */
  replaceItems(t: string, items: Iterable<readonly [string, HtValue, number]>): number {
    const tab = this.tables.get(t);
    if (tab === undefined) return 0;
    tab.clear();
    this.sink?.([t, null, null, 0]);
    let n = 0;
    for (const [k, v, e] of items) {
      const r = tab.put(k, v, e);
      if (typeof r === 'string') {
        this.refused(tab, r);
        continue;
      }
      this.emit(t, r);
      n++;
    }
    return n;
  }

  // ---- replication --------------------------------------------------------------------------------

  /** shard 0: applies a worker's forwarded operation to the authoritative tables (emitting the result). */
  applyOp(op: HtOp, matcher: (op: number, p: string) => Matcher | null): void {
    const s = this.stats;
    s.forwarded++;
    // the worker counted this work already (the node's statistics add every shard's)
    const [sets, incs, deletes, scans] = [s.sets, s.incs, s.deletes, s.matchScans];
    try {
      this.applyForwarded(op, matcher);
    } finally {
      [s.sets, s.incs, s.deletes, s.matchScans] = [sets, incs, deletes, scans];
    }
  }

  private applyForwarded(op: HtOp, matcher: (op: number, p: string) => Matcher | null): void {
    switch (op.o) {
      // a write shard 0 refuses (its table filled first) was already applied by the worker's copy:
      // the key's real state goes back out
      case 'set':
        if (typeof this.set(op.t, op.k, op.v) === 'string') this.emitState(op.t, op.k);
        return;
      case 'inc':
        if (typeof this.inc(op.t, op.k, op.d) === 'string') this.emitState(op.t, op.k);
        return;
      case 'rm':
        this.remove(op.t, op.k);
        return;
      case 'ex':
        this.setExpire(op.t, op.k, op.s);
        return;
      case 'rmm': {
        const m = matcher(op.op, op.p);
        if (m !== null) this.removeMatching(op.t, op.f, m, op.op, op.p);
        return;
      }
      case 'reset':
        this.reset(op.t);
        return;
    }
  }

  /** a worker shard: takes shard 0's state of a key (or of a whole table, key null). */
  applyChange(c: HtChange): void {
    const [t, k, v, e] = c;
    const tab = this.tables.get(t);
    if (tab === undefined) return;
    if (k === null) tab.clear();
    else if (v === null) tab.delete(k);
    else tab.put(k, v, e, true);
  }

  /** shard 0: every live item of every table, for a worker's start. */
  snapshot(): Array<[string, Array<[string, HtValue, number]>]> {
    const now = this.now();
    return [...this.tables].map(([name, tab]) => [name, [...tab.live(now)].map((it): [string, HtValue, number] => [it.key, it.value, it.expires])]);
  }

  // ---- expiry -------------------------------------------------------------------------------------

  /** shard 0: sweeps every timer_interval seconds (Kamailio's htable timer). Worker replicas do not sweep: shard 0's deletions reach them. */
  start(intervalS: number): void {
    if (this.timer !== null || this.isReplica) return;
    this.timer = setInterval(() => this.sweepAll(), intervalS * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** removes expired items, SWEEP_BUDGET per loop turn; resolves when every table is swept. */
  sweepAll(): Promise<number> {
    if (this.sweeping) return Promise.resolve(0);
    this.sweeping = true;
    let total = 0;
    return new Promise((resolve) => {
      const turn = (): void => {
        let budget = SWEEP_BUDGET;
        const now = this.now();
        for (const [name, tab] of this.tables) {
          const n = tab.sweep(now, budget, (it) => this.emitGone(name, it.key));
          budget -= n;
          total += n;
          this.stats.expired += n;
          if (budget <= 0) break;
        }
        if (budget <= 0) setImmediate(turn);
        else {
          this.sweeping = false;
          resolve(total);
        }
      };
      turn();
    });
  }

  // ---- statistics ---------------------------------------------------------------------------------

  statistics(): Record<string, number> {
    const s = this.stats;
    const out: Record<string, number> = {
      gets: s.gets,
      sets: s.sets,
      incs: s.incs,
      deletes: s.deletes,
      match_scans: s.matchScans,
      refused_full: s.refusedFull,
      refused_key: s.refusedKey,
      refused_value: s.refusedValue,
      refused_bytes: s.refusedBytes,
      forwarded: s.forwarded,
    };
    if (!this.isReplica) {
      // the tables' own figures come from the authoritative copy only (a replica would count them again)
      let items = 0;
      for (const t of this.tables.values()) items += t.size;
      Object.assign(out, { tables: this.tables.size, items, expired: s.expired, broadcast: s.broadcast, db_loaded: s.dbLoaded, db_stored: s.dbStored, db_skipped: s.dbSkipped });
    }
    return out;
  }

  // ---- internals ----------------------------------------------------------------------------------

  private emit(t: string, it: HtItem): void {
    this.sink?.([t, it.key, it.value, it.expires]);
  }

  private emitGone(t: string, k: string): void {
    this.sink?.([t, k, null, 0]);
  }

  /** emits the current state of a key (after a forwarded op shard 0 refused). */
  private emitState(t: string, k: string): void {
    const it = this.tables.get(t)?.peek(k);
    if (it === undefined) this.emitGone(t, k);
    else this.emit(t, it);
  }

  private refused(tab: HtTable, r: Refusal): Refusal {
    const s = this.stats;
    if (r === 'full') s.refusedFull++;
    else if (r === 'key') s.refusedKey++;
    else if (r === 'value') s.refusedValue++;
    else s.refusedBytes++;
    if (r === 'full' || r === 'bytes') {
      const now = this.now();
      const last = this.lastRefusalLog.get(tab.name) ?? 0;
      if (now - last >= REFUSAL_LOG_MS) {
        this.lastRefusalLog.set(tab.name, now);
        const b = tab.bounds;
        this.log.warn({ code: 'E7501', table: tab.name, items: tab.size, max_entries: b.max_entries, bytes: tab.bytes, max_bytes: b.max_bytes }, `htable: table ${tab.name} is full (${r === 'full' ? 'max_entries' : 'max_bytes'}): new items refused`);
      }
    }
    return r;
  }
}
