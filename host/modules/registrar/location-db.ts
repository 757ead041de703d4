/**
 * Persistence of one location table (usrloc's DB side) over the DB layer: Kamailio's `location`
 * table, version 9 (utils/kamctl/mysql/usrloc-create.sql), so a table created by kamdbctl serves
 * siphon and the other way round.
 *
 * MySQL gets its own DDL (the DB layer's ColumnType has no FLOAT, and `q` is FLOAT(10,2)) and
 * targeted SQL (null-safe domain match, expiry sweep by range on expires_idx). The embedded store
 * goes through the generic Table API; it is meant for single-node write-through, not for sharing.
 *
 * DATETIME columns hold local time, as Kamailio writes them (usrloc expires_type 0); a permanent
 * contact (expires 0) is written as 1970-01-01 00:00:00.
 */
import type { Database, Row, Table, TableDef } from '../../db/index.js';
import { quoteIdent, VERSION_TABLE } from '../../db/schema.js';
import { SiphonError } from '../../errors/registry.js';
import { Q_UNSPECIFIED, type Contact } from './contact.js';
import type { ContactChange } from './location.js';

export const LOCATION_TABLE_VERSION = 9;

/** The `location` table for the embedded store and for documentation (q kept as text there). */
export function locationTableDef(name = 'location'): TableDef {
  return {
    name,
    version: LOCATION_TABLE_VERSION,
    columns: [
      { name: 'id', type: 'int', length: 10, unsigned: true, autoIncrement: true, notNull: true },
      { name: 'ruid', type: 'varchar', length: 64, notNull: true, default: '' },
      { name: 'username', type: 'varchar', length: 64, notNull: true, default: '' },
      { name: 'domain', type: 'varchar', length: 64, default: null },
      { name: 'contact', type: 'varchar', length: 512, notNull: true, default: '' },
      { name: 'received', type: 'varchar', length: 128, default: null },
      { name: 'path', type: 'varchar', length: 512, default: null },
      { name: 'expires', type: 'datetime', notNull: true, default: '2030-05-28 21:32:15' },
      // FLOAT(10,2) in MySQL (see mysqlLocationDdl); the embedded store keeps the decimal text
      { name: 'q', type: 'varchar', length: 12, notNull: true, default: '1.0' },
      { name: 'callid', type: 'varchar', length: 255, notNull: true, default: 'Default-Call-ID' },
      { name: 'cseq', type: 'int', length: 11, notNull: true, default: 1 },
      { name: 'last_modified', type: 'datetime', notNull: true, default: '2000-01-01 00:00:01' },
      { name: 'flags', type: 'int', length: 11, notNull: true, default: 0 },
      { name: 'cflags', type: 'int', length: 11, notNull: true, default: 0 },
      { name: 'user_agent', type: 'varchar', length: 255, notNull: true, default: '' },
      { name: 'socket', type: 'varchar', length: 64, default: null },
      { name: 'methods', type: 'int', length: 11, default: null },
      { name: 'instance', type: 'varchar', length: 255, default: null },
      { name: 'reg_id', type: 'int', length: 11, notNull: true, default: 0 },
      { name: 'server_id', type: 'int', length: 11, notNull: true, default: 0 },
      { name: 'connection_id', type: 'int', length: 11, notNull: true, default: 0 },
      { name: 'keepalive', type: 'int', length: 11, notNull: true, default: 0 },
      { name: 'partition', type: 'int', length: 11, notNull: true, default: 0 },
    ],
    indexes: [
      { name: 'ruid_idx', columns: ['ruid'], unique: true },
      { name: 'account_contact_idx', columns: ['username', 'domain', 'contact'] },
      { name: 'expires_idx', columns: ['expires'] },
      { name: 'tcpcon_idx', columns: ['connection_id'] },
      { name: 'connection_idx', columns: ['server_id', 'connection_id'] },
    ],
  };
}

