/**
 * A throwaway MariaDB database with Kamailio's own tables, and subscriber rows written the way
 * `kamctl add` / `kamctl passwd` / `kamctl rm` write them: the proof that siphon reads what a Kamailio
 * installation already holds (and the other way round), and the same rows for both servers in the
 * side-by-side bench.
 *
 * The tables come from the SQL files the Debian package `kamailio-mysql-modules` installs
 * (/usr/share/kamailio/mysql/<module>-create.sql, what `kamdbctl create` runs), not from siphon's code,
 * so a schema drift on siphon's side shows up as a failing test. The database is named
 * siphon_t_<area>_<random> (one per test file run) and dropped by drop().
 *
 *   const db = await createKamailioDb('authdb');                  // version + subscriber tables
 *   await db.addSubscriber('alice', 'example.org', 's3cret');      // password, ha1, ha1b (kamctl default)
 *   await db.addSubscriber('bob', 'example.org', 'pw', { store: 'ha1' });   // STORE_PLAINTEXT_PW=0
 *   ... modules: { auth_db: { db_url: db.url } } ...
 *   await db.drop();
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';

/** where kamailio-mysql-modules puts kamdbctl's scripts; SIPHON_KAMAILIO_SQL overrides. */
export const KAMAILIO_SQL_DIR = process.env.SIPHON_KAMAILIO_SQL ?? '/usr/share/kamailio/mysql';

const MARIADB = { host: '127.0.0.1', port: 3306, user: 'root' };

/**
 * Which credential columns a row gets (kamctl: ha1 and ha1b always, the plain password when
 * STORE_PLAINTEXT_PW is 1, its default):
 *   both      password + ha1 + ha1b (kamctl's default)
 *   ha1       ha1 + ha1b, password '' (STORE_PLAINTEXT_PW=0; auth_db calculate_ha1 0)
 *   password  password only, ha1/ha1b '' (rows for calculate_ha1 1 with password_column "password")
 */
export type CredentialStore = 'both' | 'ha1' | 'password';

export interface SubscriberRow {
  username: string;
  domain: string;
  password: string;
  ha1: string;
  ha1b: string;
}

/** kamctl's HA1 (realm = the subscriber's domain): MD5(user:domain:password), RFC 2617 §3.2.2.2. */
export function kamctlHa1(user: string, domain: string, password: string): string {
  return createHash('md5').update(`${user}:${domain}:${password}`, 'utf8').digest('hex');
}

/** kamctl's HA1B, for UAs that send "user@domain" as digest username: MD5(user@domain:domain:password). */
export function kamctlHa1b(user: string, domain: string, password: string): string {
  return kamctlHa1(`${user}@${domain}`, domain, password);
}

/** the row `kamctl add user@domain password` writes. */
export function kamctlRow(user: string, domain: string, password: string, store: CredentialStore = 'both'): SubscriberRow {
  const withHa1 = store !== 'password';
  return {
    username: user,
    domain,
    password: store === 'ha1' ? '' : password,
    ha1: withHa1 ? kamctlHa1(user, domain, password) : '',
    ha1b: withHa1 ? kamctlHa1b(user, domain, password) : '',
  };
}

export interface KamailioDb {
  /** the database name (siphon_t_<area>_<hex>). */
  readonly name: string;
  /** mysql://root@127.0.0.1:3306/<name>: siphon's db_url and Kamailio's db_url alike. */
  readonly url: string;
  /** an admin connection on the database (close()d by drop()). */
  readonly conn: mysql.Connection;
  /** kamctl add: one row; throws on a duplicate (username, domain) as the unique account_idx does. */
  addSubscriber(user: string, domain: string, password: string, opts?: { store?: CredentialStore; table?: string }): Promise<SubscriberRow>;
  /** many rows in one statement (bench: thousands of users). */
  addSubscribers(rows: SubscriberRow[], table?: string): Promise<void>;
  /** kamctl passwd: new credentials for an existing row; the number of rows changed (0: no such subscriber). */
  setPassword(user: string, domain: string, password: string, opts?: { store?: CredentialStore; table?: string }): Promise<number>;
  /** kamctl rm; the number of rows removed. */
  removeSubscriber(user: string, domain: string, table?: string): Promise<number>;
  /** the row as stored, or null. */
  subscriber(user: string, domain: string, table?: string): Promise<SubscriberRow | null>;
  /** drops the database and closes the connection. Idempotent. */
  drop(): Promise<void>;
}

