/**
 * The MySQL/MariaDB store (Kamailio db_mysql equivalent) over a mysql2 promise pool.
 *
 * Failure handling: every error leaves as a SiphonError naming the redacted URL and the reason —
 * E5002 when the server cannot be reached or the connection dropped (refused, timeout, KILLed,
 * server gone), E5003 for a query the server rejected. A connection that dies while idle emits
 * 'error' on its socket; a listener on every pooled connection logs it so it can never become an
 * uncaught exception, and the pool opens a fresh connection for the next query.
 *
 * Bounds (core.db, host/db/README.md): a hung server must not hang the callers. Every call has one
 * deadline, `query_timeout`, covering the wait for a connection, connecting and the query; past it
 * the call fails with E5010 and a connection still running the query is destroyed, never returned
 * to the pool (its reply could still arrive and be read by the next query). At most
 * `max_connections` calls run at once; `queue_limit` more may wait, further calls fail at once
 * with E5011. Kamailio's db_mysql gives each read/write 2 s (timeout_interval) and the connect 2 s
 * (connect_timeout); each Kamailio process has its own connection, so there is no queue to bound.
 */
import { createPool, type Pool, type PoolOptions } from 'mysql2/promise';
import type { PoolConnection as CorePoolConnection } from 'mysql2';
import type { Logger } from 'pino';
import { SiphonError } from '../errors/registry.js';
import { createTableSql, idColumn, normalizeRow, quoteIdent, VERSION_TABLE } from './schema.js';
import type { Database, DbLimits, Row, RowValue, SqlRunner, Table, TableDef, Where } from './types.js';
import { parseMysqlUrl, type MysqlUrl } from './url.js';
import { resolveDbLimits } from './limits.js';

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
  /** core.db: timeouts, pool size and queue bound (defaults in limits.ts). */
  limits?: DbLimits;
}

/** Counters of one handle (db:* statistics). */
export interface MysqlCounters {
  queries: number;
  /** calls that failed with E5010 (deadline passed). */
  timeouts: number;
  /** calls refused with E5011 (queue full). */
  busy: number;
  /** connections destroyed because their query outlived the deadline. */
  destroyed: number;
}

/** One call through the gate: waiting (in `waiting`), running, or done. */
interface Call {
  sql: string;
  params: unknown[];
  /** run as a prepared statement (binary protocol, cached per connection) instead of a text query. */
  prepared: boolean;
  resolve: (rows: unknown) => void;
  reject: (e: SiphonError) => void;
  timer: NodeJS.Timeout | null;
  /** settled (answered or expired); late callbacks are ignored. */
  done: boolean;
  /** holds one of the max_connections slots until mysql2 gives the connection back or it is destroyed. */
  slot: boolean;
  conn: CorePoolConnection | null;
}

export class MysqlDatabase implements Database, SqlRunner {
  readonly kind = 'mysql' as const;
  readonly location: string;
  readonly sql: SqlRunner = this;
  private readonly pool: Pool;
  private closed = false;
  readonly counters: MysqlCounters = { queries: 0, timeouts: 0, busy: 0, destroyed: 0 };
  private readonly limits: Required<DbLimits>;
  /** calls running (holding a slot). */
  private running = 0;
  /** calls waiting for a slot, oldest first (a Set: O(1) removal when one expires). */
  private readonly waiting = new Set<Call>();

