/**
 * The same sets from config/dispatcher.list-style text and from the `dispatcher` table (MariaDB at
 * 127.0.0.1:3306, database siphon_test_dispatcher; and the embedded store) behave identically.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { migrate, openDatabase, type Database } from '../../../host/db/index.js';
import { DISPATCHER_TABLE, DispatcherDbSource, ListFileSource, type DestinationSource } from '../../../host/modules/dispatcher/db.js';
import { Dispatcher, SetOp } from '../../../host/modules/dispatcher/dispatcher.js';
import { resolveDispatcherConfig } from '../../../host/modules/dispatcher/config.js';
import { DsTargetList } from '../../../host/modules/dispatcher/failover.js';
import { listSets } from '../../../host/modules/dispatcher/rpc.js';
import { parseDispatcherList } from '../../../host/modules/dispatcher/list-file.js';
import { DispatcherModule } from '../../../host/modules/dispatcher/index.js';
import pino from 'pino';

const DB_NAME = 'siphon_test_dispatcher';
const URL = `mysql://root@127.0.0.1:3306/${DB_NAME}`;
const LIST = [
  '# mixed set with priorities, weights and flags',
  '1 sip:127.0.0.1:18131 0 0 duid=a;weight=20',
  '1 sip:127.0.0.1:18132 0 0 duid=b;weight=30',
  '1 sip:127.0.0.1:18133 0x8 10 duid=c;weight=50',
  '2 sip:127.0.0.1:18134 4 0',
  '2 sip:127.0.0.1:18135;transport=tcp 0 3 ping_from=sip:probe@example.com',
  '5 sip:127.0.0.1:18136',
].join('\n');

let dir: string;
let mysqlDb: Database;
let embeddedDb: Database;

async function fill(db: Database): Promise<void> {
  await migrate(db, [DISPATCHER_TABLE]);
  const t = db.table(DISPATCHER_TABLE);
  for (const r of await t.all()) await t.delete({ id: r.id });
  for (const s of parseDispatcherList(LIST)) {
    await t.insert({ setid: s.setid, destination: s.uri, flags: s.flags, priority: s.priority, attrs: s.attrs, description: `gw ${s.uri.slice(-5)}` });
  }
}

beforeAll(async () => {
  const admin = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME}`);
  await admin.query(`CREATE DATABASE ${DB_NAME}`);
  await admin.end();
  dir = mkdtempSync(path.join(tmpdir(), 'siphon-dsdb-'));
  writeFileSync(path.join(dir, 'dispatcher.list'), LIST + '\n');
  mysqlDb = await openDatabase(URL, { dataDir: dir });
  await fill(mysqlDb);
  embeddedDb = await openDatabase(null, { dataDir: dir });
  await fill(embeddedDb);
});

afterAll(async () => {
  await mysqlDb?.close();
  await embeddedDb?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A deterministic trace of what a dispatcher does with a sequence of requests. */
function trace(ds: Dispatcher): string[] {
  const out: string[] = [];
  const list = new DsTargetList();
  for (const [set, alg] of [[1, 4], [1, 0], [1, 1], [1, 8], [2, 4], [5, 3], [1, 13]] as const) {
    for (let i = 0; i < 6; i++) {
      const t = { dstUri: null as string | null, requestUri: 'sip:x@y', setRequestUri() {} };
      const rc = ds.select(
        { method: 'INVITE', callId: `call-${i}`, fromUri: `sip:u${i}@example.com`, requestUri: `sip:r${i}@example.org`, authUsername: () => undefined, hashPvValue: () => undefined },
        t,
        list,
        set,
        alg,
        0,
        SetOp.DST_URI,
      );
      out.push(`${set}/${alg}: ${rc} ${t.dstUri} [${list.all().map((x) => x.uri.slice(-5)).join(',')}]`);
    }
  }
  return out;
}

async function make(source: DestinationSource): Promise<Dispatcher> {
  const ds = new Dispatcher(resolveDispatcherConfig({ flags: 2 }), source);
  await ds.reload();
  return ds;
}

/** dispatcher.list without the per-load unique ids. */
function shape(ds: Dispatcher): unknown {
  return JSON.parse(JSON.stringify(listSets(ds, 'normal')).replace(/"IUID":"[^"]*"/g, '"IUID":"-"'));
}

describe('dispatcher sets from file and from the dispatcher table', () => {
  it('MariaDB, embedded store and the list file give the same sets and the same selections', async () => {
    const fromFile = await make(new ListFileSource(path.join(dir, 'dispatcher.list')));
    const fromMysql = await make(new DispatcherDbSource(mysqlDb));
    const fromEmbedded = await make(new DispatcherDbSource(embeddedDb));
    expect(shape(fromMysql)).toEqual(shape(fromFile));
    expect(shape(fromEmbedded)).toEqual(shape(fromFile));
    const t = trace(fromFile);
    expect(trace(fromMysql)).toEqual(t);
    expect(trace(fromEmbedded)).toEqual(t);
    expect(fromMysql.sets.get(1)!.dests[0]!.description).toBe('gw 18133');
  });

  it('a table reload picks up new rows; a broken table keeps the running sets', async () => {
    const ds = await make(new DispatcherDbSource(mysqlDb));
    await mysqlDb.table(DISPATCHER_TABLE).insert({ setid: 9, destination: 'sip:127.0.0.1:18137', flags: 0, priority: 0, attrs: '', description: '' });
    await ds.reload();
    expect(ds.listExists(9)).toBe(1);
    const before = ds.sets;
    const broken = new Dispatcher(resolveDispatcherConfig(), new DispatcherDbSource(mysqlDb, { ...DISPATCHER_TABLE, name: 'no_such_table' }));
    await expect(broken.reload()).rejects.toThrow(/E8004[\s\S]*E8002/);
    await expect(ds.reload()).resolves.toBeDefined();
    expect(ds.sets).not.toBe(before);
    await mysqlDb.table(DISPATCHER_TABLE).delete({ setid: 9 });
  });

  it('the module loads from db_url and serves RPCs', async () => {
    const mod = new DispatcherModule();
    await mod.init({ config: { db_url: URL }, dataDir: dir, log: pino({ level: 'silent' }) });
    try {
      const list = mod.rpcMethods().find((m) => m.name === 'dispatcher.list')!;
      const out = (await list.handler([])) as any;
      expect(out.NRSETS).toBe(3);
      expect(mod.statistics()).toMatchObject({ sets: 3, targets: 6, targets_inactive: 1 });
      expect(mod.imports()[0]!.namespace).toBe('dispatcher');
    } finally {
      await mod.close();
    }
  });
});
