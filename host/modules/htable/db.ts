/**
 * A table's DB side (Kamailio ht_db.c): rows of Kamailio's `htable` schema (htable-create.sql,
 * version 2) are loaded at start and by htable.reload, and with dbmode=1 the items are written back
 * at shutdown and by htable.store.
 *
 * Rows: key_name, key_type (0 plain, 1 array: the rows of one name become `name[0]`, `name[1]` ...
 * plus `name::size` holding their count), value_type (0 string, 1 integer), key_value, expires
 * (absolute Unix time, read and written only with db_expires=1; 0 = the table's autoexpire).
 */
import type { Logger } from 'pino';
import { SiphonError } from '../../errors/registry.js';
import { checkTableVersion } from '../../db/index.js';
import { quoteIdent } from '../../db/schema.js';
import type { Database, Row, TableDef } from '../../db/types.js';
import type { HtableConfig, TableSpec } from './config.js';
import type { Htable } from './htable.js';
import type { HtValue } from './table.js';

/** htable-create.sql: `INSERT INTO version ... ('htable','2')`. */
export const HTABLE_TABLE_VERSION = 2;
/** the DB columns' widths: longer keys / values are not written back (counted in db_skipped). */
export const DB_KEY_MAX = 64;
export const DB_VALUE_MAX = 128;
/** rows one INSERT statement carries when writing back to MySQL. */
const INSERT_CHUNK = 500;

export function htableTableDef(name = 'htable'): TableDef {
  return {
    name,
    version: HTABLE_TABLE_VERSION,
    columns: [
      { name: 'id', type: 'int', length: 10, unsigned: true, autoIncrement: true, notNull: true },
      { name: 'key_name', type: 'varchar', length: DB_KEY_MAX, default: '', notNull: true },
      { name: 'key_type', type: 'int', default: 0, notNull: true },
      { name: 'value_type', type: 'int', default: 0, notNull: true },
      { name: 'key_value', type: 'varchar', length: DB_VALUE_MAX, default: '', notNull: true },
      { name: 'expires', type: 'int', default: 0, notNull: true },
    ],
  };
}

interface HtRow extends Row {
  key_name: string;
  key_type: number;
  value_type: number;
  key_value: string;
  expires: number;
}

/** Prepares a dbtable: the embedded store creates it; MySQL must have it at version 2 (kamdbctl / siphon db migrate). */
export async function prepareDbTable(db: Database, spec: TableSpec): Promise<void> {
  const def = htableTableDef(spec.dbtable);
  if (db.kind === 'embedded') await db.ensureTable(def);
  else await checkTableVersion(db, def);
}

/**
 * The items of a dbtable, as [key, value, expires ms]: arrays expanded, ints parsed, rows already
 * expired skipped (Kamailio ht_db_load_table). At most cfg.max_db_rows rows are read.
 */
export async function loadRows(db: Database, spec: TableSpec, cfg: HtableConfig, now: number, log: Logger): Promise<{ items: Array<[string, HtValue, number]>; skipped: number }> {
  const rows = await db.table<HtRow>(htableTableDef(spec.dbtable)).all();
  if (rows.length > cfg.max_db_rows) throw new SiphonError('HTABLE_DB', `table ${spec.dbtable} has ${rows.length} rows, max_db_rows is ${cfg.max_db_rows}`);
  const items: Array<[string, HtValue, number]> = [];
  const arrays = new Map<string, number>();
  let skipped = 0;
  const auto = spec.autoexpire > 0 ? now + spec.autoexpire * 1000 : 0;
  for (const r of rows) {
    let value: HtValue = String(r.key_value ?? '');
    if (Number(r.value_type) === 1) {
      const n = /^\s*[-+]?\d+\s*$/.test(value) ? Number(value) : NaN;
      if (!Number.isFinite(n) || (n | 0) !== n) {
        log.warn({ code: 'E7502', table: spec.dbtable, key: r.key_name, value }, 'htable: row with value_type 1 and a value that is not a 32-bit integer skipped');
        skipped++;
        continue;
      }
      value = n;
    }
    let expires = auto;
    if (cfg.db_expires === 1 && spec.autoexpire > 0) {
      const e = Number(r.expires);
      if (e > 0) {
        if (e * 1000 <= now) continue; // expired while stored
        expires = e * 1000;
      }
    }
    let key = String(r.key_name ?? '');
    if (Number(r.key_type) === 1) {
      const idx = arrays.get(key) ?? 0;
      arrays.set(key, idx + 1);
      key = `${key}[${idx}]`;
    }
    items.push([key, value, expires]);
  }
  for (const [name, count] of arrays) items.push([name + cfg.array_size_suffix, count, auto]);
  return { items, skipped };
}

/**
 * Writes a table back (Kamailio ht_db_save_table): every row of dbtable is deleted, then each live
 * item inserted. Items whose key or value does not fit the columns are skipped and counted.
 */
export async function storeTable(db: Database, ht: Htable, spec: TableSpec, cfg: HtableConfig): Promise<{ stored: number; skipped: number }> {
  const tab = ht.table(spec.name);
  if (tab === undefined) return { stored: 0, skipped: 0 };
  const rows: HtRow[] = [];
  let skipped = 0;
  for (const it of tab.live(ht.now())) {
    const v = String(it.value);
    if (it.key.length > DB_KEY_MAX || v.length > DB_VALUE_MAX) {
      skipped++;
      continue;
    }
    rows.push({
      key_name: it.key,
      key_type: 0,
      value_type: typeof it.value === 'number' ? 1 : 0,
      key_value: v,
      expires: cfg.db_expires === 1 && it.expires > 0 ? Math.floor(it.expires / 1000) : 0,
    });
  }
  if (db.sql !== undefined) {
    const t = quoteIdent(spec.dbtable);
    await db.sql.query(`DELETE FROM ${t}`);
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const chunk = rows.slice(i, i + INSERT_CHUNK);
      const params: unknown[] = [];
      for (const r of chunk) params.push(r.key_name, r.key_type, r.value_type, r.key_value, r.expires);
      await db.sql.query(`INSERT INTO ${t} (key_name, key_type, value_type, key_value, expires) VALUES ${chunk.map(() => '(?,?,?,?,?)').join(',')}`, params);
    }
  } else {
    const table = db.table<HtRow>(htableTableDef(spec.dbtable));
    await table.delete({});
    // in groups, so the store's write queue (core.db.write_queue) is never overrun; one group commit each
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) await Promise.all(rows.slice(i, i + INSERT_CHUNK).map((r) => table.insert(r)));
  }
  return { stored: rows.length, skipped };
}
