import { describe, expect, it } from 'vitest';
import type { MessageContext } from '../../../host/core/context.js';
import { isSiphonError } from '../../../host/errors/registry.js';
import { RrImports, TmImports, tmImportProviders } from '../../../host/proxy/abi.js';
import { ProxyCore } from '../../../host/proxy/proxy.js';
import { transactionTimers } from '../../../host/transaction/config.js';
import type { HostCallApi } from '../../../host/wasm/types.js';
import { invite, makeLayer, ManualClock, parse, silentLog, uacSource } from './helpers.js';

function api(hook: string, ctx: MessageContext | null, strings: Record<number, string> = {}): HostCallApi {
  return { current: () => ctx, hook: () => hook, readString: (p) => strings[p] ?? null, writeString: () => 0, charge: () => undefined };
}

function setup() {
  const clock = new ManualClock();
  const proxy = new ProxyCore({
    layer: makeLayer(clock),
    channels: { channelFor: () => null },
    replies: { build: () => Buffer.from(''), toTagFor: () => 't' },
    isMyself: () => false,
    log: silentLog,
  });
  const ctx: MessageContext = {
    id: 1, msg: parse(invite()), source: uacSource, local: { ...uacSource, port: 19200 }, dstUri: null, vars: new Map(),
    replied: false, log: silentLog, slReply: () => false,
  };
  return { proxy, ctx };
}

describe('tm / rr imports', () => {
  it('answer -4 outside the hooks that may call them', () => {
    const { proxy, ctx } = setup();
    const init = new TmImports(proxy).functions(api('plugin_init', null));
    expect(init.t_relay!()).toBe(-4);
    expect(init.t_is_canceled!()).toBe(-4);
    const branch = new TmImports(proxy).functions(api('branch_route', ctx));
    expect(branch.t_relay!()).toBe(-4);
    expect(branch.t_reply!(200 as never, 0 as never, 0 as never)).toBe(-4);
    expect(branch.t_branch_index!()).toBe(-1);
    const reply = new RrImports(proxy).functions(api('onreply_route', ctx));
    expect(reply.record_route!()).toBe(-4);
    expect(reply.loose_route!()).toBe(-4);
  });

  it('validate arguments: route ids >= 0, codes 100-699, readable reason, timeouts >= 0', () => {
    const { proxy, ctx } = setup();
    const tm = new TmImports(proxy).functions(api('request_route', ctx, { 8: 'Busy' }));
    expect(tm.t_on_failure!(-1 as never)).toBe(-2);
    expect(tm.t_on_failure!(4 as never)).toBe(1);
    expect(tm.t_reply!(99 as never, 8 as never, 4 as never)).toBe(-2);
    expect(tm.t_reply!(486 as never, 999 as never, 4 as never)).toBe(-3);
    expect(tm.t_set_timeouts!(-5 as never, 0 as never)).toBe(-2);
    expect(tm.t_set_timeouts!(1000 as never, 0 as never)).toBe(1);
    expect(tm.t_is_canceled!()).toBe(-1);
  });

  it('t_relay records the relay (1) when the request has a routable target, -1 when not', () => {
    const { proxy, ctx } = setup();
    const tm = new TmImports(proxy).functions(api('request_route', ctx));
    expect(tm.t_relay!()).toBe(1);
    ctx.msg.setRequestUri('tel:+12345');
    expect(tm.t_relay!()).toBe(-1);
  });

  it('without transactions every tm/rr function answers -6 UNIMPLEMENTED', () => {
    const [tm, rr] = tmImportProviders(null);
    expect(tm!.namespace).toBe('tm');
    expect(tm!.functions(api('request_route', null)).t_relay!()).toBe(-6);
    expect(rr!.functions(api('request_route', null)).loose_route!()).toBe(-6);
  });

  it('bad timer values are refused with E9002', () => {
    let err: unknown;
    try {
      transactionTimers({ t1: 0 });
    } catch (e) {
      err = e;
    }
    expect(isSiphonError(err, 'TM_BAD_TIMER')).toBe(true);
    expect(() => transactionTimers({ t1: 500, t2: 100 })).toThrow(/E9002/);
    expect(transactionTimers().fr).toBe(30_000);
    expect(transactionTimers().frInv).toBe(120_000);
  });
});
