/**
 * host/shards/merge.ts: how the node's answer is made of its shards' answers (core.workers) for the
 * RPC methods that report per-shard counters: plugin.list / plugin.stats rows and the modules'
 * counter structs (auth.stats, secfilter.stats).
 */
import { describe, expect, it } from 'vitest';
import { mergePluginRows, sumCounters } from '../../../host/shards/merge.js';
import type { RpcValue } from '../../../host/rpc/types.js';

const row = (o: { [k: string]: RpcValue }): { [k: string]: RpcValue } => ({
  name: 'lb', version: '1.0.0', sha256: 'aa', state: 'current', pins: 0, calls: 0, traps: 0, aborts: 0, gas_exhausted: 0, timeouts: 0,
  instance_rebuilds: 0, gas_used: 0, gas_avg: 0, recent_failures: 0, hook_samples: 0, hook_avg_us: 0, hook_p50_us: 0, hook_p99_us: 0, hook_max_us: 0, ...o,
});

describe('plugin.list over shards', () => {
  it('adds the counters of the same version, recomputes the averages, keeps the highest percentiles', () => {
    const s0 = [row({ calls: 10, gas_used: 1000, traps: 1, hook_samples: 10, hook_avg_us: 10, hook_p50_us: 8, hook_p99_us: 30, hook_max_us: 40 })];
    const s1 = [row({ calls: 30, gas_used: 6000, traps: 2, hook_samples: 30, hook_avg_us: 20, hook_p50_us: 15, hook_p99_us: 25, hook_max_us: 90 })];
    const [m] = mergePluginRows('plugin.list', s0, [s1]) as Array<{ [k: string]: RpcValue }>;
    expect(m).toMatchObject({ calls: 40, gas_used: 7000, traps: 3, gas_avg: 175, hook_samples: 40, hook_avg_us: 17.5, hook_p50_us: 15, hook_p99_us: 30, hook_max_us: 90 });
    // shard 0's answer is not changed in place
    expect(s0[0]!.calls).toBe(10);
  });

  it('a version only a worker still holds (draining there) is listed as it is', () => {
    const s0 = [row({ sha256: 'bb', calls: 1 })];
    const s1 = [row({ sha256: 'bb', calls: 2 }), row({ sha256: 'aa', state: 'draining', calls: 5, pins: 1 })];
    const rows = mergePluginRows('plugin.list', s0, [s1]) as Array<{ [k: string]: RpcValue }>;
    expect(rows.map((r) => [r.sha256, r.state, r.calls])).toEqual([['bb', 'current', 3], ['aa', 'draining', 5]]);
  });
});

describe('plugin.stats over shards', () => {
  const slot = (o: { [k: string]: RpcValue }, versions: Array<{ [k: string]: RpcValue }>): { [k: string]: RpcValue } => ({
    name: 'lb', path: '/p/lb.wasm', routing: true, backoff_ms: 0, backoff_level: 0, last_event: null, ...o, versions,
  });

  it('one slot: versions merged, the highest backoff, the latest event', () => {
    const e0 = { at: '2026-12-06T01:00:00.000Z', kind: 'load', detail: 'a' };
    const e1 = { at: '2026-12-06T02:00:00.000Z', kind: 'backoff', detail: 'b' };
    const m = mergePluginRows('plugin.stats', slot({ last_event: e0 }, [row({ calls: 4 })]), [slot({ backoff_ms: 900, backoff_level: 2, last_event: e1 }, [row({ calls: 6 })])]) as {
      [k: string]: RpcValue;
    };
    expect(m).toMatchObject({ backoff_ms: 900, backoff_level: 2, last_event: e1 });
    expect((m.versions as Array<{ [k: string]: RpcValue }>)[0]!.calls).toBe(10);
  });

  it('every slot, matched by name', () => {
    const all = mergePluginRows('plugin.stats', [slot({}, [row({ calls: 1 })])], [[slot({}, [row({ calls: 2 })])], [slot({}, [row({ calls: 3 })])]]) as Array<{
      [k: string]: RpcValue;
    }>;
    expect(all).toHaveLength(1);
    expect((all[0]!.versions as Array<{ [k: string]: RpcValue }>)[0]!.calls).toBe(6);
  });
});

describe('module counters over shards (auth.stats, secfilter.stats)', () => {
  it('adds numbers at the same place, structs by key; keys one shard lacks are kept', () => {
    const s0 = { Blacklist: { 'User-Agent': 2, Country: 0 }, Other: { Destination: 1 }, nonces_evicted: 4 };
    const s1 = { Blacklist: { 'User-Agent': 3, Country: 1 }, Other: { Destination: 0 }, replay_unavailable: 2 };
    expect([s1].reduce(sumCounters, s0 as RpcValue)).toEqual({ Blacklist: { 'User-Agent': 5, Country: 1 }, Other: { Destination: 1 }, nonces_evicted: 4, replay_unavailable: 2 });
  });
});
