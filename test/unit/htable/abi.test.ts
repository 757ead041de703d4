/**
 * The `htable` import namespace over a recording HostCallApi (guest memory as a Buffer): statuses,
 * sht_get_int / sht_inc answering 0 with their status in sht_status(), gas charged before scans, hostile lengths refused before
 * they are read, the iterator bound and lifetime.
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { Htable, HtableImports, MAX_ITERATORS, resolveHtableConfig, MatchOp } from '../../../host/modules/htable/index.js';
import type { MessageContext } from '../../../host/core/context.js';
import type { HostCallApi } from '../../../host/wasm/types.js';

const log = pino({ level: 'silent' });
type F = (...a: number[]) => number;

function harness(tables: unknown[] = ['t=>initval=7', { name: 's', max_entries: 3, max_key_length: 8, max_value_length: 16 }]) {
  const ht = new Htable(resolveHtableConfig({ tables }).tables, { log });
  const mem = Buffer.alloc(1 << 20);
  let top = 0;
  let gas = 0;
  let reads = 0;
  let ctx: MessageContext | null = {} as MessageContext;
  const api: HostCallApi = {
    current: () => ctx,
    hook: () => 'request_route',
    readString: (p, l) => {
      reads++;
      if (p < 0 || l < 0 || p + l > mem.length) return null;
      gas += l > 64 ? Math.ceil(l / 8) : 0;
      return mem.toString('utf8', p, p + l);
    },
    writeString: (out, cap, v) => {
      const b = Buffer.from(v);
      if (out < 0 || cap < 0 || out + cap > mem.length) return -3;
      b.copy(mem, out, 0, Math.min(cap, b.length));
      return b.length;
    },
    charge: (u) => void (gas += u),
  };
  const fns = new HtableImports(ht).functions(api) as unknown as Record<string, F>;
  /** puts a string in guest memory: [ptr, len]. */
  const s = (v: string): [number, number] => {
    const b = Buffer.from(v);
    b.copy(mem, top);
    const r: [number, number] = [top, b.length];
    top += b.length;
    return r;
  };
  const out = 900_000;
  const text = (n: number) => mem.toString('utf8', out, out + n);
  return { ht, fns, s, out, text, gas: () => gas, reads: () => reads, setCtx: (c: MessageContext | null) => (ctx = c) };
}

