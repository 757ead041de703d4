/**
 * The MySQL store against the real MariaDB at 127.0.0.1:3306 (database siphon_test_db).
 */
import { createConnection, type Connection } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDatabase, openMysql, type Database } from '../../../host/db/index.js';
import type { TableDef } from '../../../host/db/types.js';
import { isSiphonError } from '../../../host/errors/registry.js';

const DB = 'siphon_test_db';
const URL = `mysql://root@127.0.0.1:3306/${DB}`;

const PEOPLE: TableDef = {
  name: 'people',
  version: 3,
  columns: [
    { name: 'id', type: 'int', length: 10, unsigned: true, autoIncrement: true, notNull: true },
    { name: 'name', type: 'varchar', length: 8, notNull: true, default: '' },
    { name: 'age', type: 'smallint', notNull: true, default: 0 },
  ],
  indexes: [{ name: 'people_idx', columns: ['name'] }],
};

let admin: Connection;
let db: Database;

beforeAll(async () => {
  admin = await createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin.query(`CREATE DATABASE ${DB}`);
  db = await openDatabase(URL, { dataDir: '/nonexistent' });
});

afterAll(async () => {
  await db?.close();
  await admin?.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin?.end();
});

describe('MySQL store', () => {
  it('migrates: creates the table and the version rows as kamdbctl does', async () => {
    expect(db.kind).toBe('mysql');
    expect(await migrate(db, [PEOPLE])).toEqual([{ table: 'people', version: 3, status: 'created' }]);
    expect(await migrate(db, [PEOPLE])).toEqual([{ table: 'people', version: 3, status: 'ok' }]);
    const [rows] = await admin.query(`SELECT table_name, table_version FROM ${DB}.version ORDER BY table_name`);
    expect(rows).toEqual([
      { table_name: 'people', table_version: 3 },
      { table_name: 'version', table_version: 1 },
    ]);
    const [idx] = await admin.query(`SHOW INDEX FROM ${DB}.people WHERE Key_name = 'people_idx'`);
    expect((idx as unknown[]).length).toBe(1);
    await expect(migrate(db, [{ ...PEOPLE, version: 4 }])).rejects.toThrow(/E5005/);
  });

  it('round-trips rows', async () => {
    const t = db.table<{ id: number; name: string; age: number }>(PEOPLE);
    const a = await t.insert({ name: 'ann', age: 30 });
    await t.insert({ name: 'bob' });
    await t.insert({ name: 'cid', age: 30 });
    expect(a).toBeGreaterThan(0);
    expect((await t.all()).map((r) => [r.name, r.age])).toEqual([
      ['ann', 30],
      ['bob', 0],
      ['cid', 30],
    ]);
    expect(await t.find({ age: 30 })).toHaveLength(2);
    expect(await t.update({ name: 'bob' }, { age: 41 })).toBe(1);
    expect(await t.delete({ age: 30 })).toBe(2);
    expect(await t.all()).toEqual([{ id: 2, name: 'bob', age: 41 }]);
    await expect(t.insert({ name: 'much too long' })).rejects.toThrow(/E5003/);
  });

  it('a closed port gives E5002 naming the redacted URL', async () => {
    const err = await openMysql('mysql://root:pw@127.0.0.1:16001/x', { connectTimeout: 2000 }).catch((e) => e);
    expect(isSiphonError(err, 'DB_UNREACHABLE')).toBe(true);
    expect(String(err.message)).toContain('mysql://root:***@127.0.0.1:16001/x');
    expect(String(err.message)).toContain('ECONNREFUSED');
    expect(String(err.message)).not.toContain(':pw@');
  });

  it('a KILLed connection surfaces as a clean error and the pool recovers', async () => {
    const t = db.table(PEOPLE);
    const [ids] = await admin.query(`SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()`, [DB]);
    expect((ids as unknown[]).length).toBeGreaterThan(0);
    // KILL every pooled connection while idle: their 'error' events must not crash the process
    for (const { ID } of ids as Array<{ ID: number }>) await admin.query(`KILL ${ID}`);
    await new Promise((r) => setTimeout(r, 100));
    // next query either reconnects or fails with E5002, never an uncaught exception
    const r = await t.all().then(
      (rows) => rows.length,
      (e) => (isSiphonError(e, 'DB_UNREACHABLE') ? -1 : Promise.reject(e)),
    );
    expect(r === 1 || r === -1).toBe(true);
    expect(await t.all()).toHaveLength(1);
  });

  it('execute (prepared statement) returns what query returns, through the same gate and deadline', async () => {
    const sql = db.sql!;
    const q = 'SELECT `name`, `age` FROM `people` WHERE `name` = ? ORDER BY `age` = ? DESC LIMIT 1';
    expect(await sql.execute!(q, ['bob', 41])).toEqual(await sql.query(q, ['bob', 41]));
    expect(await sql.execute!(q, ['nobody', 0])).toEqual([]);
    await expect(sql.execute!('SELECT * FROM `no_such_table` WHERE x = ?', [1])).rejects.toThrow(/E5003/);
    const direct = await openMysql(URL, { limits: { query_timeout: 300, max_connections: 1 } });
    try {
      await expect(direct.execute('SELECT SLEEP(?) AS late', [5])).rejects.toThrow(/E5010/);
      expect(direct.counters.destroyed).toBe(1);
      expect(await direct.execute('SELECT ? AS mine', [7])).toEqual([{ mine: 7 }]);
    } finally {
      await direct.close();
    }
  });
});
