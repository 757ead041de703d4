/**
 * The pike table: Kamailio's two-window counting and red/unblock rules, the minimum block time,
 * expiry after remove_latency, and the bound (max_entries) with its eviction policy.
 */
import { describe, expect, it } from 'vitest';
import { PIKE_BLOCKED, PIKE_NEW_BLOCK, PIKE_OK, PikeTable, type PikeTableOptions } from '../../../host/modules/pike/table.js';

const W = 2000; // sampling_time_unit 2 s

function table(o: Partial<PikeTableOptions> = {}): PikeTable {
  return new PikeTable({ capacity: 1024, windowMs: W, maxHits: 30, latencyMs: 120_000, blockMs: 0, ...o });
}

/** `n` hits of `ip` at time `t`; returns the verdicts. */
function hits(t: PikeTable, ip: string, n: number, now: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(t.hit(ip, now));
  return out;
}

describe('pike table: rate window and blocking (Kamailio pike semantics)', () => {
  it('answers 1 below reqs_density_per_unit, -2 on the request that reaches it, -1 afterwards', () => {
    const t = table();
    const v = hits(t, '192.0.2.7', 32, 10);
    expect(v.slice(0, 29).every((x) => x === PIKE_OK)).toBe(true);
    expect(v[29]).toBe(PIKE_NEW_BLOCK);
    expect(v[30]).toBe(PIKE_BLOCKED);
    expect(v[31]).toBe(PIKE_BLOCKED);
    expect(t.counters.blocked).toBe(1);
    expect(t.blockedCount).toBe(1);
  });

  it('counts per source: another address is not affected', () => {
    const t = table();
    hits(t, '192.0.2.7', 40, 10);
    expect(t.hit('192.0.2.8', 10)).toBe(PIKE_OK);
  });

  it('a rate spread over windows under the limit is never blocked', () => {
    const t = table();
    for (let w = 0; w < 50; w++) expect(hits(t, '192.0.2.7', 29, w * W + 5).every((x) => x === PIKE_OK)).toBe(true);
    expect(t.counters.blocked).toBe(0);
  });

  it('stays blocked while the flood goes on, and is unblocked once a whole window stays under the limit', () => {
    const t = table();
    hits(t, '192.0.2.7', 30, 10); // window 0: blocked
    expect(hits(t, '192.0.2.7', 40, W + 10).every((x) => x === PIKE_BLOCKED)).toBe(true); // window 1: still flooding
    // window 2: the previous window had 40 hits (hot): still blocked
    expect(t.hit('192.0.2.7', 2 * W + 10)).toBe(PIKE_BLOCKED);
    // window 3: previous window had 1 hit: unblocked
    expect(t.hit('192.0.2.7', 3 * W + 10)).toBe(PIKE_OK);
    expect(t.blockedCount).toBe(0);
    expect(t.counters.unblocked).toBe(1);
  });

  it('a quiet blocked source is unblocked by the sweep (Kamailio swap_routine)', () => {
    const unblocked: string[] = [];
    const t = table({ onUnblock: (a) => unblocked.push(a) });
    hits(t, '192.0.2.7', 30, 10);
    t.sweep(W + 10); // previous window hot: stays
    expect(t.blockedCount).toBe(1);
    t.sweep(2 * W + 10);
    expect(t.blockedCount).toBe(0);
    expect(unblocked).toEqual(['192.0.2.7']);
  });

  it('block_time keeps a source blocked at least that long, even once it is quiet', () => {
    const t = table({ blockMs: 300_000 });
    hits(t, '192.0.2.7', 30, 10);
    t.sweep(10 * W);
    expect(t.hit('192.0.2.7', 100_000)).toBe(PIKE_BLOCKED);
    t.sweep(299_000);
    expect(t.blockedCount).toBe(1);
    t.sweep(300_010 + W);
    expect(t.blockedCount).toBe(0);
    expect(t.hit('192.0.2.7', 302_000 + 2 * W)).toBe(PIKE_OK);
  });

  it('unblock() releases a source at once and restarts its counters', () => {
    const t = table({ blockMs: 300_000 });
    hits(t, '192.0.2.7', 35, 10);
    expect(t.unblock('192.0.2.7', 20)).toBe(true);
    expect(t.unblock('192.0.2.7', 20)).toBe(false);
    expect(t.unblock('192.0.2.99', 20)).toBe(false);
    expect(t.hit('192.0.2.7', 30)).toBe(PIKE_OK);
    expect(hits(t, '192.0.2.7', 29, 40).at(-1)).toBe(PIKE_NEW_BLOCK);
  });
});

