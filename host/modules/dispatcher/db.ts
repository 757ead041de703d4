/**
 * Where destination sets come from: the list file, or the Kamailio `dispatcher` table (version 4:
 * id, setid, destination, flags, priority, attrs, description).
 *
 * The table is read through the DB layer (host/db: embedded store or MySQL/MariaDB with Kamailio's
 * schema); `DispatcherSqlSource` reads it with plain SQL when custom column names are configured.
 */
import { SiphonError } from '../../errors/registry.js';
import type { DestinationSpec } from './destination.js';
import { readDispatcherList } from './list-file.js';
import type { Database, Row, TableDef } from '../../db/index.js';

/** A source of destinations, read at start and on every reload. */
export interface DestinationSource {
  /** a label for logs and errors ("file config/dispatcher.list", "table dispatcher"). */
  readonly description: string;
  load(): Promise<DestinationSpec[]>;
}

export class ListFileSource implements DestinationSource {
  readonly description: string;
  constructor(readonly path: string) {
    this.description = `file ${path}`;
  }
  load(): Promise<DestinationSpec[]> {
    return readDispatcherList(this.path);
  }
}

/** Runs one query and returns plain row objects (host/db's SqlRunner has the same shape). */
export interface SqlRunner {
  query(sql: string, params?: unknown[]): Promise<Array<Record<string, unknown>>>;
}

/** The Kamailio `dispatcher` table, version 4 (utils/kamctl/mysql/dispatcher-create.sql). */
export const DISPATCHER_TABLE: TableDef = {
  name: 'dispatcher',
  version: 4,
  columns: [
    { name: 'id', type: 'int', length: 10, unsigned: true, autoIncrement: true, notNull: true },
    { name: 'setid', type: 'int', notNull: true, default: 0 },
    { name: 'destination', type: 'varchar', length: 192, notNull: true, default: '' },
    { name: 'flags', type: 'int', notNull: true, default: 0 },
    { name: 'priority', type: 'int', notNull: true, default: 0 },
    { name: 'attrs', type: 'varchar', length: 128, notNull: true, default: '' },
    { name: 'description', type: 'varchar', length: 64, notNull: true, default: '' },
  ],
};

/** A `dispatcher` row as the DB layer returns it. */
export type DispatcherRow = {
  id: number;
  setid: number;
  destination: string;
  flags: number;
  priority: number;
  attrs: string;
  description: string;
} & Row;

function rowToSpec(r: Record<string, unknown>, table: string): DestinationSpec {
  return {
    setid: Number(r.setid),
    uri: String(r.destination ?? ''),
    flags: Number(r.flags ?? 0),
    priority: Number(r.priority ?? 0),
    attrs: String(r.attrs ?? ''),
    description: String(r.description ?? ''),
    where: `${table}#${String(r.id)}`,
  };
}

/**
 * Loads the `dispatcher` table through the DB layer (embedded store or MySQL), rows in id order so
 * equal priorities order the same way as the lines of a file.
 */
export class DispatcherDbSource implements DestinationSource {
  readonly description: string;
  constructor(
    private readonly db: Database,
    private readonly def: TableDef = DISPATCHER_TABLE,
  ) {
    this.description = `table ${def.name} (${db.location})`;
  }

  async load(): Promise<DestinationSpec[]> {
    let rows: Row[];
    try {
      rows = await this.db.table(this.def).all();
    } catch (e) {
      throw new SiphonError('DS_DB_LOAD', (e as Error).message, { where: this.description, cause: e });
    }
    return rows.sort((a, b) => Number(a.id) - Number(b.id)).map((r) => rowToSpec(r, this.def.name));
  }
}

export interface TableColumns {
  setid: string;
  destination: string;
  flags: string;
  priority: string;
  attrs: string;
}

const DEFAULT_COLUMNS: TableColumns = { setid: 'setid', destination: 'destination', flags: 'flags', priority: 'priority', attrs: 'attrs' };

function ident(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new SiphonError('DS_DB_LOAD', `bad identifier "${name}"`);
  return '`' + name + '`';
}

/** Loads the table with plain SQL, for Kamailio's custom column names (setid_col, destination_col ...). */
export class DispatcherSqlSource implements DestinationSource {
  readonly description: string;
  constructor(
    private readonly sql: SqlRunner,
    private readonly table = 'dispatcher',
    private readonly columns: TableColumns = DEFAULT_COLUMNS,
  ) {
    this.description = `table ${table}`;
  }

  async load(): Promise<DestinationSpec[]> {
    const c = this.columns;
    // rows in id order so that equal priorities order the same way as lines of a file
    const q =
      `SELECT id, ${ident(c.setid)} AS setid, ${ident(c.destination)} AS destination, ${ident(c.flags)} AS flags, ` +
      `${ident(c.priority)} AS priority, ${ident(c.attrs)} AS attrs, description FROM ${ident(this.table)} ORDER BY id`;
    let rows: Array<Record<string, unknown>>;
    try {
      rows = await this.sql.query(q);
    } catch (e) {
      throw new SiphonError('DS_DB_LOAD', (e as Error).message, { where: this.description, cause: e });
    }
    return rows.map((r) => rowToSpec(r, this.table));
  }
}
