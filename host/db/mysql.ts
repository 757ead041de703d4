/**
 * The MySQL/MariaDB store (Kamailio db_mysql equivalent) over a mysql2 promise pool.
 *
 * Failure handling: every error leaves as a SiphonError naming the redacted URL and the reason —
 * E5002 when the server cannot be reached or the connection dropped (refused, timeout, KILLed,
 * server gone), E5003 for a query the server rejected. A connection that dies while idle emits
 * 'error' on its socket; a listener on every pooled connection logs it so it can never become an
 * uncaught exception, and the pool opens a fresh connection for the next query.
 */
import { createPool, type Pool, type PoolOptions } from 'mysql2/promise';
import type { Logger } from 'pino';
import { SiphonError } from '../errors/registry.js';
import { createTableSql, idColumn, normalizeRow, quoteIdent, VERSION_TABLE } from './schema.js';
import type { Database, Row, SqlRunner, Table, TableDef, Where } from './types.js';
import { parseMysqlUrl, type MysqlUrl } from './url.js';

/** mysql2 / Node error codes meaning "no usable connection" rather than "bad query". */
const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_ACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_QUERY_INTERRUPTED',
]);

export interface MysqlOptions {
  log?: Logger;
  /** pool size (default 4: rule loads are rare, the message path never touches the DB). */
  connectionLimit?: number;
  /** connect timeout in ms (default 5000). */
  connectTimeout?: number;
}

export class MysqlDatabase implements Database, SqlRunner {
  readonly kind = 'mysql' as const;
  readonly location: string;
  readonly sql: SqlRunner = this;
  private readonly pool: Pool;
  private closed = false;

  constructor(
    readonly url: MysqlUrl,
    private readonly opts: MysqlOptions = {},
  ) {
    this.location = url.redacted;
    const poolOptions: PoolOptions = {
      host: url.host,
      port: url.port,
      user: url.user,
      password: url.password,
      database: url.database,
      connectionLimit: opts.connectionLimit ?? 4,
      connectTimeout: opts.connectTimeout ?? 5000,
      enableKeepAlive: true,
      supportBigNumbers: true,
      // idle connections are dropped after a minute; the next query opens a new one
      idleTimeout: 60_000,
      maxIdle: 1,
    };
    this.pool = createPool(poolOptions);
    // A pooled connection that dies while idle emits 'error'; never let that go uncaught.
    this.pool.pool.on('connection', (conn) => {
      conn.on('error', (err: NodeJS.ErrnoException) => {
        this.opts.log?.warn({ db: this.location, code: err.code }, `database connection lost: ${err.message}`);
      });
    });
  }

  /** turns a mysql2 error into E5002/E5003 with the redacted URL. */
  wrapError(e: unknown, what: string): SiphonError {
    const err = e as NodeJS.ErrnoException & { sqlMessage?: string; fatal?: boolean };
    const reason = `${err.code ? err.code + ': ' : ''}${err.sqlMessage ?? err.message ?? String(e)}`;
    const unreachable = (err.code !== undefined && CONNECTION_ERRORS.has(err.code)) || err.fatal === true;
    return new SiphonError(unreachable ? 'DB_UNREACHABLE' : 'DB_QUERY', `${what}: ${reason}`, { where: this.location, cause: e });
  }

  async query(sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
    if (this.closed) throw new SiphonError('DB_UNREACHABLE', 'database handle is closed', { where: this.location });
    try {
      const [rows] = await this.pool.query(sql, params);
      return Array.isArray(rows) ? (rows as Array<Record<string, unknown>>) : [rows as unknown as Record<string, unknown>];
    } catch (e) {
      throw this.wrapError(e, sql.split(/\s+/, 1)[0]!.toUpperCase());
    }
  }

  /** the result header of an INSERT/UPDATE/DELETE. */
  async exec(sql: string, params: unknown[] = []): Promise<{ affectedRows: number; insertId: number }> {
    const r = (await this.query(sql, params)) as unknown as Array<{ affectedRows: number; insertId: number }>;
    return r[0] ?? { affectedRows: 0, insertId: 0 };
  }

  table<R extends Row>(def: TableDef): Table<R> {
    return new MysqlTable<R>(this, def);
  }

