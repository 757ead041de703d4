import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTableSql, EmbeddedDatabase, migrate, openDatabase, parseMysqlUrl, redactUrl, VERSION_TABLE } from '../../../host/db/index.js';
import { checkTableVersion } from '../../../host/db/index.js';
import type { TableDef } from '../../../host/db/types.js';
import { isSiphonError } from '../../../host/errors/registry.js';

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

describe('URLs', () => {
  it('parses mysql URLs and redacts passwords', () => {
    const u = parseMysqlUrl('mysql://kam:s3cr%40t@127.0.0.1:3307/kamailio');
    expect(u).toMatchObject({ user: 'kam', password: 's3cr@t', host: '127.0.0.1', port: 3307, database: 'kamailio' });
    expect(u.redacted).toBe('mysql://kam:***@127.0.0.1:3307/kamailio');
    expect(redactUrl('mysql://root@localhost/x')).toBe('mysql://root@localhost/x');
  });
  it('rejects bad URLs with E5001 and no password', async () => {
    expect(() => parseMysqlUrl('postgres://u:pw@h/db')).toThrow(/E5001/);
    expect(() => parseMysqlUrl('mysql://u:pw@h/')).toThrow(/no database name/);
    try {
      parseMysqlUrl('mysql://u:topsecret@h/');
    } catch (e) {
      expect(String(e)).not.toContain('topsecret');
    }
    await expect(openDatabase('sqlite://x', { dataDir: '/tmp' })).rejects.toSatisfy((e) => isSiphonError(e, 'DB_URL'));
  });
});

describe('DDL', () => {
  it("matches Kamailio's version table", () => {
    expect(createTableSql(VERSION_TABLE)).toBe(
      'CREATE TABLE IF NOT EXISTS `version` (\n' +
        '    `id` INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,\n' +
        '    `table_name` VARCHAR(32) NOT NULL,\n' +
        '    `table_version` INT UNSIGNED DEFAULT 0 NOT NULL,\n' +
        '    CONSTRAINT `table_name_idx` UNIQUE (`table_name`)\n)',
    );
  });
});

describe('embedded store', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'siphon-db-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips rows through a JSON file per table', async () => {
    const db = await openDatabase(undefined, { dataDir: dir });
    expect(db.kind).toBe('embedded');
    expect(await migrate(db, [PEOPLE])).toEqual([{ table: 'people', version: 3, status: 'created' }]);
    const t = db.table<{ id: number; name: string; age: number }>(PEOPLE);
    expect(await t.insert({ name: 'ann', age: 30 })).toBe(1);
    expect(await t.insert({ name: 'bob' })).toBe(2);
    expect(await t.insert({ name: 'cid', age: 30 })).toBe(3);
    expect(await t.all()).toEqual([
      { id: 1, name: 'ann', age: 30 },
      { id: 2, name: 'bob', age: 0 },
      { id: 3, name: 'cid', age: 30 },
    ]);
    expect(await t.find({ age: 30 })).toHaveLength(2);
    expect(await t.update({ name: 'bob' }, { age: 41 })).toBe(1);
    expect(await t.delete({ age: 30 })).toBe(2);
    await t.insert({ name: 'dan' });
    // another handle (another process) sees the same data
    const other = new EmbeddedDatabase(path.join(dir, 'db'));
    expect(await other.table(PEOPLE).all()).toEqual([
      { id: 2, name: 'bob', age: 41 },
      { id: 4, name: 'dan', age: 0 },
    ]);
    expect(await other.tableVersion('people')).toBe(3);
    expect(await migrate(other, [PEOPLE])).toEqual([{ table: 'people', version: 3, status: 'ok' }]);
    await checkTableVersion(other, PEOPLE);
    await expect(checkTableVersion(other, { ...PEOPLE, version: 4 })).rejects.toThrow(/E5005/);
    // no temp files left behind: the snapshot and its log
    expect(await readdir(path.join(dir, 'db'))).toEqual(['people.json', 'people.log']);
    await db.close();
  });

  it('serializes concurrent writes of one process', async () => {
    const db = new EmbeddedDatabase(dir);
    const t = db.table(PEOPLE);
    await Promise.all(Array.from({ length: 25 }, (_, i) => t.insert({ name: `p${i}` })));
    const rows = await t.all();
    expect(rows).toHaveLength(25);
    expect(new Set(rows.map((r) => r.id)).size).toBe(25);
  });

  it('refuses values the schema refuses and reports corrupt files', async () => {
    const db = new EmbeddedDatabase(dir);
    const t = db.table(PEOPLE);
    await expect(t.insert({ name: 'much too long' })).rejects.toThrow(/E5003/);
    await expect(t.find({ nope: 1 } as never)).rejects.toThrow(/no column "nope"/);
    await writeFile(path.join(dir, 'people.json'), '{"rows": [1,');
    await expect(t.all()).rejects.toSatisfy((e) => isSiphonError(e, 'DB_STORE_CORRUPT'));
    expect(await readFile(path.join(dir, 'people.json'), 'utf8')).toBe('{"rows": [1,'); // untouched
  });
});
