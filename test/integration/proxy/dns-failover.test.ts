/**
 * RFC 3263 §4.3 failover (Kamailio use_dns_failover) through the stateful proxy over real UDP: the
 * Request-URI names a domain whose SRV records (served by test/helpers/dns-server.ts on 127.0.0.1)
 * point at two UASes; the first answers 503 or never answers (timer B, shortened), and the call
 * completes on the second as a new branch. Without failover, or with every target failing, the
 * caller gets the best final response.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Resolver } from '../../../host/proxy/resolver.js';
import { freePorts } from '../../helpers/ports.js';
import { TestDnsServer } from '../../helpers/dns-server.js';
import { Action, ProxyHarness, reply, request, sleep, TestUA, type HarnessOptions } from './harness.js';

let dnsServer: TestDnsServer;
beforeAll(async () => {
  dnsServer = await TestDnsServer.start();
});
afterAll(async () => {
  await dnsServer.close();
});

const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((o) => o.close()));
  dnsServer.clear();
});

const relay: HarnessOptions['router'] = (ctx, p) => {
  p.requestRelay(ctx as never);
  return Action.CONTINUE;
};

/** a proxy, a caller and two callees; _sip._udp.<domain> → callee 1 (priority 10), callee 2 (priority 20). */
async function setup(domain: string, o: Partial<HarnessOptions> = {}) {
  const ports = await freePorts(4);
  dnsServer.add(
    { type: 'SRV', name: `_sip._udp.${domain}`, priority: 10, weight: 1, port: ports[2]!, target: `first.${domain}` },
    { type: 'SRV', name: `_sip._udp.${domain}`, priority: 20, weight: 1, port: ports[3]!, target: `second.${domain}` },
    { type: 'A', name: `first.${domain}`, address: '127.0.0.1' },
    { type: 'A', name: `second.${domain}`, address: '127.0.0.1' },
  );
  const resolver = new Resolver({ servers: [dnsServer.server], timeoutMs: 500, tries: 1 });
  const proxy = await ProxyHarness.start(ports[0]!, { router: relay, resolver, timers: { fr: 600 }, ...o });
  const uac = await TestUA.bind(ports[1]!);
  const first = await TestUA.bind(ports[2]!);
  const second = await TestUA.bind(ports[3]!);
  opened.push(proxy, uac, first, second);
  const invite = (callId: string) => request({ ruri: `sip:bob@${domain}`, uacPort: ports[1]!, branch: `z9hG4bK-${callId}`, callId });
  return { ports, proxy, uac, first, second, invite };
}

describe('DNS failover (RFC 3263 §4.3)', () => {
  it('the first SRV target answers 503: the INVITE goes to the second, which completes the call', async () => {
    const { ports, proxy, uac, first, second, invite } = await setup('fo503.test');
    uac.send(invite('fo503'), ports[0]!);
    const got1 = await first.waitRequest('INVITE');
    first.send(reply(got1.msg, 503, 'Service Unavailable'), ports[0]!);
    await first.waitRequest('ACK'); // the proxy's hop-by-hop ACK for the 503
    const got2 = await second.waitRequest('INVITE');
    expect(got2.msg.requestUri).toBe('sip:bob@fo503.test');
    expect(got2.msg.vias[0]!.branch).not.toBe(got1.msg.vias[0]!.branch); // a new branch (new client transaction)
    expect(got2.msg.maxForwards).toBe(69); // decremented once, not per target
    second.send(reply(got2.msg, 200, 'OK', { contactPort: ports[3] }), ports[0]!);
    const ok = await uac.waitResponse(200);
    expect(ok.msg.vias.length).toBe(1);
    expect(uac.responses(503).length + uac.responses(500).length).toBe(0);
    expect(proxy.proxy.stats.dnsFailovers).toBe(1);
  });

  it('the first SRV target never answers: after timer B the second gets the INVITE', async () => {
    const { ports, proxy, uac, first, second, invite } = await setup('fotimeout.test');
    const t0 = Date.now();
    uac.send(invite('fotimeout'), ports[0]!);
    await first.waitRequest('INVITE'); // black hole: no answer at all
    const got2 = await second.waitRequest('INVITE', 4000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(550); // fr = 600 ms
    second.send(reply(got2.msg, 180, 'Ringing'), ports[0]!);
    await uac.waitResponse(180);
    second.send(reply(got2.msg, 200, 'OK', { contactPort: ports[3] }), ports[0]!);
    await uac.waitResponse(200);
    expect(uac.responses(408).length).toBe(0);
    expect(proxy.proxy.stats.dnsFailovers).toBe(1);
  });

  it('every target fails: one final upstream (503 becomes 500, §16.7 step 6), no third branch', async () => {
    const { ports, proxy, uac, first, second, invite } = await setup('foall.test');
    uac.send(invite('foall'), ports[0]!);
    const got1 = await first.waitRequest('INVITE');
    first.send(reply(got1.msg, 503, 'Service Unavailable'), ports[0]!);
    const got2 = await second.waitRequest('INVITE');
    second.send(reply(got2.msg, 503, 'Service Unavailable'), ports[0]!);
    await uac.waitResponse(500);
    await sleep(100);
    expect(uac.received.filter((r) => r.msg.kind === 'response' && r.msg.status >= 300)).toHaveLength(1);
    expect(proxy.proxy.stats.dnsFailovers).toBe(1);
  });

  it('use_dns_failover off: the 503 ends the transaction, the second target is never tried', async () => {
    const { ports, uac, first, second, invite } = await setup('fooff.test', { dnsFailover: false });
    uac.send(invite('fooff'), ports[0]!);
    const got1 = await first.waitRequest('INVITE');
    first.send(reply(got1.msg, 503, 'Service Unavailable'), ports[0]!);
    await uac.waitResponse(500);
    await sleep(100);
    expect(second.requests('INVITE')).toHaveLength(0);
  });

  it('a target that sent a provisional and then timed out is not failed over (it is alive)', async () => {
    const { ports, uac, first, second, invite } = await setup('foprov.test', { timers: { fr: 600, frInv: 600 } });
    uac.send(invite('foprov'), ports[0]!);
    const got1 = await first.waitRequest('INVITE');
    first.send(reply(got1.msg, 180, 'Ringing'), ports[0]!);
    await uac.waitResponse(180);
    await uac.waitResponse(408, 'INVITE', 4000); // fr_inv expired

    expect(second.requests('INVITE')).toHaveLength(0);
  });
});