/** CREATE TABLE for MySQL/MariaDB with Kamailio's exact column types, defaults and indexes. */
export function mysqlLocationDdl(name = 'location'): string {
  const t = quoteIdent(name);
  return `CREATE TABLE IF NOT EXISTS ${t} (
    \`id\` INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    \`ruid\` VARCHAR(64) DEFAULT '' NOT NULL,
    \`username\` VARCHAR(64) DEFAULT '' NOT NULL,
    \`domain\` VARCHAR(64) DEFAULT NULL,
    \`contact\` VARCHAR(512) DEFAULT '' NOT NULL,
    \`received\` VARCHAR(128) DEFAULT NULL,
    \`path\` VARCHAR(512) DEFAULT NULL,
    \`expires\` DATETIME DEFAULT '2030-05-28 21:32:15' NOT NULL,
    \`q\` FLOAT(10,2) DEFAULT 1.0 NOT NULL,
    \`callid\` VARCHAR(255) DEFAULT 'Default-Call-ID' NOT NULL,
    \`cseq\` INT(11) DEFAULT 1 NOT NULL,
    \`last_modified\` DATETIME DEFAULT '2000-01-01 00:00:01' NOT NULL,
    \`flags\` INT(11) DEFAULT 0 NOT NULL,
    \`cflags\` INT(11) DEFAULT 0 NOT NULL,
    \`user_agent\` VARCHAR(255) DEFAULT '' NOT NULL,
    \`socket\` VARCHAR(64) DEFAULT NULL,
    \`methods\` INT(11) DEFAULT NULL,
    \`instance\` VARCHAR(255) DEFAULT NULL,
    \`reg_id\` INT(11) DEFAULT 0 NOT NULL,
    \`server_id\` INT(11) DEFAULT 0 NOT NULL,
    \`connection_id\` INT(11) DEFAULT 0 NOT NULL,
    \`keepalive\` INT(11) DEFAULT 0 NOT NULL,
    \`partition\` INT(11) DEFAULT 0 NOT NULL,
    CONSTRAINT \`ruid_idx\` UNIQUE (\`ruid\`),
    INDEX \`account_contact_idx\` (\`username\`, \`domain\`, \`contact\`),
    INDEX \`expires_idx\` (\`expires\`),
    INDEX \`tcpcon_idx\` (\`connection_id\`),
    INDEX \`connection_idx\` (\`server_id\`, \`connection_id\`)
)`;
}

// ---- time conversion ---------------------------------------------------------------------------

/** 9999-12-28 (UTC): below MySQL's DATETIME maximum in every time zone. */
const MAX_DATETIME_SEC = 253_402_041_600;

const pad = (n: number) => (n < 10 ? '0' : '') + n;

