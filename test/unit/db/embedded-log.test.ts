/**
 * The embedded store's snapshot + append-only log (host/db/embedded-table.ts): a write appends its
 * own line and leaves the snapshot alone, compaction folds the log into a new snapshot, another
 * handle (another process) replays the same files to the same rows, a torn last line is ignored
 * with a warning (E5012) and cut before the next append, a corrupt line names its file and line
 * (E5004), today's single-file format loads unchanged, and 10,000 inserts into a 10,000-row table
 * write O(rows inserted) bytes, not O(table) per insert.
 */
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedDatabase } from '../../../host/db/index.js';
import type { TableDef } from '../../../host/db/types.js';
import { isSiphonError } from '../../../host/errors/registry.js';
import { createLogger } from '../../../host/log/logger.js';

const T: TableDef = {
  name: 'things',
  version: 2,
  columns: [
    { name: 'id', type: 'int', length: 10, unsigned: true, autoIncrement: true, notNull: true },
    { name: 'k', type: 'varchar', length: 64, notNull: true, default: '' },
    { name: 'v', type: 'int', notNull: true, default: 0 },
    { name: 'pad', type: 'varchar', length: 255, notNull: true, default: '' },
  ],
  indexes: [{ name: 'k_idx', columns: ['k'], unique: true }],
};
type Thing = { id: number; k: string; v: number; pad: string };
const PAD = 'x'.repeat(100);

let dir: string;
const open = (limits = {}, log?: ReturnType<typeof createLogger>) => new EmbeddedDatabase(dir, { limits, log });
const files = () => ({ snap: path.join(dir, 'things.json'), log: path.join(dir, 'things.log') });

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'siphon-dblog-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('append-only log', () => {
  it('appends one line per write, leaves the snapshot alone, and another handle replays it', async () => {
    const db = open();
    await db.ensureTable(T);
    const t = db.table<Thing>(T);
    const snapBefore = await stat(files().snap);
    expect(await t.insert({ k: 'a', v: 1 })).toBe(1);
    expect(await t.insert({ k: 'b', v: 2 })).toBe(2);
    expect(await t.update({ k: 'a' }, { v: 10 })).toBe(1);
    expect(await t.delete({ k: 'b' })).toBe(1);
    expect(await t.insert({ k: 'c', v: 3 })).toBe(3);
    const snapAfter = await stat(files().snap);
    expect([snapAfter.ino, snapAfter.size, snapAfter.mtimeMs]).toEqual([snapBefore.ino, snapBefore.size, snapBefore.mtimeMs]);
    const lines = (await readFile(files().log, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(6); // header + 5 changes
    expect(JSON.parse(lines[0]!)).toEqual({ gen: 0 });

    const other = open();
    expect(await other.table<Thing>(T).all()).toEqual([
      { id: 1, k: 'a', v: 10, pad: '' },
      { id: 3, k: 'c', v: 3, pad: '' },
    ]);
    // the other handle continues the ids and this one sees its write (tail of the log)
    expect(await other.table<Thing>(T).insert({ k: 'd' })).toBe(4);
    expect((await t.find({ k: 'd' })).map((r) => r.id)).toEqual([4]);
    await Promise.all([db.close(), other.close()]);
  });

  it('commits concurrent writes in groups (one fdatasync per group)', async () => {
    const db = open();
    const t = db.table<Thing>(T);
    const ids = await Promise.all(Array.from({ length: 500 }, (_, i) => t.insert({ k: `k${i}` })));
    expect(new Set(ids).size).toBe(500);
    expect(db.counters.writes).toBe(500);
    expect(db.counters.commits).toBeLessThan(10);
    await db.close();
  });

  it('refuses writes beyond write_queue at once (E5011) and commits the rest', async () => {
    const db = open({ write_queue: 50 });
    const t = db.table<Thing>(T);
    const results = await Promise.allSettled(Array.from({ length: 80 }, (_, i) => t.insert({ k: `k${i}` })));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused).toHaveLength(30);
    expect(refused.every((r) => isSiphonError((r as PromiseRejectedResult).reason, 'DB_BUSY'))).toBe(true);
    expect(await t.all()).toHaveLength(50);
    expect(db.counters.busy).toBe(30);
    await db.close();
  });
});

