import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { DispatcherImports } from '../../../host/modules/dispatcher/abi.js';
import type { HostCallApi } from '../../../host/wasm/types.js';
import type { MessageContext } from '../../../host/core/context.js';
import type { SipMessage } from '../../../host/sip/types.js';
import { stateLetters } from '../../../host/modules/dispatcher/state.js';
import { dispatcherFrom } from './helpers.js';

/** The slice of a parsed request the dispatcher imports read (the SIP parser is another area). */
function requestContext(callId: string): MessageContext {
  let ruri = 'sip:bob@example.com';
  const msg = {
    kind: 'request',
    method: 'INVITE',
    get requestUri() {
      return ruri;
    },
    setRequestUri(u: string) {
      ruri = u;
    },
    callId,
    from: { uri: 'sip:alice@example.com', params: [], tag: 'f1' },
    to: { uri: 'sip:bob@example.com', params: [] },
    status: 0,
    cseq: { seq: 1, method: 'INVITE' },
    header: () => undefined,
  } as unknown as SipMessage;
  return {
    id: 1,
    msg,
    source: { address: '127.0.0.1', port: 18102, proto: 'udp', family: 4 },
    local: { address: '127.0.0.1', port: 18150, proto: 'udp', family: 4 },
    dstUri: null,
    vars: new Map(),
    replied: false,
    log: pino({ level: 'silent' }),
    slReply: () => true,
  };
}

/** Guest memory as a plain buffer, the HostCallApi the runtime would hand over. */
function hostApi(ctx: MessageContext | null) {
  const mem = Buffer.alloc(4096);
  const api: HostCallApi = {
    current: () => ctx,
    hook: () => 'request_route',
    readString: (p, l) => (p + l <= mem.length ? mem.toString('utf8', p, p + l) : null),
    writeString: (o, cap, v) => {
      const b = Buffer.from(v);
      if (o + Math.min(cap, b.length) > mem.length) return -3;
      b.copy(mem, o, 0, Math.min(cap, b.length));
      return b.length;
    },
    charge: () => undefined,
  };
  const put = (p: number, s: string): [number, number] => [p, mem.write(s, p)];
  return { api, mem, put };
}

describe('dispatcher plugin imports', () => {
  it('ds_select_dst sets $du, ds_next_dst walks the failover list, ds_mark_dst marks the current target', async () => {
    const { ds } = await dispatcherFrom('1 sip:127.0.0.1:18101 0 0 duid=a\n1 sip:127.0.0.1:18102 0 0 duid=b', { flags: 2, setid_pvname: '$var(dsset)', attrs_pvname: '$var(dsattrs)' });
    const ctx = requestContext('abi-1');
    const { api, mem, put } = hostApi(ctx);
    const f = new DispatcherImports(ds).functions(api) as unknown as Record<string, (...a: number[]) => number>;
    expect(f.ds_list_exists!(1)).toBe(1);
    expect(f.ds_list_exists!(2)).toBe(-1);
    expect(f.ds_select_dst!(1, 4, 0)).toBe(1);
    expect(ctx.dstUri).toBe('sip:127.0.0.1:18102');
    expect(f.ds_dst_count!()).toBe(2);
    expect(f.ds_current_set!()).toBe(1);
    const n = f.ds_current_uri!(1000, 100);
    expect(mem.toString('utf8', 1000, 1000 + n)).toBe('sip:127.0.0.1:18102');
    const [sp, sl] = put(200, 'ip');
    expect(f.ds_mark_dst!(sp, sl)).toBe(1);
    expect(stateLetters(ds.sets.get(1)!.dests[0]!.flags)).toBe('IP');
    expect(f.ds_next_dst!()).toBe(1);
    expect(ctx.dstUri).toBe('sip:127.0.0.1:18101');
    expect(f.ds_next_dst!()).toBe(-1);
    // source 127.0.0.1:18102 is destination b
    expect(f.ds_is_from_list!(-1)).toBe(1);
    expect(ctx.vars.get('dsset')).toBe('1');
    expect(ctx.vars.get('dsattrs')).toBe('duid=b');
    expect(f.ds_is_from_list_mode!(1, 4)).toBe(-1); // b is inactive now
    expect(f.ds_select_domain!(1, 8, 0)).toBe(1);
    expect(ctx.msg.requestUri).toBe('sip:bob@127.0.0.1:18101');
  });

  it('returns -4 outside a message hook and -3 for memory out of bounds', async () => {
    const { ds } = await dispatcherFrom('1 sip:127.0.0.1:18101');
    const f = new DispatcherImports(ds).functions(hostApi(null).api) as unknown as Record<string, (...a: number[]) => number>;
    expect(f.ds_select_dst!(1, 4, 0)).toBe(-4);
    const g = new DispatcherImports(ds).functions(hostApi(requestContext('x')).api) as unknown as Record<string, (...a: number[]) => number>;
    expect(g.ds_mark_dst!(5000, 10)).toBe(-3);
  });
});

describe('hash_pvar expansion (alg 7)', () => {
  it('prints a variable without value as <null>, as Kamailio does inside a format (test/oracle/dispatcher.test.ts)', async () => {
    const { expandPv } = await import('../../../host/modules/dispatcher/pv.js');
    const ctx = requestContext('abc@host');
    expect(expandPv('$fU@$ci', ctx)).toBe('alice@abc@host');
    (ctx.msg as unknown as { from: { uri: string } }).from = { uri: 'sip:192.168.1.20:5070', params: [] } as never;
    expect(expandPv('$fU@$ci', ctx)).toBe('<null>@abc@host');
    expect(expandPv('$ft|$hdr(X-None)|$fd', ctx)).toBe('<null>|<null>|192.168.1.20');
  });
});
