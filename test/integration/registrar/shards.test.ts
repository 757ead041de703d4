/**
 * The registrar with several shards (core.workers): real RegistrarModule instances for shard 0 and
 * two worker shards, linked through real MessageChannels (host/shards/link.ts linkedShards), driven
 * through the plugin imports and the module's prefetcher as the pipeline drives them. Shard 0 holds
 * the tables (memory, write-through on MariaDB, DB only); the workers save and look up through it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2/promise';
import { RegistrarModule } from '../../../host/modules/registrar/index.js';
import { linkedShards } from '../../../host/shards/link.js';
import type { ShardContext } from '../../../host/shards/context.js';
import type { MessageContext } from '../../../host/core/context.js';
import type { RpcValue } from '../../../host/rpc/types.js';
import type { SipMessage } from '../../../host/sip/types.js';
import { Clock, context, contactExpires, hostApi, log, register, request, type Fn, type Sent } from '../../unit/registrar/helpers.js';

const DB_NAME = 'regshard_registrar';
const DB_URL = `mysql://root@127.0.0.1:3306/${DB_NAME}`;

let admin: mysql.Connection;
const cleanup: Array<() => Promise<unknown> | void> = [];

beforeAll(async () => {
  admin = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME}`);
  await admin.query(`CREATE DATABASE ${DB_NAME}`);
});

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

afterAll(async () => {
  await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME}`);
  await admin.end();
});

/** One shard's registrar as the pipeline sees it: prefetch, route through the imports, done. */
class Shard {
  private ctx: MessageContext | null = null;
  private readonly f: Record<string, Fn>;
  private readonly table: [number, number];

  constructor(readonly m: RegistrarModule) {
    const { api, str } = hostApi(() => this.ctx);
    this.f = m.imports()[0]!.functions(api) as unknown as Record<string, Fn>;
    this.table = str('location');
  }

  /** runs `body` in request_route with the module's prefetch around it (server.ts order). */
  private async route(msg: SipMessage, body: (f: Record<string, Fn>, tp: number, tl: number) => number): Promise<{ code: number; ctx: MessageContext; reply: Promise<Sent> }> {
    const p = this.m.prefetcher();
    if (p?.wants(msg)) await p.load(msg);
    let replied!: (s: Sent) => void;
    const reply = new Promise<Sent>((r) => (replied = r));
    const sent: Sent[] = [];
    const ctx = context(msg, sent);
    const slReply = ctx.slReply.bind(ctx);
    ctx.slReply = (code, reason, headers = []) => {
      const ok = slReply(code, reason, headers);
      replied(sent[sent.length - 1]!);
      return ok;
    };
    this.ctx = ctx;
    const code = body(this.f, ...this.table);
    this.ctx = null;
    p?.done?.(msg);
    return { code, ctx, reply };
  }

  /** save(location, flags) and its reply (sent once the change is in shard 0's table). */
  async save(msg: SipMessage, flags = 0): Promise<{ code: number; reply: Sent }> {
    const r = await this.route(msg, (f, tp, tl) => f.save!(tp, tl, flags));
    return { code: r.code, reply: await r.reply };
  }

  /** save with flag 0x02 (no reply); `then` runs right after the import returned, before anything else. */
  async saveQuiet(msg: SipMessage, then: () => void): Promise<number> {
    return (
      await this.route(msg, (f, tp, tl) => {
        const code = f.save!(tp, tl, 0x02);
        then();
        return code;
      })
    ).code;
  }

  /** lookup(location) for an INVITE to `ruri`: the code, the new R-URI, $du and branches. */
  async lookup(ruri: string): Promise<{ code: number; ruri: string; dstUri: string | null; branches: string[] }> {
    const msg = request('INVITE', ruri);
    const r = await this.route(msg, (f, tp, tl) => f.lookup!(tp, tl));
    return { code: r.code, ruri: msg.requestUri, dstUri: r.ctx.dstUri, branches: r.ctx.branches ?? [] };
  }

  async rpc(name: string, params: RpcValue[] = []): Promise<RpcValue> {
    const method = this.m.rpcMethods().find((x) => x.name === name);
    if (!method) throw new Error(`no RPC ${name} in this shard`);
    return method.handler(params);
  }
}

