/**
 * The next-hop DNS cache stays bounded whatever names requests carry (host/proxy/resolver.ts):
 * LRU at max_entries, TTL and negative TTL, lookups in flight capped, over-long names refused.
 */
import { describe, expect, it } from 'vitest';
import { Resolver, type LookupFunction } from '../../../host/proxy/resolver.js';

/** a resolver whose lookups answer at once: name-N -> 10.(N>>16).(N>>8).N */
const instant: LookupFunction = (host, cb) => {
  const m = /^name-(\d+)\./.exec(host);
  if (m === null) return cb(new Error('ENOTFOUND'), '', 0);
  const n = Number(m[1]);
  cb(null, `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, 4);
};

describe('Resolver cache bounds', () => {
  it('stays at max_entries under 100,000 distinct names, evicting the least recently used', async () => {
    const r = new Resolver({ lookup: instant, maxEntries: 1000 });
    await r.resolve('name-0.example');
    let maxSize = 0;
    for (let i = 1; i <= 100_000; i++) {
      void r.resolve(`name-${i}.example`); // the lookup answers synchronously: cached at once
      if (r.size > maxSize) maxSize = r.size;
      if (i % 500 === 0 && r.resolveCached('name-0.example') === undefined) throw new Error(`name-0 evicted at ${i} although used`);
    }
    expect(maxSize).toBe(1000);
    expect(r.size).toBe(1000);
    expect(r.stats.evicted).toBe(100_001 - 1000);
    expect(r.resolveCached('name-1.example')).toBeUndefined(); // long evicted
    expect(r.resolveCached('name-100000.example')).toEqual({ address: '10.1.134.160', family: 4 });
    expect(r.resolveCached('name-0.example')).toEqual({ address: '10.0.0.0', family: 4 });
  });

  it('answers expire after ttl, failures after negative_ttl', async () => {
    let t = 0;
    let calls = 0;
    const counting: LookupFunction = (h, cb) => {
      calls++;
      instant(h, cb);
    };
    const r = new Resolver({ lookup: counting, ttlMs: 1000, negativeTtlMs: 100, now: () => t });
    expect(await r.resolve('name-7.example')).toEqual({ address: '10.0.0.7', family: 4 });
    expect(await r.resolve('nope.example')).toBeNull();
    t = 500;
    expect(r.resolveCached('name-7.example')).not.toBeUndefined();
    expect(r.resolveCached('nope.example')).toBeUndefined(); // negative entry expired
    t = 1500;
    expect(r.resolveCached('name-7.example')).toBeUndefined();
    await r.resolve('name-7.example');
    expect(calls).toBe(3);
  });

  it('refuses lookups past max_pending without caching them, and names longer than 253 characters', async () => {
    const hung: LookupFunction = () => {}; // a resolver that never answers
    const r = new Resolver({ lookup: hung, maxPending: 4 });
    const pending = [1, 2, 3, 4].map((i) => r.resolve(`slow-${i}.example`));
    expect(r.pending).toBe(4);
    expect(await r.resolve('slow-5.example')).toBeNull();
    expect(r.stats.busy).toBe(1);
    expect(r.size).toBe(0);
    expect(r.pending).toBe(4);
    expect(r.resolveCached(`${'a'.repeat(254)}.example`)).toBeNull();
    expect(await r.resolve('a'.repeat(70_000))).toBeNull();
    expect(r.stats.lookups).toBe(4);
    void pending;
  });
});
