/**
 * One REGISTER at a time per AOR (db_mode 3). In DB-only mode save() reads the AOR's rows, plans,
 * and writes; two copies of one REGISTER (a UDP retransmission, or the same datagram twice) read
 * before either wrote would both insert: two bindings for one contact. RFC 3261 §17.2.3 would
 * absorb the copy in a server transaction, but save() answers statelessly (Kamailio's sl) and the
 * copy arrives while the first is still waiting for the DB. So the pipeline holds the AOR from the
 * prefetch until the first REGISTER's write committed; the copy then reads the stored binding and
 * is answered as a retransmission (same Call-ID and CSeq, registrar README "save").
 *
 * Bounded: at most `maxWaiting` REGISTERs hold or wait for one AOR (more are refused, E9111), and
 * a hold ends after `holdMs` at the latest (a hung commit cannot lock an AOR for good). Kamailio
 * locks the usrloc record (per-slot lock) around save(); in db_mode 3 it has no lock across the
 * DB read and write.
 */
export class AorGate {
  private readonly entries = new Map<string, { tail: Promise<void>; holders: number }>();

  constructor(
    private readonly maxWaiting: number,
    private readonly holdMs: number,
  ) {}

  /** AORs held or waited for now. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Resolves with a release function once every earlier holder of `key` released it; null (at
   * once) when `maxWaiting` REGISTERs already hold or wait for it. Release is idempotent.
   */
  acquire(key: string): Promise<() => void> | null {
    let entry = this.entries.get(key);
    if (entry !== undefined && entry.holders >= this.maxWaiting) return null;
    let open!: () => void;
    const mine = new Promise<void>((r) => (open = r));
    const prev = entry?.tail ?? Promise.resolve();
    if (entry === undefined) this.entries.set(key, (entry = { tail: mine, holders: 0 }));
    else entry.tail = mine;
    entry.holders++;
    const e = entry;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      clearTimeout(timer);
      open();
      if (--e.holders === 0 && this.entries.get(key) === e) this.entries.delete(key);
    };
    let timer: NodeJS.Timeout | undefined;
    return prev.then(() => {
      timer = setTimeout(release, this.holdMs);
      timer.unref();
      return release;
    });
  }
}
