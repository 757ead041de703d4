/**
 * The embedded store with several shards (host/db/remote.ts): worker shards reach shard 0's one
 * EmbeddedDatabase per data directory through the `db` shard service, over real MessageChannels
 * (linkedShards), and see the same rows as shard 0 and each other; errors keep their codes.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkTableVersion, DbStatistics, migrate, openDatabase, RemoteDatabase, serveDatabases, SharedEmbeddedHandle, type Database } from '../../../host/db/index.js';
import type { TableDef } from '../../../host/db/types.js';
import { isSiphonError, SiphonError } from '../../../host/errors/registry.js';
import { linkedShards } from '../../../host/shards/link.js';
import type { ShardContext } from '../../../host/shards/context.js';

const PEOPLE: TableDef = {
  name: 'people',
  version: 2,
  columns: [
    { name: 'id', type: 'int', length: 10, unsigned: true, autoIncrement: true, notNull: true },
    { name: 'name', type: 'varchar', length: 16, notNull: true, default: '' },
    { name: 'age', type: 'smallint', notNull: true, default: 0 },
  ],
  indexes: [{ name: 'people_idx', columns: ['name'] }],
};
type Person = { id: number; name: string; age: number };

let dataDir: string;
let shards: Awaited<ReturnType<typeof linkedShards>>;
const opened: Database[] = [];

async function open(shard: ShardContext, extra: { limits?: { write_queue?: number }; stats?: DbStatistics } = {}): Promise<Database> {
  const db = await openDatabase('', { dataDir, shard, ...extra });
  opened.push(db);
  return db;
}

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'remotedb-'));
  shards = await linkedShards(2);
});

afterEach(async () => {
  for (const db of opened.splice(0)) await db.close();
  shards.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('embedded store across shards', () => {
  it('a worker creates, inserts, finds, updates and deletes; shard 0 and the other worker see the same rows', async () => {
    const main = await open(shards.main);
    const w1 = await open(shards.workers[0]!);
    const w2 = await open(shards.workers[1]!);
    expect(main).toBeInstanceOf(SharedEmbeddedHandle);
    expect(w1).toBeInstanceOf(RemoteDatabase);
    expect([main.kind, w1.kind, w2.kind]).toEqual(['embedded', 'embedded', 'embedded']);
    expect(w1.location).toBe(main.location);
    // one instance in shard 0 for the directory, held by the three handles
    expect(serveDatabases(shards.main).openStores()).toEqual([{ dir: path.join(dataDir, 'db'), refs: 3 }]);

    expect(await w1.tableVersion('people')).toBeNull();
    await w1.ensureTable(PEOPLE);
    const t1 = w1.table<Person>(PEOPLE);
    expect(await t1.insert({ name: 'alice', age: 30 })).toBe(1);
    expect(await t1.insert({ name: 'bob', age: 40 })).toBe(2);
    expect(await t1.find({ name: 'bob' })).toEqual([{ id: 2, name: 'bob', age: 40 }]);

    const t2 = w2.table<Person>(PEOPLE);
    const t0 = main.table<Person>(PEOPLE);
    expect(await t2.all()).toEqual([
      { id: 1, name: 'alice', age: 30 },
      { id: 2, name: 'bob', age: 40 },
    ]);
    expect(await t0.all()).toEqual(await t2.all());

    // the other worker and shard 0 write; the first worker sees it, ids come from the one store
    expect(await t2.update({ name: 'alice' }, { age: 31 })).toBe(1);
    expect(await t0.insert({ name: 'carol', age: 50 })).toBe(3);
    expect(await t1.find({ age: 31 })).toEqual([{ id: 1, name: 'alice', age: 31 }]);
    expect(await t1.delete({ name: 'bob' })).toBe(1);
    expect((await t2.all()).map((r) => r.name)).toEqual(['alice', 'carol']);
    expect((await t0.all()).map((r) => r.name)).toEqual(['alice', 'carol']);

    // durable in the files: a fresh single-shard handle (another process's view) reads the same rows
    const fresh = await openDatabase('', { dataDir });
    expect((await fresh.table<Person>(PEOPLE).all()).map((r) => r.name)).toEqual(['alice', 'carol']);
    await fresh.close();
  });

  it('tableVersion, ensureTable, migrate and checkTableVersion work from a worker', async () => {
    const main = await open(shards.main);
    const w = await open(shards.workers[1]!);
    await expect(checkTableVersion(w, PEOPLE)).rejects.toSatisfy((e) => isSiphonError(e, 'DB_TABLE_VERSION'));
    expect(await migrate(w, [PEOPLE])).toEqual([{ table: 'people', version: 2, status: 'created' }]);
    expect(await migrate(w, [PEOPLE])).toEqual([{ table: 'people', version: 2, status: 'ok' }]);
    await w.ensureTable(PEOPLE); // idempotent
    expect(await w.tableVersion('people')).toBe(2);
    expect(await main.tableVersion('people')).toBe(2);
    await checkTableVersion(w, PEOPLE);
    await expect(checkTableVersion(w, { ...PEOPLE, version: 3 })).rejects.toSatisfy((e) => isSiphonError(e, 'DB_TABLE_VERSION'));
  });

  it('errors raised by the store in shard 0 arrive in the worker as SiphonErrors with their code and message', async () => {
    const main = await open(shards.main);
    const w = await open(shards.workers[0]!);
    await w.ensureTable(PEOPLE);
    const bad = { nick: 'x' } as unknown as Partial<Person>;
    // E5003: a column the table does not have
    const local = await main.table<Person>(PEOPLE).find(bad).catch((e: unknown) => e as SiphonError);
    const remote = await w.table<Person>(PEOPLE).find(bad).catch((e: unknown) => e as SiphonError);
    expect(remote).toBeInstanceOf(SiphonError);
    expect(remote.code).toBe(5003);
    expect(remote.errorName).toBe('DB_QUERY');
    expect(remote.message).toBe(local.message);
    // a value longer than its VARCHAR: refused by shard 0's insert, nothing written
    const long = await w.table<Person>(PEOPLE).insert({ name: 'x'.repeat(17) }).catch((e: unknown) => e);
    expect(isSiphonError(long, 'DB_QUERY')).toBe(true);
    expect((long as SiphonError).message).toMatch(/insert into people: column name: value longer than 16 characters \[E5003 /);
    expect(await main.table<Person>(PEOPLE).all()).toEqual([]);

    // E5004: a snapshot that does not parse, found by shard 0's store on the worker's read
    await writeFile(path.join(dataDir, 'db', 'broken.json'), '{"table":"broken", nonsense\n');
    const corrupt = await w.table({ ...PEOPLE, name: 'broken' }).all().catch((e: unknown) => e);
    expect(isSiphonError(corrupt, 'DB_STORE_CORRUPT')).toBe(true);
    expect((corrupt as SiphonError).message).toMatch(/broken\.json.*E5004/);
  });

  it('shard 0 applies core.db.write_queue to worker writes (E5011)', async () => {
    await open(shards.main, { limits: { write_queue: 1 } });
    const w = await open(shards.workers[0]!);
    await w.ensureTable(PEOPLE);
    const t = w.table<Person>(PEOPLE);
    await t.all(); // the table id is known: the inserts below leave in one tick
    const r = await Promise.allSettled([t.insert({ name: 'a' }), t.insert({ name: 'b' }), t.insert({ name: 'c' })]);
    expect(r.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    for (const x of r.slice(1)) expect(isSiphonError((x as PromiseRejectedResult).reason, 'DB_BUSY')).toBe(true);
    expect((await t.all()).map((p) => p.name)).toEqual(['a']);
  });

  it('the link failing is E5020, a closed handle E5021', async () => {
    // a node where shard 0 never served the store: the worker's open fails at once
    const bare = await linkedShards(1);
    try {
      await expect(openDatabase('', { dataDir, shard: bare.workers[0]! })).rejects.toSatisfy((e) => isSiphonError(e, 'DB_SHARD_LINK'));
    } finally {
      bare.close();
    }
    await open(shards.main);
    const w = await openDatabase('', { dataDir, shard: shards.workers[0]! });
    await w.close();
    await expect(w.tableVersion('people')).rejects.toSatisfy((e) => isSiphonError(e, 'DB_SHARD_REFUSED'));
  });

  it('the store closes when its last handle does; a worker attaching alone opens it in shard 0', async () => {
    const server = serveDatabases(shards.main);
    const a = await openDatabase('', { dataDir, shard: shards.main });
    const b = await openDatabase('', { dataDir, shard: shards.main });
    const w = await openDatabase('', { dataDir, shard: shards.workers[0]! });
    expect(server.openStores()[0]!.refs).toBe(3);
    await a.close();
    await a.close(); // a second close does not drop another reference
    await w.close();
    expect(server.openStores()[0]!.refs).toBe(1);
    await b.close();
    expect(server.openStores()).toEqual([]);

    const w2 = await open(shards.workers[1]!);
    await w2.ensureTable(PEOPLE);
    await w2.table<Person>(PEOPLE).insert({ name: 'dora' });
    expect(server.openStores()).toEqual([{ dir: path.join(dataDir, 'db'), refs: 1 }]);
    const m = await open(shards.main);
    expect((await m.table<Person>(PEOPLE).all()).map((r) => r.name)).toEqual(['dora']);
  });

  it('statistics: shard 0 counts its one store once; a worker reports only remote_calls / remote_failures', async () => {
    const s0 = new DbStatistics();
    const sw = new DbStatistics();
    const m1 = await open(shards.main, { stats: s0 });
    await open(shards.main, { stats: s0 }); // a second module on the same directory
    const w = await open(shards.workers[0]!, { stats: sw });
    await w.ensureTable(PEOPLE);
    await w.table<Person>(PEOPLE).insert({ name: 'eve' });
    await m1.table<Person>(PEOPLE).insert({ name: 'finn' });
    await w.table<Person>(PEOPLE).find({ nick: 'x' } as unknown as Partial<Person>).catch(() => undefined);

    const main = s0.statistics();
    expect(main.embedded_writes).toBe(2);
    expect(main).not.toHaveProperty('remote_calls');
    const worker = sw.statistics();
    expect(worker.embedded_writes).toBe(0);
    expect(worker.embedded_commits).toBe(0);
    // attach, ensureTable, table id, insert, table id (the find's new RemoteTable), find
    expect(worker.remote_calls).toBe(6);
    expect(worker.remote_failures).toBe(1);
  });

  it("a module's open goes through the shard: auth's nonce secret is the same row in shard 0 and in a worker", async () => {
    const { loadSecret } = await import('../../../host/modules/auth/secret.js');
    const pino = (await import('pino')).default;
    const log = pino({ level: 'silent' });
    const held = await open(shards.main); // shard 0's modules hold the store while workers run
    const fromWorker = await loadSecret({ secret: null, db_url: null }, { dataDir, log, shard: shards.workers[0]! });
    const fromMain = await loadSecret({ secret: null, db_url: null }, { dataDir, log, shard: shards.main });
    expect(fromWorker.origin).toBe('embedded');
    expect(fromMain.secret).toBe(fromWorker.secret);
    expect(await held.table({ name: 'siphon_auth_secret', version: 1, columns: [] }).all()).toHaveLength(1);
  });

  it('without a shard context, or with one shard, openDatabase is unchanged', async () => {
    const { EmbeddedDatabase } = await import('../../../host/db/index.js');
    const plain = await openDatabase('', { dataDir });
    const one = await openDatabase('', { dataDir, shard: { ...shards.main, count: 1 } });
    expect(plain).toBeInstanceOf(EmbeddedDatabase);
    expect(one).toBeInstanceOf(EmbeddedDatabase);
    await plain.close();
    await one.close();
  });
});
