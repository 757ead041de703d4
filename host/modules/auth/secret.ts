/**
 * The nonce signing secret. Kamailio's auth takes `secret` from the config or makes a random one
 * per start (so a restart, or a second node, refuses every nonce issued before). Here:
 *
 *   1. `modules.auth.secret` when set (every node of a cluster configured alike);
 *   2. else the row of the `siphon_auth_secret` table in `db_url` (MySQL): the first node creates
 *      it, every node on that database reads the same row, so they accept each other's nonces;
 *   3. else the same table in the embedded store (core.data_dir): one node, but a restart keeps
 *      its nonces valid.
 *
 * Two nodes starting at once may both insert a row: each inserts, then reads the table back and
 * uses the row with the lowest id, which was inserted before either read, so both pick the same one.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { openDatabase, type Database, type DbLimits, type DbStatistics, type TableDef } from '../../db/index.js';
import { SiphonError } from '../../errors/registry.js';
import type { ShardContext } from '../../shards/context.js';

export const SECRET_TABLE: TableDef = {
  name: 'siphon_auth_secret',
  version: 1,
  columns: [
    { name: 'id', type: 'int', length: 10, unsigned: true, autoIncrement: true, notNull: true },
    { name: 'secret', type: 'varchar', length: 128, notNull: true, default: '' },
    { name: 'created', type: 'int', length: 10, unsigned: true, notNull: true, default: 0 },
  ],
};

type SecretRow = { id: number; secret: string; created: number };

export interface SecretSource {
  secret: string | null;
  db_url: string | null;
}

export interface SecretOptions {
  dataDir: string;
  log: Logger;
  limits?: DbLimits;
  stats?: DbStatistics;
  /** the module's shard (core.workers): the embedded store is then shard 0's (host/db/remote.ts). */
  shard?: ShardContext;
  /** an open database to use instead of opening db_url / the embedded store (tests). */
  db?: Database;
}

/** where the secret came from, for the start-up log line. */
export type SecretOrigin = 'config' | 'mysql' | 'embedded';

/** the secret and where it came from; throws E7200 when the store cannot give one. */
export async function loadSecret(cfg: SecretSource, opts: SecretOptions): Promise<{ secret: string; origin: SecretOrigin }> {
  if (cfg.secret !== null && cfg.secret !== '') return { secret: cfg.secret, origin: 'config' };
  let db = opts.db ?? null;
  const owned = db === null;
  try {
    db ??= await openDatabase(cfg.db_url, { dataDir: opts.dataDir, log: opts.log, limits: opts.limits, stats: opts.stats, shard: opts.shard });
    await db.ensureTable(SECRET_TABLE);
    const table = db.table<SecretRow>(SECRET_TABLE);
    let rows = (await table.all()).filter(usable);
    if (rows.length === 0) {
      await table.insert({ secret: randomBytes(32).toString('hex'), created: Math.floor(Date.now() / 1000) });
      rows = (await table.all()).filter(usable);
    }
    if (rows.length === 0) throw new Error('no usable row after insert');
    rows.sort((a, b) => Number(a.id) - Number(b.id));
    return { secret: String(rows[0]!.secret), origin: db.kind };
  } catch (cause) {
    if (cause instanceof SiphonError) throw cause;
    throw new SiphonError('AUTH_SECRET', `cannot load or create the nonce secret in ${db?.location ?? 'the database'}: ${(cause as Error).message}`, { cause });
  } finally {
    if (owned && db) await db.close().catch(() => undefined);
  }
}

/** a row whose secret is long enough to sign with (a hand-edited row could be empty). */
function usable(r: SecretRow): boolean {
  return typeof r.secret === 'string' && r.secret.length >= 32;
}
