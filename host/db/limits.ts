/**
 * Defaults of `core.db` (DbLimits). Kamailio's db_mysql gives a connect, read and write timeout of
 * 2 s each (connect_timeout, timeout_interval; libmysqlclient retries a read up to three times);
 * siphon bounds the whole call instead: waiting for a connection, connecting and the query itself
 * share one `query_timeout`, so a caller knows the longest it can wait.
 */
import type { DbLimits } from './types.js';

export const DB_LIMIT_DEFAULTS: Required<DbLimits> = {
  query_timeout: 2000,
  connect_timeout: 2000,
  /**
   * Kamailio opens one connection per process and db_url (children=8 by default); 8 covers a
   * subscriber lookup per authenticated request at 1,500/s on this 2-core machine (bench/RESULTS.md).
   */
  max_connections: 8,
  /**
   * Calls waiting for a connection: about a second of lookups at 1,000/s. Their wait is bounded by
   * query_timeout anyway; this bounds memory. (64 refused bursts at start and at 1,500/s: E5011.)
   */
  queue_limit: 1024,
  write_queue: 10_000,
  compact_min_bytes: 1 << 20,
};

/** the limits with every absent field set to its default. */
export function resolveDbLimits(l: DbLimits | undefined): Required<DbLimits> {
  return { ...DB_LIMIT_DEFAULTS, ...Object.fromEntries(Object.entries(l ?? {}).filter(([, v]) => v !== undefined)) };
}
