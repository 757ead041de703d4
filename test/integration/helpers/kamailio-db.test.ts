/**
 * test/helpers/kamailio-db.ts against the real MariaDB: the database gets Kamailio's own tables
 * (kamdbctl's SQL files: `version` and `subscriber` version 7), rows are kamctl's (HA1 and HA1B with
 * realm = domain; vectors computed with md5sum), passwd/rm change exactly one row, the unique
 * account_idx refuses a second (username, domain), and drop() removes the database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2/promise';
import { createKamailioDb, kamctlRow, type KamailioDb } from '../../helpers/kamailio-db.js';

let db: KamailioDb;

beforeAll(async () => {
  db = await createKamailioDb('helpers');
});

afterAll(async () => {
  await db?.drop();
});

describe('createKamailioDb', () => {
  it("creates kamdbctl's version and subscriber tables", async () => {
    expect(db.name).toMatch(/^siphon_t_helpers_[0-9a-f]{8}$/);
    const [v] = await db.conn.query<mysql.RowDataPacket[]>("SELECT table_version FROM version WHERE table_name = 'subscriber'");
    expect(v[0]?.table_version).toBe(7);
    const [cols] = await db.conn.query<mysql.RowDataPacket[]>('SHOW COLUMNS FROM subscriber');
    expect(cols.map((c) => c.Field)).toEqual(['id', 'username', 'domain', 'password', 'ha1', 'ha1b']);
  });

  it("writes kamctl's rows: password, HA1 = MD5(user:domain:pw), HA1B = MD5(user@domain:domain:pw)", async () => {
    const row = await db.addSubscriber('alice', 'example.org', 's3cret');
    expect(row).toEqual({
      username: 'alice',
      domain: 'example.org',
      password: 's3cret',
      ha1: '8b83b40c22906c0c67a3c5bcc491bc14',
      ha1b: '02e41cba136f941c5ec7591dbbf7c746',
    });
    expect(await db.subscriber('alice', 'example.org')).toEqual(row);
    // STORE_PLAINTEXT_PW=0: no password; calculate_ha1 1 rows: the password only
    expect((await db.addSubscriber('bob', 'example.org', 'pw', { store: 'ha1' })).password).toBe('');
    expect(await db.addSubscriber('carol', 'example.org', 'pw', { store: 'password' })).toMatchObject({ password: 'pw', ha1: '', ha1b: '' });
    await expect(db.addSubscriber('alice', 'example.org', 'again')).rejects.toThrow(/Duplicate entry/);
  });

  it('passwd and rm touch exactly the named subscriber', async () => {
    await db.addSubscribers([kamctlRow('dave', 'example.org', 'a'), kamctlRow('dave', 'other.org', 'b')]);
    expect(await db.setPassword('dave', 'example.org', 'c')).toBe(1);
    expect(await db.subscriber('dave', 'example.org')).toEqual(kamctlRow('dave', 'example.org', 'c'));
    expect(await db.subscriber('dave', 'other.org')).toEqual(kamctlRow('dave', 'other.org', 'b'));
    expect(await db.setPassword('nobody', 'example.org', 'x')).toBe(0);
    expect(await db.removeSubscriber('dave', 'other.org')).toBe(1);
    expect(await db.subscriber('dave', 'other.org')).toBeNull();
  });

  it('drop() removes the database', async () => {
    const other = await createKamailioDb('helpers');
    await other.drop();
    const conn = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
    try {
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SHOW DATABASES LIKE ?', [other.name]);
      expect(rows).toHaveLength(0);
    } finally {
      await conn.end();
    }
  });
});
