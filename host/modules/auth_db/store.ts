/**
 * The subscriber tables over the DB layer: the lookup the authorize functions need (one row per
 * credentials, loaded before routing) and the kamctl-like writes of `siphon subscriber` and the
 * `subscriber.*` RPCs.
 *
 * Lookup (Kamailio auth_db authorize.c get_ha1): by user name alone, or by user name and domain with
 * use_domain. Without use_domain a user name present in several domains is ambiguous; Kamailio takes
 * whichever row the database returns first, siphon prefers the row of the requested domain, then the
 * lowest id. MySQL: one indexed SELECT per event-loop turn for all the names looked up in it
 * (lookup-batch.ts; username_idx). Embedded store: an
 * equality lookup on the username index, served from memory.
 *
 * MySQL compares with the table's collation (case-insensitive by default, as for Kamailio); the
 * embedded store compares user names exactly (RFC 3261 §19.1.4) and domains case-insensitively.
 */
import type { Database, Row, Table, TableDef } from '../../db/index.js';
import type { SqlRunner } from '../../db/types.js';
import { checkTableVersion } from '../../db/index.js';
import { quoteIdent } from '../../db/schema.js';
import { SiphonError } from '../../errors/registry.js';
import type { AuthDbConfig } from './config.js';
import { LookupBatcher } from './lookup-batch.js';
import { columnsOf, credentialColumns, subscriberTableDef, type Account, type SubscriberColumns } from './table.js';

/** The credentials of one subscriber row, as the authorize functions use them. */
export interface SubscriberRow {
  user: string;
  domain: string;
  /** the HA1 column (MD5 of user:realm:password), '' when empty. */
  ha1: string;
  /** the HA1 column for "user@domain" usernames. */
  ha1b: string;
  /** the plain password, '' when not stored (or no column configured). */
  password: string;
}

/** One row as `list` shows it: no password, no HA1. */
export interface SubscriberListing {
  id: number;
  user: string;
  domain: string;
}

/** rows `list` returns at most per call (the RPC reply and the CLI output stay bounded). */
export const LIST_MAX_ROWS = 10_000;

export class SubscriberStore {
  readonly cols: SubscriberColumns;
  private readonly tables = new Map<string, { def: TableDef; tbl: Table<Row> }>();
  private readonly storePassword: boolean;
  /** MySQL: one lookup batcher per table. */
  private readonly batchers = new Map<string, LookupBatcher>();
  /** writes run one after the other: add's existence check and its insert are not interleaved with another write. */
  private writes: Promise<unknown> = Promise.resolve();

  constructor(
    readonly db: Database,
    readonly cfg: AuthDbConfig,
  ) {
    this.cols = columnsOf(cfg);
    this.storePassword = cfg.store_password || cfg.calculate_ha1 === 1;
    for (const name of cfg.tables) {
      const def = subscriberTableDef(name, this.cols);
      this.tables.set(name, { def, tbl: db.table<Row>(def) });
    }
  }

  /** the configured table names. */
  tableNames(): string[] {
    return [...this.tables.keys()];
  }

  has(table: string): boolean {
    return this.tables.has(table);
  }

  /** creates missing tables (create_tables) and checks their version (version_table). */
  async prepare(): Promise<void> {
    for (const { def } of this.tables.values()) {
      if (this.cfg.create_tables) await this.db.ensureTable(def);
      if (this.cfg.version_table) await checkTableVersion(this.db, def);
    }
  }

  private entry(table: string): { def: TableDef; tbl: Table<Row> } {
    const e = this.tables.get(table);
    if (!e) throw new SiphonError('AUTHDB_UNKNOWN_TABLE', `no subscriber table "${table}" (modules.auth_db.tables: ${this.tableNames().join(', ')})`);
    return e;
  }

  /** MySQL: prepares the lookup statements of every table on `connections` pool connections (lookup-batch.ts warm()). */
  async warm(connections: number): Promise<void> {
    const sql = this.db.sql;
    if (!sql) return;
    for (const table of this.tables.keys()) await this.batcher(table, sql).warm(connections);
  }

  private batcher(table: string, sql: SqlRunner): LookupBatcher {
    let b = this.batchers.get(table);
    if (b === undefined) {
      const c = this.cols;
      const cols = [c.user, c.domain, c.ha1, c.ha1b, c.password].filter((x) => x !== '');
      const prefix = `SELECT ${cols.map(quoteIdent).join(', ')}, \`id\` FROM ${quoteIdent(table)} WHERE ${quoteIdent(c.user)} IN `;
      b = new LookupBatcher(sql, { selectPrefix: prefix, userColumn: c.user, domainColumn: c.domain, useDomain: this.cfg.use_domain });
      this.batchers.set(table, b);
    }
    return b;
  }

