/**
 * The embedded store with several shards (`core.workers`, host/shards/context.ts).
 *
 * The embedded store keeps each table in memory and appends to its log from one writer; two handles
 * on one directory behave like two processes (embedded-table.ts: no cross-writer lock, a concurrent
 * append makes the other writer reload, and a change can be lost). So with several shards there is
 * exactly one EmbeddedDatabase per data directory, in shard 0:
 *
 *   - shard 0's modules get a SharedEmbeddedHandle on it (reference counted: the last close closes it);
 *   - worker shards get a RemoteDatabase, which forwards every operation over the shard link to the
 *     `db` service shard 0 provides (EmbeddedStoreServer), i.e. to that same instance.
 *
 * This plays the part of Kamailio's db_text/db_flatstore being opened once per process: here one
 * thread owns the files and the others ask it. Order: one worker's calls run in shard 0 in the order
 * it issued them (one MessagePort per worker), so a worker's insert followed by its find sees the row.
 * Calls from different shards interleave as concurrent callers of one EmbeddedDatabase do.
 *
 * Bounds: the link refuses past MAX_PENDING_CALLS calls waiting per worker (E5020 here); shard 0
 * applies core.db.write_queue per table as for its own writes (E5011); the service keeps at most
 * MAX_REMOTE_TABLES table definitions and MAX_REMOTE_STORES data directories (E5021 beyond).
 * Errors keep their SiphonError code across the thread boundary (siphonErrorFromShard).
 */
import type { Logger } from 'pino';
import { Errors, SiphonError, type ErrorName } from '../errors/registry.js';
import type { ServiceCaller, ShardContext } from '../shards/context.js';
import { EmbeddedDatabase } from './embedded.js';
import type { DbStatistics } from './stats.js';
import type { Database, DbLimits, Row, Table, TableDef, Where } from './types.js';

/** the shard service name of the embedded store. */
export const DB_SERVICE = 'db';
/** distinct table definitions (per data directory) worker shards may use; more are refused (E5021). */
export const MAX_REMOTE_TABLES = 4096;
/** data directories worker shards may open through shard 0; more are refused (E5021). */
export const MAX_REMOTE_STORES = 64;

// ---- shard 0 ----------------------------------------------------------------------------------

interface StoreEntry {
  db: EmbeddedDatabase;
  /** shard 0 handles plus worker attachments not yet released. */
  refs: number;
  /** the close started when refs fell to 0; a new open waits for it. */
  closing: Promise<void> | null;
  /** the EmbeddedTable of each table id (built on first use). */
  tables: Map<number, Table<Row>>;
}

export interface ServeOptions {
  log?: Logger;
  limits?: DbLimits;
  /** shard 0's `db` statistics group: counts the shared store (once). */
  stats?: DbStatistics;
}

/** Shard 0's one EmbeddedDatabase per data directory, and the `db` service over it. */
export class EmbeddedStoreServer {
  private readonly stores = new Map<string, StoreEntry>();
  private readonly tableIds = new Map<string, number>();
  private readonly tableDefs = new Map<number, { dir: string; def: TableDef }>();
  private nextTableId = 1;
  /** what a store opened by a worker's attach gets (the last options shard 0's own opens used). */
  private defaults: ServeOptions = {};

  constructor(shard: ShardContext) {
    shard.provide(DB_SERVICE, {
      attach: (dir: string, limits: DbLimits | undefined) => this.attach(dir, limits),
      release: (dir: string) => this.release(dir),
      table: (dir: string, def: TableDef) => this.tableId(dir, def),
      all: (id: number) => this.table(id).all(),
      find: (id: number, where: Row) => this.table(id).find(where),
      insert: (id: number, row: Row) => this.table(id).insert(row),
      delete: (id: number, where: Row) => this.table(id).delete(where),
      update: (id: number, where: Row, set: Row) => this.table(id).update(where, set),
      tableVersion: (dir: string, name: string) => this.open(dir).db.tableVersion(String(name)),
      ensureTable: (dir: string, def: TableDef) => this.open(dir).db.ensureTable(def),
    });
  }

  /** a handle on the store of `dir` for a module of shard 0 (close() releases it). */
  async handle(dir: string, opts: ServeOptions): Promise<SharedEmbeddedHandle> {
    this.defaults = { ...this.defaults, ...opts };
    const e = await this.acquire(dir, opts);
    return new SharedEmbeddedHandle(e.db, () => this.release(dir));
  }