/** shard 0 and two worker shards with `config`, on one clock. */
async function node(config: Record<string, unknown>, clock = new Clock()): Promise<{ main: Shard; w1: Shard; w2: Shard; links: Awaited<ReturnType<typeof linkedShards>> }> {
  const links = await linkedShards(2);
  cleanup.push(() => links.close());
  const start = async (shard: ShardContext): Promise<Shard> => {
    const m = new RegistrarModule({ now: clock.now });
    await m.init({ config: { timer_interval: 3600, ...config }, dataDir: '/nonexistent', log, shard });
    cleanup.push(() => m.close());
    return new Shard(m);
  };
  // workers start after shard 0's modules finished init (its service is there by then)
  const main = await start(links.main);
  const [w1, w2] = [await start(links.workers[0]!), await start(links.workers[1]!)];
  return { main, w1, w2, links };
}

type DumpAor = { Info: { AoR: string; Contacts: Array<{ Contact: Record<string, RpcValue> }> } };

describe('registrar over shards: memory tables in shard 0', () => {
  it('a REGISTER saved on one worker is found by lookup on the other worker and on shard 0; ul.dump lists it', async () => {
    const { main, w1, w2 } = await node({ nat_received: 1 });
    const r = await w2.save(register({ to: 'sip:alice@example.com', contacts: ['<sip:alice@10.0.0.5:5060>;q=0.9', '<sip:alice@10.0.0.6:5060>;q=0.3'], expires: 300 }));
    expect(r.code).toBe(1);
    expect(r.reply.code).toBe(200);
    expect(Object.keys(contactExpires(r.reply.headers))).toEqual(['sip:alice@10.0.0.5:5060', 'sip:alice@10.0.0.6:5060']);

    // another worker: the R-URI's AOR comes from shard 0 by the prefetch; received is the $du (NAT)
    const found = await w1.lookup('sip:alice@example.com');
    expect(found).toEqual({ code: 1, ruri: 'sip:alice@10.0.0.5:5060', dstUri: 'sip:127.0.0.1:18501', branches: ['sip:alice@10.0.0.6:5060'] });
    // shard 0 serves from its memory table, synchronously
    expect((await main.lookup('sip:alice@example.com')).ruri).toBe('sip:alice@10.0.0.5:5060');
    expect(main.m.registrar.table('location')!.memoryBacked).toBe(true);

    const dump = (await main.rpc('ul.dump')) as { AoRs: DumpAor[] };
    expect(dump.AoRs.map((a) => a.Info.AoR)).toEqual(['alice']);
    expect(dump.AoRs[0]!.Info.Contacts.map((c) => [c.Contact.Address, c.Contact.Received])).toEqual([
      ['sip:alice@10.0.0.5:5060', 'sip:127.0.0.1:18501'],
      ['sip:alice@10.0.0.6:5060', 'sip:127.0.0.1:18501'],
    ]);
    // ruids made in a worker carry its shard: no two threads of the process share a prefix
    const ruid = String(dump.AoRs[0]!.Info.Contacts[0]!.Contact.Ruid);
    expect(ruid).toMatch(new RegExp(`^uloc-[0-9a-f]+-${process.pid.toString(16)}\\.2-`));

    // RPCs exist in shard 0 only; gauges of the shared table too, counters where the work was done
    expect(w1.m.rpcMethods()).toEqual([]);
    expect(main.m.statistics()).toMatchObject({ registered_users: 1, registered_contacts: 2, accepted_regs: 0 });
    expect(w2.m.statistics()).toMatchObject({ accepted_regs: 1, rejected_regs: 0 });
    expect(w2.m.statistics()).not.toHaveProperty('registered_users');
    expect(w2.m.statistics()).not.toHaveProperty('registered_contacts');
  });

  it('ul.rm and ul.add in shard 0 change what the workers find', async () => {
    const { main, w1, w2 } = await node({});
    await w1.save(register({ to: 'sip:bob@example.com', contacts: ['<sip:bob@10.0.0.7>'] }));
    expect((await w2.lookup('sip:bob@example.com')).code).toBe(1);
    await main.rpc('ul.rm', ['location', 'bob']);
    expect((await w1.lookup('sip:bob@example.com')).code).toBe(-1);
    expect((await w2.lookup('sip:bob@example.com')).code).toBe(-1);

    await main.rpc('ul.add', ['location', 'bob', 'sip:bob@10.0.0.8', 0, 1, '0', 0, 0, 4294967295]);
    expect((await w2.lookup('sip:bob@example.com')).ruri).toBe('sip:bob@10.0.0.8');
    // the worker's REGISTER lists the binding ul.add made, and keeps it
    const r = await w1.save(register({ to: 'sip:bob@example.com', callId: 'bob-2', contacts: ['<sip:bob@10.0.0.9>'], expires: 60 }));
    expect(Object.keys(contactExpires(r.reply.headers)).sort()).toEqual(['sip:bob@10.0.0.8', 'sip:bob@10.0.0.9']);
  });

  it('unregister with Expires: 0 from a worker removes the binding in shard 0', async () => {
    const { main, w1, w2 } = await node({});
    await w1.save(register({ to: 'sip:carol@example.com', callId: 'carol', contacts: ['<sip:carol@10.0.0.10>', '<sip:carol@10.0.0.11>'], expires: 600 }));
    const r = await w1.save(register({ to: 'sip:carol@example.com', callId: 'carol', cseq: 2, contacts: ['<sip:carol@10.0.0.10>'], expires: 0 }));
    expect(r.code).toBe(3);
    expect(Object.keys(contactExpires(r.reply.headers))).toEqual(['sip:carol@10.0.0.11']);
    expect(main.m.registrar.lookupSync('location', request('INVITE', 'sip:carol@example.com')).ruri).toBe('sip:carol@10.0.0.11');
    // Contact: * with Expires: 0 from the other worker (another Call-ID steers it elsewhere)
    const star = await w2.save(register({ to: 'sip:carol@example.com', callId: 'carol-star', contacts: ['*'], expires: 0 }));
    expect(star.reply.code).toBe(200);
    expect(main.m.registrar.lookupSync('location', request('INVITE', 'sip:carol@example.com')).code).toBe(-1);
    expect(main.m.statistics()).toMatchObject({ registered_users: 0, registered_contacts: 0 });
  });

  it('expiry runs in shard 0; the workers then miss the binding and count nothing expired', async () => {
    const clock = new Clock();
    const { main, w1, w2 } = await node({}, clock);
    await w2.save(register({ to: 'sip:dave@example.com', contacts: ['<sip:dave@10.0.0.12>;expires=60', '<sip:dave@10.0.0.13>;expires=600'] }));
    clock.advance(61);
    expect(await main.m.registrar.table('location')!.sweep()).toBe(1);
    expect(await w1.m.registrar.table('location')!.sweep()).toBe(0);
    expect(await w1.lookup('sip:dave@example.com')).toMatchObject({ code: 1, ruri: 'sip:dave@10.0.0.13', branches: [] });
    expect(main.m.statistics()).toMatchObject({ expired_contacts: 1, registered_contacts: 1 });
    expect(w1.m.statistics()).toMatchObject({ expired_contacts: 0 });
    expect(w2.m.statistics()).toMatchObject({ expired_contacts: 0 });
  });

  it('max_contacts is enforced on the snapshot; max_location_contacts by shard 0 (503 + Retry-After)', async () => {
    const { main, w1, w2 } = await node({ max_contacts: 2, max_location_contacts: 3 });
    await w1.save(register({ to: 'sip:erin@example.com', callId: 'e1', contacts: ['<sip:erin@h1>', '<sip:erin@h2>'] }));
    const tooMany = await w2.save(register({ to: 'sip:erin@example.com', callId: 'e2', contacts: ['<sip:erin@h3>'] }));
    expect(tooMany.code).toBe(-2);
    expect(tooMany.reply.code).toBe(503);
    expect(w2.m.statistics()).toMatchObject({ too_many_contacts: 1, rejected_regs: 1 });

    await w2.save(register({ to: 'sip:fred@example.com', contacts: ['<sip:fred@h1>'] }));
    // the table holds 3 contacts: a new one is refused by shard 0 (E9112), answered as a local save would be
    const full = await w1.save(register({ to: 'sip:gus@example.com', contacts: ['<sip:gus@h1>'] }));
    expect(full.reply).toEqual({ code: 503, reason: 'Service Unavailable', headers: ['Retry-After: 60'] });
    expect(main.m.statistics()).toMatchObject({ location_table_full: 1, registered_contacts: 3 });
    expect(w1.m.statistics()).toMatchObject({ accepted_regs: 1, rejected_regs: 1, location_table_full: 0 });
    expect((await w2.lookup('sip:gus@example.com')).code).toBe(-1);
    // a refresh is not growth: it goes on
    const refresh = await w2.save(register({ to: 'sip:fred@example.com', cseq: 2, contacts: ['<sip:fred@h1>'], expires: 120 }));
    expect(refresh.reply.code).toBe(200);
    expect(contactExpires(refresh.reply.headers)).toEqual({ 'sip:fred@h1': 120 });
  });

  it("a worker's change reaches shard 0 before anything it sends next, even when its reply does not wait", async () => {
    const { main, w1, w2, links } = await node({});
    // what worker 2 posts to shard 0, in order (the real link underneath)
    const caller = links.workers[1]!.main!;
    const call = caller.call.bind(caller);
    const posted: string[] = [];
    caller.call = (service, method, args) => {
      posted.push(method);
      return call(service, method, args);
    };
    // flag 0x02: the plugin sends its own reply right after save() returns, without waiting: the
    // change must already be on the port by then (the port keeps the order, shard 0 relays the reply after applying it)
    let atReturn: string[] = [];
    const code = await w2.saveQuiet(register({ to: 'sip:hal@example.com', contacts: ['<sip:hal@10.0.0.20>'] }), () => (atReturn = [...posted]));
    expect(code).toBe(1);
    expect(atReturn).toEqual(['loadAor', 'apply']);
    // the next thing worker 2 posts (here a call; in the node, the reply to relay) is handled after it
    await caller.call('registrar', 'tables', []);
    expect(main.m.registrar.lookupSync('location', request('INVITE', 'sip:hal@example.com')).ruri).toBe('sip:hal@10.0.0.20');
    expect((await w1.lookup('sip:hal@example.com')).ruri).toBe('sip:hal@10.0.0.20');
  });
});