  /**
   * The row for `user` (and `domain` with use_domain; without it `domain` only breaks ties). null when
   * there is none. Rejects with the DB layer's SiphonError (E5002/E5003/E5010/E5011) on failure.
   */
  async lookup(table: string, user: string, domain: string): Promise<SubscriberRow | null> {
    const { tbl } = this.entry(table);
    const c = this.cols;
    if (this.db.sql) {
      // the lookups of one event-loop turn share one query (lookup-batch.ts): the row of the
      // requested domain, else (without use_domain) the lowest id, as `... ORDER BY domain = ? DESC,
      // id LIMIT 1` would answer
      const row = await this.batcher(table, this.db.sql).lookup(user, domain);
      return row ? this.toRow(row) : null;
    }
    const rows = await tbl.find({ [c.user]: user });
    // host names compare case-insensitively (RFC 3261 §19.1.4), as MySQL's default collation does
    const want = domain.toLowerCase();
    let best: Row | undefined;
    for (const r of rows) {
      if (String(r[c.domain] ?? '').toLowerCase() === want) {
        best = r;
        break;
      }
      if (!this.cfg.use_domain && best === undefined) best = r;
    }
    return best ? this.toRow(best) : null;
  }

  private toRow(r: Record<string, unknown>): SubscriberRow {
    const c = this.cols;
    const s = (col: string): string => (col && r[col] !== null && r[col] !== undefined ? String(r[col]) : '');
    return { user: s(c.user), domain: s(c.domain), ha1: s(c.ha1), ha1b: s(c.ha1b), password: s(c.password) };
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.writes.then(f, f);
    this.writes = p.catch(() => undefined);
    return p;
  }

  /** kamctl add: fails with E7223 when the account exists. */
  add(table: string, a: Account, password: string): Promise<void> {
    return this.serial(() => this.addNow(table, a, password));
  }

  private async addNow(table: string, a: Account, password: string): Promise<void> {
    const { tbl } = this.entry(table);
    const c = this.cols;
    if ((await tbl.find({ [c.user]: a.user, [c.domain]: a.domain })).length > 0) {
      throw new SiphonError('AUTHDB_SUBSCRIBER_EXISTS', `subscriber ${a.user}@${a.domain} already exists`);
    }
    try {
      await tbl.insert({ [c.user]: a.user, [c.domain]: a.domain, ...credentialColumns(c, a.user, a.domain, password, this.storePassword) });
    } catch (e) {
      // MySQL: a concurrent add hit account_idx
      if (/duplicate/i.test((e as Error).message)) throw new SiphonError('AUTHDB_SUBSCRIBER_EXISTS', `subscriber ${a.user}@${a.domain} already exists`);
      throw e;
    }
  }

  /** kamctl passwd: fails with E7224 when there is no such account. */
  passwd(table: string, a: Account, password: string): Promise<void> {
    return this.serial(() => this.passwdNow(table, a, password));
  }

  private async passwdNow(table: string, a: Account, password: string): Promise<void> {
    const { tbl } = this.entry(table);
    const c = this.cols;
    const n = await tbl.update({ [c.user]: a.user, [c.domain]: a.domain }, credentialColumns(c, a.user, a.domain, password, this.storePassword));
    // MySQL counts changed rows: setting the same password again changes none
    if (n === 0 && (await tbl.find({ [c.user]: a.user, [c.domain]: a.domain })).length === 0) {
      throw new SiphonError('AUTHDB_NO_SUBSCRIBER', `no subscriber ${a.user}@${a.domain}`);
    }
  }

  /** kamctl rm: fails with E7224 when there is no such account. */
  rm(table: string, a: Account): Promise<void> {
    return this.serial(() => this.rmNow(table, a));
  }

  private async rmNow(table: string, a: Account): Promise<void> {
    const { tbl } = this.entry(table);
    const c = this.cols;
    const n = await tbl.delete({ [c.user]: a.user, [c.domain]: a.domain });
    if (n === 0) throw new SiphonError('AUTHDB_NO_SUBSCRIBER', `no subscriber ${a.user}@${a.domain}`);
  }

  /** the accounts (of one domain), by id, at most `limit` (≤ LIST_MAX_ROWS); no secrets. */
  async list(table: string, domain?: string, limit = LIST_MAX_ROWS): Promise<SubscriberListing[]> {
    const { tbl } = this.entry(table);
    const c = this.cols;
    const n = Math.max(1, Math.min(limit, LIST_MAX_ROWS));
    let rows: Array<Record<string, unknown>>;
    if (this.db.sql) {
      const where = domain !== undefined ? ` WHERE ${quoteIdent(c.domain)} = ?` : '';
      rows = await this.db.sql.query(`SELECT \`id\`, ${quoteIdent(c.user)}, ${quoteIdent(c.domain)} FROM ${quoteIdent(table)}${where} ORDER BY \`id\` LIMIT ${n}`, domain !== undefined ? [domain] : []);
    } else {
      rows = (domain !== undefined ? await tbl.find({ [c.domain]: domain }) : await tbl.all()).slice(0, n);
    }
    return rows.map((r) => ({ id: Number(r.id ?? 0), user: String(r[c.user] ?? ''), domain: String(r[c.domain] ?? '') }));
  }
}
