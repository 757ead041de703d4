/**
 * One named hash table (Kamailio htable's ht_t): items by key, each a string or a 32-bit integer
 * with an optional expiry time, under the table's bounds (README "Limits").
 *
 * - Lookup, insert, update and delete are one Map operation. Kamailio hashes the key into 2^size
 *   slots of linked lists; here `size` only shapes htable.dump / htable.stats (items are grouped by
 *   the slot their key hashes to), the Map does the hashing.
 * - **Expiry** (Kamailio autoexpire / $shtex): an item whose expiry time has passed reads as absent at
 *   once (Kamailio ht_get_cell checks it too); memory is reclaimed by `sweep`, driven by a per-second
 *   wheel (second → the items expiring in it), so a sweep costs O(items expired + seconds elapsed),
 *   never a walk over the table (Kamailio's timer walks every slot). `sweep` takes at most `budget`
 *   items per call so many simultaneous expiries are spread over loop turns.
 * - Integers are Kamailio's C `int`: 32 bits, `$shtinc` wraps around.
 */
import { fnv1a32 } from './hash.js';

export type HtValue = string | number;

export interface HtItem {
  readonly key: string;
  value: HtValue;
  /** ms since the epoch; 0 = never expires. */
  expires: number;
  /** the wheel second the item is filed under (-1: none). */
  bucket: number;
}

/** Why a write was refused (ABI -5 LIMIT, RPC 500). */
export type Refusal = 'full' | 'key' | 'value' | 'bytes';

export interface TableBounds {
  size: number;
  autoexpire: number;
  updateexpire: 0 | 1;
  max_entries: number;
  max_key_length: number;
  max_value_length: number;
  max_bytes: number;
}

/** characters an item costs against max_bytes (an int counts 8). */
function weight(key: string, v: HtValue): number {
  return key.length + (typeof v === 'string' ? v.length : 8);
}

export class HtTable {
  private readonly items = new Map<string, HtItem>();
  private readonly wheel = new Map<number, Set<HtItem>>();
  private used = 0;
  /** the last second swept: items filed before it are gone. */
  private swept: number;
  readonly slots: number;

  constructor(
    readonly name: string,
    readonly bounds: TableBounds,
    now: number,
  ) {
    this.slots = 2 ** bounds.size;
    this.swept = Math.floor(now / 1000) - 1;
  }

  get size(): number {
    return this.items.size;
  }

  /** characters held (keys + string values, ints 8). */
  get bytes(): number {
    return this.used;
  }

  /** items filed in the expiry wheel. */
  get expiring(): number {
    let n = 0;
    for (const s of this.wheel.values()) n += s.size;
    return n;
  }

  /** the live item of `key` (an expired one reads as absent). */
  get(key: string, now: number): HtItem | null {
    const it = this.items.get(key);
    if (it === undefined) return null;
    if (it.expires !== 0 && it.expires <= now) return null;
    return it;
  }

  /** the item of `key` whether or not it expired (the sweep, and replication). */
  peek(key: string): HtItem | undefined {
    return this.items.get(key);
  }

  /** why `key` = `value` cannot be stored (null: it can). */
  refusal(key: string, value: HtValue): Refusal | null {
    if (key.length > this.bounds.max_key_length) return 'key';
    if (typeof value === 'string' && value.length > this.bounds.max_value_length) return 'value';
    const old = this.items.get(key);
    if (old === undefined && this.items.size >= this.bounds.max_entries) return 'full';
    const delta = weight(key, value) - (old === undefined ? 0 : weight(key, old.value));
    if (this.used + delta > this.bounds.max_bytes) return 'bytes';
    return null;
  }

  /**
   * $sht(t=>k) = value: stores it. A new item (or one that had expired) gets autoexpire from now; an
   * update keeps its expiry unless updateexpire is 1 (Kamailio ht_set_cell).
   */
  set(key: string, value: HtValue, now: number): HtItem | Refusal {
    const r = this.refusal(key, value);
    if (r !== null) return r;
    const old = this.items.get(key);
    const auto = this.bounds.autoexpire > 0 ? now + this.bounds.autoexpire * 1000 : 0;
    if (old === undefined) {
      const it: HtItem = { key, value, expires: 0, bucket: -1 };
      this.items.set(key, it);
      this.used += weight(key, value);
      this.file(it, auto);
      return it;
    }
    this.used += weight(key, value) - weight(key, old.value);
    const live = old.expires === 0 || old.expires > now;
    old.value = value;
    if (!live || this.bounds.updateexpire === 1) this.file(old, auto);
    return old;
  }

