import { afterEach, describe, expect, it } from 'vitest';
import { linkedShards } from '../../../host/shards/link.js';

describe('shard link (host/shards/link.ts)', () => {
  let close: (() => void) | null = null;
  afterEach(() => close?.());

  it('a worker calls shard 0 services (sync, async, failing) and receives broadcasts in order', async () => {
    const s = await linkedShards(2);
    close = s.close;
    const table = new Map<string, number>();
    s.main.provide('kv', {
      set: (k: string, v: number) => void table.set(k, v),
      get: (k: string) => table.get(k) ?? null,
      later: async (x: number) => x * 2,
      fail: () => {
        throw Object.assign(new Error('no such key'), { code: 9101 });
      },
    });
    expect(() => s.main.provide('kv', {})).toThrow(/already provided/);
    const w1 = s.workers[0]!;
    const w2 = s.workers[1]!;
    expect([w1.index, w2.index, w1.count]).toEqual([1, 2, 3]);
    await w1.main!.call('kv', 'set', ['a', 7]);
    expect(await w2.main!.call('kv', 'get', ['a'])).toBe(7);
    expect(await w1.main!.call('kv', 'later', [21])).toBe(42);
    await expect(w1.main!.call('kv', 'fail', [])).rejects.toMatchObject({ message: 'no such key', code: 9101 });
    await expect(w1.main!.call('kv', 'nope', [])).rejects.toThrow(/no shard service kv.nope/);
    await expect(w1.main!.call('kv', 'get', [() => 1])).rejects.toThrow();

    const seen: unknown[] = [];
    w2.on('state', (p) => seen.push(p));
    for (let i = 0; i < 5; i++) s.main.broadcast('state', { i });
    // a call posted after the broadcasts is answered after they were delivered (one port, in order)
    expect(await w2.main!.call('kv', 'get', ['a'])).toBe(7);
    expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => ({ i })));
    // workers cannot provide; their broadcast is a no-op
    expect(() => w1.provide('x', {})).toThrow(/only shard 0/);
    w1.broadcast('state', 1);
  });
});