/** epoch seconds -> local `YYYY-MM-DD HH:MM:SS` (0 -> the permanent marker). */
export function toDatetime(sec: number): string {
  if (sec === 0) return '1970-01-01 00:00:00';
  // never 'NaN-NaN-NaN': a value Date cannot hold is clamped (save() keeps expires below 2^32 s
  // from now anyway, planner.ts); DATETIME's own range ends at 9999-12-31 23:59:59
  if (!Number.isFinite(sec) || sec > MAX_DATETIME_SEC) sec = MAX_DATETIME_SEC;
  else if (sec < 0) sec = 0;
  const d = new Date(sec * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** DATETIME (Date from mysql2, or text) -> epoch seconds; anything before 1970-01-02 is permanent (0). */
export function fromDatetime(v: unknown): number {
  let ms: number;
  if (v instanceof Date) ms = v.getTime();
  else {
    const m = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)/.exec(String(v ?? ''));
    if (!m) return 0;
    ms = new Date(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!).getTime();
  }
  if (!Number.isFinite(ms) || ms < 86_400_000) return 0;
  return Math.floor(ms / 1000);
}

// ---- row mapping -------------------------------------------------------------------------------

/**
 * q column -> thousandths. usrloc's unspecified q is -1; a negative value is read as unspecified
 * (also -0.001, which rows written by siphon before carried in the embedded store).
 */
function qFromColumn(q: number): number {
  return q < 0 ? Q_UNSPECIFIED : Math.round(q * 1000);
}

function num(v: unknown, dflt = 0): number {
  if (v === null || v === undefined || v === '') return dflt;
  const n = Number(v);
  return Number.isFinite(n) ? n : dflt;
}

function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

export function contactToRow(c: Contact): Record<string, string | number | null> {
  return {
    ruid: c.ruid,
    username: c.username,
    domain: c.domain,
    contact: c.contact,
    received: c.received,
    path: c.path,
    expires: toDatetime(c.expires),
    // usrloc writes an unspecified q as -1 (FLOAT(10,2) would keep -0.001 as 0, a q of 0)
    q: c.q === Q_UNSPECIFIED ? -1 : c.q / 1000,
    callid: c.callid,
    cseq: c.cseq,
    last_modified: toDatetime(c.lastModified),
    flags: c.flags,
    cflags: c.cflags,
    user_agent: c.userAgent,
    socket: c.socket,
    methods: c.methods,
    instance: c.instance,
    reg_id: c.regId,
    server_id: c.serverId,
    connection_id: c.connectionId,
    keepalive: c.keepalive,
    partition: c.partition,
  };
}

export function rowToContact(r: Record<string, unknown>): Contact {
  const username = String(r.username ?? '');
  const domain = strOrNull(r.domain);
  return {
    ruid: String(r.ruid ?? ''),
    aor: domain ? `${username}@${domain}` : username,
    username,
    domain,
    contact: String(r.contact ?? ''),
    received: strOrNull(r.received),
    path: strOrNull(r.path),
    expires: fromDatetime(r.expires),
    q: qFromColumn(num(r.q, 1)),
    callid: String(r.callid ?? ''),
    cseq: num(r.cseq, 1),
    lastModified: fromDatetime(r.last_modified),
    flags: num(r.flags),
    cflags: num(r.cflags),
    userAgent: String(r.user_agent ?? ''),
    socket: strOrNull(r.socket),
    methods: r.methods === null || r.methods === undefined ? null : num(r.methods),
    instance: strOrNull(r.instance),
    regId: num(r.reg_id),
    serverId: num(r.server_id),
    connectionId: num(r.connection_id),
    keepalive: num(r.keepalive),
    partition: num(r.partition),
  };
}

// ---- backends ----------------------------------------------------------------------------------

/** What a Location needs from storage. Every method may reject with a SiphonError (E5002/E5003). */
export interface LocationBackend {
  readonly table: string;
  /** checks (and with `create`, creates) the table at version 9. */
  prepare(create: boolean): Promise<void>;
  loadAll(): Promise<Contact[]>;
  /** the contacts of one AOR (username + domain, domain null without use_domain). */
  loadAor(username: string, domain: string | null): Promise<Contact[]>;
  insert(c: Contact): Promise<void>;
  /** rewrites the row with c.ruid. */
  update(c: Contact): Promise<void>;
  deleteRuid(ruid: string): Promise<number>;
  deleteAor(username: string, domain: string | null): Promise<number>;
  /** deletes contacts expired at `now` (seconds), permanent ones excepted; returns how many. */
  deleteExpired(now: number): Promise<number>;
  /**
   * Optional: applies one save()'s changes in one step (`memoryOnly`: save flag 0x01). A backend
   * offering it sends the changes before it returns, over a transport that keeps their order (the
   * shard backend, shard.ts), so Location does not chain them behind the writes it queued before.
   */
  applyChanges?(changes: readonly ContactChange[], memoryOnly: boolean): Promise<void>;
  /**
   * Optional: the contacts of one AOR read while the caller waits (a worker shard blocking on shard
   * 0, shard.ts), for a synchronous lookup of an AOR that was not prefetched. Throws when it cannot.
   */
  loadAorSync?(username: string, domain: string | null): Contact[];
}

const SELECT_COLUMNS = locationTableDef()
  .columns.filter((c) => !c.autoIncrement)
  .map((c) => quoteIdent(c.name))
  .join(', ');

/** MySQL/MariaDB: targeted SQL on the shared table (db_mode 3 puts every read and write here). */
export class MysqlLocationBackend implements LocationBackend {
  private readonly t: string;

  constructor(
    private readonly db: Database,
    readonly table: string,
  ) {
    if (!db.sql) throw new Error('MysqlLocationBackend needs a MySQL database');
    this.t = quoteIdent(table);
  }

  private q(sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
    return this.db.sql!.query(sql, params);
  }

  async prepare(create: boolean): Promise<void> {
    if (create) {
      await this.db.ensureTable(VERSION_TABLE);
      await this.q(mysqlLocationDdl(this.table));
      await this.q(`INSERT IGNORE INTO ${quoteIdent(VERSION_TABLE.name)} (table_name, table_version) VALUES (?, ?)`, [this.table, LOCATION_TABLE_VERSION]);
    }
    const v = await this.db.tableVersion(this.table);
    if (v !== LOCATION_TABLE_VERSION) {
      throw new SiphonError('DB_TABLE_VERSION', v === null ? `table ${this.table} is missing` : `table ${this.table} is at version ${v}, siphon needs ${LOCATION_TABLE_VERSION}`, { where: this.db.location });
    }
  }

  async loadAll(): Promise<Contact[]> {
    return (await this.q(`SELECT ${SELECT_COLUMNS} FROM ${this.t} ORDER BY \`id\``)).map(rowToContact);
  }

  async loadAor(username: string, domain: string | null): Promise<Contact[]> {
    const rows = await this.q(`SELECT ${SELECT_COLUMNS} FROM ${this.t} WHERE \`username\` = ? AND \`domain\` <=> ? ORDER BY \`id\``, [username, domain]);
    return rows.map(rowToContact);
  }

  /** insert or replace by ruid (unique): a write-through row lost while the DB was down is re-created. */
  async insert(c: Contact): Promise<void> {
    const row = contactToRow(c);
    const keys = Object.keys(row);
    const updates = keys.filter((k) => k !== 'ruid').map((k) => `${quoteIdent(k)} = VALUES(${quoteIdent(k)})`);
    await this.q(
      `INSERT INTO ${this.t} (${keys.map(quoteIdent).join(', ')}) VALUES (${keys.map(() => '?').join(', ')}) ON DUPLICATE KEY UPDATE ${updates.join(', ')}`,
      keys.map((k) => row[k]),
    );
  }

  update(c: Contact): Promise<void> {
    return this.insert(c);
  }

  async deleteRuid(ruid: string): Promise<number> {
    return affected(await this.q(`DELETE FROM ${this.t} WHERE \`ruid\` = ?`, [ruid]));
  }

  async deleteAor(username: string, domain: string | null): Promise<number> {
    return affected(await this.q(`DELETE FROM ${this.t} WHERE \`username\` = ? AND \`domain\` <=> ?`, [username, domain]));
  }

  async deleteExpired(now: number): Promise<number> {
    // usrloc db-only timer: expired (expires <= now) rows go, permanent (epoch) rows stay
    return affected(await this.q(`DELETE FROM ${this.t} WHERE \`expires\` > ? AND \`expires\` <= ?`, ['1970-01-02 00:00:00', toDatetime(now)]));
  }
}

function affected(rows: Array<Record<string, unknown>>): number {
  return Number((rows[0] as { affectedRows?: number } | undefined)?.affectedRows ?? 0);
}

/** The embedded store (JSON file) through the generic Table API. */
export class TableLocationBackend implements LocationBackend {
  private readonly tbl: Table<Row>;
  private readonly def: TableDef;

  constructor(
    private readonly db: Database,
    readonly table: string,
  ) {
    this.def = locationTableDef(table);
    this.tbl = db.table<Row>(this.def);
  }

  async prepare(create: boolean): Promise<void> {
    if (create) await this.db.ensureTable(this.def);
  }

  async loadAll(): Promise<Contact[]> {
    return (await this.tbl.all()).map(rowToContact);
  }

  async loadAor(username: string, domain: string | null): Promise<Contact[]> {
    return (await this.tbl.find({ username, domain })).map(rowToContact);
  }

  async insert(c: Contact): Promise<void> {
    await this.tbl.insert(embeddedRow(c));
  }

  async update(c: Contact): Promise<void> {
    const { ruid, ...rest } = embeddedRow(c);
    await this.tbl.update({ ruid }, rest);
  }

  deleteRuid(ruid: string): Promise<number> {
    return this.tbl.delete({ ruid });
  }

  deleteAor(username: string, domain: string | null): Promise<number> {
    return this.tbl.delete({ username, domain });
  }

  async deleteExpired(now: number): Promise<number> {
    // one pass over the rows; the deletes go by the ruid index and are committed together (one
    // group, one fdatasync: host/db/embedded-table.ts), so a sweep is linear in the table
    const gone: Array<Promise<number>> = [];
    for (const r of await this.tbl.all()) {
      const exp = fromDatetime(r.expires);
      if (exp !== 0 && exp <= now) gone.push(this.tbl.delete({ ruid: r.ruid as string }));
    }
    return (await Promise.all(gone)).reduce((a, b) => a + b, 0);
  }
}

function embeddedRow(c: Contact): Record<string, string | number | null> {
  const row = contactToRow(c);
  row.q = String(row.q);
  return row;
}