/**
 * Creates siphon_t_<area>_<random> with Kamailio's `version` table and the tables of `modules`
 * (default auth_db: `subscriber`, version 7), each from kamdbctl's own SQL file.
 */
export async function createKamailioDb(area: string, modules: string[] = ['auth_db']): Promise<KamailioDb> {
  if (!/^[a-z0-9_]{1,24}$/.test(area)) throw new Error(`area must be 1-24 of [a-z0-9_]: ${area}`);
  const files = ['standard', ...modules].map((m) => path.join(KAMAILIO_SQL_DIR, `${m}-create.sql`));
  for (const f of files) {
    if (!existsSync(f)) throw new Error(`${f} missing: install the Debian package kamailio-mysql-modules (.ci/run does) or set SIPHON_KAMAILIO_SQL`);
  }
  const name = `siphon_t_${area}_${randomBytes(4).toString('hex')}`;
  const conn = await mysql.createConnection({ ...MARIADB, multipleStatements: true });
  try {
    await conn.query(`CREATE DATABASE \`${name}\``);
    await conn.query(`USE \`${name}\``);
    for (const f of files) await conn.query(readFileSync(f, 'utf8'));
  } catch (e) {
    await conn.query(`DROP DATABASE IF EXISTS \`${name}\``).catch(() => undefined);
    await conn.end().catch(() => undefined);
    throw e;
  }
  return handle(name, conn);
}

function handle(name: string, conn: mysql.Connection): KamailioDb {
  let dropped = false;
  const tableName = (t = 'subscriber'): string => {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(t)) throw new Error(`bad table name ${t}`);
    return `\`${t}\``;
  };
  const db: KamailioDb = {
    name,
    url: `mysql://root@127.0.0.1:3306/${name}`,
    conn,
    async addSubscriber(user, domain, password, opts = {}) {
      const row = kamctlRow(user, domain, password, opts.store);
      await db.addSubscribers([row], opts.table);
      return row;
    },
    async addSubscribers(rows, table) {
      if (rows.length === 0) return;
      // kamctl: INSERT INTO subscriber (username,domain,password,ha1,ha1b) VALUES (...)
      await conn.query(`INSERT INTO ${tableName(table)} (username, domain, password, ha1, ha1b) VALUES ?`, [
        rows.map((r) => [r.username, r.domain, r.password, r.ha1, r.ha1b]),
      ]);
    },
    async setPassword(user, domain, password, opts = {}) {
      const r = kamctlRow(user, domain, password, opts.store);
      const [res] = await conn.query<mysql.ResultSetHeader>(
        `UPDATE ${tableName(opts.table)} SET password = ?, ha1 = ?, ha1b = ? WHERE username = ? AND domain = ?`,
        [r.password, r.ha1, r.ha1b, user, domain],
      );
      return res.affectedRows;
    },
    async removeSubscriber(user, domain, table) {
      const [res] = await conn.query<mysql.ResultSetHeader>(`DELETE FROM ${tableName(table)} WHERE username = ? AND domain = ?`, [user, domain]);
      return res.affectedRows;
    },
    async subscriber(user, domain, table) {
      const [rows] = await conn.query<mysql.RowDataPacket[]>(
        `SELECT username, domain, password, ha1, ha1b FROM ${tableName(table)} WHERE username = ? AND domain = ?`,
        [user, domain],
      );
      const r = rows[0];
      return r ? { username: r.username, domain: r.domain, password: r.password, ha1: r.ha1, ha1b: r.ha1b } : null;
    },
    async drop() {
      if (dropped) return;
      dropped = true;
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``).catch(() => undefined);
      await conn.end().catch(() => undefined);
    },
  };
  return db;
}
