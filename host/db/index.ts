/**
 * Entry point of the DB layer: `openDatabase(url, {dataDir, log})` gives the embedded store when no
 * URL is configured (files under `<dataDir>/db/`; with several shards, shard 0's one instance: remote.ts)
 * and MySQL/MariaDB for `mysql://...`.
 * `migrate(db, tables)` creates missing tables and their `version` rows (what kamdbctl create does).
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { isSiphonError, SiphonError } from '../errors/registry.js';
import { EmbeddedDatabase } from './embedded.js';
import { openMysql } from './mysql.js';
import { RemoteDatabase, serveDatabases } from './remote.js';
import { redactUrl } from './url.js';
import type { ShardContext } from '../shards/context.js';
import type { DbStatistics } from './stats.js';
import type { Database, DbLimits, TableDef } from './types.js';

export type { Database, Table, TableDef, ColumnDef, Row, Where, SqlRunner, DbLimits } from './types.js';
export { DB_LIMIT_DEFAULTS, resolveDbLimits } from './limits.js';
export { DbStatistics } from './stats.js';
export { EmbeddedDatabase } from './embedded.js';
export { MysqlDatabase, openMysql } from './mysql.js';
export { RemoteDatabase, SharedEmbeddedHandle, EmbeddedStoreServer, serveDatabases, siphonErrorFromShard, DB_SERVICE } from './remote.js';
export { createTableSql, VERSION_TABLE } from './schema.js';
export { parseMysqlUrl, redactUrl } from './url.js';

export interface OpenDatabaseOptions {
  /** core.data_dir; the embedded store lives in `<dataDir>/db`. */
  dataDir: string;
  log?: Logger;
  /** core.db: timeouts and queue bounds (defaults: DB_LIMIT_DEFAULTS). */
  limits?: DbLimits;
  /** the node's `db` statistics group, which then counts this handle. */
  stats?: DbStatistics;
  /**
   * the module's shard (ModuleInitContext.shard) when the node runs several: the embedded store is
   * then opened once, in shard 0, and worker shards get a RemoteDatabase on it (remote.ts). A MySQL
   * URL is opened as usual in every shard (each its own pool). Absent or one shard: as without it.
   */
  shard?: ShardContext;
}

export async function openDatabase(url: string | null | undefined, opts: OpenDatabaseOptions): Promise<Database> {
  if (url === undefined || url === null || url === '') {
    const dir = path.join(opts.dataDir, 'db');
    const shard = opts.shard;
    if (shard !== undefined && shard.count > 1) {
      // one writer per data directory: shard 0's instance, which worker shards reach through the `db` service (remote.ts)
      if (shard.index === 0) return serveDatabases(shard).handle(dir, { log: opts.log, limits: opts.limits, stats: opts.stats });
      if (shard.main === null) throw new SiphonError('DB_SHARD_LINK', `worker shard ${shard.index} has no link to shard 0`, { where: dir });
      const db = await RemoteDatabase.open(shard.main, dir, opts.limits);
      opts.stats?.add(db);
      return db;
    }
    const db = new EmbeddedDatabase(dir, { log: opts.log, limits: opts.limits });
    opts.stats?.add(db);
    return db;
  }
  if (/^mysql:\/\//i.test(url)) {
    const db = await openMysql(url, { log: opts.log, limits: opts.limits });
    opts.stats?.add(db);
    return db;
  }
  throw new SiphonError('DB_URL', `unsupported database URL "${redactUrl(url)}" (use mysql://user:password@host:port/database, or no URL for the embedded store)`);
}

export interface MigrationResult {
  table: string;
  version: number;
  /** 'created' when the table had no version row before, 'ok' when it was at the expected version. */
  status: 'created' | 'ok';
}

/**
 * Creates every table that is missing and records its version. A table present at another version is
 * an error (E5005): siphon, like Kamailio, does not convert data between versions.
 */
export async function migrate(db: Database, tables: readonly TableDef[]): Promise<MigrationResult[]> {
  const out: MigrationResult[] = [];
  for (const def of tables) {
    const before = await versionOrNull(db, def.name);
    if (before !== null && before !== def.version) {
      throw new SiphonError('DB_TABLE_VERSION', `table ${def.name} is at version ${before}, siphon needs ${def.version}`, { where: db.location });
    }
    await db.ensureTable(def);
    out.push({ table: def.name, version: def.version, status: before === null ? 'created' : 'ok' });
  }
  return out;
}

/** Checks a table exists at the expected version (Kamailio's db_check_table_version). */
export async function checkTableVersion(db: Database, def: TableDef): Promise<void> {
  const v = await versionOrNull(db, def.name);
  if (v === null) {
    throw new SiphonError('DB_TABLE_VERSION', `table ${def.name} is missing (run "siphon db migrate")`, { where: db.location });
  }
  if (v !== def.version) {
    throw new SiphonError('DB_TABLE_VERSION', `table ${def.name} is at version ${v}, siphon needs ${def.version}`, { where: db.location });
  }
}

/** the recorded version; null when the table (or, on MySQL, the `version` table itself) is missing. */
async function versionOrNull(db: Database, name: string): Promise<number | null> {
  try {
    return await db.tableVersion(name);
  } catch (e) {
    if (isSiphonError(e, 'DB_QUERY')) return null; // no `version` table yet
    throw e;
  }
}