  /** the data directories open now and their references (tests, diagnostics). */
  openStores(): Array<{ dir: string; refs: number }> {
    return [...this.stores].map(([dir, e]) => ({ dir, refs: e.refs }));
  }

  private async acquire(dir: string, opts: ServeOptions): Promise<StoreEntry> {
    for (;;) {
      const e = this.stores.get(dir);
      if (e === undefined) break;
      if (e.closing === null) {
        e.refs++;
        return e;
      }
      await e.closing; // then the entry is gone, or reopened by another caller
    }
    const db = new EmbeddedDatabase(dir, { log: opts.log, limits: opts.limits });
    opts.stats?.add(db);
    const e: StoreEntry = { db, refs: 1, closing: null, tables: new Map() };
    this.stores.set(dir, e);
    return e;
  }

  private async release(dir: string): Promise<void> {
    const e = this.stores.get(dir);
    if (e === undefined || e.closing !== null || e.refs === 0) return;
    if (--e.refs > 0) return;
    e.closing = e.db.close().finally(() => {
      if (this.stores.get(dir) === e) this.stores.delete(dir);
    });
    await e.closing;
  }

  private async attach(dir: string, limits: DbLimits | undefined): Promise<void> {
    if (typeof dir !== 'string' || dir === '') throw new SiphonError('DB_SHARD_REFUSED', 'attach: no data directory');
    if (!this.stores.has(dir) && this.stores.size >= MAX_REMOTE_STORES) {
      throw new SiphonError('DB_SHARD_REFUSED', `more than ${MAX_REMOTE_STORES} embedded data directories open`, { where: dir });
    }
    await this.acquire(dir, { ...this.defaults, limits: this.defaults.limits ?? limits });
  }

  /** the open store of `dir`; a worker using a handle it closed (or never attached) is refused. */
  private open(dir: string): StoreEntry {
    const e = this.stores.get(dir);
    if (e === undefined || e.closing !== null) throw new SiphonError('DB_SHARD_REFUSED', 'the embedded store is not open in shard 0', { where: String(dir) });
    return e;
  }

  /** one id per (directory, definition): a worker calling db.table(def) per request does not grow the map. */
  private tableId(dir: string, def: TableDef): number {
    this.open(dir);
    const key = `${dir}\0${JSON.stringify(def)}`;
    let id = this.tableIds.get(key);
    if (id !== undefined) return id;
    if (this.tableDefs.size >= MAX_REMOTE_TABLES) {
      throw new SiphonError('DB_SHARD_REFUSED', `more than ${MAX_REMOTE_TABLES} table definitions used by worker shards`, { where: dir });
    }
    id = this.nextTableId++;
    this.tableIds.set(key, id);
    this.tableDefs.set(id, { dir, def });
    return id;
  }

  private table(id: number): Table<Row> {
    const t = this.tableDefs.get(id);
    if (t === undefined) throw new SiphonError('DB_SHARD_REFUSED', `no table #${String(id)}`);
    const e = this.open(t.dir);
    let table = e.tables.get(id);
    if (table === undefined) {
      table = e.db.table<Row>(t.def);
      e.tables.set(id, table);
    }
    return table;
  }
}

const servers = new WeakMap<ShardContext, EmbeddedStoreServer>();

/**
 * Shard 0: the EmbeddedStoreServer of this node (provides the `db` service on first use). Pass the
 * same ShardContext object every time (the one the node gives its modules).
 */
export function serveDatabases(shard: ShardContext): EmbeddedStoreServer {
  if (shard.index !== 0) throw new Error('serveDatabases: only shard 0 serves the embedded store');
  let s = servers.get(shard);
  if (s === undefined) {
    s = new EmbeddedStoreServer(shard);
    servers.set(shard, s);
  }
  return s;
}

/** What shard 0's modules hold: the shared EmbeddedDatabase; close() drops this handle's reference. */
export class SharedEmbeddedHandle implements Database {
  readonly kind = 'embedded' as const;
  readonly location: string;
  private closed: Promise<void> | null = null;

  constructor(
    readonly store: EmbeddedDatabase,
    private readonly done: () => Promise<void>,
  ) {
    this.location = store.location;
  }

  table<R extends Row>(def: TableDef): Table<R> {
    return this.store.table<R>(def);
  }

  tableVersion(name: string): Promise<number | null> {
    return this.store.tableVersion(name);
  }

  ensureTable(def: TableDef): Promise<void> {
    return this.store.ensureTable(def);
  }

  close(): Promise<void> {
    this.closed ??= this.done();
    return this.closed;
  }
}

// ---- worker shards ----------------------------------------------------------------------------

