/**
 * Table definitions and MySQL DDL matching Kamailio's kamdbctl scripts (utils/kamctl/mysql/
 * standard-create.sql and <module>-create.sql): same column names, types, defaults and index names,
 * so a database created by either tool serves both.
 */
import type { ColumnDef, TableDef } from './types.js';

/** Kamailio's `version` table (standard-create.sql). */
export const VERSION_TABLE: TableDef = {
  name: 'version',
  version: 1,
  columns: [
    { name: 'id', type: 'int', length: 10, unsigned: true, autoIncrement: true, notNull: true },
    { name: 'table_name', type: 'varchar', length: 32, notNull: true },
    { name: 'table_version', type: 'int', unsigned: true, notNull: true, default: 0 },
  ],
  indexes: [{ name: 'table_name_idx', columns: ['table_name'], unique: true }],
};

export function quoteIdent(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`bad SQL identifier "${name}"`);
  return '`' + name + '`';
}

function columnSql(c: ColumnDef): string {
  let t: string;
  switch (c.type) {
    case 'int':
      t = c.length ? `INT(${c.length})` : 'INT';
      break;
    case 'smallint':
      t = 'SMALLINT';
      break;
    case 'bigint':
      t = 'BIGINT';
      break;
    case 'varchar':
      t = `VARCHAR(${c.length ?? 255})`;
      break;
    case 'datetime':
      t = 'DATETIME';
      break;
    case 'text':
      t = 'TEXT';
      break;
    case 'float':
      // Kamailio's acc_cdrs.duration: FLOAT(10,3), seconds to the ms
      t = 'FLOAT(10,3)';
      break;
  }
  let s = `${quoteIdent(c.name)} ${t}`;
  if (c.unsigned) s += ' UNSIGNED';
  if (c.autoIncrement) s += ' AUTO_INCREMENT PRIMARY KEY';
  if (c.default !== undefined && c.default !== null) {
    s += ` DEFAULT ${typeof c.default === 'number' ? String(c.default) : `'${c.default.replace(/'/g, "''")}'`}`;
  }
  if (c.notNull) s += ' NOT NULL';
  return s;
}

/**
 * CREATE TABLE IF NOT EXISTS for a definition. Indexes are declared inside the statement (equivalent to
 * kamdbctl's separate CREATE INDEX, and idempotent on MySQL 5.7/8 and MariaDB alike).
 */
export function createTableSql(def: TableDef): string {
  const parts = def.columns.map(columnSql);
  for (const ix of def.indexes ?? []) {
    const cols = ix.columns.map(quoteIdent).join(', ');
    parts.push(ix.unique ? `CONSTRAINT ${quoteIdent(ix.name)} UNIQUE (${cols})` : `INDEX ${quoteIdent(ix.name)} (${cols})`);
  }
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(def.name)} (\n    ${parts.join(',\n    ')}\n)`;
}

/** The auto-increment column of a table, if any. */
export function idColumn(def: TableDef): string | undefined {
  return def.columns.find((c) => c.autoIncrement)?.name;
}

/** Fills omitted columns with their defaults and coerces numbers, as the server would. */
export function normalizeRow(def: TableDef, row: Record<string, unknown>): Record<string, string | number | null> {
  const out: Record<string, string | number | null> = {};
  for (const c of def.columns) {
    if (c.autoIncrement) continue;
    let v = row[c.name];
    if (v === undefined) v = c.default ?? null;
    out[c.name] = coerce(c, v);
  }
  return out;
}

export function coerce(c: ColumnDef, v: unknown): string | number | null {
  if (v === null || v === undefined) return null;
  if (c.type === 'int' || c.type === 'smallint' || c.type === 'bigint') {
    const n = typeof v === 'number' ? v : Number(v);
    if (!Number.isFinite(n)) throw new Error(`column ${c.name}: "${String(v)}" is not a number`);
    return Math.trunc(n);
  }
  const s = String(v);
  if (c.type === 'varchar' && c.length !== undefined && s.length > c.length) {
    throw new Error(`column ${c.name}: value longer than ${c.length} characters`);
  }
  return s;
}
