/**
 * Active-call tracking for the call-load algorithm (alg 10; Kamailio ds_ht.c): a table keyed by
 * Call-ID remembering which destination (set + duid) took the call. The destination's `load`
 * counter is what alg 10 compares. Entries expire after `ds_hash_initexpire` s while unconfirmed
 * (no 2xx to the INVITE yet) and `ds_hash_expire` s once confirmed.
 *
 * Bounded (`ds_hash_max_entries`, siphon, default 100000): the Call-IDs come from requests, so an
 * INVITE flood with fresh Call-IDs that never get a BYE would keep 7200 s of them. When the table is
 * full the oldest call is forgotten (its destination's load is decremented through `onEvict`), as
 * the sweep would have done later. Kamailio's table (ds_ht.c) has 2^ds_hash_size slots of unbounded
 * lists, bounded only by shared memory.
 */

export interface CallLoadEntry {
  setid: number;
  duid: string;
  confirmed: boolean;
  /** ms timestamp after which the entry is dropped. */
  expiresAt: number;
}

/** ds_hash_max_entries default. */
export const DEFAULT_CALL_LOAD_MAX = 100_000;

export class CallLoadTable {
  /** insertion order: the first entry is the oldest call. */
  private readonly calls = new Map<string, CallLoadEntry>();
  /** calls forgotten because the table was full. */
  evicted = 0;

  constructor(
    /** seconds a confirmed call is kept without a BYE (ds_hash_expire, default 7200). */
    private readonly expireS: number,
    /** seconds an unconfirmed call is kept (ds_hash_initexpire, default 7200). */
    private readonly initExpireS: number,
    private readonly now: () => number = Date.now,
    /** calls kept at most (ds_hash_max_entries). */
    readonly maxEntries = DEFAULT_CALL_LOAD_MAX,
    /** an entry dropped to make room (the dispatcher decrements its destination's load). */
    private readonly onEvict: (e: CallLoadEntry, evictedSoFar: number) => void = () => {},
  ) {}

  get size(): number {
    return this.calls.size;
  }

  get(callId: string): CallLoadEntry | undefined {
    return this.calls.get(callId);
  }

  add(callId: string, setid: number, duid: string): void {
    const prev = this.calls.get(callId);
    if (prev !== undefined) {
      this.calls.delete(callId); // re-added: newest again
      this.onEvict(prev, this.evicted); // its load is replaced by the new entry's
    }
    while (this.calls.size >= this.maxEntries) {
      const [oldestId, oldest] = this.calls.entries().next().value as [string, CallLoadEntry];
      this.calls.delete(oldestId);
      this.evicted++;
      this.onEvict(oldest, this.evicted);
    }
    this.calls.set(callId, { setid, duid, confirmed: false, expiresAt: this.now() + this.initExpireS * 1000 });
  }

  confirm(callId: string): boolean {
    const e = this.calls.get(callId);
    if (!e) return false;
    e.confirmed = true;
    e.expiresAt = this.now() + this.expireS * 1000;
    return true;
  }

  remove(callId: string): CallLoadEntry | undefined {
    const e = this.calls.get(callId);
    if (e) this.calls.delete(callId);
    return e;
  }

  /** removes and returns expired entries (the caller decrements the loads). */
  sweep(): CallLoadEntry[] {
    const t = this.now();
    const out: CallLoadEntry[] = [];
    for (const [k, e] of this.calls) {
      if (e.expiresAt <= t) {
        this.calls.delete(k);
        out.push(e);
      }
    }
    return out;
  }
}
