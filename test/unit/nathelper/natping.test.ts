/**
 * NAT keepalive rounds over a memory registrar, driven tick by tick (no timers): which contacts are
 * pinged and how (ping_nated_only / nat_bflag, sipping_bflag, natping_disable_bflag), a round spread
 * over natping_interval, natping_max_contacts, keepalive_timeout removing a silent contact, and
 * nathelper.enable_ping.
 */
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { NatPinger, NathelperStats, resolveNathelperConfig } from '../../../host/modules/nathelper/index.js';
import { nathelperRpcMethods } from '../../../host/modules/nathelper/rpc.js';
import type { LocalRequest, LocalRequestResult } from '../../../host/proxy/local-request.js';
import { LOCAL, memoryRegistrar, register, SRC } from '../registrar/helpers.js';

const log = pino({ level: 'silent' });
const NATB = 1 << 6;
const SIPPING = 1 << 7;

function rig(cfg: Record<string, unknown>, answer: (r: LocalRequest) => LocalRequestResult | null = () => ({ code: 200, reason: 'OK' })) {
  const { reg, clock } = memoryRegistrar({ max_contacts: 0 });
  const stats = new NathelperStats();
  const pinger = new NatPinger(resolveNathelperConfig(cfg), log, stats);
  const udp: string[] = [];
  const sip: LocalRequest[] = [];
  pinger.attach(reg, {
    sendUdp: (buf, address, port) => {
      expect([...buf]).toEqual([0, 0, 0, 0]);
      udp.push(`${address}:${port}`);
      return true;
    },
    sip: {
      request: (r) => {
        sip.push(r);
        const a = answer(r);
        return a === null ? new Promise(() => undefined) : Promise.resolve(a);
      },
    },
  });
  let n = 0;
  const add = (user: string, contact: string, bflags: number, received: string | null = null) =>
    reg.saveSync('location', register({ to: `sip:${user}@example.com`, callId: `c${++n}`, contacts: [`<${contact}>`] }), SRC, LOCAL, 0, { bflags, received });
  return { reg, clock, pinger, stats, udp, sip, add };
}

describe('NAT keepalives', () => {
  it('pings NATed contacts at their received address: 4 zero bytes, or SIP for sipping_bflag', async () => {
    const { pinger, stats, udp, sip, add } = rig({ natping_interval: 1, ping_nated_only: 1, nat_bflag: 6, sipping_bflag: 7, sipping_from: 'sip:pinger@example.com' });
    add('udp', 'sip:udp@192.168.1.5:5062', NATB, 'sip:203.0.113.7:40000');
    add('sip', 'sip:sip@192.168.1.6:5062', NATB | SIPPING, 'sip:203.0.113.8:40001');
    add('public', 'sip:public@203.0.113.9', 0);
    add('tcp', 'sip:tcp@10.0.0.1;transport=tcp', NATB);
    add('named', 'sip:named@pc.example.com', NATB);
    pinger.onTick();
    await new Promise((r) => setImmediate(r));
    expect(udp).toEqual(['203.0.113.7:40000']);
    expect(sip).toEqual([{ method: 'OPTIONS', uri: 'sip:sip@192.168.1.6:5062', from: 'sip:pinger@example.com', fromTag: expect.any(String), dstUri: 'sip:203.0.113.8:40001', timeoutMs: 5000 }]);
    expect(stats.skipped).toBe(2); // TCP, and a host name
    expect(stats.sipReplies).toBe(1);
    // ping_nated_only 0: every contact (the public one too); natping_disable_bflag excludes
    const all = rig({ natping_interval: 1, natping_disable_bflag: 6 });
    all.add('a', 'sip:a@203.0.113.9:5070', 0);
    all.add('b', 'sip:b@203.0.113.10', NATB);
    all.pinger.onTick();
    expect(all.udp).toEqual(['203.0.113.9:5070']);
  });

  it('spreads a round over the interval and caps it at natping_max_contacts', () => {
    const { pinger, stats, udp, add } = rig({ natping_interval: 4, natping_max_contacts: 8 });
    for (let i = 0; i < 12; i++) add(`u${i}`, `sip:u${i}@203.0.113.${i + 1}`, 0);
    pinger.onTick();
    expect(pinger.roundSize).toBe(8);
    expect(stats.capped).toBe(4);
    expect(udp).toHaveLength(2); // 8 contacts over 4 seconds
    for (let t = 0; t < 3; t++) pinger.onTick();
    expect(udp).toHaveLength(8);
    pinger.onTick(); // the next round
    expect(stats.rounds).toBe(2);
    expect(udp).toHaveLength(10);
  });

  it('removes a SIP-pinged contact that answers nothing for keepalive_timeout; answering ones stay', async () => {
    const { reg, clock, pinger, stats, add } = rig(
      { natping_interval: 1, ping_nated_only: 1, nat_bflag: 6, sipping_bflag: 7, sipping_from: 'sip:pinger@example.com', keepalive_timeout: 3 },
      (r) => (r.uri.startsWith('sip:alive') ? { code: 200, reason: 'OK' } : { timeout: true }),
    );
    add('alive', 'sip:alive@192.168.1.5:5062', NATB | SIPPING, 'sip:203.0.113.7:40000');
    add('dead', 'sip:dead@192.168.1.6:5062', NATB | SIPPING, 'sip:203.0.113.8:40000');
    for (let s = 0; s < 6; s++) {
      pinger.onTick();
      await new Promise((r) => setImmediate(r));
      clock.advance(1);
    }
    expect(reg.registeredSync('location', 'sip:dead@example.com')).toBe(-1);
    expect(reg.registeredSync('location', 'sip:alive@example.com')).toBe(1);
    expect(stats.removed).toBe(1);
    expect(stats.sipTimeouts).toBeGreaterThanOrEqual(3);
  });

  it('at most sipping_max_inflight SIP pings wait for an answer; the rest wait for a later round', async () => {
    const { pinger, stats, sip, add } = rig(
      { natping_interval: 1, sipping_bflag: 7, sipping_from: 'sip:pinger@example.com', sipping_max_inflight: 3 },
      () => null, // nobody answers
    );
    for (let i = 0; i < 10; i++) add(`s${i}`, `sip:s${i}@192.168.1.${i + 1}:5062`, SIPPING, `sip:203.0.113.${i + 1}:40000`);
    pinger.onTick();
    pinger.onTick();
    expect(sip).toHaveLength(3);
    expect(stats.inflightCapped).toBe(17);
  });

  it('nathelper.enable_ping 0 stops the rounds, 1 restarts them', () => {
    const { pinger, udp, add } = rig({ natping_interval: 1 });
    add('a', 'sip:a@203.0.113.9', 0);
    const [enable, status] = nathelperRpcMethods(pinger);
    expect(enable!.handler(['0'], {} as never)).toEqual({ enabled: 0 });
    pinger.onTick();
    expect(udp).toHaveLength(0);
    expect(enable!.handler([1], {} as never)).toEqual({ enabled: 1 });
    pinger.onTick();
    expect(udp).toHaveLength(1);
    expect(status!.handler([], {} as never)).toEqual({ enabled: 1, natping_interval: 1, round_contacts: 1 });
    expect(() => enable!.handler(['x'], {} as never)).toThrow(/invalid parameter/);
  });
});
