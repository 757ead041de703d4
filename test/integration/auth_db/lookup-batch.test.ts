/**
 * auth_db's subscriber lookups of one event-loop turn go to MariaDB as one query (lookup-batch.ts),
 * and each lookup still gets the row the single-row query would give: the requested domain's row,
 * else (without use_domain) the lowest id; nothing for an unknown name or, with use_domain, another
 * domain; names compared case-insensitively as the table's collation does. Real MariaDB, a database
 * created by kamdbctl's own SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMysql, type MysqlDatabase } from '../../../host/db/mysql.js';
import { resolveAuthDbConfig } from '../../../host/modules/auth_db/config.js';
import { SubscriberStore } from '../../../host/modules/auth_db/store.js';
import { BATCH_MAX } from '../../../host/modules/auth_db/lookup-batch.js';
import { createKamailioDb, type KamailioDb } from '../../helpers/kamailio-db.js';

let kdb: KamailioDb;
let db: MysqlDatabase;
const USERS = 150;

beforeAll(async () => {
  kdb = await createKamailioDb('authdbbatch');
  for (let i = 0; i < USERS; i++) await kdb.addSubscriber(`u${i}`, 'a.example', `pw-${i}`);
  // one name in two domains: b.example first (lower id), then a.example
  await kdb.addSubscriber('twin', 'b.example', 'pw-b');
  await kdb.addSubscriber('twin', 'a.example', 'pw-a');
  db = await openMysql(kdb.url);
}, 120_000);

afterAll(async () => {
  await db?.close();
  await kdb?.drop();
});

describe('subscriber lookups batched per event-loop turn', () => {
  it('lookups asked in one turn are one query per 64 names, each with its own row', async () => {
    const store = new SubscriberStore(db, resolveAuthDbConfig({}));
    const before = db.counters.queries;
    const names = Array.from({ length: USERS }, (_, i) => `u${i}`);
    const rows = await Promise.all(names.map((n) => store.lookup('subscriber', n, 'a.example')));
    expect(db.counters.queries - before).toBe(Math.ceil(USERS / BATCH_MAX));
    rows.forEach((r, i) => {
      expect(r?.user).toBe(`u${i}`);
      expect(r?.password).toBe(`pw-${i}`);
    });
  });

  it('the single-row semantics hold inside a batch: domain preference, unknown names, case', async () => {
    const store = new SubscriberStore(db, resolveAuthDbConfig({}));
    const before = db.counters.queries;
    const [a, b, other, nobody, upper] = await Promise.all([
      store.lookup('subscriber', 'twin', 'a.example'),
      store.lookup('subscriber', 'twin', 'B.EXAMPLE'),
      store.lookup('subscriber', 'twin', 'c.example'),
      store.lookup('subscriber', 'nobody', 'a.example'),
      store.lookup('subscriber', 'U7', 'a.example'),
    ]);
    expect(db.counters.queries - before).toBe(1);
    expect(a?.password).toBe('pw-a');
    expect(b?.password).toBe('pw-b');
    expect(other?.password).toBe('pw-b'); // no row of c.example: the lowest id of the name
    expect(nobody).toBeNull();
    expect(upper?.user).toBe('u7'); // MariaDB's default collation: case-insensitive, as `username = ?`
  });

  it('with use_domain only the requested domain matches', async () => {
    const store = new SubscriberStore(db, resolveAuthDbConfig({ use_domain: 1 }));
    const [a, other] = await Promise.all([store.lookup('subscriber', 'twin', 'a.example'), store.lookup('subscriber', 'twin', 'c.example')]);
    expect(a?.password).toBe('pw-a');
    expect(other).toBeNull();
  });

  it('warm() runs every statement shape (1 ... 64 names) on each connection asked for, and finds nobody', async () => {
    const store = new SubscriberStore(db, resolveAuthDbConfig({}));
    const before = db.counters.queries;
    await store.warm(3);
    let shapes = 0;
    for (let n = 1; n <= BATCH_MAX; n <<= 1) shapes++;
    expect(shapes).toBe(7);
    expect(db.counters.queries - before).toBe(shapes * 3);
    expect(await store.lookup('subscriber', 'u7', 'a.example')).toMatchObject({ user: 'u7', password: 'pw-7' });
  });

  it('lookups of separate turns are separate queries (no waiting for company)', async () => {
    const store = new SubscriberStore(db, resolveAuthDbConfig({}));
    const before = db.counters.queries;
    expect((await store.lookup('subscriber', 'u1', 'a.example'))?.user).toBe('u1');
    expect((await store.lookup('subscriber', 'u2', 'a.example'))?.user).toBe('u2');
    expect(db.counters.queries - before).toBe(2);
  });
});
