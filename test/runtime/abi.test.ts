/**
 * The `sip` host functions called directly, as the Wasm side would, against a parsed message and a
 * host-created memory: status codes, bounds checks, capability rules, never throwing.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { MessageContext } from '../../host/core/context.js';
import { createSipImports, type AbiHost, type GasHandle } from '../../host/wasm/abi-v1.js';
import { GuestMemory } from '../../host/wasm/guest-memory.js';
import { DEFAULT_PLUGIN_LIMITS } from '../../host/wasm/types.js';
import { captureLogger, INVITE, makeCtx, parseSip, type TestContext } from './helpers.js';

type Fn = (...a: number[]) => number;

let mem: GuestMemory;
let t: TestContext;
let current: MessageContext | null;
let hook: string;
let sip: Record<string, Fn>;
let gas: GasHandle;
const globals = new Map<string, string>();
const myself = new Set(['127.0.0.1:5090', 'proxy.example.com:']);

/** bump allocator over guest memory for test strings. */
let top = 1024;
function put(s: string): [number, number] {
  const b = Buffer.from(s, 'utf8');
  mem.bytes().set(b, top);
  const at = top;
  top += b.length + 8;
  return [at, b.length];
}
const OUT = 32768;
function out(n: number): string {
  return mem.bytes().subarray(OUT, OUT + n).toString('utf8');
}

beforeEach(async () => {
  mem = new GuestMemory(new WebAssembly.Memory({ initial: 1, maximum: 4 }));
  top = 1024;
  t = makeCtx(await parseSip(INVITE));
  current = t.ctx;
  hook = 'request_route';
  let counter = 1_000_000;
  gas = {
    counter: {
      get: () => counter,
      set: (v) => { counter = v; },
      // the semantics of metering.ts __gas_charge: saturating, -1 once exhausted
      charge: (u) => (counter = counter < 0 || u > counter ? -1 : counter - u),
    },
  };
  const host: AbiHost = {
    label: 'test@1.0.0',
    log: captureLogger([]),
    current: () => current,
    hook: () => hook,
    globals,
    config: Buffer.from('{"a":1}'),
    isMyself: (h, p) => myself.has(`${h}:${p ?? ''}`),
    maxForwardsLimit: 256,
    limits: DEFAULT_PLUGIN_LIMITS,
  };
  sip = createSipImports(host, mem, gas) as unknown as Record<string, Fn>;
});

