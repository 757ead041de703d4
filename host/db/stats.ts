/**
 * The `db` statistics group of a node (stats.get_statistics, /metrics): the counters of every
 * database handle its modules opened, summed. Kamailio's db_mysql has one such counter
 * (`mysql:driver_errors`); these say which bound was hit. Counters only (stats.reset_statistics
 * subtracts a baseline, which a gauge would not survive).
 */
import type { Database } from './types.js';
import { EmbeddedDatabase } from './embedded.js';
import { MysqlDatabase } from './mysql.js';

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
    for (const db of this.handles) {
      if (db instanceof MysqlDatabase) {
        const c = db.counters;
        s.queries += c.queries;
        s.timeouts += c.timeouts;
        s.busy += c.busy;
        s.destroyed_connections += c.destroyed;
      } else if (db instanceof EmbeddedDatabase) {
        const c = db.counters;
        s.embedded_writes += c.writes;
        s.embedded_commits += c.commits;
        s.embedded_bytes_written += c.bytesWritten;
        s.embedded_compactions += c.compactions;
        s.embedded_busy += c.busy;
        s.embedded_torn_tails += c.tornTails;
      }
    }
    return s;
  }
}
