import { describe, expect, it } from 'vitest';
import { SecFilterImports } from '../../../host/modules/secfilter/abi.js';
import { secfilterRpcMethods } from '../../../host/modules/secfilter/rpc.js';
import { RuleSet } from '../../../host/modules/secfilter/rules.js';
import { SecFilter } from '../../../host/modules/secfilter/secfilter.js';
import { RpcFault, type RpcMethod, type RpcValue } from '../../../host/rpc/types.js';
import type { MessageContext } from '../../../host/core/context.js';
import type { HostCallApi } from '../../../host/wasm/types.js';
import { fakeContext } from './fake-message.js';

function makeFilter(): SecFilter {
  const sf = new SecFilter({ reloadDelta: 0 });
  sf.setRules(
    RuleSet.fromRules([
      { action: 0, type: 0, data: 'friendly-scanner' },
      { action: 0, type: 3, data: '10.9.' },
      { action: 0, type: 4, data: 'attacker' },
      { action: 1, type: 4, data: 'boss' },
      { action: 0, type: 2, data: 'evil.com' },
      { action: 2, type: 0, data: '0900' },
    ]),
  );
  return sf;
}

/** guest memory stand-in: strings are registered at fake pointers. */
function fakeApi(ctx: MessageContext | null): { api: HostCallApi; put(s: string): [number, number]; charged: () => number } {
  const mem = new Map<number, string>();
  let next = 16;
  let charged = 0;
  return {
    api: {
      current: () => ctx,
      hook: () => 'request_route',
      readString: (p, l) => {
        const s = mem.get(p);
        return s !== undefined && Buffer.byteLength(s) === l ? s : null;
      },
      writeString: () => -3,
      charge: (u) => {
        charged += u;
      },
    },
    put(s) {
      const p = next;
      next += 1024;
      mem.set(p, s);
      return [p, Buffer.byteLength(s)];
    },
    charged: () => charged,
  };
}

describe('plugin imports (namespace secfilter)', () => {
  const ctx = fakeContext({
    from: { displayName: 'Attacker', uri: 'sip:attacker@example.com', params: [] },
    to: { uri: 'sip:bob@evil.com', params: [] },
    headers: { 'User-Agent': 'friendly-scanner 0.1', Contact: '<sip:boss@1.2.3.4>' },
    source: '10.9.8.7',
  });

  it('reads the current message and returns Kamailio codes', () => {
    const { api, put, charged } = fakeApi(ctx);
    const f = new SecFilterImports(makeFilter()).functions(api) as Record<string, (...a: number[]) => number>;
    expect(f.check_ua!()).toBe(-2);
    expect(f.check_ip!()).toBe(-2);
    expect(f.check_from_hdr!()).toBe(-2); // display name == user: reported as the user (#4700 fixed)
    expect(f.check_to_hdr!()).toBe(-3);
    expect(f.check_contact_hdr!()).toBe(2);
    expect(f.check_username_from_hdr!()).toBe(-2);
    expect(f.check_name_from_hdr!()).toBe(-2);
    expect(f.check_domain_to_hdr!()).toBe(-2);
    expect(f.check_dst!(...put('0900'))).toBe(-2);
    expect(f.check_dst!(...put('0901'))).toBe(1);
    expect(f.check_country!(...put('es'))).toBe(1);
    expect(f.check_sqli_hdr!(...put("a'b"))).toBe(-1);
    expect(f.check_sqli_all!()).toBe(1);
    expect(charged()).toBeGreaterThan(0);
    // aliases: native and KEMI names
    expect(f.secf_check_ua!()).toBe(-2);
    expect(f.secf_sqli_hdr!(...put('--'))).toBe(-1);
    expect(f.ki_check_domain_to_hdr!()).toBe(-2);
  });

  it('answers -1 without a message or with a bad pointer, never throws', () => {
    const { api } = fakeApi(null);
    const f = new SecFilterImports(makeFilter()).functions(api) as Record<string, (...a: number[]) => number>;
    expect(f.check_ua!()).toBe(-1);
    expect(f.check_from_hdr!()).toBe(-1);
    expect(f.check_dst!(99999, 4)).toBe(-1);
    expect(f.check_country!(16, -1)).toBe(-1);
  });
});