describe('headers', () => {
  it('hdr_get: by name, case-insensitive, compact, indexed, negative index, snprintf-style', () => {
    const [np, nl] = put('x-test');
    expect(sip.hdr_get(np, nl, 0, OUT, 64)).toBe(11);
    expect(out(11)).toBe('hello world');
    // truncated copy, full length returned
    expect(sip.hdr_get(np, nl, 0, OUT + 100, 5)).toBe(11);
    expect(mem.bytes().subarray(OUT + 100, OUT + 105).toString()).toBe('hello');
    const [mp, ml] = put('X-Multi');
    expect(sip.hdr_count(mp, ml)).toBe(2);
    expect(sip.hdr_get(mp, ml, 1, OUT, 64)).toBe(3);
    expect(out(3)).toBe('two');
    expect(sip.hdr_get(mp, ml, -1, OUT, 64)).toBe(3);
    expect(sip.hdr_get(mp, ml, -2, OUT, 64)).toBe(3);
    expect(out(3)).toBe('one');
    expect(sip.hdr_get(mp, ml, 2, OUT, 64)).toBe(-1);
    const [ip, il] = put('i');
    expect(sip.hdr_get(ip, il, 0, OUT, 64)).toBe(t.ctx.msg.callId.length);
    const [np2, nl2] = put('X-Absent');
    expect(sip.hdr_get(np2, nl2, 0, OUT, 64)).toBe(-1);
    expect(sip.hdr_count(np2, nl2)).toBe(0);
  });

  it('hdr_add / hdr_remove edit the message', () => {
    const [np, nl] = put('X-New');
    const [vp, vl] = put('v1');
    expect(sip.hdr_add(np, nl, vp, vl, 0)).toBe(1);
    expect(t.ctx.msg.header('x-new')).toBe('v1');
    const [mp, ml] = put('X-Multi');
    expect(sip.hdr_remove(mp, ml, 0)).toBe(1);
    expect(t.ctx.msg.headerValues('X-Multi')).toEqual(['two']);
    expect(sip.hdr_remove(np, nl, -1)).toBe(1);
    expect(t.ctx.msg.header('X-New')).toBeUndefined();
    expect(sip.hdr_remove(np, nl, -1)).toBe(0);
    // header injection and bad names are refused
    const [bad, badl] = put('ok\r\nVia: evil');
    expect(sip.hdr_add(np, nl, bad, badl, 0)).toBe(-2);
    const [sp, sl] = put('Bad Name');
    expect(sip.hdr_add(sp, sl, vp, vl, 0)).toBe(-2);
    expect(sip.hdr_add(np, nl, vp, vl, 7)).toBe(-2);
  });

  it('every function answers -3 for out-of-bounds pointers and never throws', () => {
    const huge = 0x7ffffff0;
    const [np, nl] = put('X-Test');
    expect(sip.hdr_get(huge, 4, 0, OUT, 8)).toBe(-3);
    expect(sip.hdr_get(np, nl, 0, 65530, 64)).toBe(-3);
    expect(sip.hdr_get(np, -1, 0, OUT, 8)).toBe(-2); // negative length: BAD_ARGUMENT
    expect(sip.hdr_get(np, nl, 0, OUT, -8)).toBe(-2);
    expect(sip.hdr_count(huge, 1)).toBe(-3);
    expect(sip.hdr_add(np, nl, huge, 10, 0)).toBe(-3);
    expect(sip.hdr_remove(-5, 3, 0)).toBe(-3);
    expect(sip.msg_get(0, huge, 10)).toBe(-3);
    expect(sip.msg_set(1, huge, 10)).toBe(-3);
    expect(sip.pv_get(huge, 3, OUT, 10)).toBe(-3);
    expect(sip.pv_set(np, nl, huge, 3)).toBe(-3);
    expect(sip.sl_reply(200, huge, 2)).toBe(-3);
    expect(sip.reply_hdr_add(huge, 2)).toBe(-3);
    expect(sip.xlog(2, huge, 2)).toBe(-3);
    expect(sip.log(2, huge, 2)).toBe(-3);
    expect(sip.var_get(0, huge, 2, OUT, 8)).toBe(-3);
    expect(sip.var_set(2, np, nl, huge, 3)).toBe(-3);
    expect(sip.cfg_read(0, huge, 10)).toBe(-3);
    expect(sip.is_myself(huge, 10)).toBe(-3);
  });

  it('sees memory the guest grew (the cached view is refreshed)', () => {
    const old = mem.bytes();
    mem.memory.grow(1);
    expect(old.length).toBe(0); // detached by the grow
    const at = 65536 + 100;
    mem.bytes().write('X-Test', at, 'latin1');
    expect(sip.hdr_get(at, 6, 0, 65536 + 200, 64)).toBe(11);
    expect(mem.bytes().subarray(65536 + 200, 65536 + 211).toString()).toBe('hello world');
  });

  it('a host failure inside an import becomes -7, not an exception', () => {
    const broken = { ...t.ctx, msg: { ...t.ctx.msg, header: () => { throw new Error('boom'); } } } as unknown as MessageContext;
    current = broken;
    const [np, nl] = put('X-Test');
    expect(sip.hdr_get(np, nl, 0, OUT, 64)).toBe(-7);
  });
});

