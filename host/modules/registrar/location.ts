/**
 * One location table (a usrloc "domain"): the contacts of every AOR, kept per usrloc `db_mode`:
 *
 *   0 memory      the Map below is the only copy.
 *   1 write-through  the Map is the read source; every change is also written to the DB, in order.
 *                 A failing DB is logged and counted; memory keeps serving (Kamailio logs and
 *                 carries on the same way). At start the table is loaded into memory.
 *   3 DB only     no cache: every read and write goes to the DB, so several nodes share one table;
 *                 the timer deletes expired rows.
 *
 * A worker shard (`core.workers`, shard.ts) runs every table DB-only over a backend that calls
 * shard 0, whose Location (in the configured mode) is the one copy; its timer does not run there.
 *
 * Memory modes offer a synchronous API (what the Wasm imports need); every mode offers the async one.
 * In memory each AOR's contacts are indexed by ruid (AorRecord): applying a REGISTER's changes costs
 * O(changes), not O(changes x contacts of the AOR).
 */
import type { Logger } from 'pino';
import { SiphonError } from '../../errors/registry.js';
import { DbMode, type DbModeValue } from './config.js';
import { isValid, type Contact } from './contact.js';
import type { LocationBackend } from './location-db.js';

export type ContactChange = { op: 'insert'; contact: Contact } | { op: 'update'; contact: Contact } | { op: 'delete'; contact: Contact };

export interface LocationCounters {
  /** contacts removed by the expiry timer (usrloc `expires`, Kamailio registrar `expired_contacts`). */
  expired: number;
  /** DB writes that failed in write-through mode (memory kept serving). */
  dbWriteErrors: number;
}

export interface LocationOptions {
  name: string;
  dbMode: DbModeValue;
  backend: LocationBackend | null;
  /** seconds between expiry sweeps. */
  timerInterval: number;
  log: Logger;
  /** clock in seconds (tests may pin it). */
  now?: () => number;
}

export class Location {
  readonly name: string;
  readonly dbMode: DbModeValue;
  readonly counters: LocationCounters = { expired: 0, dbWriteErrors: 0 };
  private readonly backend: LocationBackend | null;
  private readonly records = new Map<string, AorRecord>();
  /** contacts held in memory, every AOR together (registrar max_location_contacts bounds it). */
  contactCount = 0;
  private readonly log: Logger;
  private readonly timerInterval: number;
  readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private writeTail: Promise<void> = Promise.resolve();
  private sweeping: Promise<number> | null = null;