  constructor(
    readonly url: MysqlUrl,
    private readonly opts: MysqlOptions = {},
  ) {
    this.location = url.redacted;
    this.limits = resolveDbLimits(opts.limits);
    const poolOptions: PoolOptions = {
      host: url.host,
      port: url.port,
      user: url.user,
      password: url.password,
      database: url.database,
      connectionLimit: this.limits.max_connections,
      connectTimeout: this.limits.connect_timeout,
      // the gate below never asks for more than connectionLimit connections at once; this is a backstop
      queueLimit: this.limits.max_connections,
      enableKeepAlive: true,
      supportBigNumbers: true,
      // every connection stays open while idle (as each Kamailio process keeps its own): a burst after a
      // quiet minute must not wait for max_connections connects (TCP + handshake) with the queue filling
      idleTimeout: 60_000,
      maxIdle: this.limits.max_connections,
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
    const rows = await this.call(sql, params);
    return Array.isArray(rows) ? (rows as Array<Record<string, unknown>>) : [rows as Record<string, unknown>];
  }

  /**
   * The same as query() through a prepared statement: mysql2 prepares `sql` once per connection and
   * sends only the parameters afterwards (binary protocol), about half the CPU of a text query for a
   * statement run on every request (auth_db's subscriber lookup). Same deadline, queue and errors.
   */
  async execute(sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
    if (this.closed) throw new SiphonError('DB_UNREACHABLE', 'database handle is closed', { where: this.location });
    const rows = await this.call(sql, params, true);
    return Array.isArray(rows) ? (rows as Array<Record<string, unknown>>) : [rows as Record<string, unknown>];
  }

  /** calls running and waiting now (tests, statistics). */
  load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.size };
  }

  /** runs one statement within query_timeout, or refuses it at once when the queue is full. */
  private call(sql: string, params: unknown[], prepared = false): Promise<unknown> {
    this.counters.queries++;
    return new Promise((resolve, reject) => {
      const c: Call = { sql, params, prepared, resolve, reject, timer: null, done: false, slot: false, conn: null };
      const free = this.running < this.limits.max_connections;
      if (!free && this.waiting.size >= this.limits.queue_limit) {
        this.counters.busy++;
        reject(new SiphonError('DB_BUSY', `${verb(sql)}: ${this.limits.max_connections} connections busy and ${this.waiting.size} calls waiting (core.db.queue_limit)`, { where: this.location }));
        return;
      }
      // armed before mysql2's connect timer (same length), so a dead server reads as E5010 first
      c.timer = setTimeout(() => this.expire(c), this.limits.query_timeout);
      if (free) this.start(c);
      else this.waiting.add(c);
    });
  }

  private start(c: Call): void {
    this.running++;
    c.slot = true;
    this.pool.pool.getConnection((err, conn) => {
      if (c.done) {
        // expired while connecting: a healthy connection goes back, the slot is free again
        if (!err) conn.release();
        this.freeSlot(c);
        return;
      }
      if (err) {
        this.freeSlot(c);
        this.settle(c, this.wrapError(err, verb(c.sql)));
        return;
      }
      c.conn = conn;
      const done = (qerr: Error | null, rows: unknown): void => {
        if (c.conn !== conn) return; // destroyed at the deadline; already answered
        c.conn = null;
        conn.release();
        this.freeSlot(c);
        if (qerr) this.settle(c, this.wrapError(qerr, verb(c.sql)));
        else this.settle(c, null, rows);
      };
      if (c.prepared) conn.execute(c.sql, c.params as Array<string | number | null>, done);
      else conn.query(c.sql, c.params, done);
    });
  }

  /** the deadline passed: answer E5010; a connection in the middle of the query is destroyed. */
  private expire(c: Call): void {
    c.timer = null;
    if (c.done) return;
    this.counters.timeouts++;
    const phase = this.waiting.delete(c) ? 'waiting for a connection' : c.conn ? 'waiting for the reply' : 'connecting';
    const conn = c.conn;
    if (conn) {
      c.conn = null;
      this.counters.destroyed++;
      conn.destroy();
      (conn as unknown as { stream?: { destroy(): void } }).stream?.destroy();
      this.freeSlot(c);
    }
    this.settle(c, new SiphonError('DB_TIMEOUT', `${verb(c.sql)}: no answer within ${this.limits.query_timeout} ms (${phase}; core.db.query_timeout)`, { where: this.location }));
  }

  private settle(c: Call, err: SiphonError | null, rows?: unknown): void {
    if (c.done) return;
    c.done = true;
    if (c.timer) clearTimeout(c.timer);
    c.timer = null;
    if (err) c.reject(err);
    else c.resolve(rows);
  }

  /** gives the slot back and starts the oldest waiting call. */
  private freeSlot(c: Call): void {
    if (!c.slot) return;
    c.slot = false;
    this.running--;
    if (this.closed) return;
    const next = this.waiting.values().next();
    if (!next.done) {
      this.waiting.delete(next.value);
      this.start(next.value);
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
    for (const c of this.waiting) this.settle(c, new SiphonError('DB_UNREACHABLE', 'database handle closed', { where: this.location }));
    this.waiting.clear();
    await this.pool.end().catch(() => undefined);
  }
}

/** the statement's first word (SELECT, INSERT ...) for error texts. */
function verb(sql: string): string {
  return sql.trimStart().split(/\s+/, 1)[0]!.toUpperCase();
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

  private normalized(row: Partial<R>): Row {
    try {
      return normalizeRow(this.def, row);
    } catch (e) {
      throw new SiphonError('DB_QUERY', `insert into ${this.def.name}: ${(e as Error).message}`, { where: this.db.location });
    }
  }

  async insertMany(rows: Array<Partial<R>>): Promise<void> {
    const values = rows.map((r) => this.normalized(r));
    for (let i = 0; i < values.length; ) {
      // a run of rows with the same columns in the same order: one statement
      const keys = Object.keys(values[i]!);
      const sig = keys.join('\u0000');
      let j = i + 1;
      while (j < values.length && Object.keys(values[j]!).join('\u0000') === sig) j++;
      const params: RowValue[] = [];
      for (let k = i; k < j; k++) for (const key of keys) params.push(values[k]![key]!);
      const tuple = `(${keys.map(() => '?').join(', ')})`;
      await this.db.exec(`INSERT INTO ${this.name} (${keys.map(quoteIdent).join(', ')}) VALUES ${Array.from({ length: j - i }, () => tuple).join(', ')}`, params);
      i = j;
    }
  }

  async insert(row: Partial<R>): Promise<number> {
    const values = this.normalized(row);
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

/**
 * Opens a pool and checks the server answers (so a bad URL or dead server fails at start, E5002),
 * then opens the pool's other connections: the first requests after the start then find
 * max_connections connections ready instead of queueing behind their connects (at 1,000 REGISTERs/s
 * a cold pool overflowed queue_limit within the first 100 ms: bench/RESULTS.md, issue #11).
 */
export async function openMysql(url: string, opts: MysqlOptions = {}): Promise<MysqlDatabase> {
  const db = new MysqlDatabase(parseMysqlUrl(url), opts);
  try {
    await db.query('SELECT 1');
  } catch (e) {
    await db.close();
    throw e;
  }
  // concurrent calls each take a slot, so the pool connects up to max_connections; a failure here
  // is not fatal (the first query proved the server answers; a later query connects again)
  const n = resolveDbLimits(opts.limits).max_connections;
  await Promise.allSettled(Array.from({ length: n }, () => db.query('SELECT 1')));
  return db;
}
