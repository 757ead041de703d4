/**
 * The embedded store: no server, files under `<dataDir>/db/`, one snapshot and one append-only log
 * per table (formats in embedded-files.ts, costs and concurrency in embedded-table.ts). A write
 * costs its own row on disk, committed in groups off the event loop; the table is rewritten only by
 * an occasional compaction. A server reload still sees what `siphon secfilter add` (another
 * process) wrote: every read checks the files first.
 */
import { mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import { SiphonError } from '../errors/registry.js';
import { TableStore, type EmbeddedCounters } from './embedded-table.js';
import { resolveDbLimits } from './limits.js';
import { coerce, idColumn, normalizeRow } from './schema.js';
import type { Database, DbLimits, Row, Table, TableDef, Where } from './types.js';

export type { EmbeddedCounters } from './embedded-table.js';

export class EmbeddedDatabase implements Database {
  readonly kind = 'embedded' as const;
  readonly location: string;
  readonly counters: EmbeddedCounters = { bytesWritten: 0, commits: 0, writes: 0, compactions: 0, busy: 0, tornTails: 0 };
  private readonly stores = new Map<string, TableStore>();
  private readonly limits: Required<DbLimits>;
  private readonly log?: Logger;
  private dirReady: Promise<void> | null = null;

  constructor(
    readonly dir: string,
    opts: { log?: Logger; limits?: DbLimits } = {},
  ) {
    this.location = dir;
    this.limits = resolveDbLimits(opts.limits);
    this.log = opts.log;
  }

  /** the table's store (one per table name and handle). */
  store(name: string): TableStore {
    let s = this.stores.get(name);
    if (!s) {
      s = new TableStore(this.dir, name, this.limits, this.counters, this.log);
      this.stores.set(name, s);
    }
    return s;
  }

  /** creates the data directory once (before the first write). */
  ready(): Promise<void> {
    this.dirReady ??= mkdir(this.dir, { recursive: true }).then(
      () => undefined,
      (e: Error) => {
        this.dirReady = null;
        throw new SiphonError('DB_QUERY', `cannot create ${this.dir}: ${e.message}`, { cause: e });
      },
    );
    return this.dirReady;
  }

  table<R extends Row>(def: TableDef): Table<R> {
    return new EmbeddedTable<R>(this, def);
  }

  tableVersion(name: string): Promise<number | null> {
    return this.store(name).tableVersion();
  }

  async ensureTable(def: TableDef): Promise<void> {
    await this.ready();
    await this.store(def.name).ensure(def.version);
  }

  /** waits for every queued write, then closes the logs. */
  async close(): Promise<void> {
    await Promise.all([...this.stores.values()].map((s) => s.close()));
  }
}

class EmbeddedTable<R extends Row> implements Table<R> {
  private readonly idCol: string | undefined;
  private readonly store: TableStore;

  constructor(
    private readonly db: EmbeddedDatabase,
    readonly def: TableDef,
  ) {
    this.idCol = idColumn(def);
    this.store = db.store(def.name);
    this.store.createVersion = def.version;
    // hash indexes: the id and the first column of each of the table's indexes (Kamailio's DDL)
    if (this.idCol) this.store.addIndex(this.idCol);
    for (const ix of def.indexes ?? []) if (ix.columns[0]) this.store.addIndex(ix.columns[0]);
  }

  /** coerces filter values to the column types, so `{action: '1'}` finds action 1 as MySQL would. */
  private where(where: Where<R>): Row {
    const w: Row = {};
    for (const [k, v] of Object.entries(where)) {
      if (v === undefined) continue;
      const col = this.def.columns.find((c) => c.name === k);
      if (!col) throw new SiphonError('DB_QUERY', `table ${this.def.name} has no column "${k}"`);
      w[k] = coerce(col, v);
    }
    return w;
  }

  async all(): Promise<R[]> {
    return (await this.store.select({})) as R[];
  }

  async find(where: Where<R>): Promise<R[]> {
    return (await this.store.select(this.where(where))) as R[];
  }

  async insert(row: Partial<R>): Promise<number> {
    let values: Row;
    try {
      values = normalizeRow(this.def, row);
    } catch (e) {
      throw new SiphonError('DB_QUERY', `insert into ${this.def.name}: ${(e as Error).message}`);
    }
    await this.db.ready();
    return this.store.write({ kind: 'insert', values, idCol: this.idCol });
  }

  async delete(where: Where<R>): Promise<number> {
    const w = this.where(where);
    await this.db.ready();
    return this.store.write({ kind: 'delete', where: w });
  }

  async update(where: Where<R>, set: Partial<R>): Promise<number> {
    const w = this.where(where);
    const s = this.where(set);
    if (Object.keys(s).length === 0) return 0;
    await this.db.ready();
    return this.store.write({ kind: 'update', where: w, set: s });
  }
}