describe('fields and pseudo-variables', () => {
  it('msg_get serves the field table', () => {
    const get = (f: number): string | number => {
      const n = sip.msg_get(f, OUT, 256);
      return n < 0 ? n : out(n);
    };
    expect(get(0)).toBe('INVITE');
    expect(get(1)).toBe('sip:bob@biloxi.example.com:5062;transport=udp');
    expect(get(2)).toBe('bob');
    expect(get(3)).toBe('biloxi.example.com');
    expect(get(4)).toBe('5062');
    expect(get(5)).toBe('sip');
    expect(get(6)).toBe(-1); // $du unset
    expect(get(8)).toBe('alice');
    expect(get(10)).toBe('1928301774');
    expect(get(11)).toBe('Alice A');
    expect(get(15)).toBe(-1); // no To tag
    expect(get(17)).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(get(18)).toBe('314159');
    expect(get(19)).toBe('INVITE');
    expect(get(20)).toBe('127.0.0.1');
    expect(get(21)).toBe('5080');
    expect(get(22)).toBe('udp');
    expect(get(23)).toBe('test-ua/1.0');
    expect(get(26)).toBe('5090');
    expect(get(27)).toBe('70');
    expect(get(28)).toBe('v=0\n');
    expect(get(30)).toBe(-1); // $rs of a request
    expect(get(99)).toBe(-2);
  });

  it('msg_set rewrites the R-URI parts and $du; read-only fields answer -4', () => {
    const [up, ul] = put('carol');
    expect(sip.msg_set(2, up, ul)).toBe(0);
    expect(t.ctx.msg.requestUri).toBe('sip:carol@biloxi.example.com:5062;transport=udp');
    const [hp, hl] = put('10.0.0.9');
    expect(sip.msg_set(3, hp, hl)).toBe(0);
    const [pp, pl] = put('');
    expect(sip.msg_set(4, pp, pl)).toBe(0);
    expect(t.ctx.msg.requestUri).toBe('sip:carol@10.0.0.9;transport=udp');
    const [dp, dl] = put('sip:10.0.0.1:5070');
    expect(sip.msg_set(6, dp, dl)).toBe(0);
    expect(t.ctx.dstUri).toBe('sip:10.0.0.1:5070');
    expect(sip.msg_set(6, pp, pl)).toBe(0);
    expect(t.ctx.dstUri).toBeNull();
    expect(sip.msg_set(17, up, ul)).toBe(-4);
    const [bp, bl] = put('notaport');
    expect(sip.msg_set(4, bp, bl)).toBe(-2);
  });

  it('pv_get / pv_set', () => {
    const [np, nl] = put('$hdr(X-Test)');
    expect(sip.pv_get(np, nl, OUT, 64)).toBe(11);
    const [vn, vnl] = put('$var(route)');
    const [vv, vvl] = put('lb');
    expect(sip.pv_set(vn, vnl, vv, vvl)).toBe(0);
    expect(t.ctx.vars.get('route')).toBe('lb');
    expect(sip.pv_get(vn, vnl, OUT, 64)).toBe(2);
    const [un, unl] = put('$nonsense');
    expect(sip.pv_get(un, unl, OUT, 64)).toBe(-6);
    expect(sip.pv_set(un, unl, vv, vvl)).toBe(-6);
    const [sn, snl] = put('$shv(counter)');
    expect(sip.pv_get(sn, snl, OUT, 64)).toBe(-1);
    expect(sip.pv_set(sn, snl, vv, vvl)).toBe(0);
    expect(globals.get('counter')).toBe('lb');
    expect(sip.pv_get(sn, snl, OUT, 64)).toBe(2);
    const [cn, cnl] = put('$ci');
    expect(sip.pv_set(cn, cnl, vv, vvl)).toBe(-4);
  });
});