  async tableVersion(name: string): Promise<number | null> {
    const rows = await this.query(`SELECT table_version FROM ${quoteIdent(VERSION_TABLE.name)} WHERE table_name = ?`, [name]);
    if (rows.length === 0) return null;
    return Number(rows[0]!.table_version);
  }

  async ensureTable(def: TableDef): Promise<void> {
    await this.query(createTableSql(VERSION_TABLE));
    // kamdbctl inserts ('version', 1) for the version table itself
    await this.query(`INSERT IGNORE INTO ${quoteIdent(VERSION_TABLE.name)} (table_name, table_version) VALUES (?, ?)`, [VERSION_TABLE.name, VERSION_TABLE.version]);
    if (def.name === VERSION_TABLE.name) return;
    await this.query(createTableSql(def));
    await this.query(`INSERT IGNORE INTO ${quoteIdent(VERSION_TABLE.name)} (table_name, table_version) VALUES (?, ?)`, [def.name, def.version]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end().catch(() => undefined);
  }
}

function whereSql(def: TableDef, where: Record<string, unknown>): { sql: string; params: unknown[] } {
  const keys = Object.keys(where).filter((k) => where[k] !== undefined);
  for (const k of keys) if (!def.columns.some((c) => c.name === k)) throw new SiphonError('DB_QUERY', `table ${def.name} has no column "${k}"`);
  if (keys.length === 0) return { sql: '', params: [] };
  return { sql: ' WHERE ' + keys.map((k) => `${quoteIdent(k)} = ?`).join(' AND '), params: keys.map((k) => where[k]) };
}

class MysqlTable<R extends Row> implements Table<R> {
  private readonly name: string;
  private readonly order: string;

  constructor(
    private readonly db: MysqlDatabase,
    readonly def: TableDef,
  ) {
    this.name = quoteIdent(def.name);
    const id = idColumn(def);
    this.order = id ? ` ORDER BY ${quoteIdent(id)}` : '';
  }

  private columns(): string {
    return this.def.columns.map((c) => quoteIdent(c.name)).join(', ');
  }

  async all(): Promise<R[]> {
    return (await this.db.query(`SELECT ${this.columns()} FROM ${this.name}${this.order}`)) as R[];
  }

  async find(where: Where<R>): Promise<R[]> {
    const w = whereSql(this.def, where);
    return (await this.db.query(`SELECT ${this.columns()} FROM ${this.name}${w.sql}${this.order}`, w.params)) as R[];
  }

  async insert(row: Partial<R>): Promise<number> {
    let values: Row;
    try {
      values = normalizeRow(this.def, row);
    } catch (e) {
      throw new SiphonError('DB_QUERY', `insert into ${this.def.name}: ${(e as Error).message}`, { where: this.db.location });
    }
    const keys = Object.keys(values);
    const r = await this.db.exec(
      `INSERT INTO ${this.name} (${keys.map(quoteIdent).join(', ')}) VALUES (${keys.map(() => '?').join(', ')})`,
      keys.map((k) => values[k]),
    );
    return Number(r.insertId ?? 0);
  }

  async delete(where: Where<R>): Promise<number> {
    const w = whereSql(this.def, where);
    return (await this.db.exec(`DELETE FROM ${this.name}${w.sql}`, w.params)).affectedRows;
  }

  async update(where: Where<R>, set: Partial<R>): Promise<number> {
    const keys = Object.keys(set).filter((k) => set[k] !== undefined);
    if (keys.length === 0) return 0;
    for (const k of keys) if (!this.def.columns.some((c) => c.name === k)) throw new SiphonError('DB_QUERY', `table ${this.def.name} has no column "${k}"`);
    const w = whereSql(this.def, where);
    const r = await this.db.exec(
      `UPDATE ${this.name} SET ${keys.map((k) => `${quoteIdent(k)} = ?`).join(', ')}${w.sql}`,
      [...keys.map((k) => set[k]), ...w.params],
    );
    return r.affectedRows;
  }
}

/** Opens a pool and checks the server answers (so a bad URL or dead server fails at start, E5002). */
export async function openMysql(url: string, opts: MysqlOptions = {}): Promise<MysqlDatabase> {
  const db = new MysqlDatabase(parseMysqlUrl(url), opts);
  try {
    await db.query('SELECT 1');
  } catch (e) {
    await db.close();
    throw e;
  }
  return db;
}