describe('pike table: bounded size, expiry and eviction', () => {
  it('removes sources idle for remove_latency (sweep)', () => {
    const t = table({ latencyMs: 4000 });
    t.hit('192.0.2.1', 0);
    t.hit('192.0.2.2', 3000);
    t.sweep(4000);
    expect(t.size).toBe(1);
    t.sweep(7000);
    expect(t.size).toBe(0);
    expect(t.counters.expired).toBe(2);
  });

  it('never holds more than max_entries sources, whatever number of addresses is sent', () => {
    const t = table({ capacity: 64 });
    for (let i = 0; i < 10_000; i++) t.hit(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, i);
    expect(t.size).toBe(64);
    expect(t.counters.evicted).toBe(10_000 - 64);
  });

  it('a flooding source that keeps sending is not evicted by a spoofed spray of new sources', () => {
    const t = table({ capacity: 64 });
    let blockedAt = -1;
    for (let i = 0; i < 40; i++) {
      // between two requests of the flooder, 60 one-shot spoofed sources (fewer than the table holds)
      for (let k = 0; k < 60; k++) t.hit(`10.1.${i}.${k}`, 100 + i);
      if (t.hit('192.0.2.66', 100 + i) === PIKE_NEW_BLOCK) blockedAt = i;
    }
    expect(blockedAt).toBe(29);
    expect(t.hit('192.0.2.66', 200)).toBe(PIKE_BLOCKED);
  });

  it('blocked sources are never evicted; with every slot blocked a new source is untracked (answered 1)', () => {
    const t = table({ capacity: 16, maxHits: 2 });
    for (let i = 0; i < 16; i++) hits(t, `10.0.0.${i}`, 2, 10);
    expect(t.blockedCount).toBe(16);
    for (let i = 0; i < 100; i++) expect(t.hit(`10.9.9.${i}`, 20)).toBe(PIKE_OK);
    expect(t.counters.untracked).toBe(100);
    for (let i = 0; i < 16; i++) expect(t.hit(`10.0.0.${i}`, 30)).toBe(PIKE_BLOCKED);
    expect(t.size).toBe(16);
  });

  it('forEach reports counters as of now (lazy windows) and blockedOnly walks the blocked sources', () => {
    const t = table({ latencyMs: 10_000 });
    hits(t, '192.0.2.1', 30, 10);
    hits(t, '192.0.2.2', 8, 10);
    const all: string[] = [];
    t.forEach(W + 10, false, (v) => all.push(`${v.address}:${v.hitsPrev}/${v.hitsCurr}:${v.blocked ? 'B' : '-'}${v.hot ? 'H' : ''}${v.warm ? 'W' : ''}`));
    expect(all.sort()).toEqual(['192.0.2.1:30/0:BH', '192.0.2.2:8/0:-']);
    const blocked: string[] = [];
    t.forEach(10, true, (v) => blocked.push(v.address));
    expect(blocked).toEqual(['192.0.2.1']);
  });

  it('clear() empties the table and every slot is usable again', () => {
    const t = table({ capacity: 4, maxHits: 2 });
    for (let i = 0; i < 4; i++) hits(t, `10.0.0.${i}`, 2, 10);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.blockedCount).toBe(0);
    for (let i = 0; i < 4; i++) expect(t.hit(`10.0.1.${i}`, 10)).toBe(PIKE_OK);
    expect(t.size).toBe(4);
  });
});
