/**
 * The location table on real MariaDB (127.0.0.1:3306, database siphon_test_registrar) and on the
 * embedded store: Kamailio's schema v9, two nodes sharing one table in db_mode 3, write-through
 * rows seen by a reload, and a write-through node that keeps serving from memory when the DB dies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { openDatabase, type Database } from '../../../host/db/index.js';
import { resolveRegistrarConfig, type RegistrarConfig } from '../../../host/modules/registrar/config.js';
import { startRegistrar, stopRegistrar } from '../../../host/modules/registrar/index.js';
import type { Registrar } from '../../../host/modules/registrar/registrar.js';
import { registrarRpcMethods } from '../../../host/modules/registrar/rpc.js';
import { RegistrarImports } from '../../../host/modules/registrar/abi.js';
import type { MessageContext } from '../../../host/core/context.js';
import { Clock, context, contactExpires, hostApi, LOCAL, log, register, request, SRC, type Fn, type Sent } from '../../unit/registrar/helpers.js';

const DB_NAME = 'siphon_test_registrar';
const URL = `mysql://root@127.0.0.1:3306/${DB_NAME}`;
/** the socket column of rows saved with LOCAL as the receiving socket (Kamailio's proto:host:port). */
const LOCAL_SOCKET = `${LOCAL.proto}:${LOCAL.address}:${LOCAL.port}`;

