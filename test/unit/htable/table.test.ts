/**
 * htable's tables, matcher and operations without a node: Kamailio's item semantics (autoexpire,
 * updateexpire, $shtex, $shtinc from initval with 32-bit wrap, a string item refusing an increment),
 * the per-table bounds, the linear matcher's accepted and refused patterns, the expiry wheel and
 * config parsing of Kamailio's definition strings.
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { Htable, compileMatcher, reduceRegex, MatchOp, resolveHtableConfig, parseTableSpec, type HtChange } from '../../../host/modules/htable/index.js';
import { HtTable } from '../../../host/modules/htable/table.js';

const log = pino({ level: 'silent' });
const bounds = { size: 4, autoexpire: 0, updateexpire: 1 as const, max_entries: 100, max_key_length: 16, max_value_length: 32, max_bytes: 10_000 };

function clocked(specs: string[]) {
  let now = 1_000_000_000_000;
  const ht = new Htable(resolveHtableConfig({ tables: specs }).tables, { log, now: () => now });
  return { ht, tick: (ms: number) => (now += ms), now: () => now };
}

describe('config', () => {
  it("parses Kamailio's definition strings and objects; refuses what it cannot honour (E7500)", () => {
    expect(parseTableSpec('a=>size=8;autoexpire=7200;dbtable=htable_a;')).toEqual({ name: 'a', size: 8, autoexpire: 7200, dbtable: 'htable_a' });
    const cfg = resolveHtableConfig({ tables: ['a=>size=1;initval=0', { name: 'b', size: 30, updateexpire: 0 }] });
    expect(cfg.tables[0]).toMatchObject({ name: 'a', size: 2, initval: 0, max_entries: 65536, dbmode: 0 });
    expect(cfg.tables[1]).toMatchObject({ name: 'b', size: 20, updateexpire: 0 });
    expect(() => resolveHtableConfig({ tables: ['a=>cols="x,y"'] })).toThrow(/unknown attribute "cols".*E7500/);
    expect(() => resolveHtableConfig({ tables: ['a=>dmqreplicate=1'] })).toThrow(/dmqreplicate.*E7500/);
    expect(() => resolveHtableConfig({ tables: ['a=>dbmode=1'] })).toThrow(/dbmode=1 needs a dbtable/);
    expect(() => resolveHtableConfig({ tables: ['a=>size=4', 'a=>size=5'] })).toThrow(/defined twice/);
    expect(() => resolveHtableConfig({ tables: ['no arrow'] })).toThrow(/no "name=>"/);
    expect(() => resolveHtableConfig({ tables: ['a=>initval=x'] })).toThrow(/not an integer/);
  });
});

describe('matcher', () => {
  it('reduces the anchored/literal regex forms to linear ops', () => {
    expect(reduceRegex('^alice:')).toEqual({ op: MatchOp.SW, text: 'alice:' });
    expect(reduceRegex('@example\\.com$')).toEqual({ op: MatchOp.EW, text: '@example.com' });
    expect(reduceRegex('^exact$')).toEqual({ op: MatchOp.EQ, text: 'exact' });
    expect(reduceRegex('.*')).toEqual({ op: MatchOp.IN, text: '' });
    expect(reduceRegex('.*mid.*')).toEqual({ op: MatchOp.IN, text: 'mid' });
    expect(reduceRegex('^.*tail$')).toEqual({ op: MatchOp.EW, text: 'tail' });
    expect(reduceRegex('cost\\$')).toEqual({ op: MatchOp.IN, text: 'cost$' });
  });

  it('refuses every pattern that would need a backtracking engine', () => {
    for (const p of ['(a+)+$', 'a|b', '[0-9]+', 'a.b', 'a*', 'x?', 'a{2,}', '^(a|aa)+$', 'trailing\\']) expect(reduceRegex(p), p).toBeNull();
    expect(compileMatcher(MatchOp.RE, '(a+)+$')).toBeNull();
    expect(compileMatcher(42, 'x')).toBeNull();
  });

  it('ops eq ne sw ew in', () => {
    const t = (op: number, p: string, s: string) => compileMatcher(op, p)!(s);
    expect(t(MatchOp.EQ, 'a', 'a')).toBe(true);
    expect(t(MatchOp.NE, 'a', 'a')).toBe(false);
    expect(t(MatchOp.SW, 'al', 'alice')).toBe(true);
    expect(t(MatchOp.EW, 'ce', 'alice')).toBe(true);
    expect(t(MatchOp.IN, 'lic', 'alice')).toBe(true);
    expect(t(MatchOp.RE, '^bo', 'alice')).toBe(false);
  });
});

describe('HtTable', () => {
  it('autoexpire from the insert; updateexpire 1 restarts it on update, 0 keeps it; $shtex per item', () => {
    let now = 1_000_000;
    const restart = new HtTable('r', { ...bounds, autoexpire: 10 }, now);
    const keep = new HtTable('k', { ...bounds, autoexpire: 10, updateexpire: 0 }, now);
    restart.set('x', 1, now);
    keep.set('x', 1, now);
    now += 8000;
    restart.set('x', 2, now);
    keep.set('x', 2, now);
    now += 4000; // 12 s after the insert, 4 s after the update
    expect(restart.get('x', now)?.value).toBe(2);
    expect(keep.get('x', now)).toBeNull();
    // an expired item written again is a new item: autoexpire from now
    keep.set('x', 3, now);
    expect(keep.get('x', now + 9000)?.value).toBe(3);
    expect(restart.setExpire('x', 0, now)!.expires).toBe(0);
    expect(restart.get('x', now + 1e9)?.value).toBe(2);
    expect(restart.setExpire('nope', 5, now)).toBeNull();
  });

  it('refuses past each bound and changes nothing', () => {
    const now = 0;
    const t = new HtTable('t', { ...bounds, max_entries: 2, max_bytes: 60 }, now);
    expect(t.set('k'.repeat(17), 1, now)).toBe('key');
    expect(t.set('a', 'v'.repeat(33), now)).toBe('value');
    expect(typeof t.set('a', 'v'.repeat(32), now)).toBe('object');
    expect(typeof t.set('b', 1, now)).toBe('object');
    expect(t.set('c', 1, now)).toBe('full');
    // an update of an existing key is not a new entry, but still counts against max_bytes
    expect(t.set('b', 'w'.repeat(30), now)).toBe('bytes');
    expect(t.get('b', now)?.value).toBe(1);
    expect(t.size).toBe(2);
    expect(t.bytes).toBe(1 + 32 + 1 + 8);
  });

  it('the sweep takes what is due, at most its budget, in O(expired)', () => {
    let now = 5_000_000;
    const t = new HtTable('t', { ...bounds, max_entries: 100_000, max_bytes: 1e9 }, now);
    for (let i = 0; i < 25_000; i++) t.set(`k${i}`, i, now), t.setExpire(`k${i}`, 1 + (i % 5), now);
    for (let i = 0; i < 1000; i++) t.set(`p${i}`, i, now); // never expire
    now += 3000;
    const gone: string[] = [];
    let n = t.sweep(now, 7000, (it) => gone.push(it.key));
    expect(n).toBe(7000);
    n += t.sweep(now, 100_000, (it) => gone.push(it.key));
    expect(n).toBe(15_000); // the items of seconds 1..3
    expect(t.size).toBe(11_000);
    now += 10_000;
    expect(t.sweep(now, 100_000, () => undefined)).toBe(10_000);
    expect(t.size).toBe(1000);
    expect(t.expiring).toBe(0);
  });
});

describe('Htable operations', () => {
  it('$shtinc starts from initval (else 0), wraps at 32 bits, refuses a string item', () => {
    const { ht } = clocked(['a=>initval=5', 'b=>size=4']);
    expect(ht.inc('a', 'x', 1)).toBe(6);
    expect(ht.inc('b', 'x', -1)).toBe(-1);
    ht.set('b', 'max', 2147483647);
    expect(ht.inc('b', 'max', 1)).toBe(-2147483648);
    ht.set('b', 's', 'text');
    expect(ht.inc('b', 's', 1)).toBe('str');
    expect(ht.inc('nosuch', 'x', 1)).toBeUndefined();
  });

  it('emits the resulting state of every key it changes (what shard 0 broadcasts)', () => {
    const { ht, tick } = clocked(['a=>autoexpire=2']);
    const seen: HtChange[] = [];
    ht.onChange((c) => seen.push(c));
    ht.set('a', 'k1', 'v');
    ht.inc('a', 'k2', 3);
    ht.remove('a', 'k1');
    ht.removeMatching('a', 'name', compileMatcher(MatchOp.SW, 'k')!, MatchOp.SW, 'k');
    ht.set('a', 'k3', 1);
    ht.reset('a');
    expect(seen.map(([t, k, v]) => [t, k, v])).toEqual([
      ['a', 'k1', 'v'],
      ['a', 'k2', 3],
      ['a', 'k1', null],
      ['a', 'k2', null],
      ['a', 'k3', 1],
      ['a', null, null],
    ]);
    ht.set('a', 'k4', 1);
    tick(3000);
    return ht.sweepAll().then((n) => {
      expect(n).toBe(1);
      expect(seen.at(-1)).toEqual(['a', 'k4', null, 0]);
    });
  });

  it('counts matches without removing; a forwarded op is counted once (by the worker)', () => {
    const { ht } = clocked(['a=>size=4']);
    for (const k of ['alice:1', 'alice:2', 'bob:1']) ht.set('a', k, k.length);
    expect(ht.countMatching('a', 'name', compileMatcher(MatchOp.SW, 'alice:')!)).toBe(2);
    expect(ht.countMatching('a', 'value', compileMatcher(MatchOp.EQ, '5')!)).toBe(1);
    const before = ht.statistics();
    ht.applyOp({ o: 'inc', t: 'a', k: 'bob:1', d: 1 }, compileMatcher);
    const after = ht.statistics();
    expect(after.incs).toBe(before.incs);
    expect(after.forwarded).toBe(before.forwarded + 1);
    expect(ht.get('a', 'bob:1')!.value).toBe(6);
  });
});

describe('RPC (Kamailio shapes)', () => {
  it('setxs / setxi set the value and its expire; setex changes it; faults name the problem', async () => {
    const { htableRpcMethods } = await import('../../../host/modules/htable/index.js');
    const { ht, now } = clocked(['a=>autoexpire=3600']);
    const rpc = htableRpcMethods(ht, { reload: async () => 0, store: async () => 0 });
    const call = (name: string, p: Array<string | number>) => rpc.find((m) => m.name === name)!.handler(p);
    expect(await call('htable.setxi', ['a', 'n', 5, 60])).toBe('Ok. Key set to new value.');
    expect(ht.get('a', 'n')!.expires).toBe(now() + 60_000);
    expect(await call('htable.setxs', ['a', 's', 'v', 0])).toBe('Ok. Key set to new value.');
    expect(ht.get('a', 's')!.expires).toBe(0);
    expect(await call('htable.setex', ['a', 's', 10])).toBe('Ok. Key expire set.');
    expect(ht.get('a', 's')!.expires).toBe(now() + 10_000);
    await expect(Promise.resolve().then(() => call('htable.setex', ['a', 'zz', 10]))).rejects.toThrow('Key not found in htable.');
    await expect(Promise.resolve().then(() => call('htable.setxi', ['a', 'n', 'x', 1]))).rejects.toThrow('Not enough parameters');
    await expect(Promise.resolve().then(() => call('htable.seti', ['nosuch', 'n', 1]))).rejects.toThrow('No such htable');
    const got = (await call('htable.get', ['a', 's'])) as { item: Record<string, unknown> };
    expect(got.item).toMatchObject({ name: 's', value: 'v', flags: 2 });
    expect(got.item.expire).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  });
});
