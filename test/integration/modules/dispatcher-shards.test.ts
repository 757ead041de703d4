/**
 * The dispatcher module over several shards (core.workers, host/modules/dispatcher/shards.ts):
 * real DispatcherModule instances for shard 0 and two worker shards, linked by linkedShards(2)
 * (real MessageChannels), probing real UDP gateways on 127.0.0.1 (TinyUas, ports from freePorts()).
 * Shard 0 alone probes and owns the state; plugin marks in a worker, keepalive results, RPC
 * set_state and reload reach every shard.
 */
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { DispatcherModule } from '../../../host/modules/dispatcher/index.js';
import { SetOp } from '../../../host/modules/dispatcher/dispatcher.js';
import { DsTargetList } from '../../../host/modules/dispatcher/failover.js';
import { listSets } from '../../../host/modules/dispatcher/rpc.js';
import { linkedShards } from '../../../host/shards/link.js';
import type { MessageContext } from '../../../host/core/context.js';
import type { HostCallApi } from '../../../host/wasm/types.js';
import { freePorts } from '../../helpers/ports.js';
import { TinyUas } from '../dispatcher/uas.js';

let A = '';
let B = '';
let C = '';
let gws: TinyUas[] = [];
let dir = '';
let listFile = '';
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  const ports = await freePorts(3);
  [A, B, C] = ports.map((p) => `sip:127.0.0.1:${p}`) as [string, string, string];
  gws = ports.slice(0, 2).map((p) => new TinyUas(p));
  dir = mkdtempSync(path.join(tmpdir(), 'siphon-dsshard-'));
  listFile = path.join(dir, 'dispatcher.list');
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** shard 0 and two worker shards, each its own DispatcherModule, over A and B (probed). */
async function shards(config: Record<string, unknown> = {}) {
  writeFileSync(listFile, `1 ${A} 8 0 duid=a;rweight=50\n1 ${B} 8 0 duid=b;rweight=50\n`);
  for (const g of gws) {
    g.received = [];
    g.code = 200;
    await g.start();
    cleanups.push(() => g.stop());
  }
  const link = await linkedShards(2);
  cleanups.push(() => link.close());
  const cfg = { list_file: listFile, flags: 2, ds_probing_mode: 1, ds_ping_fr_timer: 300, ds_ping_interval: 3600, ...config };
  const log = pino({ level: 'silent' });
  const mods: DispatcherModule[] = [];
  // workers start after shard 0's modules finished init (shards-common contract)
  for (const shard of [link.main, ...link.workers]) {
    const m = new DispatcherModule();
    await m.init({ config: cfg, dataDir: dir, log, shard });
    cleanups.push(() => m.close());
    mods.push(m);
  }
  const [main, w1, w2] = mods as [DispatcherModule, DispatcherModule, DispatcherModule];
  const caughtUp = () => Promise.all([w1.caughtUp(), w2.caughtUp()]);
  return { main, w1, w2, workers: [w1, w2], caughtUp };
}

/** `dispatcher.list` of a shard without the per-instance IUID (the rest must be equal everywhere). */
function listing(m: DispatcherModule): unknown {
  const v = listSets(m.dispatcher) as { RECORDS: Array<{ SET: { TARGETS: Array<{ DEST: Record<string, unknown> }> } }> };
  for (const r of v.RECORDS) for (const t of r.SET.TARGETS) delete t.DEST.IUID;
  return v;
}

function letters(m: DispatcherModule): Record<string, string> {
  const v = listSets(m.dispatcher, 'short') as { RECORDS: Array<{ SET: { TARGETS: Array<{ DEST: { URI: string; FLAGS: string } }> } }> };
  return Object.fromEntries(v.RECORDS[0]!.SET.TARGETS.map((t) => [t.DEST.URI, t.DEST.FLAGS]));
}

/** the targets round-robin selection (alg 4) of set 1 reaches in `n` requests. */
function picked(m: DispatcherModule, n: number): Set<string> {
  const out = new Set<string>();
  const list = new DsTargetList();
  for (let i = 0; i < n; i++) {
    const t = { dstUri: null as string | null, requestUri: 'sip:x@y', setRequestUri() {} };
    const msg = { method: 'INVITE', callId: `c${i}`, requestUri: 'sip:x@y', authUsername: () => undefined, hashPvValue: () => undefined };
    if (m.dispatcher.select(msg, t, list, 1, 4, 0, SetOp.DST_URI) === 1) out.add(t.dstUri!);
  }
  return out;
}