let admin: mysql.Connection;
const toClose: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  admin = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME}`);
  await admin.query(`CREATE DATABASE ${DB_NAME}`);
  await admin.query(`USE ${DB_NAME}`);
});

afterAll(async () => {
  for (const f of toClose.reverse()) await f().catch(() => undefined);
  await admin.end();
});

async function node(db: Database, over: Partial<RegistrarConfig>, clock = new Clock()): Promise<Registrar> {
  const reg = await startRegistrar(resolveRegistrarConfig({ timer_interval: 3600, ...over }), db, log, clock.now);
  toClose.push(() => stopRegistrar(reg));
  return reg;
}

async function mysqlDb(url = URL): Promise<Database> {
  const db = await openDatabase(url, { dataDir: tmpdir(), log });
  toClose.push(() => db.close());
  return db;
}

describe('location table schema', () => {
  it('is Kamailio location v9: columns, types, defaults, indexes, version row', async () => {
    const db = await mysqlDb();
    await node(db, { db_mode: 3 });
    const [cols] = await admin.query<mysql.RowDataPacket[]>(
      `SELECT COLUMN_NAME n, COLUMN_TYPE t, IS_NULLABLE nul, COLUMN_DEFAULT d FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'location' ORDER BY ORDINAL_POSITION`,
      [DB_NAME],
    );
    const summary = cols.map((c) => `${c.n} ${c.t} ${c.nul === 'YES' ? 'null' : 'notnull'} ${c.d}`);
    expect(summary).toEqual([
      'id int(10) unsigned notnull null',
      "ruid varchar(64) notnull ''",
      "username varchar(64) notnull ''",
      'domain varchar(64) null NULL',
      "contact varchar(512) notnull ''",
      'received varchar(128) null NULL',
      'path varchar(512) null NULL',
      "expires datetime notnull '2030-05-28 21:32:15'",
      'q float(10,2) notnull 1.00',
      "callid varchar(255) notnull 'Default-Call-ID'",
      'cseq int(11) notnull 1',
      "last_modified datetime notnull '2000-01-01 00:00:01'",
      'flags int(11) notnull 0',
      'cflags int(11) notnull 0',
      "user_agent varchar(255) notnull ''",
      'socket varchar(64) null NULL',
      'methods int(11) null NULL',
      'instance varchar(255) null NULL',
      'reg_id int(11) notnull 0',
      'server_id int(11) notnull 0',
      'connection_id int(11) notnull 0',
      'keepalive int(11) notnull 0',
      'partition int(11) notnull 0',
    ]);
    const [idx] = await admin.query<mysql.RowDataPacket[]>(
      `SELECT INDEX_NAME i, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) c, MAX(NON_UNIQUE) nu FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'location' GROUP BY INDEX_NAME ORDER BY INDEX_NAME`,
      [DB_NAME],
    );
    expect(idx.map((r) => `${r.i}(${r.c})${Number(r.nu) === 0 ? ' unique' : ''}`)).toEqual([
      'account_contact_idx(username,domain,contact)',
      'connection_idx(server_id,connection_id)',
      'expires_idx(expires)',
      'PRIMARY(id) unique',
      'ruid_idx(ruid) unique',
      'tcpcon_idx(connection_id)',
    ]);
    const [ver] = await admin.query<mysql.RowDataPacket[]>(`SELECT table_version FROM version WHERE table_name = 'location'`);
    expect(ver[0]!.table_version).toBe(9);
  });
});

describe('db_mode 3: two nodes share one table', () => {
  it('a contact saved on node A is found by lookup on node B, and B sees A remove it', async () => {
    const clock = new Clock();
    clock.t = Math.floor(Date.now() / 1000);
    const a = await node(await mysqlDb(), { db_mode: 3, use_domain: true, server_id: 1 }, clock);
    const b = await node(await mysqlDb(), { db_mode: 3, use_domain: true, server_id: 2 }, clock);
    await admin.query('DELETE FROM location');

    const saved = await a.save('location', register({ to: 'sip:Carol@Example.com', contacts: ['<sip:carol@127.0.0.1:18520>;q=0.8', '<sip:carol@127.0.0.1:18521>;expires=300'], expires: 900 }), SRC, LOCAL);
    expect(saved.code).toBe(1);
    expect(contactExpires(saved.reply.headers)).toEqual({ 'sip:carol@127.0.0.1:18520': 900, 'sip:carol@127.0.0.1:18521': 300 });

    const found = await b.lookup('location', request('INVITE', 'sip:carol@example.com'));
    expect(found.code).toBe(1);
    expect(found.ruri).toBe('sip:carol@127.0.0.1:18520');
    expect(found.branches.map((x) => x.uri)).toEqual(['sip:carol@127.0.0.1:18521']);
    expect(await b.registered('location', 'sip:carol@example.com')).toBe(1);

    // the rows carry node A's server_id and Kamailio's column formats
    const [rows] = await admin.query<mysql.RowDataPacket[]>('SELECT username, domain, contact, q, server_id, socket, callid, cseq FROM location ORDER BY contact');
    expect(rows.map((r) => [r.username, r.domain, r.contact, Number(r.q), r.server_id, r.socket, r.callid, r.cseq])).toEqual([
      ['carol', 'example.com', 'sip:carol@127.0.0.1:18520', 0.8, 1, LOCAL_SOCKET, 'reg-call-1', 1],
      // no q: written as -1, as Kamailio's usrloc writes Q_UNSPECIFIED (test/oracle/registrar.test.ts)
      ['carol', 'example.com', 'sip:carol@127.0.0.1:18521', -1, 1, LOCAL_SOCKET, 'reg-call-1', 1],
    ]);

    // node B refreshes one contact (CSeq ordering is checked against A's row), node A sees it
    const upd = await b.save('location', register({ to: 'sip:carol@example.com', cseq: 2, contacts: ['<sip:carol@127.0.0.1:18521>;expires=600'] }), SRC, LOCAL);
    expect(upd.code).toBe(2);
    const old = await b.save('location', register({ to: 'sip:carol@example.com', cseq: 1, contacts: ['<sip:carol@127.0.0.1:18521>;expires=0'] }), SRC, LOCAL);
    expect(old.code).toBe(4);
    const q = await a.save('location', register({ to: 'sip:carol@example.com', cseq: 3 }), SRC, LOCAL);
    expect(contactExpires(q.reply.headers)['sip:carol@127.0.0.1:18521']).toBe(600);

    // node A unregisters everything with `*`; node B finds nothing
    const star = await a.save('location', register({ to: 'sip:carol@example.com', cseq: 4, contacts: ['*'], expires: 0 }), SRC, LOCAL);
    expect(star.code).toBe(3);
    expect((await b.lookup('location', request('INVITE', 'sip:carol@example.com'))).code).toBe(-1);
  });

  it('max_contacts counts the contacts other nodes stored', async () => {
    const a = await node(await mysqlDb(), { db_mode: 3, max_contacts: 1 });
    const b = await node(await mysqlDb(), { db_mode: 3, max_contacts: 1 });
    await admin.query('DELETE FROM location');
    expect((await a.save('location', register({ to: 'sip:dave@example.com', contacts: ['<sip:dave@h1>'] }), SRC, LOCAL)).code).toBe(1);
    const r = await b.save('location', register({ to: 'sip:dave@example.com', callId: 'b', contacts: ['<sip:dave@h2>'] }), SRC, LOCAL);
    expect(r.code).toBe(-2);
    expect(r.reply.code).toBe(503);
  });

  it('the timer deletes expired rows from the shared table', async () => {
    const clock = new Clock();
    clock.t = Math.floor(Date.now() / 1000);
    const a = await node(await mysqlDb(), { db_mode: 3 }, clock);
    await admin.query('DELETE FROM location');
    await a.save('location', register({ to: 'sip:erin@example.com', contacts: ['<sip:erin@h1>;expires=60', '<sip:erin@h2>;expires=3600'] }), SRC, LOCAL);
    clock.advance(120);
    expect(await a.table('location')!.sweep()).toBe(1);
    const [rows] = await admin.query<mysql.RowDataPacket[]>('SELECT contact FROM location');
    expect(rows.map((r) => r.contact)).toEqual(['sip:erin@h2']);
  });

  it('ul.* RPCs read and write the shared table', async () => {
    const a = await node(await mysqlDb(), { db_mode: 3 });
    const b = await node(await mysqlDb(), { db_mode: 3 });
    await admin.query('DELETE FROM location');
    const rpcA = new Map(registrarRpcMethods(a).map((m) => [m.name, m]));
    const rpcB = new Map(registrarRpcMethods(b).map((m) => [m.name, m]));
    await rpcA.get('ul.add')!.handler(['location', 'frank', 'sip:frank@127.0.0.1:18530', 0, 0.5, '0', 0, 0, 4294967295]);
    const looked = (await rpcB.get('ul.lookup')!.handler(['location', 'frank'])) as { AoR: string; Contacts: Array<{ Contact: Record<string, unknown> }> };
    expect(looked.AoR).toBe('frank');
    expect(looked.Contacts[0]!.Contact).toMatchObject({ Address: 'sip:frank@127.0.0.1:18530', Expires: 'permanent', Q: 0.5, 'User-Agent': 'SIP Router MI Server' });
    expect(await rpcB.get('ul.db_contacts')!.handler(['location'])).toBe(1);
    await rpcB.get('ul.rm_contact')!.handler(['location', 'frank', 'sip:frank@127.0.0.1:18530']);
    await expect(rpcA.get('ul.lookup')!.handler(['location', 'frank'])).rejects.toMatchObject({ faultCode: 500, message: 'AOR not found in location table' });
  });
});

describe('db_mode 3 from plugins', () => {
  it('serves the registrar imports from a prefetched snapshot and writes through to the shared table', async () => {
    const a = await node(await mysqlDb(), { db_mode: 3 });
    const b = await node(await mysqlDb(), { db_mode: 3 });
    await admin.query('DELETE FROM location');
    let ctx: MessageContext | null = null;
    const { api, str } = hostApi(() => ctx);
    const fa = new RegistrarImports(a).functions(api) as unknown as Record<string, Fn>;
    const fb = new RegistrarImports(b).functions(api) as unknown as Record<string, Fn>;
    const [tp, tl] = str('location');

    // without prefetch the synchronous import cannot reach the DB
    const sent: Sent[] = [];
    const reg1 = register({ to: 'sip:jack@example.com', contacts: ['<sip:jack@127.0.0.1:18550>;q=0.5', '<sip:jack@127.0.0.1:18551>;q=0.9'], expires: 500 });
    ctx = context(reg1, sent);
    expect(fa.save!(tp, tl, 0)).toBe(-6);
    await a.prefetch(reg1);
    expect(fa.save!(tp, tl, 0)).toBe(1);
    // the 200 waits for the rows (Kamailio's DB_ONLY save writes, then replies)
    expect(sent).toEqual([]);
    await a.table('location')!.flush();
    await new Promise((r) => setImmediate(r));
    expect(sent.map((r) => r.code)).toEqual([200]);
    expect(Object.keys(contactExpires(sent[0]!.headers))).toEqual(['sip:jack@127.0.0.1:18551', 'sip:jack@127.0.0.1:18550']);
    const [committed] = await admin.query<mysql.RowDataPacket[]>("SELECT contact FROM location WHERE username = 'jack'");
    expect(committed).toHaveLength(2);

    const inv = request('INVITE', 'sip:jack@example.com');
    await b.prefetch(inv);
    ctx = context(inv, []);
    expect(fb.lookup!(tp, tl)).toBe(1);
    expect(inv.requestUri).toBe('sip:jack@127.0.0.1:18551');
    expect(ctx.branches).toEqual(['sip:jack@127.0.0.1:18550']);
    expect(fb.registered!(tp, tl)).toBe(1);
  });
});

describe('db_mode 1: write-through', () => {
  it('writes rows that a reload (a new node) sees', async () => {
    await admin.query('DELETE FROM location');
    const clock = new Clock();
    clock.t = Math.floor(Date.now() / 1000);
    const first = await node(await mysqlDb(), { db_mode: 1 }, clock);
    first.saveSync('location', register({ to: 'sip:gina@example.com', contacts: ['<sip:gina@h1>;q=0.3', '<sip:gina@h2>;q=0.9'], expires: 700 }), SRC, LOCAL);
    first.saveSync('location', register({ to: 'sip:gina@example.com', cseq: 2, contacts: ['<sip:gina@h1>;q=0.4'], expires: 800 }), SRC, LOCAL);
    await first.table('location')!.flush();
    const [rows] = await admin.query<mysql.RowDataPacket[]>('SELECT contact, q, cseq FROM location ORDER BY contact');
    expect(rows.map((r) => [r.contact, Number(r.q), r.cseq])).toEqual([
      ['sip:gina@h1', 0.4, 2],
      ['sip:gina@h2', 0.9, 1],
    ]);
    await stopRegistrar(first);

    const reloaded = await node(await mysqlDb(), { db_mode: 1 }, clock);
    const r = reloaded.lookupSync('location', request('INVITE', 'sip:gina@example.com'));
    expect(r.code).toBe(1);
    expect(r.ruri).toBe('sip:gina@h2');
    expect(r.branches.map((x) => x.uri)).toEqual(['sip:gina@h1']);
    const q = reloaded.saveSync('location', register({ to: 'sip:gina@example.com', cseq: 3 }), SRC, LOCAL);
    expect(contactExpires(q.reply.headers)).toEqual({ 'sip:gina@h2': 700, 'sip:gina@h1': 800 });
  });

  it('keeps serving from memory when the database goes away', async () => {
    await admin.query('DELETE FROM location');
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(3306, '127.0.0.1');
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    // a TCP relay to MariaDB that the test can kill, on a port the OS picks
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyPort = (proxy.address() as net.AddressInfo).port;
    const closeProxy = () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => resolve());
      });
    toClose.push(closeProxy);

    const db = await mysqlDb(`mysql://root@127.0.0.1:${proxyPort}/${DB_NAME}`);
    const reg = await node(db, { db_mode: 1 });
    expect(reg.saveSync('location', register({ to: 'sip:hank@example.com', contacts: ['<sip:hank@h1>'] }), SRC, LOCAL).code).toBe(1);
    await reg.table('location')!.flush();
    const [before] = await admin.query<mysql.RowDataPacket[]>('SELECT contact FROM location');
    expect(before.map((r) => r.contact)).toEqual(['sip:hank@h1']);

    await closeProxy(); // the database is gone for this node

    const r = await reg.save('location', register({ to: 'sip:hank@example.com', callId: 'second', contacts: ['<sip:hank@h2>;q=1'] }), SRC, LOCAL);
    expect(r.code).toBe(1);
    expect(r.reply.code).toBe(200);
    const found = reg.lookupSync('location', request('INVITE', 'sip:hank@example.com'));
    expect(found.code).toBe(1);
    expect(found.ruri).toBe('sip:hank@h2');
    expect(found.branches.map((b) => b.uri)).toEqual(['sip:hank@h1']);
    expect(reg.table('location')!.counters.dbWriteErrors).toBeGreaterThan(0);
  });

  it('works on the embedded store too', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'siphon-reg-'));
    toClose.push(async () => rmSync(dir, { recursive: true, force: true }));
    const db1 = await openDatabase(null, { dataDir: dir });
    const one = await node(db1, { db_mode: 1 });
    one.saveSync('location', register({ to: 'sip:ivy@example.com', contacts: ['<sip:ivy@h1>;q=0.2', '<sip:ivy@h2>;q=0.6'] }), SRC, LOCAL);
    await stopRegistrar(one);
    const two = await node(await openDatabase(null, { dataDir: dir }), { db_mode: 1 });
    const r = two.lookupSync('location', request('INVITE', 'sip:ivy@example.com'));
    expect(r.ruri).toBe('sip:ivy@h2');
    expect(r.branches.map((x) => x.uri)).toEqual(['sip:ivy@h1']);
  });
});