describe('htable imports', () => {
  it('get / sets / seti / rm with Kamailio semantics and ABI statuses', () => {
    const { fns, s, out, text } = harness();
    expect(fns.sht_sets!(...s('t'), ...s('k'), ...s('hello'))).toBe(1);
    const n = fns.sht_get!(...s('t'), ...s('k'), out, 64) as number;
    expect(text(n)).toBe('hello');
    expect(fns.sht_seti!(...s('t'), ...s('n'), -12)).toBe(1);
    expect(text(fns.sht_get!(...s('t'), ...s('n'), out, 64) as number)).toBe('-12');
    // initval answers for a missing key (text and int)
    expect(text(fns.sht_get!(...s('t'), ...s('missing'), out, 64) as number)).toBe('7');
    expect(fns.sht_get_int!(...s('t'), ...s('missing'))).toBe(7);
    expect(fns.sht_get!(...s('s'), ...s('missing'), out, 64)).toBe(-1);
    expect(fns.sht_get!(...s('nosuch'), ...s('k'), out, 64)).toBe(-2);
    expect(fns.sht_rm!(...s('t'), ...s('k'))).toBe(1);
    expect(fns.sht_rm!(...s('t'), ...s('k'))).toBe(1);
    expect(fns.sht_get!(...s('s'), ...s('k'), out, 64)).toBe(-1);
    expect(fns.sht_get!(...s('t'), 2_000_000, 3, out, 64)).toBe(-3);
  });

  it('integer results: the value, 0 on failure, the status kept for sht_status()', () => {
    const { fns, s } = harness();
    const st = () => fns.sht_status!();
    expect(fns.sht_inc!(...s('s'), ...s('c'), 5)).toBe(5);
    expect(st()).toBe(0);
    expect(fns.sht_inc!(...s('s'), ...s('c'), -7)).toBe(-2);
    expect(fns.sht_get_int!(...s('s'), ...s('c'))).toBe(-2);
    expect(st()).toBe(0);
    fns.sht_sets!(...s('s'), ...s('str'), ...s('abc'));
    fns.sht_sets!(...s('s'), ...s('num'), ...s('42'));
    expect(fns.sht_inc!(...s('s'), ...s('str'), 1)).toBe(0);
    expect(st()).toBe(-2);
    expect(fns.sht_get_int!(...s('s'), ...s('str'))).toBe(0);
    expect(st()).toBe(-2);
    expect(fns.sht_get_int!(...s('s'), ...s('num'))).toBe(42);
    expect(st()).toBe(0);
    expect(fns.sht_get_int!(...s('s'), ...s('gone'))).toBe(0);
    expect(st()).toBe(-1);
    expect(fns.sht_get_int!(...s('nosuch'), ...s('x'))).toBe(0);
    expect(st()).toBe(-2);
    // the table is full (3 items): a new key is refused
    expect(fns.sht_inc!(...s('s'), ...s('new'), 1)).toBe(0);
    expect(st()).toBe(-5);
  });

  it('over-long keys and values are refused before they are read; the table is unchanged', () => {
    const { fns, s, reads, ht } = harness();
    const before = reads();
    // 1 MB claimed: more than 3 bytes per allowed character, refused unread (and outside nothing)
    expect(fns.sht_sets!(...s('s'), 0, 900_000, 0, 10)).toBe(-5);
    expect(fns.sht_seti!(...s('s'), 0, 100, 1)).toBe(-5);
    expect(fns.sht_get!(...s('s'), 0, 100, 0, 0)).toBe(-1);
    expect(fns.sht_sets!(...s('s'), ...s('k'), 0, 100_000)).toBe(-5);
    expect(reads() - before).toBe(5); // only the table names and the short key were read
    // within the byte bound but over in characters after reading
    expect(fns.sht_seti!(...s('s'), ...s('123456789'), 1)).toBe(-5);
    expect(ht.table('s')!.size).toBe(0);
    expect(fns.sht_sets!(...s('s'), ...s('k'), -1, -1)).toBe(-2);
  });

  it('match functions: linear ops, -2 for regex they cannot run, gas for the scan charged first', () => {
    const { fns, s, gas, ht } = harness([{ name: 'm', max_entries: 10_000 }]);
    for (let i = 0; i < 1000; i++) ht.set('m', `user${i}:calls`, i);
    const g0 = gas();
    expect(fns.sht_match_name!(...s('m'), MatchOp.SW, ...s('user1'))).toBe(111);
    expect(gas() - g0).toBeGreaterThanOrEqual(1000 + Math.ceil(ht.table('m')!.bytes / 8));
    expect(fns.sht_match_name!(...s('m'), MatchOp.RE, ...s('(a+)+$'))).toBe(-2);
    expect(fns.sht_match_name!(...s('m'), 77, ...s('x'))).toBe(-2);
    expect(fns.sht_match_value!(...s('m'), MatchOp.EQ, ...s('999'))).toBe(1);
    expect(fns.sht_rm_name!(...s('m'), MatchOp.RE, ...s('^user9'))).toBe(111);
    expect(fns.sht_rm_value!(...s('m'), MatchOp.EW, ...s('0'))).toBe(89);
    expect(ht.table('m')!.size).toBe(1000 - 111 - 89);
    expect(fns.sht_reset!(...s('m'))).toBe(1);
    expect(ht.table('m')!.size).toBe(0);
  });

  it('$shtex read and write', () => {
    const { fns, s } = harness();
    fns.sht_seti!(...s('t'), ...s('k'), 1);
    expect(fns.sht_getex!(...s('t'), ...s('k'))).toBe(0);
    expect(fns.sht_setex!(...s('t'), ...s('k'), 30)).toBe(1);
    expect(fns.sht_getex!(...s('t'), ...s('k'))).toBe(30);
    expect(fns.sht_setex!(...s('t'), ...s('none'), 30)).toBe(-1);
    expect(fns.sht_setex!(...s('t'), ...s('k'), -1)).toBe(-2);
    expect(fns.sht_getex!(...s('t'), ...s('none'))).toBe(-1);
  });

  it('iterators: at most four per message, gone with the message', () => {
    const { fns, s, out, text, setCtx, ht } = harness();
    for (const k of ['a', 'b', 'c']) ht.set('t', k, k.toUpperCase());
    for (let i = 0; i < MAX_ITERATORS; i++) expect(fns.sht_iterator_start!(...s(`i${i}`), ...s('t'))).toBe(1);
    expect(fns.sht_iterator_start!(...s('i9'), ...s('t'))).toBe(-5);
    const seen: string[] = [];
    while (fns.sht_iterator_next!(...s('i0')) === 1) {
      seen.push(`${text(fns.sht_iterator_key!(...s('i0'), out, 64) as number)}=${text(fns.sht_iterator_value!(...s('i0'), out, 64) as number)}`);
    }
    expect(seen).toEqual(['a=A', 'b=B', 'c=C']);
    expect(fns.sht_iterator_key!(...s('i0'), out, 64)).toBe(-1);
    expect(fns.sht_iterator_end!(...s('i0'))).toBe(1);
    expect(fns.sht_iterator_end!(...s('i0'))).toBe(-1);
    // the next message starts with none
    setCtx({} as MessageContext);
    expect(fns.sht_iterator_next!(...s('i1'))).toBe(-1);
    for (let i = 0; i < MAX_ITERATORS; i++) expect(fns.sht_iterator_start!(...s(`j${i}`), ...s('t'))).toBe(1);
  });
});
