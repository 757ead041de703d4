/**
 * htable against hostile use: keys a peer chooses flooding a table (it stops at max_entries and
 * max_bytes, nothing else changes), huge keys and values (refused before they are read), hostile
 * match patterns (refused, never run), and a mass expiry (the sweep is O(expired) and spread over
 * loop turns of at most SWEEP_BUDGET items, so the event loop keeps turning).
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { Htable, HtableImports, MatchOp, SWEEP_BUDGET, resolveHtableConfig } from '../../host/modules/htable/index.js';
import type { MessageContext } from '../../host/core/context.js';
import type { HostCallApi } from '../../host/wasm/types.js';

const log = pino({ level: 'silent' });

function imports(ht: Htable) {
  const mem = Buffer.alloc(4 << 20);
  let gas = 0;
  const api: HostCallApi = {
    current: () => ({}) as MessageContext,
    hook: () => 'request_route',
    readString: (p, l) => (p < 0 || l < 0 || l > 65536 || p + l > mem.length ? null : ((gas += l > 64 ? Math.ceil(l / 8) : 0), mem.toString('utf8', p, p + l))),
    writeString: (_o, _c, v) => Buffer.byteLength(v),
    charge: (u) => void (gas += u),
  };
  const f = new HtableImports(ht).functions(api) as unknown as Record<string, (...a: number[]) => number>;
  let top = 0;
  const s = (v: string): [number, number] => {
    const n = mem.write(v, top);
    const r: [number, number] = [top, n];
    top = (top + n) % (3 << 20);
    return r;
  };
  return { f, s, mem, gas: () => gas };
}

describe('htable under hostile use', () => {
  it('a flood of distinct keys stops at max_entries; existing items keep working', () => {
    const ht = new Htable(resolveHtableConfig({ tables: [{ name: 'ipban', max_entries: 1000 }] }).tables, { log });
    const { f, s } = imports(ht);
    f.sht_seti!(...s('ipban'), ...s('10.0.0.1'), 1);
    let refused = 0;
    for (let i = 0; i < 100_000; i++) if (f.sht_seti!(...s('ipban'), ...s(`x${i}`), 1) === -5) refused++;
    expect(ht.table('ipban')!.size).toBe(1000);
    expect(refused).toBe(100_000 - 999);
    expect(ht.statistics().refused_full).toBe(refused);
    expect(f.sht_inc!(...s('ipban'), ...s('10.0.0.1'), 1)).toBe(2);
  });

  it('max_bytes bounds a table of long values before max_entries does', () => {
    const ht = new Htable(resolveHtableConfig({ tables: [{ name: 'c', max_bytes: 1024 * 1024, max_value_length: 1024 }] }).tables, { log });
    const { f, s } = imports(ht);
    const v = 'v'.repeat(1024);
    let stored = 0;
    for (let i = 0; i < 5000; i++) if (f.sht_sets!(...s('c'), ...s(`k${i}`), ...s(v)) === 1) stored++;
    const t = ht.table('c')!;
    expect(t.bytes).toBeLessThanOrEqual(1024 * 1024);
    expect(stored).toBe(t.size);
    expect(stored).toBeLessThan(1024);
    expect(ht.statistics().refused_bytes).toBe(5000 - stored);
  });

  it('huge keys and values are refused without being read or stored', () => {
    const ht = new Htable(resolveHtableConfig({ tables: ['t=>size=4'] }).tables, { log });
    const { f, s, gas } = imports(ht);
    const g0 = gas();
    expect(f.sht_sets!(...s('t'), 0, 3_000_000, ...s('v'))).toBe(-5); // a 3 MB key: refused on its length
    expect(f.sht_sets!(...s('t'), ...s('k'), 0, 3_000_000)).toBe(-5); // a 3 MB value
    expect(gas() - g0).toBeLessThan(50); // nothing was read or copied
    expect(f.sht_get!(...s('t'), 0, 3_000_000, 0, 0)).toBe(-1);
    expect(ht.table('t')!.size).toBe(0);
  });

  it('hostile patterns are refused before any item is looked at', () => {
    const ht = new Htable(resolveHtableConfig({ tables: [{ name: 'm', max_entries: 100_000 }] }).tables, { log });
    for (let i = 0; i < 50_000; i++) ht.set('m', 'a'.repeat(30) + i, 'a'.repeat(30));
    const { f, s, gas } = imports(ht);
    for (const p of ['(a+)+$', '(a|aa)+b', '^(a*)*$', 'a{1,30}b', '[a]+b']) {
      const g0 = gas();
      expect(f.sht_match_name!(...s('m'), MatchOp.RE, ...s(p)), p).toBe(-2);
      expect(gas() - g0, p).toBeLessThan(10); // the scan (50,000 items) was never charged, so never run
    }
    // the linear ops over 50,000 keys take one pass
    const t0 = performance.now();
    expect(f.sht_match_value!(...s('m'), MatchOp.IN, ...s('a'.repeat(29) + 'b'))).toBe(0);
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('a mass expiry is swept in turns of at most SWEEP_BUDGET items, the loop turning between them', async () => {
    let now = 1_700_000_000_000;
    const ht = new Htable(resolveHtableConfig({ tables: [{ name: 'e', autoexpire: 10, max_entries: 300_000, max_bytes: 1 << 30 }] }).tables, { log, now: () => now });
    for (let i = 0; i < 200_000; i++) ht.set('e', `k${i}`, i);
    for (let i = 0; i < 1000; i++) ht.setExpire('e', `k${i}`, 0); // these stay
    now += 11_000;
    let turns = 0;
    let stop = false;
    const spin = (): void => {
      if (stop) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    const t0 = performance.now();
    const removed = await ht.sweepAll();
    const ms = performance.now() - t0;
    stop = true;
    console.log(`htable sweep: 199,000 expired items in ${ms.toFixed(0)} ms over ${turns} loop turns`);
    expect(removed).toBe(199_000);
    expect(ht.table('e')!.size).toBe(1000);
    // the loop got a turn between every batch
    expect(turns).toBeGreaterThanOrEqual(Math.floor(199_000 / SWEEP_BUDGET) - 1);
    expect(ms).toBeLessThan(5000);
    // a sweep with nothing due costs nothing, however many items wait
    for (let i = 0; i < 100_000; i++) ht.set('e', `n${i}`, i);
    const t1 = performance.now();
    expect(await ht.sweepAll()).toBe(0);
    expect(performance.now() - t1).toBeLessThan(50);
  });
});