  constructor(opts: LocationOptions) {
    this.name = opts.name;
    this.dbMode = opts.dbMode;
    this.backend = opts.backend;
    this.log = opts.log;
    this.timerInterval = opts.timerInterval;
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000));
    if (this.dbMode !== DbMode.MEMORY && !this.backend) throw new Error(`location ${this.name}: db_mode ${this.dbMode} needs a database`);
  }

  /** true when reads are served from memory (db_mode 0 and 1): the sync API works. */
  get memoryBacked(): boolean {
    return this.dbMode !== DbMode.DB_ONLY;
  }

  /** write-through: load the table into memory (expired rows skipped). */
  async preload(): Promise<number> {
    if (this.dbMode !== DbMode.WRITE_THROUGH) return 0;
    const now = this.now();
    let n = 0;
    for (const c of await this.backend!.loadAll()) {
      if (!isValid(c, now)) continue;
      this.contactCount += this.recordOf(c.aor).apply({ op: 'insert', contact: c });
      n++;
    }
    return n;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sweep().catch(() => undefined), this.timerInterval * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.sweeping?.catch(() => undefined);
    await this.flush();
  }

  // ---- sync API (memory modes) -------------------------------------------------------------

  /** every contact stored for the AOR, expired ones included (the caller filters with isValid). */
  contactsSync(aor: string): readonly Contact[] {
    this.requireMemory();
    return this.records.get(aor)?.list() ?? EMPTY;
  }

  private recordOf(aor: string): AorRecord {
    let r = this.records.get(aor);
    if (r === undefined) this.records.set(aor, (r = new AorRecord()));
    return r;
  }

  /** applies changes to memory and queues the DB writes (write-through; not with `memoryOnly`, save flag 0x01). */
  applySync(aor: string, changes: readonly ContactChange[], memoryOnly = false): void {
    this.requireMemory();
    if (changes.length === 0) return;
    const rec = this.recordOf(aor);
    for (const ch of changes) this.contactCount += rec.apply(ch);
    if (rec.size === 0) this.records.delete(aor);
    if (this.dbMode === DbMode.WRITE_THROUGH && !memoryOnly) this.queueWrite(() => this.writeChanges(changes));
  }

  /**
   * DB only: queues the writes without waiting (for the synchronous plugin path working on a
   * prefetched snapshot); the promise tells when they committed (true) or failed (false, logged and
   * counted like write-through failures; `failed` gets the error first).
   */
  applyDeferred(changes: readonly ContactChange[], memoryOnly = false, failed?: (e: unknown) => void): Promise<boolean> {
    if (changes.length === 0) return Promise.resolve(true);
    const b = this.backend!;
    if (b.applyChanges !== undefined) return this.sendChanges(b.applyChanges(changes, memoryOnly), failed);
    return this.queueWrite(() => this.writeChanges(changes), failed);
  }

  /**
   * A worker shard's save (shard.ts): the changes went to shard 0 in the call above, synchronously,
   * so a reply the plugin sends next cannot reach shard 0 before them (one ordered port). Shard 0
   * counts its own storage failures (location_db_write_errors, location_table_full); here it is
   * only logged, and the caller answers as for a failed DB-only write.
   */
  private sendChanges(sent: Promise<void>, failed?: (e: unknown) => void): Promise<boolean> {
    const done = sent.then(
      () => true,
      (e: unknown) => {
        failed?.(e);
        this.log.debug({ table: this.name, err: (e as Error).message }, 'usrloc: shard 0 refused the changes');
        return false;
      },
    );
    const prev = this.writeTail;
    this.writeTail = done.then(() => prev);
    return done;
  }

  /** removes all contacts of an AOR; returns how many. */
  removeAorSync(aor: string): number {
    const list = this.contactsSync(aor);
    if (list.length === 0) return 0;
    this.applySync(aor, list.map((c) => ({ op: 'delete' as const, contact: c })));
    return list.length;
  }

  /** every AOR with its contacts (memory modes). */
  *entriesSync(): IterableIterator<[string, Contact[]]> {
    this.requireMemory();
    for (const [aor, rec] of this.records) yield [aor, rec.list()];
  }

  /**
   * DB only: the AOR's contacts read while the caller waits, where the backend can (a worker shard,
   * shard.ts); null where it cannot or the read failed (logged). For a synchronous lookup of an AOR
   * that was not prefetched.
   */
  contactsBlocking(username: string, domain: string | null): readonly Contact[] | null {
    const read = this.backend?.loadAorSync;
    if (this.memoryBacked || read === undefined) return null;
    try {
      return read(username, domain);
    } catch (e) {
      this.log.warn({ table: this.name, username, domain, err: (e as Error).message }, 'registrar: blocking read of a location AOR failed');
      return null;
    }
  }

  /** whether contactsBlocking() can read (a worker shard's tables). */
  get canBlock(): boolean {
    return !this.memoryBacked && this.backend?.loadAorSync !== undefined;
  }

  // ---- async API (all modes) ---------------------------------------------------------------

  async contacts(aor: string, username: string, domain: string | null): Promise<readonly Contact[]> {
    if (this.memoryBacked) return this.contactsSync(aor);
    return this.backend!.loadAor(username, domain);
  }

  /**
   * Applies changes. Memory modes: at once in memory, then waits for the write-through (DB errors
   * are logged and counted, never thrown). DB only: writes to the DB; errors are thrown (E5002/E5003).
   */
  async apply(aor: string, changes: readonly ContactChange[]): Promise<void> {
    if (this.memoryBacked) {
      this.applySync(aor, changes);
      await this.flush();
      return;
    }
    await this.flush();
    await this.writeChanges(changes);
  }

  async removeAor(aor: string, username: string, domain: string | null): Promise<number> {
    if (this.memoryBacked) {
      const n = this.removeAorSync(aor);
      await this.flush();
      return n;
    }
    return this.backend!.deleteAor(username, domain);
  }

  /** every AOR with its contacts (from the DB in db-only mode). */
  async entries(): Promise<Map<string, Contact[]>> {
    if (this.memoryBacked) return new Map([...this.records.entries()].map(([k, v]) => [k, [...v.list()]]));
    const out = new Map<string, Contact[]>();
    for (const c of await this.backend!.loadAll()) {
      const list = out.get(c.aor);
      if (list) list.push(c);
      else out.set(c.aor, [c]);
    }
    return out;
  }

  /** waits until every queued write-through write has been attempted (ul.flush). */
  flush(): Promise<void> {
    return this.writeTail;
  }

  /**
   * The expiry timer's work (usrloc timer_interval): memory modes drop expired contacts (and, in
   * write-through, their rows); DB only deletes expired rows. Returns how many were removed.
   */
  sweep(): Promise<number> {
    if (this.sweeping) return this.sweeping;
    this.sweeping = this.doSweep().finally(() => {
      this.sweeping = null;
    });
    return this.sweeping;
  }

  private async doSweep(): Promise<number> {
    const now = this.now();
    let n = 0;
    if (this.memoryBacked) {
      for (const [aor, rec] of this.records) {
        const expired = rec.list().filter((c) => !isValid(c, now));
        if (expired.length === 0) continue;
        this.applySync(aor, expired.map((c) => ({ op: 'delete' as const, contact: c })));
        n += expired.length;
      }
    } else {
      try {
        n = await this.backend!.deleteExpired(now);
      } catch (e) {
        this.log.warn({ table: this.name, err: (e as Error).message }, 'usrloc: cannot delete expired contacts');
        throw e;
      }
    }
    this.counters.expired += n;
    return n;
  }

  /** number of AORs and contacts with a valid contact (memory modes; DB only asks the DB). */
  async counts(): Promise<{ users: number; contacts: number }> {
    const now = this.now();
    let users = 0;
    let contacts = 0;
    const source = this.memoryBacked ? new Map(this.entriesSync()) : await this.entries();
    for (const list of source.values()) {
      let valid = 0;
      for (const c of list) if (isValid(c, now)) valid++;
      if (valid > 0) users++;
      contacts += valid;
    }
    return { users, contacts };
  }

  /** counts from memory only (statistics must not hit the DB); null in db-only mode. */
  countsSync(): { users: number; contacts: number } | null {
    if (!this.memoryBacked) return null;
    const now = this.now();
    let users = 0;
    let contacts = 0;
    for (const rec of this.records.values()) {
      const list = rec.list();
      let valid = 0;
      for (const c of list) if (isValid(c, now)) valid++;
      if (valid > 0) users++;
      contacts += valid;
    }
    return { users, contacts };
  }

  // ---- internals ---------------------------------------------------------------------------

  private requireMemory(): void {
    if (!this.memoryBacked) {
      throw new SiphonError('REG_STORAGE', `location ${this.name} is in db_mode 3: use the async API`);
    }
  }

  /** Runs `op` after the writes queued before it; resolves true once it committed, false when it failed (logged, counted). */
  private queueWrite(op: () => Promise<void>, failed?: (e: unknown) => void): Promise<boolean> {
    const done = this.writeTail.then(op).then(
      () => true,
      (e: unknown) => {
        failed?.(e);
        this.counters.dbWriteErrors++;
        this.log.warn({ table: this.name, err: (e as Error).message }, 'usrloc write-through failed; memory keeps serving');
        return false;
      },
    );
    this.writeTail = done.then(() => undefined);
    return done;
  }

  private async writeChanges(changes: readonly ContactChange[]): Promise<void> {
    const b = this.backend!;
    if (b.applyChanges !== undefined) return b.applyChanges(changes, false);
    for (const ch of changes) {
      if (ch.op === 'insert') await b.insert(ch.contact);
      else if (ch.op === 'update') await b.update(ch.contact);
      else await b.deleteRuid(ch.contact.ruid);
    }
  }
}

const EMPTY: readonly Contact[] = Object.freeze([]);

/** One AOR in memory: its contacts by ruid (stored order kept), and the list readers get. */
class AorRecord {
  readonly byRuid = new Map<string, Contact>();
  /** the contacts as a list, rebuilt on the first read after a change. */
  private listCache: Contact[] | null = null;

  list(): Contact[] {
    return (this.listCache ??= [...this.byRuid.values()]);
  }

  /** insert (appended), update (in place) or delete one contact: O(1). Returns the change in size. */
  apply(ch: ContactChange): number {
    this.listCache = null;
    const before = this.byRuid.size;
    if (ch.op === 'delete') this.byRuid.delete(ch.contact.ruid);
    else this.byRuid.set(ch.contact.ruid, ch.contact);
    return this.byRuid.size - before;
  }

  get size(): number {
    return this.byRuid.size;
  }
}