describe('compaction', () => {
  it('folds the log into a new snapshot once it outgrows it; replays agree', async () => {
    const db = open({ compact_min_bytes: 4096 });
    const t = db.table<Thing>(T);
    for (let i = 0; i < 20; i++) await Promise.all(Array.from({ length: 10 }, (_, j) => t.insert({ k: `k${i}-${j}`, v: i, pad: PAD })));
    await t.delete({ v: 3 });
    await t.update({ v: 4 }, { pad: 'short' });
    expect(db.counters.compactions).toBeGreaterThan(0);
    const snap = JSON.parse(await readFile(files().snap, 'utf8')) as { gen: number; rows: unknown[] };
    const header = JSON.parse((await readFile(files().log, 'utf8')).split('\n')[0]!) as { gen: number };
    expect(header.gen).toBe(snap.gen);
    expect(snap.gen).toBe(db.counters.compactions);
    const mine = await t.all();
    expect(mine).toHaveLength(190);
    expect(await open().table<Thing>(T).all()).toEqual(mine);
    // keys were renumbered: deletes after a compaction hit the right rows in a fresh replay too
    await t.delete({ k: 'k0-0' });
    await t.insert({ k: 'new' });
    const fresh = await open().table<Thing>(T).all();
    expect(fresh).toEqual(await t.all());
    expect(fresh.some((r) => r.k === 'k0-0')).toBe(false);
    await db.close();
  });

  it('ignores a log older than the snapshot (crash between the two renames of a compaction)', async () => {
    await writeFile(files().snap, '{"table":"things","version":2,"nextId":3,"gen":1,"rows":[\n{"id":1,"k":"a","v":1,"pad":""},\n{"id":2,"k":"b","v":2,"pad":""}\n]}\n');
    await writeFile(files().log, '{"gen":0}\n{"i":{"id":2,"k":"b","v":2,"pad":""},"n":3}\n');
    const db = open();
    const t = db.table<Thing>(T);
    expect((await t.all()).map((r) => r.k)).toEqual(['a', 'b']);
    expect(await t.insert({ k: 'c' })).toBe(3);
    expect(JSON.parse((await readFile(files().log, 'utf8')).split('\n')[0]!)).toEqual({ gen: 1 });
    expect((await open().table<Thing>(T).all()).map((r) => r.k)).toEqual(['a', 'b', 'c']);
    await db.close();
  });
});

describe('crash safety and corruption', () => {
  it('ignores a torn last line with a warning (E5012) and cuts it before the next append', async () => {
    const db = open();
    const t = db.table<Thing>(T);
    await t.insert({ k: 'a' });
    await t.insert({ k: 'b' });
    await db.close();
    await appendFile(files().log, '{"i":{"id":3,"k":"c","v":0,"pa');
    const logs: string[] = [];
    const db2 = open({}, createLogger({ level: 'warn', destination: { write: (l: string) => void logs.push(l) } }));
    const t2 = db2.table<Thing>(T);
    expect((await t2.all()).map((r) => r.k)).toEqual(['a', 'b']);
    expect(db2.counters.tornTails).toBe(1);
    expect(logs.join('')).toMatch(/things\.log:4: last line cut short.*E5012/);
    expect(await t2.insert({ k: 'd' })).toBe(3);
    const text = await readFile(files().log, 'utf8');
    expect(text).not.toContain('"pa{');
    expect(text.trimEnd().split('\n').map((l) => JSON.parse(l))).toHaveLength(4);
    expect((await open().table<Thing>(T).all()).map((r) => r.k)).toEqual(['a', 'b', 'd']);
    await db2.close();
  });

  it('a bad line followed by others is corruption: E5004 naming the file and line', async () => {
    const db = open();
    const t = db.table<Thing>(T);
    await t.insert({ k: 'a' });
    await db.close();
    await appendFile(files().log, 'garbage\n{"d":[0]}\n');
    const e = await open().table<Thing>(T).all().catch((x: unknown) => x);
    expect(isSiphonError(e, 'DB_STORE_CORRUPT')).toBe(true);
    expect(String(e)).toContain(`${files().log}:3`);
  });

  it('a corrupt snapshot is E5004 naming the file and the line', async () => {
    await writeFile(files().snap, '{"table":"things","version":2,"nextId":3,"gen":0,"rows":[\n{"id":1,"k":"a","v":1,"pad":""},\n{"id":2,"k":"b",,"v":2}\n]}\n');
    const e = await open().table<Thing>(T).all().catch((x: unknown) => x);
    expect(isSiphonError(e, 'DB_STORE_CORRUPT')).toBe(true);
    expect(String(e)).toContain(`${files().snap}:3`);
  });

  it("loads today's single-file format and moves on to snapshot + log", async () => {
    const legacy = { table: 'things', version: 2, nextId: 3, rows: [{ id: 1, k: 'a', v: 1, pad: '' }, { id: 2, k: 'b', v: 2, pad: '' }] };
    await writeFile(files().snap, JSON.stringify(legacy, null, 1) + '\n');
    const db = open();
    const t = db.table<Thing>(T);
    expect(await db.tableVersion('things')).toBe(2);
    expect(await t.all()).toEqual(legacy.rows);
    expect(await t.insert({ k: 'c' })).toBe(3);
    expect(await t.delete({ k: 'a' })).toBe(1);
    expect((await open().table<Thing>(T).all()).map((r) => r.id)).toEqual([2, 3]);
    await db.close();
  });
});

