/**
 * `$sht(table=>key)` (Kamailio htable's pseudo-variable) in xlog formats and `sip.pv_get`: the value
 * comes from a real htable (host/modules/htable, HtableImports.pv), the key may hold variables
 * (`$sht(ipban=>$si)`), an absent item reads the table's initval or `<null>`, and hostile keys and
 * names answer `<null>` without a lookup.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { compilePv, evalSpec, expandFormat, setPv, type ModulePvs } from '../../host/core/pv.js';
import { Htable, HtableImports, resolveHtableConfig } from '../../host/modules/htable/index.js';
import { createSipImports, type AbiHost } from '../../host/wasm/abi-v1.js';
import { GuestMemory } from '../../host/wasm/guest-memory.js';
import { DEFAULT_PLUGIN_LIMITS } from '../../host/wasm/types.js';
import { loadPlugin } from '../../host/wasm/runtime.js';
import { Action } from '../../host/core/context.js';
import { captureLogger, guest, INVITE, makeCtx, parseSip, tempWasm, wat, type TestContext } from './helpers.js';

type Fn = (...a: number[]) => number;
const log = pino({ level: 'silent' });

let ht: Htable;
let pvs: ModulePvs;
let t: TestContext;

beforeEach(async () => {
  ht = new Htable(resolveHtableConfig({ tables: ['ipban=>size=4;', 'calls=>initval=0;', { name: 'short', max_key_length: 8 }] }).tables, { log });
  pvs = new HtableImports(ht).pv;
  t = makeCtx(await parseSip(INVITE));
  ht.set('ipban', '127.0.0.1', 'banned at 12:00');
  ht.set('calls', 'alice', 3);
});

describe('$sht in xlog formats', () => {
  it('reads string and integer items, initval for an absent key, <null> for an absent one without initval', () => {
    const x = (f: string) => expandFormat(f, t.ctx, undefined, Infinity, pvs);
    expect(x('ip: $sht(ipban=>127.0.0.1)')).toBe('ip: banned at 12:00');
    expect(x('$sht(calls=>alice) calls')).toBe('3 calls');
    expect(x('[$sht(calls=>bob)]')).toBe('[0]'); // initval
    expect(x('[$sht(ipban=>10.0.0.1)]')).toBe('[<null>]');
    expect(x('[$sht(nosuch=>k)]')).toBe('[<null>]');
  });

  it('expands variables in the key at every read: $sht(ipban=>$si), $sht(calls=>$fU), $(sht(...))', () => {
    const x = (f: string) => expandFormat(f, t.ctx, undefined, Infinity, pvs);
    expect(t.ctx.source.address).toBe('127.0.0.1');
    expect(x('$si is $sht(ipban=>$si)')).toBe('127.0.0.1 is banned at 12:00');
    expect(x('$fU has $sht(calls=>$fU) calls')).toBe('alice has 3 calls');
    expect(x('$(sht(calls=>$fU))')).toBe('3');
    ht.set('calls', 'alice', 4); // a later read sees the table now, not a cached value
    expect(x('$sht(calls=>$fU)')).toBe('4');
    // a key made of text and variables, and a key naming another item's value
    ht.set('calls', 'u-alice-x', 9);
    expect(x('$sht(calls=>u-$fU-x)')).toBe('9');
    ht.set('ipban', 'ref', 'alice');
    expect(x('$sht(calls=>$sht(ipban=>ref))')).toBe('4');
  });

  it('has no value without the htable module, for malformed names, and for keys over max_key_length (no lookup)', () => {
    expect(expandFormat('[$sht(calls=>alice)]', t.ctx)).toBe('[<null>]');
    const x = (f: string) => expandFormat(f, t.ctx, undefined, Infinity, pvs);
    expect(x('[$sht(calls)]')).toBe('[<null>]');
    expect(x('[$sht(=>alice)]')).toBe('[<null>]');
    expect(x('[$sht(calls=>)]')).toBe('[<null>]');
    expect(x('[$sht(bad-name=>alice)]')).toBe('[<null>]');
    ht.set('short', '12345678', 'ok');
    expect(x('$sht(short=>12345678)')).toBe('ok');
    const gets = ht.stats.gets;
    expect(x('[$sht(short=>123456789)]')).toBe('[<null>]');
    expect(x(`[$sht(short=>${'k'.repeat(100_000)})]`)).toBe('[<null>]');
    expect(ht.stats.gets).toBe(gets); // refused before the table is read
    // a huge header in the key is cut at the expansion bound, then refused by the table's bound
    t.ctx.msg.addHeader('X-Big', 'b'.repeat(60_000));
    expect(x('[$sht(short=>$hdr(X-Big))]')).toBe('[<null>]');
  });

  it('works without a message (plugin_init) for literal keys; is read-only for pv_set', () => {
    expect(evalSpec(compilePv('$sht(calls=>alice)')!, null, undefined, pvs)).toBe('3');
    expect(evalSpec(compilePv('$sht(ipban=>$si)')!, null, undefined, pvs)).toBeNull(); // $si has no value: key "<null>"
    expect(setPv('$sht(calls=>alice)', '5', t.ctx)).toBe(-4);
    expect(ht.get('calls', 'alice')!.value).toBe(3);
  });
});

describe('$sht through the sip imports (xlog, pv_get)', () => {
  let mem: GuestMemory;
  let sip: Record<string, Fn>;
  let top: number;
  /** a guest string at the next free place: [ptr, len]. */
  const put = (s: string): [number, number] => {
    const at = top;
    const n = mem.writeUtf8(at, 4096, s);
    top += n + 8;
    return [at, n];
  };
  const OUT = 32768;

  beforeEach(() => {
    mem = new GuestMemory(new WebAssembly.Memory({ initial: 1, maximum: 4 }));
    top = 1024;
    let counter = 1_000_000;
    const host: AbiHost = {
      label: 'test@1.0.0',
      log: captureLogger([]),
      current: () => t.ctx,
      hook: () => 'request_route',
      globals: new Map(),
      config: Buffer.from('{}'),
      maxForwardsLimit: 70,
      limits: DEFAULT_PLUGIN_LIMITS,
      modulePvs: pvs,
    };
    sip = createSipImports(host, mem, {
      counter: { get: () => counter, set: (v) => { counter = v; }, charge: (u) => (counter = counter < 0 || u > counter ? -1 : counter - u) },
    }) as unknown as Record<string, Fn>;
  });

  it('xlog prints the item; pv_get answers it, -1 when it has no value', () => {
    const [fp, fl] = put('ban $si: $sht(ipban=>$si); $fU: $sht(calls=>$fU)\n');
    expect(sip.xlog(2, fp, fl)).toBe(1);
    expect(t.logs.map((l) => l.msg)).toContain('ban 127.0.0.1: banned at 12:00; alice: 3');
    const [np, nl] = put('$sht(calls=>$fU)');
    expect(sip.pv_get(np, nl, OUT, 64)).toBe(1);
    expect(mem.bytes().subarray(OUT, OUT + 1).toString()).toBe('3');
    const [mp, ml] = put('$sht(ipban=>10.9.9.9)');
    expect(sip.pv_get(mp, ml, OUT, 64)).toBe(-1);
  });
});

describe('$sht in a loaded plugin (the htable provider offers it to the instance)', () => {
  const FMT = 'calls of $fU: $sht(calls=>$fU)';
  const plugin = (name: string) => tempWasm(name, wat(guest(`(data (i32.const 1024) "${FMT}")
    (func (export "request_route") (param i32) (result i32)
      (drop (call $xlog (i32.const 2) (i32.const 1024) (i32.const ${FMT.length}))) (i32.const 0))`, {
    imports: '(import "sip" "xlog" (func $xlog (param i32 i32 i32) (result i32)))',
  })));

  it('xlog in request_route prints the item with modules.htable, <null> without', async () => {
    const withHt = await loadPlugin(plugin('sht-xlog.wasm'), { log: captureLogger([]), providers: [new HtableImports(ht)] });
    expect(withHt.requestRoute(t.ctx)).toBe(Action.CONTINUE);
    expect(t.logs.map((l) => l.msg)).toContain('calls of alice: 3');
    const without = await loadPlugin(plugin('sht-xlog-none.wasm'), { log: captureLogger([]) });
    expect(without.requestRoute(t.ctx)).toBe(Action.CONTINUE);
    expect(t.logs.map((l) => l.msg)).toContain('calls of alice: <null>');
  });
});