  /** a live integer item takes another integer (same weight: no bound to check): $shtinc's fast path. */
  updateInt(it: HtItem, value: number, now: number): void {
    it.value = value;
    if (this.bounds.updateexpire === 1 && this.bounds.autoexpire > 0) this.file(it, now + this.bounds.autoexpire * 1000);
  }

  /**
   * stores an item exactly as given, value and expiry time (DB load; `force` for shard 0's state in a
   * worker's replica, which may hold this shard's own writes shard 0 has not ruled on yet: shard 0
   * kept its bounds, so the replica exceeds them by those pending writes at most, until their
   * refusals arrive).
   */
  put(key: string, value: HtValue, expires: number, force = false): HtItem | Refusal {
    const r = force ? null : this.refusal(key, value);
    if (r !== null) return r;
    let it = this.items.get(key);
    if (it === undefined) {
      it = { key, value, expires: 0, bucket: -1 };
      this.items.set(key, it);
      this.used += weight(key, value);
    } else {
      this.used += weight(key, value) - weight(key, it.value);
      it.value = value;
    }
    this.file(it, expires);
    return it;
  }

  /** $shtex(t=>k) = secs: the item expires `secs` from now (0: never). false when absent. */
  setExpire(key: string, secs: number, now: number): HtItem | null {
    const it = this.get(key, now);
    if (it === null) return null;
    this.file(it, secs > 0 ? now + secs * 1000 : 0);
    return it;
  }

  delete(key: string): boolean {
    const it = this.items.get(key);
    if (it === undefined) return false;
    this.unfile(it);
    this.items.delete(key);
    this.used -= weight(key, it.value);
    return true;
  }

  /** sht_reset: every item goes. */
  clear(): number {
    const n = this.items.size;
    this.items.clear();
    this.wheel.clear();
    this.used = 0;
    return n;
  }

  /** live items in insertion order (iterators, dump, matches); a Map iterator survives deletions. */
  *live(now: number): IterableIterator<HtItem> {
    for (const it of this.items.values()) if (it.expires === 0 || it.expires > now) yield it;
  }

  /** every item, expired or not, in insertion order. */
  all(): IterableIterator<HtItem> {
    return this.items.values();
  }

  /**
   * Removes items whose time has come, at most `budget` of them; calls `gone` for each. Returns how
   * many were removed; when that equals budget there may be more (call again on the next turn).
   */
  sweep(now: number, budget: number, gone: (it: HtItem) => void): number {
    const nowSec = Math.floor(now / 1000);
    let removed = 0;
    // walk the seconds since the last sweep; after a long pause walk the wheel's own keys instead
    const span = nowSec - this.swept;
    const seconds: Iterable<number> = span > this.wheel.size ? [...this.wheel.keys()].filter((s) => s <= nowSec).sort((a, b) => a - b) : range(this.swept + 1, nowSec);
    for (const sec of seconds) {
      const set = this.wheel.get(sec);
      if (set !== undefined) {
        for (const it of set) {
          if (removed >= budget) return removed;
          if (it.expires > now) continue; // same second, later ms: next sweep
          set.delete(it);
          it.bucket = -1;
          this.items.delete(it.key);
          this.used -= weight(it.key, it.value);
          removed++;
          gone(it);
        }
        if (set.size > 0) return removed; // this second is not over yet
        this.wheel.delete(sec);
      }
      this.swept = sec;
    }
    return removed;
  }

  /** the slot `key` hashes to (htable.dump's `entry`). */
  slotOf(key: string): number {
    return fnv1a32(key) & (this.slots - 1);
  }

  private file(it: HtItem, expires: number): void {
    // an expiry already behind the sweep (a DB row, a replicated item) is filed in the next second swept
    const sec = expires === 0 ? -1 : Math.max(Math.floor(expires / 1000), this.swept + 1);
    if (sec === it.bucket) {
      // the same second (an update within it): nothing to refile
      it.expires = expires;
      return;
    }
    this.unfile(it);
    it.expires = expires;
    if (expires === 0) return;
    let set = this.wheel.get(sec);
    if (set === undefined) this.wheel.set(sec, (set = new Set()));
    set.add(it);
    it.bucket = sec;
  }

  private unfile(it: HtItem): void {
    if (it.bucket < 0) return;
    const set = this.wheel.get(it.bucket);
    if (set !== undefined) {
      set.delete(it);
      if (set.size === 0) this.wheel.delete(it.bucket);
    }
    it.bucket = -1;
  }
}

function* range(from: number, to: number): IterableIterator<number> {
  for (let s = from; s <= to; s++) yield s;
}
