/** The accounting write queue: bounded, a full queue drops (counted, E9302 logged) and never waits. */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../host/log/logger.js';
import { BATCH_ROWS, WriteQueue } from '../../../host/modules/acc/queue.js';
import { createConnection } from 'mysql2/promise';
import { openDatabase, type Row } from '../../../host/db/index.js';
import { ACC_TABLE_VERSION, accTableDef } from '../../../host/modules/acc/tables.js';

describe('WriteQueue', () => {
  it('past max_queue a record is dropped at once, counted and logged; a failed write is counted; the rest is written in order', async () => {
    const lines: string[] = [];
    const q = new WriteQueue(2, createLogger({ level: 'warn', destination: { write: (s: string) => void lines.push(s) } }));
    let release: () => void = () => {};
    const hung = new Promise<void>((r) => (release = r));
    const order: number[] = [];
    expect(q.push(async () => { await hung; order.push(1); }, 'acc')).toBe(true);
    expect(q.push(async () => { order.push(2); throw new Error('db down'); }, 'acc')).toBe(true);
    // the database hangs: the third record does not wait, it is dropped
    expect(q.push(async () => { order.push(3); }, 'cdr')).toBe(false);
    expect(q.dropped).toBe(1);
    expect(q.length).toBe(2);
    expect(lines.some((l) => l.includes('"code":9302'))).toBe(true);
    release();
    await q.drain();
    expect(order).toEqual([1, 2]);
    expect(q.written).toBe(1);
    expect(q.failed).toBe(1);
    expect(q.length).toBe(0);
    expect(lines.some((l) => l.includes('"code":9301') && l.includes('db down'))).toBe(true);
    expect(q.push(async () => { order.push(4); }, 'acc')).toBe(true);
    await q.drain();
    expect(order).toEqual([1, 2, 4]);
  });
});

describe('WriteQueue batching into MariaDB', () => {
  it('rows queued while a write is in flight leave as multi-row INSERTs, all of them land, in order', async () => {
    const name = `siphon_lead_accq_${process.pid}`;
    const admin = await createConnection({ host: '127.0.0.1', user: 'root' });
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.query(`CREATE DATABASE ${name}`);
    const db = await openDatabase(`mysql://root@127.0.0.1:3306/${name}`, { dataDir: '/tmp' });
    try {
      const def = accTableDef('acc', ACC_TABLE_VERSION, []);
      await db.ensureTable(def);
      const table = db.table<Row>(def);
      const statements: number[] = [];
      const insertMany = table.insertMany!.bind(table);
      table.insertMany = async (rows) => {
        statements.push(rows.length);
        await insertMany(rows);
      };
      const q = new WriteQueue(10_000, createLogger({ level: 'silent' }));
      const row = (i: number): Row => ({ method: 'INVITE', from_tag: `f${i}`, to_tag: 't', callid: `c${i}`, sip_code: '200', sip_reason: 'OK', time: '2026-12-06 06:00:00' });
      for (let i = 0; i < 1000; i++) expect(q.pushRow(table, row(i), 'acc')).toBe(true);
      await q.drain();
      expect(q.written).toBe(1000);
      expect(q.failed).toBe(0);
      // one turn's rows: BATCH_ROWS per statement
      expect(statements).toEqual(Array.from({ length: 1000 / BATCH_ROWS }, () => BATCH_ROWS));
      const [rows] = await admin.query(`SELECT callid FROM ${name}.acc ORDER BY id`);
      expect((rows as Array<{ callid: string }>).map((r) => r.callid)).toEqual(Array.from({ length: 1000 }, (_, i) => `c${i}`));
      // a failing batch counts each of its rows, the next batch is written
      await admin.query(`ALTER TABLE ${name}.acc MODIFY sip_code CHAR(3) NOT NULL`);
      expect(q.pushRow(table, { ...row(1000), sip_code: null }, 'acc')).toBe(true);
      expect(q.pushRow(table, { ...row(1001), sip_code: null }, 'acc')).toBe(true);
      await q.drain();
      expect(q.pushRow(table, row(1002), 'acc')).toBe(true);
      await q.drain();
      expect(q.failed).toBe(2);
      expect(q.written).toBe(1001);
    } finally {
      await db.close();
      await admin.query(`DROP DATABASE IF EXISTS ${name}`);
      await admin.end();
    }
  });
});
