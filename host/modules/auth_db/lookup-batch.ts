/**
 * Subscriber lookups of one event-loop turn, one MySQL query: every request with credentials needs
 * its subscriber row before routing (prefetch.ts), and at a few thousand authenticated requests a
 * second the per-query cost of the client (a statement, a socket write and a reply to parse) was a
 * third of siphon's CPU (bench/RESULTS.md, issue #11). Lookups asked while a turn's messages are
 * handled are collected and sent at the end of the turn (setImmediate) as
 * `SELECT ... WHERE username IN (?, ...)`; each lookup then picks its row from the answer as the
 * single-row query would (store.ts). Under light load a batch is one lookup, as before; under heavy
 * load batches grow by themselves, which is when the saving matters.
 *
 * Bounds: at most BATCH_MAX user names per query (more wait for the next turn's query); the
 * parameter count is rounded up to a power of two (the last name repeated) so the prepared
 * statements a connection caches stay few (1, 2, 4 ... 64: seven shapes). A failed query rejects
 * every lookup of its batch (each request then fails closed, as a failed single lookup does).
 */
import type { SqlRunner } from '../../db/types.js';

/** user names per query at most. */
export const BATCH_MAX = 64;

interface Pending {
  user: string;
  domain: string;
  resolve: (row: Record<string, unknown> | null) => void;
  reject: (e: unknown) => void;
}

export interface BatchQuery {
  /** `SELECT <cols, id> FROM <table> WHERE <user col> IN ` (the list is appended). */
  selectPrefix: string;
  userColumn: string;
  domainColumn: string;
  /** with use_domain the row's domain must equal the requested one; without, it only breaks ties. */
  useDomain: boolean;
}

export class LookupBatcher {
  private pending: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly sql: SqlRunner,
    private readonly q: BatchQuery,
  ) {}

  /** the row the single-row lookup would return for (user, domain), or null. */
  lookup(user: string, domain: string): Promise<Record<string, unknown> | null> {
    return new Promise((resolve, reject) => {
      this.pending.push({ user, domain, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.pending.length > 0) {
      const batch = this.pending.length <= BATCH_MAX ? this.pending : this.pending.slice(0, BATCH_MAX);
      this.pending = this.pending.length <= BATCH_MAX ? [] : this.pending.slice(BATCH_MAX);
      void this.run(batch);
    }
  }

  /**
   * Prepares every statement shape (1, 2, 4 ... BATCH_MAX names) on `connections` pool connections
   * at once, before the node opens its sockets: the first execution of a shape on a connection
   * prepares it and makes the client compile its row parser, which cost a quarter of the CPU of the
   * first half second of a REGISTER load (bench/RESULTS.md, issue #11). The names asked for cannot
   * be user names (a NUL byte); failures are the caller's to log.
   */
  async warm(connections: number): Promise<void> {
    for (let size = 1; size <= BATCH_MAX; size <<= 1) {
      const params = Array.from({ length: size }, (_, i) => `\u0000warm-up-${i}`);
      await Promise.all(Array.from({ length: connections }, () => this.select(params)));
    }
  }

  private select(params: string[]): Promise<Array<Record<string, unknown>>> {
    const text = `${this.q.selectPrefix}(${params.map(() => '?').join(', ')}) ORDER BY \`id\``;
    return this.sql.execute ? this.sql.execute(text, params) : this.sql.query(text, params);
  }

  private async run(batch: Pending[]): Promise<void> {
    // distinct names, padded to a power of two with the last one
    const names = [...new Set(batch.map((p) => p.user))];
    let size = 1;
    while (size < names.length) size <<= 1;
    const params: string[] = names.slice();
    while (params.length < size) params.push(names[names.length - 1]!);
    let rows: Array<Record<string, unknown>>;
    try {
      rows = await this.select(params);
    } catch (e) {
      for (const p of batch) p.reject(e);
      return;
    }
    // the rows of each name in id order; names compare as the table's default (case-insensitive)
    // collation does, as the single-row query's `username = ?`
    const byUser = new Map<string, Array<Record<string, unknown>>>();
    for (const r of rows) {
      const k = String(r[this.q.userColumn] ?? '').toLowerCase();
      let list = byUser.get(k);
      if (list === undefined) byUser.set(k, (list = []));
      list.push(r);
    }
    for (const p of batch) p.resolve(pick(byUser.get(p.user.toLowerCase()), p.domain, this.q));
  }
}

/** the requested domain's row (lowest id), else without use_domain the lowest id of the name. */
function pick(rows: Array<Record<string, unknown>> | undefined, domain: string, q: BatchQuery): Record<string, unknown> | null {
  if (rows === undefined) return null;
  const want = domain.toLowerCase();
  for (const r of rows) if (String(r[q.domainColumn] ?? '').toLowerCase() === want) return r;
  return q.useDomain ? null : rows[0]!;
}
