/**
 * The embedded store: no server, one JSON file per table under `<dataDir>/db/`:
 *
 *   { "table": "secfilter", "version": 1, "nextId": 4, "rows": [ {"id":1,"action":0,...}, ... ] }
 *
 * Every change rewrites the file atomically (write `<file>.tmp-<pid>-<n>`, fsync, rename over the old
 * file), so a reader in another process (the server reloading while `siphon secfilter add` writes) sees
 * either the old or the new content, never half a file. Changes from this process are serialized per
 * table. Tables are read on demand (reloads are rare), so a running server picks up what the CLI wrote.
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { SiphonError } from '../errors/registry.js';
import { coerce, idColumn, normalizeRow } from './schema.js';
import type { Database, Row, Table, TableDef, Where } from './types.js';

interface TableFile {
  table: string;
  version: number;
  nextId: number;
  rows: Row[];
}

let tmpCounter = 0;

export class EmbeddedDatabase implements Database {
  readonly kind = 'embedded' as const;
  readonly location: string;
  /** per-table tail of the write queue. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    readonly dir: string,
    _opts: { log?: import('pino').Logger; limits?: import('./types.js').DbLimits } = {},
  ) {
    this.location = dir;
  }

  fileOf(table: string): string {
    return path.join(this.dir, `${table}.json`);
  }

  /** reads a table file; null when it does not exist. */
  async readFile(table: string): Promise<TableFile | null> {
    const file = this.fileOf(table);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new SiphonError('DB_QUERY', `cannot read ${file}: ${(e as Error).message}`, { cause: e });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new SiphonError('DB_STORE_CORRUPT', `${file}: ${(e as Error).message}`, { cause: e });
    }
    const f = parsed as Partial<TableFile>;
    if (typeof f !== 'object' || f === null || !Array.isArray(f.rows) || typeof f.version !== 'number' || typeof f.nextId !== 'number') {
      throw new SiphonError('DB_STORE_CORRUPT', `${file}: expected {table, version, nextId, rows[]}`);
    }
    return { table: f.table ?? table, version: f.version, nextId: f.nextId, rows: f.rows };
  }

  async writeFile(content: TableFile): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = this.fileOf(content.table);
    const tmp = `${file}.tmp-${process.pid}-${++tmpCounter}`;
    const fh = await open(tmp, 'w', 0o640);
    try {
      await fh.writeFile(JSON.stringify(content, null, 1) + '\n', 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, file);
    } catch (e) {
      await rm(tmp, { force: true });
      throw new SiphonError('DB_QUERY', `cannot replace ${file}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** runs `fn` after every earlier change of the same table. */
  serialize<T>(table: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(table) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.queues.set(
      table,
      next.catch(() => undefined),
    );
    return next;
  }

  table<R extends Row>(def: TableDef): Table<R> {
    return new EmbeddedTable<R>(this, def);
  }

  async tableVersion(name: string): Promise<number | null> {
    const f = await this.readFile(name);
    return f ? f.version : null;
  }

  ensureTable(def: TableDef): Promise<void> {
    return this.serialize(def.name, async () => {
      const f = await this.readFile(def.name);
      if (!f) await this.writeFile({ table: def.name, version: def.version, nextId: 1, rows: [] });
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()]);
  }
}

function matches(row: Row, where: Record<string, unknown>, keys: string[]): boolean {
  for (const k of keys) if (row[k] !== where[k]) return false;
  return true;
}

class EmbeddedTable<R extends Row> implements Table<R> {
  private readonly idCol: string | undefined;

  constructor(
    private readonly db: EmbeddedDatabase,
    readonly def: TableDef,
  ) {
    this.idCol = idColumn(def);
  }

  private async load(): Promise<TableFile> {
    return (await this.db.readFile(this.def.name)) ?? { table: this.def.name, version: this.def.version, nextId: 1, rows: [] };
  }

  /** coerces filter values to the column types, so `{action: '1'}` finds action 1 as MySQL would. */
  private where(where: Where<R>): { w: Record<string, unknown>; keys: string[] } {
    const w: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(where)) {
      if (v === undefined) continue;
      const col = this.def.columns.find((c) => c.name === k);
      if (!col) throw new SiphonError('DB_QUERY', `table ${this.def.name} has no column "${k}"`);
      w[k] = coerce(col, v);
    }
    return { w, keys: Object.keys(w) };
  }

  async all(): Promise<R[]> {
    return (await this.load()).rows as R[];
  }

  async find(where: Where<R>): Promise<R[]> {
    const { w, keys } = this.where(where);
    return (await this.load()).rows.filter((r) => matches(r, w, keys)) as R[];
  }

  insert(row: Partial<R>): Promise<number> {
    return this.db.serialize(this.def.name, async () => {
      const f = await this.load();
      let values: Row;
      try {
        values = normalizeRow(this.def, row);
      } catch (e) {
        throw new SiphonError('DB_QUERY', `insert into ${this.def.name}: ${(e as Error).message}`);
      }
      let id = 0;
      if (this.idCol) {
        id = f.nextId++;
        values = { [this.idCol]: id, ...values };
      }
      f.rows.push(values);
      await this.db.writeFile(f);
      return id;
    });
  }

  delete(where: Where<R>): Promise<number> {
    const { w, keys } = this.where(where);
    return this.db.serialize(this.def.name, async () => {
      const f = await this.load();
      const before = f.rows.length;
      f.rows = f.rows.filter((r) => !matches(r, w, keys));
      const removed = before - f.rows.length;
      if (removed > 0) await this.db.writeFile(f);
      return removed;
    });
  }

  update(where: Where<R>, set: Partial<R>): Promise<number> {
    const { w, keys } = this.where(where);
    const { w: s } = this.where(set);
    return this.db.serialize(this.def.name, async () => {
      const f = await this.load();
      let n = 0;
      for (const r of f.rows) {
        if (!matches(r, w, keys)) continue;
        Object.assign(r, s);
        n++;
      }
      if (n > 0) await this.db.writeFile(f);
      return n;
    });
  }
}