describe('RPC methods', () => {
  function rpc(sf: SecFilter): (name: string, ...params: RpcValue[]) => Promise<RpcValue> {
    const methods = new Map<string, RpcMethod>(secfilterRpcMethods(sf).map((m) => [m.name, m]));
    return async (name, ...params) => methods.get(name)!.handler(params);
  }

  it('has Kamailio names', () => {
    expect(secfilterRpcMethods(makeFilter()).map((m) => m.name).sort()).toEqual(
      ['add_bl', 'add_dst', 'add_wl', 'del_bl', 'del_dst', 'del_wl', 'print', 'reload', 'stats', 'stats_reset'].map((n) => `secfilter.${n}`),
    );
  });

  it('add/del lists and destinations in memory', async () => {
    const sf = makeFilter();
    const call = rpc(sf);
    expect(await call('secfilter.add_bl', 'ua', 'sipsak')).toBe('Values (ua, sipsak) inserted into blacklist');
    expect(sf.checkUa('sipsak 0.9')).toBe(-2);
    expect(await call('secfilter.add_wl', 'u', 'sipsak 0.9')).toBe('Values (ua, sipsak 0.9) inserted into whitelist'); // `u` = ua
    expect(sf.checkUa('sipsak 0.9.8')).toBe(2);
    expect(await call('secfilter.add_dst', '+34600000000')).toBe('Values (+34600000000) inserted into blacklist destinations');
    expect(sf.checkDst('+34600000000')).toBe(-2); // the plus survives (string, not int)
    expect(await call('secfilter.add_dst', 123)).toMatch(/123/);
    expect(await call('secfilter.del_dst', '+346')).toMatch(/removed/);
    expect(sf.checkDst('+34600000000')).toBe(1);
    await call('secfilter.add_bl', 'user', 'attacker2');
    expect(await call('secfilter.del_bl', 'user', 'attack')).toBe('Values (user, attack) removed from blacklist (2 entries)');
    await expect(call('secfilter.del_wl', 'user', 'nobody')).rejects.toSatisfy((e) => e instanceof RpcFault && e.faultCode === 500);
    await expect(call('secfilter.add_bl', 'color', 'red')).rejects.toSatisfy((e) => e instanceof RpcFault && e.faultCode === 400);
    await expect(call('secfilter.add_bl', 'ua')).rejects.toThrow(/Usage: secfilter.add_bl type value/);
  });

  it('print, stats, stats_reset', async () => {
    const sf = makeFilter();
    const call = rpc(sf);
    const all = (await call('secfilter.print')) as Record<string, RpcValue>;
    expect(Object.keys(all)).toEqual(['Destinations', 'User-Agent', 'Country', 'Domain', 'IP-Address', 'Username']);
    expect(all['Username']).toEqual({ Blacklisted: ['attacker'], Whitelisted: ['boss'] });
    expect(await call('secfilter.print', 'dst')).toEqual({ Destinations: { Blacklisted: ['0900'] } });
    sf.checkUa('friendly-scanner');
    sf.checkDst('0900');
    const st = (await call('secfilter.stats')) as { Blacklist: Record<string, number>; Other: Record<string, number> };
    expect(st.Blacklist['User-Agent']).toBe(1);
    expect(st.Other['Destination']).toBe(1);
    expect(await call('secfilter.stats_reset')).toBe('Statistics reset');
    expect(((await call('secfilter.stats')) as { Blacklist: Record<string, number> }).Blacklist['User-Agent']).toBe(0);
  });

  it('reload faults: no source, ongoing reload', async () => {
    const call = rpc(new SecFilter());
    await expect(call('secfilter.reload')).rejects.toThrow(/Error loading data from database/);
    let release!: () => void;
    const slow = new SecFilter({
      reloadDelta: 0,
      source: { description: 'slow', load: () => new Promise((r) => (release = () => r([]))) },
    });
    const c2 = rpc(slow);
    const first = c2('secfilter.reload');
    await expect(c2('secfilter.reload')).rejects.toThrow('ongoing reload');
    release();
    expect(await first).toBe('Data reloaded');
  });
});