describe('cost', () => {
  /** bytes of one row as a log line. */
  const rowBytes = (i: number) => JSON.stringify({ i: { id: i, k: `key-${i}`, v: i, pad: PAD }, n: i + 1 }).length + 1;

  async function fill(db: EmbeddedDatabase, from: number, n: number): Promise<void> {
    const t = db.table<Thing>(T);
    for (let i = from; i < from + n; i += 1000) {
      await Promise.all(Array.from({ length: Math.min(1000, from + n - i) }, (_, j) => t.insert({ k: `key-${i + j}`, v: i + j, pad: PAD })));
    }
  }

  it('10,000 single-row inserts into a table of 10,000 rows write O(rows inserted), not O(table) each', async () => {
    const db = open();
    await fill(db, 1, 10_000);
    const snapBytes = (await stat(files().snap)).size + (await stat(files().log)).size;
    const first = db.counters.bytesWritten;

    const before = db.counters.bytesWritten;
    await fill(db, 10_001, 10_000);
    const second = db.counters.bytesWritten - before;
    const appended = 10_000 * rowBytes(15_000);
    // the 10,000 lines themselves, plus at most one compaction (the whole table once, ~2x the lines)
    expect(second).toBeLessThan(appended + 3 * snapBytes);
    // what a rewrite per insert would have cost: >= 10,000 x the table (~1.3 MB each)
    expect(second).toBeLessThan(10_000 * snapBytes / 100);
    // linear: the second 10,000 cost about what the first did, though the table is twice as large
    expect(second).toBeLessThan(3 * first);
    expect(await db.table<Thing>(T).all()).toHaveLength(20_000);

    // one more single insert writes its own line, the snapshot stays as it is
    const snap = await stat(files().snap);
    const b = db.counters.bytesWritten;
    await db.table<Thing>(T).insert({ k: 'one-more', pad: PAD });
    expect(db.counters.bytesWritten - b).toBeLessThan(2 * rowBytes(20_001));
    expect((await stat(files().snap)).mtimeMs).toBe(snap.mtimeMs);
    await db.close();
  });

  it('deleting thousands of rows one by one (an expiry sweep) goes through the index, in one group', async () => {
    const db = open();
    await fill(db, 1, 10_000);
    const t = db.table<Thing>(T);
    const rows = await t.all();
    const commits = db.counters.commits;
    const n = await Promise.all(rows.filter((r) => r.v % 2 === 0).map((r) => t.delete({ k: r.k })));
    expect(n.reduce((a, b) => a + b, 0)).toBe(5000);
    expect(db.counters.commits - commits).toBeLessThanOrEqual(2);
    expect(await open().table<Thing>(T).all()).toHaveLength(5000);
    await db.close();
  });
});