describe('replies, logs, variables, config, capability rules', () => {
  it('sl_reply sends with the reply headers; only in request_route', () => {
    const [lp, ll] = put('X-Why: testing');
    expect(sip.reply_hdr_add(lp, ll)).toBe(1);
    const [bp, bl] = put('no colon here');
    expect(sip.reply_hdr_add(bp, bl)).toBe(-2);
    const [rp, rl] = put('Not Here');
    expect(sip.sl_reply(404, rp, rl)).toBe(1);
    expect(t.replies).toEqual([{ code: 404, reason: 'Not Here', headers: ['X-Why: testing'] }]);
    expect(sip.sl_reply(99, rp, rl)).toBe(-2);
    const [ep, el] = put('');
    expect(sip.sl_reply(483, ep, el)).toBe(1);
    expect(t.replies[1]).toMatchObject({ code: 483, reason: 'Too Many Hops' });
    hook = 'branch_route';
    expect(sip.sl_reply(404, rp, rl)).toBe(-4);
  });

  it('message imports answer -4 without a message (plugin_init); GLOBAL vars, log, cfg_read work', () => {
    current = null;
    hook = 'plugin_init';
    const [np, nl] = put('X-Test');
    expect(sip.hdr_get(np, nl, 0, OUT, 8)).toBe(-4);
    expect(sip.hdr_count(np, nl)).toBe(-4);
    expect(sip.msg_get(0, OUT, 8)).toBe(-4);
    expect(sip.maxfwd_process(70)).toBe(-4);
    expect(sip.is_myself(np, nl)).toBe(-4);
    const [xp, xl] = put('init $rm $var(x) $shv(X-Test) $Ts');
    expect(sip.xlog(2, xp, xl)).toBe(1); // allowed; message variables print <null>
    expect(sip.var_set(0, np, nl, np, nl)).toBe(-4);
    expect(sip.var_set(2, np, nl, np, nl)).toBe(0);
    expect(globals.get('X-Test')).toBe('X-Test');
    expect(sip.var_get(2, np, nl, OUT, 64)).toBe(6);
    expect(sip.var_set(2, np, nl, 0, -1)).toBe(0);
    expect(sip.var_get(2, np, nl, OUT, 64)).toBe(-1);
    expect(sip.var_get(1, np, nl, OUT, 64)).toBe(-2); // TX is reserved in v1.0
    expect(sip.var_get(9, np, nl, OUT, 64)).toBe(-2);
    expect(sip.log(2, np, nl)).toBe(1);
    expect(sip.log(9, np, nl)).toBe(-2);
    expect(sip.cfg_read(0, OUT, 64)).toBe(7);
    expect(out(7)).toBe('{"a":1}');
    expect(sip.cfg_read(5, OUT, 64)).toBe(2); // length from the offset
    expect(out(2)).toBe('1}');
    expect(sip.cfg_read(50, OUT, 64)).toBe(0);
    expect(sip.cfg_read(-1, OUT, 64)).toBe(-2);
    expect(sip.now_ms()).toBeTypeOf('bigint');
  });

  it('log_enabled follows the logger level (Kamailio levels onto pino)', () => {
    expect(sip.log_enabled(3)).toBe(1); // L_DBG, logger at debug
    expect(sip.log_enabled(-5)).toBe(1);
    expect(sip.log_enabled(4)).toBe(-2);
    current = makeCtx(t.ctx.msg, { level: 'warn' }).ctx;
    expect(sip.log_enabled(2)).toBe(0); // L_INFO suppressed
    expect(sip.log_enabled(0)).toBe(1); // L_WARN
  });

  it('host work is charged to the gas counter, 1 unit per 8 bytes (docs/abi/v1.md "Gas")', () => {
    const before = gas.counter!.get();
    const [fp, fl] = put('x'.repeat(640));
    sip.log(-1, fp, fl);
    expect(before - gas.counter!.get()).toBe(640 / 8);
  });
});

describe('is_myself and maxfwd_process', () => {
  it('is_myself matches host[:port] through the callback', () => {
    const check = (u: string) => sip.is_myself(...put(u));
    expect(check('sip:alice@127.0.0.1:5090;transport=udp')).toBe(1);
    expect(check('sip:proxy.example.com')).toBe(1);
    expect(check('sip:bob@biloxi.example.com')).toBe(-1);
    expect(check('proxy.example.com')).toBe(1); // bare host[:port]
    expect(check('127.0.0.1:5090')).toBe(1);
    expect(check('127.0.0.1:5091')).toBe(-1);
    expect(check('')).toBe(-2);
    expect(check('sip:')).toBe(-2);
  });

  it('maxfwd_process follows Kamailio mf_process_maxfwd_header', async () => {
    expect(sip.maxfwd_process(10)).toBe(1);
    expect(t.ctx.msg.header('Max-Forwards')).toBe('69');
    const noMf = makeCtx(await parseSip(INVITE.replace('Max-Forwards: 70\r\n', '')));
    current = noMf.ctx;
    expect(sip.maxfwd_process(10)).toBe(2);
    expect(noMf.ctx.msg.header('Max-Forwards')).toBe('10');
    current = makeCtx(await parseSip(INVITE.replace('Max-Forwards: 70', 'Max-Forwards: 0'))).ctx;
    expect(sip.maxfwd_process(10)).toBe(-1);
    current = makeCtx(await parseSip(INVITE.replace('Max-Forwards: 70', 'Max-Forwards: abc'))).ctx;
    expect(sip.maxfwd_process(10)).toBe(-2);
    const big = makeCtx(await parseSip(INVITE.replace('Max-Forwards: 70', 'Max-Forwards: 4000')));
    current = big.ctx;
    expect(sip.maxfwd_process(10)).toBe(1);
    expect(big.ctx.msg.header('Max-Forwards')).toBe('256'); // lowered to max_limit
    expect(sip.maxfwd_process(300)).toBe(-2);
  });
});
