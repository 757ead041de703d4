/**
 * The DB layer's contract: a small table abstraction over two stores, the embedded one (JSON files in
 * the data directory) and MySQL/MariaDB (Kamailio's schema, so kamdbctl-created databases work as-is).
 * Modules (secfilter, dispatcher, registrar) describe their tables with a TableDef and use Table<Row>;
 * a module that needs real SQL uses `Database.sql` when the store is MySQL.
 */

/** Column types used by Kamailio's schemas (utils/kamctl/mysql/*-create.sql). */
export type ColumnType = 'int' | 'smallint' | 'bigint' | 'varchar' | 'datetime' | 'text' | 'float';

export interface ColumnDef {
  name: string;
  type: ColumnType;
  /** VARCHAR length / INT display width. */
  length?: number;
  unsigned?: boolean;
  /** AUTO_INCREMENT PRIMARY KEY (Kamailio's `id`). */
  autoIncrement?: boolean;
  /** NOT NULL (Kamailio declares almost every column NOT NULL). */
  notNull?: boolean;
  /** DEFAULT value; also applied by the embedded store to omitted columns. */
  default?: string | number | null;
}

export interface IndexDef {
  name: string;
  columns: string[];
  unique?: boolean;
}

/** A table as Kamailio defines it, with the version kamdbctl writes into the `version` table. */
export interface TableDef {
  name: string;
  /** table_version expected by the module (Kamailio refuses other versions). */
  version: number;
  columns: ColumnDef[];
  indexes?: IndexDef[];
}

export type RowValue = string | number | null;
export type Row = Record<string, RowValue>;

/** Equality filter: every listed column must equal the value. An empty filter matches every row. */
export type Where<R extends Row> = Partial<R>;

export interface Table<R extends Row> {
  readonly def: TableDef;
  /** every row, in insertion (id) order. */
  all(): Promise<R[]>;
  find(where: Where<R>): Promise<R[]>;
  /** inserts one row; returns its auto-increment id (0 when the table has none). */
  insert(row: Partial<R>): Promise<number>;
  /**
   * inserts rows in as few statements as the store allows (MySQL: one multi-row INSERT per run of
   * rows with the same columns); all or none of a statement's rows. Optional: stores without it
   * take one insert() per row.
   */
  insertMany?(rows: Array<Partial<R>>): Promise<void>;
  /** deletes matching rows; returns how many. */
  delete(where: Where<R>): Promise<number>;
  /** updates matching rows; returns how many. */
  update(where: Where<R>, set: Partial<R>): Promise<number>;
}

/** Runs SQL on a MySQL store (what host/modules/dispatcher/db.ts calls `SqlRunner`). */
export interface SqlRunner {
  query(sql: string, params?: unknown[]): Promise<Array<Record<string, unknown>>>;
  /** the same through a prepared statement (cached per connection): for statements run per request. (additive) */
  execute?(sql: string, params?: unknown[]): Promise<Array<Record<string, unknown>>>;
}

export interface Database {
  readonly kind: 'embedded' | 'mysql';
  /** where the data lives, safe to log: the data directory, or the URL with the password redacted. */
  readonly location: string;
  table<R extends Row>(def: TableDef): Table<R>;
  /** table_version recorded in the `version` table, or null when the table is not listed. */
  tableVersion(name: string): Promise<number | null>;
  /** creates the table if missing and records its version (kamdbctl's create + version row). */
  ensureTable(def: TableDef): Promise<void>;
  /** raw SQL access (MySQL only). */
  readonly sql?: SqlRunner;
  close(): Promise<void>;
}

/**
 * Bounds of the DB layer (`core.db` in siphon.yaml; DB_LIMIT_DEFAULTS in limits.ts). Every field is
 * optional: absent means the default.
 */
export interface DbLimits {
  /** ms a MySQL query may take, waiting for a connection included (Kamailio db_mysql timeout_interval). */
  query_timeout?: number;
  /** ms to open a MySQL connection (Kamailio db_mysql connect_timeout). */
  connect_timeout?: number;
  /** MySQL connections per database handle. */
  max_connections?: number;
  /** MySQL callers that may wait for a connection; more are refused at once (E5011). */
  queue_limit?: number;
  /** embedded store: writes per table waiting for their commit; more are refused at once (E5011). */
  write_queue?: number;
  /** embedded store: a table log is compacted into the snapshot once it exceeds this many bytes and the snapshot's size. */
  compact_min_bytes?: number;
}
