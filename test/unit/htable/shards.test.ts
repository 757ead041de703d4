/**
 * htable over several shards (core.workers, host/modules/htable/shard.ts): real HtableModule
 * instances for shard 0 and two worker shards linked by linkedShards(2) (real MessageChannels).
 * Increments from every shard add up exactly in shard 0 and every replica converges to it; RPC
 * writes, resets, refusals and expiry in shard 0 reach the workers; a worker started later takes the
 * items from shard 0.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { HtableModule } from '../../../host/modules/htable/index.js';
import { linkedShards } from '../../../host/shards/link.js';

const log = pino({ level: 'silent' });
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function shards(tables: unknown[] = ['calls=>size=6', { name: 'small', max_entries: 2 }]) {
  const dir = mkdtempSync(path.join(tmpdir(), 'siphon-htshard-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const link = await linkedShards(2);
  cleanups.push(() => link.close());
  const mods: HtableModule[] = [];
  for (const shard of [link.main, ...link.workers]) {
    const m = new HtableModule();
    await m.init({ config: { tables }, dataDir: dir, log, shard });
    cleanups.push(() => m.close());
    mods.push(m);
  }
  const [main, w1, w2] = mods as [HtableModule, HtableModule, HtableModule];
  const caughtUp = () => Promise.all([w1.shardForwarder!.caughtUp(), w2.shardForwarder!.caughtUp()]);
  const rpc = (name: string, params: Array<string | number>) => main.rpcMethods().find((r) => r.name === name)!.handler(params);
  return { main, w1, w2, link, caughtUp, rpc, dir };
}

const value = (m: HtableModule, t: string, k: string) => m.htable.get(t, k)?.value ?? null;

describe('htable with core.workers', () => {
  it('increments from every shard add up exactly in shard 0; every replica converges', async () => {
    const { main, w1, w2, caughtUp } = await shards();
    for (let i = 0; i < 50; i++) {
      w1.htable.inc('calls', 'alice', 1);
      w2.htable.inc('calls', 'alice', 1);
      main.htable.inc('calls', 'alice', 1);
    }
    w2.htable.inc('calls', 'alice', -10);
    // each replica answered from its own copy meanwhile
    expect(value(w1, 'calls', 'alice')).toBeLessThanOrEqual(150);
    await caughtUp();
    await caughtUp(); // a change shard 0 made while applying the last batch
    for (const m of [main, w1, w2]) expect(value(m, 'calls', 'alice')).toBe(140);
    // the node's statistics count each increment once: on the shard that made it
    const incs = [main, w1, w2].reduce((n, m) => n + (m.statistics().incs ?? 0), 0);
    expect(incs).toBe(151);
    expect(w1.statistics().forwarded).toBe(50);
    expect(main.statistics().forwarded).toBe(101);
    expect(w1.statistics().items).toBeUndefined(); // gauges come from shard 0
    expect(main.statistics().items).toBe(1);
  });

  it('writes, removals, match-removals and resets from a worker reach shard 0 and the other worker', async () => {
    const { main, w1, w2, caughtUp } = await shards();
    w1.htable.set('calls', 'ban:1.2.3.4', 'scanner');
    w1.htable.set('calls', 'ban:5.6.7.8', 'scanner');
    w1.htable.set('calls', 'keep', 7);
    await caughtUp();
    expect(value(w2, 'calls', 'ban:1.2.3.4')).toBe('scanner');
    expect(w2.htable.setExpire('calls', 'keep', 100)).not.toBeNull();
    await caughtUp();
    expect(main.htable.get('calls', 'keep')!.expires).toBe(w2.htable.get('calls', 'keep')!.expires);
    expect(w1.htable.get('calls', 'keep')!.expires).toBe(w2.htable.get('calls', 'keep')!.expires);
    const { compileMatcher, MatchOp } = await import('../../../host/modules/htable/index.js');
    expect(w2.htable.removeMatching('calls', 'name', compileMatcher(MatchOp.SW, 'ban:')!, MatchOp.SW, 'ban:')).toBe(2);
    await caughtUp();
    for (const m of [main, w1]) expect(value(m, 'calls', 'ban:5.6.7.8')).toBeNull();
    w1.htable.remove('calls', 'keep');
    await caughtUp();
    expect(value(main, 'calls', 'keep')).toBeNull();
    main.htable.set('calls', 'x', 1);
    w2.htable.reset('calls');
    await caughtUp();
    for (const m of [main, w1, w2]) expect(m.htable.table('calls')!.size).toBe(0);
  });

  it('RPC in shard 0 reaches the workers; workers register no RPC methods', async () => {
    const { w1, w2, caughtUp, rpc } = await shards();
    expect(w1.rpcMethods()).toEqual([]);
    expect(await rpc('htable.seti', ['calls', 'dnd:alice', 1])).toBe('Ok. Key set to new value.');
    await caughtUp();
    expect(value(w2, 'calls', 'dnd:alice')).toBe(1);
    await rpc('htable.flush', ['calls']);
    await caughtUp();
    expect(value(w1, 'calls', 'dnd:alice')).toBeNull();
  });

  it('a write shard 0 refuses (its table filled first) is undone in the worker that made it', async () => {
    const { main, w1, w2, caughtUp } = await shards();
    main.htable.set('small', 'a', 1);
    main.htable.set('small', 'b', 1);
    // w1 has not seen shard 0's items yet: its replica takes c
    expect(typeof w1.htable.set('small', 'c', 1)).toBe('object');
    await caughtUp();
    await caughtUp();
    for (const m of [main, w1, w2]) expect([...m.htable.table('small')!.all()].map((i) => i.key).sort()).toEqual(['a', 'b']);
    expect(main.statistics().refused_full).toBe(1);
    // now the replica knows: refused locally, nothing forwarded
    expect(w1.htable.set('small', 'd', 1)).toBe('full');
  });

  it('a worker started later takes the items from shard 0', async () => {
    const { main, link, dir } = await shards();
    main.htable.set('calls', 'early', 'yes');
    main.htable.inc('calls', 'n', 41);
    const late = new HtableModule();
    // a worker shard context reused as a late joiner (its port is live)
    await late.init({ config: { tables: ['calls=>size=6', { name: 'small', max_entries: 2 }] }, dataDir: dir, log, shard: link.workers[1]! });
    cleanups.push(() => late.close());
    expect(value(late, 'calls', 'early')).toBe('yes');
    expect(value(late, 'calls', 'n')).toBe(41);
  });
});
