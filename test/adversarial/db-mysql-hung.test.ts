/**
 * A hung MySQL cannot hang its callers (host/db/mysql.ts, core.db): through a TCP relay to the real
 * MariaDB at 127.0.0.1:3306 that the test black-holes mid-run, a query fails with E5010 at
 * query_timeout (counted, never timed: issue #12), the connection that timed out is destroyed (not handed to the next query), calls
 * beyond max_connections + queue_limit are refused at once with E5011, and once the relay forwards
 * again the same handle serves queries. Database siphon_test_data_hung; relay on an ephemeral port.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import mysql from 'mysql2/promise';
import { openMysql, type MysqlDatabase } from '../../host/db/index.js';
import { isSiphonError, SiphonError } from '../../host/errors/registry.js';
import { TcpRelay } from '../helpers/tcp-relay.js';

const DB = 'siphon_test_data_hung';
const QUERY_TIMEOUT = 600;

let admin: mysql.Connection;
let relay: TcpRelay;
let db: MysqlDatabase;

beforeAll(async () => {
  admin = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  await admin.query(`CREATE DATABASE IF NOT EXISTS ${DB}`);
  relay = await TcpRelay.open({ host: '127.0.0.1', port: 3306 });
  db = await openMysql(`mysql://root@127.0.0.1:${relay.port}/${DB}`, {
    limits: { query_timeout: QUERY_TIMEOUT, connect_timeout: QUERY_TIMEOUT, max_connections: 2, queue_limit: 3 },
  });
});

afterAll(async () => {
  await db?.close();
  await relay?.close();
  await admin?.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin?.end();
});

/** the error a promise rejects with (fails the test if it resolves). */
async function failure(p: Promise<unknown>): Promise<SiphonError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof SiphonError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

/** resolves once `cond()` holds (checked every turn of the loop); throws after 5 s. */
async function until(cond: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setImmediate(r));
  }
}

/** retries `f` until it resolves, within `ms` (the first query after an outage may still meet a dead connection). */
async function eventually<T>(f: () => Promise<T>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setImmediate(r));
    }
  }
}

describe('MySQL with a slow query', () => {
  it('a query past the deadline fails with E5010; the next one runs at once on a fresh connection', async () => {
    const direct = await openMysql(`mysql://root@127.0.0.1:3306/${DB}`, { limits: { query_timeout: 300, max_connections: 1 } });
    try {
      const e = await failure(direct.query('SELECT SLEEP(5) AS late'));
      expect(e.code).toBe(5010);
      expect(e.message).toMatch(/no answer within 300 ms \(waiting for the reply/);
      expect(direct.counters).toMatchObject({ timeouts: 1, destroyed: 1 });
      // one connection allowed: had the busy one gone back to the pool (or kept the slot), this
      // would queue behind SLEEP(5) on it and fail with E5010 at its own 300 ms deadline
      expect(await direct.query('SELECT 7 AS mine')).toEqual([{ mine: 7 }]);
      expect(direct.counters).toMatchObject({ timeouts: 1, destroyed: 1, busy: 0 });
    } finally {
      await direct.close();
    }
  });
});

describe('MySQL with the server hung', () => {
  it('answers normally through the relay', async () => {
    expect(await db.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it('a query fails with E5010 within query_timeout and its connection is destroyed', async () => {
    relay.blackhole();
    const before = { ...db.counters };
    const swallowed = relay.swallowed;
    // the deadline runs on vitest's fake setTimeout: not due 1 ms before query_timeout, due at it
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let settled = false;
    const failed = failure(db.query('SELECT 2')).finally(() => (settled = true));
    try {
      await until(() => relay.swallowed > swallowed); // the query is on the wire, never answered
      vi.advanceTimersByTime(QUERY_TIMEOUT - 1);
      await new Promise((r) => setImmediate(r));
      expect(settled).toBe(false);
      vi.advanceTimersByTime(1);
    } finally {
      vi.useRealTimers();
    }
    const e = await failed;
    // E5010 comes only from the query_timeout timer (a dropped connection would be E5002); the
    // query had its connection and was waiting for the reply, which the relay swallowed
    expect(e.code).toBe(5010);
    expect(e.message).toMatch(/no answer within 600 ms \(waiting for the reply/);
    expect(e.message).not.toMatch(/root:/); // redacted URL only
    expect(db.counters.timeouts).toBe(before.timeouts + 1);
    expect(db.counters.destroyed).toBe(before.destroyed + 1);
    expect(db.load()).toEqual({ running: 0, waiting: 0 }); // the slot is free again
  });

  it('beyond max_connections + queue_limit calls are refused at once with E5011; the rest time out', async () => {
    const busyBefore = db.counters.busy;
    const calls = Array.from({ length: 10 }, (_, i) => failure(db.query(`SELECT ${i}`)));
    // 2 running + 3 waiting; the other 5 were refused synchronously, before any timer could run
    expect(db.load()).toEqual({ running: 2, waiting: 3 });
    expect(db.counters.busy).toBe(busyBefore + 5);
    const errors = await Promise.all(calls);
    expect(errors.filter((e) => e.code === 5011)).toHaveLength(5);
    expect(errors.filter((e) => e.code === 5010)).toHaveLength(5);
    expect(errors.every((e) => isSiphonError(e))).toBe(true);
  });

  it('serves again once the server answers', async () => {
    relay.resume();
    // slots held by connects to the dead relay are given back within connect_timeout
    const rows = await eventually(() => db.query('SELECT 3 AS three'), 10 * QUERY_TIMEOUT);
    expect(rows).toEqual([{ three: 3 }]);
    await expect(db.query('SELECT 4 AS four')).resolves.toEqual([{ four: 4 }]);
    expect(db.load().waiting).toBe(0);
  });
});