describe('registrar over shards: shard 0 on MariaDB', () => {
  it('db_mode 1: bindings saved on workers are written once each (one row per binding)', async () => {
    const clock = new Clock();
    clock.t = Math.floor(Date.now() / 1000);
    const { main, w1, w2 } = await node({ db_mode: 1, db_url: DB_URL }, clock);
    await w1.save(register({ to: 'sip:ian@example.com', callId: 'ian-1', contacts: ['<sip:ian@h1>', '<sip:ian@h2>'], expires: 300 }));
    await w2.save(register({ to: 'sip:ian@example.com', callId: 'ian-2', contacts: ['<sip:ian@h3>'], expires: 300 }));
    await w1.save(register({ to: 'sip:ian@example.com', callId: 'ian-1', cseq: 2, contacts: ['<sip:ian@h1>'], expires: 500 }));
    await w2.save(register({ to: 'sip:jo@example.com', contacts: ['<sip:jo@h1>'] }));
    await main.rpc('ul.flush');
    const [rows] = await admin.query<mysql.RowDataPacket[]>(`SELECT username, contact, cseq FROM ${DB_NAME}.location ORDER BY username, contact`);
    expect(rows.map((r) => [r.username, r.contact, r.cseq])).toEqual([
      ['ian', 'sip:ian@h1', 2],
      ['ian', 'sip:ian@h2', 1],
      ['ian', 'sip:ian@h3', 1],
      ['jo', 'sip:jo@h1', 1],
    ]);
    expect(await main.rpc('ul.db_contacts', ['location'])).toBe(4);
    expect((await w2.lookup('sip:ian@example.com')).ruri).toBe('sip:ian@h1');
  });

  it('db_mode 3: the worker writes through shard 0; a failed write is answered 500', async () => {
    const clock = new Clock();
    clock.t = Math.floor(Date.now() / 1000);
    const { main, w1, w2 } = await node({ db_mode: 3, db_url: DB_URL }, clock);
    await admin.query(`DELETE FROM ${DB_NAME}.location`);
    const ok = await w1.save(register({ to: 'sip:kim@example.com', contacts: ['<sip:kim@h1>'] }));
    expect(ok.reply.code).toBe(200);
    const [rows] = await admin.query<mysql.RowDataPacket[]>(`SELECT contact FROM ${DB_NAME}.location WHERE username = 'kim'`);
    expect(rows.map((r) => r.contact)).toEqual(['sip:kim@h1']);
    expect((await w2.lookup('sip:kim@example.com')).ruri).toBe('sip:kim@h1');
    expect(await main.rpc('ul.db_users', ['location'])).toBe(1);

    // the DB refuses inserts (reads still work): shard 0's write fails after the worker's prefetch
    // succeeded, and the worker answers as a local db_mode 3 save does
    await admin.query(`CREATE TRIGGER ${DB_NAME}.refuse_insert BEFORE INSERT ON ${DB_NAME}.location FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'regshard: refused'`);
    cleanup.push(() => admin.query(`DROP TRIGGER IF EXISTS ${DB_NAME}.refuse_insert`));
    const failed = await w2.save(register({ to: 'sip:lou@example.com', contacts: ['<sip:lou@h1>'] }));
    expect(failed.reply.code).toBe(500);
    expect(main.m.statistics()).toMatchObject({ location_db_write_errors: 1 });
    expect(w2.m.statistics()).toMatchObject({ location_db_write_errors: 0 });
    expect((await w1.lookup('sip:lou@example.com')).code).toBe(-1);
  });
});