const NAME_BY_CODE = new Map<number, ErrorName>(Object.entries(Errors).map(([name, spec]) => [spec.code, name as ErrorName]));

/**
 * A SiphonError again from an error that crossed the shard link (which carries `message` and `code`):
 * same code, name and message (the location stays in the message; `where` is not set). An error
 * without a known code (the link itself failed) becomes E5020.
 */
export function siphonErrorFromShard(e: unknown, where: string): SiphonError {
  if (e instanceof SiphonError) return e;
  const err = e as { message?: unknown; code?: unknown } | null;
  const message = typeof err?.message === 'string' ? err.message : String(e);
  const name = typeof err?.code === 'number' ? NAME_BY_CODE.get(err.code) : undefined;
  if (name !== undefined) {
    const suffix = ` [E${Errors[name].code} ${Errors[name].title}]`;
    return new SiphonError(name, message.endsWith(suffix) ? message.slice(0, -suffix.length) : message, { cause: e });
  }
  return new SiphonError('DB_SHARD_LINK', message, { where, cause: e });
}

/** Counters of one worker shard's handle (stats.ts: the `db` group's remote_* keys). */
export interface RemoteCounters {
  /** operations sent to shard 0. */
  calls: number;
  /** of those, the ones that failed (any code). */
  failures: number;
}

/**
 * A worker shard's embedded store: every operation runs on shard 0's EmbeddedDatabase for the same
 * data directory. `kind` and `location` are those of the embedded store, so modules cannot tell.
 */
export class RemoteDatabase implements Database {
  readonly kind = 'embedded' as const;
  readonly counters: RemoteCounters = { calls: 0, failures: 0 };
  private closed: Promise<void> | null = null;

  private constructor(
    private readonly main: ServiceCaller,
    readonly location: string,
  ) {}

  /** attaches to shard 0's store of `dir` (opening it there if no module of shard 0 has). */
  static async open(main: ServiceCaller, dir: string, limits?: DbLimits): Promise<RemoteDatabase> {
    const db = new RemoteDatabase(main, dir);
    await db.call('attach', [dir, limits]);
    return db;
  }

  /** one call to shard 0's `db` service; failures come back as SiphonErrors with their code. */
  async call(method: string, args: readonly unknown[]): Promise<unknown> {
    if (this.closed !== null && method !== 'release') {
      throw new SiphonError('DB_SHARD_REFUSED', `${method} on a closed handle`, { where: this.location });
    }
    this.counters.calls++;
    try {
      return await this.main.call(DB_SERVICE, method, args);
    } catch (e) {
      this.counters.failures++;
      throw siphonErrorFromShard(e, this.location);
    }
  }

  table<R extends Row>(def: TableDef): Table<R> {
    return new RemoteTable<R>(this, def);
  }

  async tableVersion(name: string): Promise<number | null> {
    return (await this.call('tableVersion', [this.location, name])) as number | null;
  }

  async ensureTable(def: TableDef): Promise<void> {
    await this.call('ensureTable', [this.location, def]);
  }

  /** releases this shard's reference (shard 0 closes the store when nobody holds it). */
  close(): Promise<void> {
    this.closed ??= this.call('release', [this.location]).then(
      () => undefined,
      () => undefined, // the link is gone: nothing left to release
    );
    return this.closed;
  }
}

class RemoteTable<R extends Row> implements Table<R> {
  private id: Promise<number> | null = null;

  constructor(
    private readonly db: RemoteDatabase,
    readonly def: TableDef,
  ) {}

  /** the table's id in shard 0, asked for once (a failed ask is asked again next time). */
  private async tableId(): Promise<number> {
    this.id ??= this.db.call('table', [this.db.location, this.def]).then(
      (id) => id as number,
      (e: unknown) => {
        this.id = null;
        throw e;
      },
    );
    return this.id;
  }

  private async op(method: string, ...args: unknown[]): Promise<unknown> {
    return this.db.call(method, [await this.tableId(), ...args]);
  }

  async all(): Promise<R[]> {
    return (await this.op('all')) as R[];
  }

  async find(where: Where<R>): Promise<R[]> {
    return (await this.op('find', where)) as R[];
  }

  async insert(row: Partial<R>): Promise<number> {
    return (await this.op('insert', row)) as number;
  }

  async delete(where: Where<R>): Promise<number> {
    return (await this.op('delete', where)) as number;
  }

  async update(where: Where<R>, set: Partial<R>): Promise<number> {
    return (await this.op('update', where, set)) as number;
  }
}
