/**
 * The `db` statistics group of a node (stats.get_statistics, /metrics): the counters of every
 * database handle its modules opened, summed. Kamailio's db_mysql has one such counter
 * (`mysql:driver_errors`); these say which bound was hit. Counters only (stats.reset_statistics
 * subtracts a baseline, which a gauge would not survive).
 *
 * Shards (core.workers): the node sums every shard's group per key. Shard 0 counts its one embedded
 * store per data directory once, however many of its modules hold a handle on it, and that store
 * does every embedded write of every shard. A worker shard's RemoteDatabase therefore adds nothing
 * to the embedded_* keys (that would count shard 0's store again); it reports `remote_calls` and
 * `remote_failures` (operations it forwarded to shard 0, and those that failed, any code), keys
 * that exist only where such handles do. MySQL handles count in every shard (each has its pool).
 */
import type { Database } from './types.js';
import { EmbeddedDatabase } from './embedded.js';
import { MysqlDatabase } from './mysql.js';
import { RemoteDatabase, SharedEmbeddedHandle } from './remote.js';

export class DbStatistics {
  private readonly handles = new Set<Database>();

  /** counts `db` from now on (openDatabase calls it). */
  add(db: Database): void {
    this.handles.add(db);
  }

  statistics(): Record<string, number> {
    const s = {
      queries: 0,
      timeouts: 0,
      busy: 0,
      destroyed_connections: 0,
      embedded_writes: 0,
      embedded_commits: 0,
      embedded_bytes_written: 0,
      embedded_compactions: 0,
      embedded_busy: 0,
      embedded_torn_tails: 0,
    };
    const embedded = new Set<EmbeddedDatabase>();
    let remote: { calls: number; failures: number } | null = null;
    for (const db of this.handles) {
      if (db instanceof EmbeddedDatabase) embedded.add(db);
      else if (db instanceof SharedEmbeddedHandle) embedded.add(db.store);
      else if (db instanceof RemoteDatabase) {
        remote ??= { calls: 0, failures: 0 };
        remote.calls += db.counters.calls;
        remote.failures += db.counters.failures;
      } else if (db instanceof MysqlDatabase) {
        const c = db.counters;
        s.queries += c.queries;
        s.timeouts += c.timeouts;
        s.busy += c.busy;
        s.destroyed_connections += c.destroyed;
      }
    }
    for (const db of embedded) {
      const c = db.counters;
      s.embedded_writes += c.writes;
      s.embedded_commits += c.commits;
      s.embedded_bytes_written += c.bytesWritten;
      s.embedded_compactions += c.compactions;
      s.embedded_busy += c.busy;
      s.embedded_torn_tails += c.tornTails;
    }
    return remote === null ? s : { ...s, remote_calls: remote.calls, remote_failures: remote.failures };
  }
}
