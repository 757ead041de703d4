/**
 * Active-call tracking for the call-load algorithm (alg 10; Kamailio ds_ht.c): a table keyed by
 * Call-ID remembering which destination (set + duid) took the call. The destination's `load`
 * counter is what alg 10 compares. Entries expire after `ds_hash_initexpire` s while unconfirmed
 * (no 2xx to the INVITE yet) and `ds_hash_expire` s once confirmed.
 */

export interface CallLoadEntry {
  setid: number;
  duid: string;
  confirmed: boolean;
  /** ms timestamp after which the entry is dropped. */
  expiresAt: number;
}

export class CallLoadTable {
  private readonly calls = new Map<string, CallLoadEntry>();

  constructor(
    /** seconds a confirmed call is kept without a BYE (ds_hash_expire, default 7200). */
    private readonly expireS: number,
    /** seconds an unconfirmed call is kept (ds_hash_initexpire, default 7200). */
    private readonly initExpireS: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.calls.size;
  }

  get(callId: string): CallLoadEntry | undefined {
    return this.calls.get(callId);
  }

  add(callId: string, setid: number, duid: string): void {
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