/** a plugin's view of one worker: its dispatcher imports over one INVITE's context. */
function pluginCalls(m: DispatcherModule) {
  let ruri = 'sip:bob@example.org';
  const ctx = {
    msg: {
      method: 'INVITE',
      callId: 'shard-call-1',
      from: { uri: 'sip:alice@example.org' },
      to: { uri: 'sip:bob@example.org' },
      get requestUri() {
        return ruri;
      },
      setRequestUri: (u: string) => (ruri = u),
    },
    dstUri: null as string | null,
    vars: new Map<string, string>(),
  } as unknown as MessageContext;
  const mem = Buffer.alloc(256);
  const api = { current: () => ctx, readString: (p: number, l: number) => mem.toString('utf8', p, p + l) } as unknown as HostCallApi;
  const f = m.imports()[0]!.functions(api) as unknown as Record<string, (...a: number[]) => number>;
  const markDst = (state: string): number => f.ds_mark_dst!(0, mem.write(state, 0));
  return { ctx, f, markDst };
}

describe('dispatcher with core.workers', () => {
  it('round robin (alg 4) rotates over one position for every shard, as Kamailio\'s processes share it', async () => {
    const { main, workers, caughtUp } = await shards({});
    const one = (m: DispatcherModule): string => [...picked(m, 1)][0]!;
    // shard 0, a worker, shard 0, the other worker ...: consecutive selections alternate whichever shard made them
    const order = [main, workers[0]!, main, workers[1]!, workers[0]!, main];
    const got = order.map(one);
    for (let i = 1; i < got.length; i++) expect(got[i]).not.toBe(got[i - 1]);
    expect(new Set(got)).toEqual(new Set([A, B]));
    // a reload makes new sets with new shared positions: still one rotation
    await main.dispatcher.reload();
    await caughtUp();
    const after = [workers[0]!, main, workers[1]!, main].map(one);
    for (let i = 1; i < after.length; i++) expect(after[i]).not.toBe(after[i - 1]);
  });

  it('only shard 0 sends keepalives: every OPTIONS at the gateways carries a shard-0 destination From-tag', async () => {
    const { main, workers } = await shards({ ds_ping_interval: 1 });
    // the keepalive timer runs in every shard that would probe: wait for two rounds to arrive
    const deadline = Date.now() + 10_000;
    while (gws.some((g) => g.received.length < 2)) {
      if (Date.now() > deadline) throw new Error('no keepalive rounds reached the gateways');
      await new Promise((r) => setTimeout(r, 20));
    }
    const uids = (m: DispatcherModule) => m.dispatcher.sets.get(1)!.dests.map((d) => d.uid);
    const tagOf = (req: string) => /\r\nFrom: [^\r]*;tag=([^\r;]+)/.exec(req)![1]!;
    const sent = gws.flatMap((g) => g.received.map(tagOf));
    expect(sent.every((tag) => uids(main).some((u) => tag.startsWith(`${u}-`)))).toBe(true);
    for (const w of workers) {
      expect(sent.some((tag) => uids(w).some((u) => tag.startsWith(`${u}-`)))).toBe(false);
      expect(w.statistics().pings_sent).toBe(0);
    }
    expect(main.statistics().pings_sent).toBeGreaterThanOrEqual(4);
  });

  it('a gateway that stops answering goes inactive in shard 0 and both workers skip it; when it answers again every shard uses it', async () => {
    // a reply must beat the keepalive timeout even on a loaded machine: only the silent gateway times out
    const { main, workers, caughtUp } = await shards({ ds_ping_latency_stats: 1, ds_ping_fr_timer: 3000 });
    await main.dispatcher.pingRound();
    await caughtUp();
    for (const w of workers) expect(picked(w, 4)).toEqual(new Set([A, B]));
    gws[1]!.code = 0;
    await main.dispatcher.pingRound();
    expect(letters(main)[B]).toBe('IP');
    await caughtUp();
    for (const w of workers) {
      expect(letters(w)[B]).toBe('IP');
      expect(picked(w, 4)).toEqual(new Set([A]));
      // the latency statistics (algorithm 13 and congestion control read them) are shard 0's
      expect(listing(w)).toEqual(listing(main));
    }
    gws[1]!.code = 200;
    await main.dispatcher.pingRound();
    await caughtUp();
    for (const w of workers) {
      expect(picked(w, 4)).toEqual(new Set([A, B]));
      expect(listing(w)).toEqual(listing(main));
    }
    // dst-down / dst-up happen once, in shard 0
    expect(main.statistics()).toMatchObject({ dst_down_events: 1, dst_up_events: 1 });
    for (const w of workers) expect(w.statistics()).toMatchObject({ dst_down_events: 0, dst_up_events: 0 });
  });

  it("a plugin's ds_mark_dst in worker 1 is seen by that request's ds_next_dst at once, then by shard 0 and worker 2", async () => {
    const { main, w1, w2, caughtUp } = await shards();
    const { ctx, f, markDst } = pluginCalls(w1);
    expect(f.ds_select_dst!(1, 8, 0)).toBe(1);
    const first = ctx.dstUri!;
    const other = first === A ? B : A;
    expect(markDst('ip')).toBe(1);
    // synchronously, before any message crossed threads
    expect(letters(w1)[first]).toBe('IP');
    expect(letters(main)[first]).toBe('AP');
    expect(f.ds_next_dst!()).toBe(1);
    expect(ctx.dstUri).toBe(other);
    await caughtUp();
    expect(letters(main)[first]).toBe('IP');
    expect(letters(w2)[first]).toBe('IP');
    expect(picked(w2, 4)).toEqual(new Set([other]));
    expect(listing(w1)).toEqual(listing(main));
    // the event is shard 0's (Kamailio code 820 for ds_mark_dst)
    expect(main.statistics().dst_down_events).toBe(1);
    expect(w1.statistics().dst_down_events).toBe(0);
  });

  it('RPC dispatcher.set_state and dispatcher.reload run in shard 0 and reach the workers', async () => {
    const { main, workers, caughtUp } = await shards();
    for (const w of workers) expect(w.rpcMethods()).toEqual([]);
    const rpc = (name: string) => main.rpcMethods().find((m) => m.name === name)!.handler;
    expect(await rpc('dispatcher.set_state')(['dx', 1, A])).toBe('Ok. Dispatcher state updated.');
    await caughtUp();
    for (const w of workers) {
      expect(letters(w)[A]).toBe('DX');
      expect(picked(w, 4)).toEqual(new Set([B]));
    }
    writeFileSync(listFile, `1 ${A} 8 0 duid=a\n1 ${B} 8 0 duid=b\n1 ${C} 0 5 duid=c\n`);
    expect(await rpc('dispatcher.reload')([])).toBe('Ok. Dispatcher successfully reloaded.');
    await caughtUp();
    for (const w of workers) {
      // the reloaded list, its order (priority 5 first) and the states from the file
      expect(listing(w)).toEqual(listing(main));
      expect(Object.keys(letters(w))).toEqual([C, B, A]);
      expect(picked(w, 6)).toEqual(new Set([A, B, C]));
    }
    expect(await rpc('dispatcher.add')([1, 'sip:127.0.0.1:9', 0, 0, 'duid=d'])).toBe('Ok. Dispatcher destination added.');
    await caughtUp();
    for (const w of workers) expect(listing(w)).toEqual(listing(main));
  });

  it('a worker that joins while shard 0 changes states ends with exactly shard 0\'s state', async () => {
    writeFileSync(listFile, `1 ${A} 8 0 duid=a\n1 ${B} 8 0 duid=b\n`);
    const link = await linkedShards(1);
    cleanups.push(() => link.close());
    const cfg = { config: { list_file: listFile, flags: 2 }, dataDir: dir, log: pino({ level: 'silent' }) };
    const main = new DispatcherModule();
    await main.init({ ...cfg, shard: link.main });
    cleanups.push(() => main.close());
    const w = new DispatcherModule();
    const joining = w.init({ ...cfg, shard: link.workers[0] });
    cleanups.push(() => w.close());
    // these changes cross the worker's request for the sets: it must neither miss nor replay them
    main.dispatcher.markAddr(1, 1, A);
    await Promise.resolve();
    main.dispatcher.markAddr(0, 1, A);
    main.dispatcher.markAddr(4, 1, B);
    await joining;
    await w.caughtUp();
    expect(letters(w)).toEqual({ [A]: 'AX', [B]: 'DX' });
    expect(listing(w)).toEqual(listing(main));
  });

  it('statistics: workers count their own work and leave the set gauges to shard 0', async () => {
    const { main, w1, w2 } = await shards();
    picked(w1, 3);
    picked(w2, 2);
    const s0 = main.statistics();
    expect(s0).toMatchObject({ sets: 1, targets: 2, targets_active: 2, targets_inactive: 0, selections: 0, reloads: 1 });
    for (const [w, n] of [
      [w1, 3],
      [w2, 2],
    ] as const) {
      const s = w.statistics();
      for (const gauge of ['sets', 'targets', 'targets_active', 'targets_inactive']) expect(s).not.toHaveProperty(gauge);
      expect(s).toMatchObject({ selections: n, reloads: 0, pings_sent: 0 });
    }
  });
});
