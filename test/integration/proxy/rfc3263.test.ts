/**
 * RFC 3263 §4 next-hop selection against a real DNS server on 127.0.0.1 (test/helpers/dns-server.ts,
 * queried by node:dns/c-ares over UDP and TCP): NAPTR picks the transport, SRV priority and weights
 * order the targets, A/AAAA give the addresses; the cache honours TTLs and bounds; hostile zones
 * (huge answer sets, CNAME loops, over-long names, a dead server) stay bounded.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { nextHopOf, Resolver, type NextHop } from '../../../host/proxy/resolver.js';
import type { Proto } from '../../../host/core/context.js';
import { TestDnsServer } from '../../helpers/dns-server.js';

let dnsServer: TestDnsServer;
beforeAll(async () => {
  dnsServer = await TestDnsServer.start();
});
afterAll(async () => {
  await dnsServer.close();
});
beforeEach(() => dnsServer.clear());

function resolver(o: ConstructorParameters<typeof Resolver>[0] = {}): Resolver {
  return new Resolver({ servers: [dnsServer.server], timeoutMs: 300, tries: 1, ...o });
}

function hop(uri: string): NextHop {
  const h = nextHopOf(uri);
  if (h === null) throw new Error(`no hop for ${uri}`);
  return h;
}

const naptr = (name: string, order: number, pref: number, service: string, replacement: string) =>
  ({ type: 'NAPTR', name, order, preference: pref, flags: 's', service, replacement }) as const;
const srv = (name: string, priority: number, weight: number, port: number, target: string, ttl?: number) =>
  ({ type: 'SRV', name, priority, weight, port, target, ttl }) as const;
const a = (name: string, address: string, ttl?: number) => ({ type: 'A', name, address, ttl }) as const;

describe('RFC 3263 target selection over a real DNS server', () => {
  it('NAPTR picks TCP over UDP by order, then SRV and A give address and port', async () => {
    dnsServer.add(
      naptr('example.test', 10, 10, 'SIP+D2T', '_sip._tcp.example.test'),
      naptr('example.test', 20, 10, 'SIP+D2U', '_sip._udp.example.test'),
      srv('_sip._tcp.example.test', 10, 1, 5070, 'tcp1.example.test'),
      srv('_sip._udp.example.test', 10, 1, 5080, 'udp1.example.test'),
      a('tcp1.example.test', '127.0.0.11'),
      a('udp1.example.test', '127.0.0.12'),
    );
    const r = resolver();
    const t = await r.resolveTargets(hop('sip:bob@example.test'));
    expect(t).toEqual([
      { address: '127.0.0.11', family: 4, port: 5070, proto: 'tcp' },
      { address: '127.0.0.12', family: 4, port: 5080, proto: 'udp' },
    ]);
    // the same answer comes from the cache now, without waiting
    expect(r.targetsCached(hop('sip:bob@example.test'))).toEqual(t);
    // a node without a TCP listener is offered UDP only (RFC 3263 §4.1: transports it supports)
    const udpOnly = resolver();
    udpOnly.supports = (p: Proto) => p === 'udp';
    expect(await udpOnly.resolveTargets(hop('sip:bob@example.test'))).toEqual([{ address: '127.0.0.12', family: 4, port: 5080, proto: 'udp' }]);
    // a sips URI follows SIPS+D2T only: none here, no _sips._tcp SRV, so A/AAAA of the host on 5061 (none: unresolvable)
    expect(await r.resolveTargets(hop('sips:bob@example.test'))).toBeNull();
  });

  it('without NAPTR: SRV of _sip._udp first; ;transport= asks that SRV only; a port skips SRV', async () => {
    dnsServer.add(
      srv('_sip._udp.plain.test', 1, 1, 5090, 'u.plain.test'),
      srv('_sip._tcp.plain.test', 1, 1, 5091, 't.plain.test'),
      a('u.plain.test', '127.0.0.21'),
      a('t.plain.test', '127.0.0.22'),
      a('plain.test', '127.0.0.23'),
    );
    const r = resolver();
    expect(await r.resolveTargets(hop('sip:plain.test'))).toEqual([{ address: '127.0.0.21', family: 4, port: 5090, proto: 'udp' }]);
    expect(await r.resolveTargets(hop('sip:plain.test;transport=tcp'))).toEqual([{ address: '127.0.0.22', family: 4, port: 5091, proto: 'tcp' }]);
    expect(await r.resolveTargets(hop('sip:plain.test:5999'))).toEqual([{ address: '127.0.0.23', family: 4, port: 5999, proto: 'udp' }]);
    expect(dnsServer.count('_sip._udp.plain.test', 'SRV')).toBe(1);
    // no SRV, no NAPTR: A with 5060
    dnsServer.add(a('bare.test', '127.0.0.24'));
    expect(await r.resolveTargets(hop('sip:bare.test'))).toEqual([{ address: '127.0.0.24', family: 4, port: 5060, proto: 'udp' }]);
  });

  it('SRV priority order first, and weights share the load (RFC 2782)', async () => {
    dnsServer.add(
      srv('_sip._udp.w.test', 20, 0, 5000, 'backup.w.test'),
      srv('_sip._udp.w.test', 10, 80, 5001, 'heavy.w.test'),
      srv('_sip._udp.w.test', 10, 20, 5002, 'light.w.test'),
      a('backup.w.test', '127.0.0.30'),
      a('heavy.w.test', '127.0.0.31'),
      a('light.w.test', '127.0.0.32'),
    );
    const r = resolver({ tryNaptr: false });
    const first = await r.resolveTargets(hop('sip:w.test'));
    expect(first).toHaveLength(3);
    expect(first![2]!.address).toBe('127.0.0.30'); // the priority-20 target always last
    const counts = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const t = r.targetsCached(hop('sip:w.test'))!;
      counts.set(t[0]!.address, (counts.get(t[0]!.address) ?? 0) + 1);
    }
    const heavy = counts.get('127.0.0.31') ?? 0;
    expect(counts.get('127.0.0.30')).toBeUndefined();
    expect(heavy / 2000).toBeGreaterThan(0.72); // 80 % expected
    expect(heavy / 2000).toBeLessThan(0.88);
    // without srv_lb: heaviest first, always
    const fixed = resolver({ tryNaptr: false, srvLb: false });
    expect((await fixed.resolveTargets(hop('sip:w.test')))!.map((t) => t.port)).toEqual([5001, 5002, 5000]);
  });

  it('honours the TTL (clamped) and caches failures for negative_ttl', async () => {
    dnsServer.add(a('ttl.test', '127.0.0.40', 2));
    let now = 0;
    const r = resolver({ now: () => now, minTtlMs: 1000, negativeTtlMs: 500 });
    await r.resolveTargets(hop('sip:ttl.test:5060'));
    expect(dnsServer.count('ttl.test', 'A')).toBe(1);
    now = 1900;
    expect(r.targetsCached(hop('sip:ttl.test:5060'))).not.toBeUndefined();
    now = 2100; // past the record's 2 s TTL
    expect(r.targetsCached(hop('sip:ttl.test:5060'))).toBeUndefined();
    await r.resolveTargets(hop('sip:ttl.test:5060'));
    expect(dnsServer.count('ttl.test', 'A')).toBe(2);
    // an unknown name: negative for 500 ms
    expect(await r.resolveTargets(hop('sip:nxdomain.test:5060'))).toBeNull();
    expect(r.targetsCached(hop('sip:nxdomain.test:5060'))).toBeNull();
    now += 600;
    expect(r.targetsCached(hop('sip:nxdomain.test:5060'))).toBeUndefined();
    // TTL 0 is clamped to min_ttl: not looked up again at once
    dnsServer.add(a('zero.test', '127.0.0.41', 0));
    await r.resolveTargets(hop('sip:zero.test:5060'));
    now += 900;
    expect(r.targetsCached(hop('sip:zero.test:5060'))).toEqual([{ address: '127.0.0.41', family: 4, port: 5060, proto: 'udp' }]);
  });

  it('keeps at most max_entries record sets under many names', async () => {
    for (let i = 0; i < 300; i++) dnsServer.add(a(`n${i}.many.test`, `127.0.1.${i % 250}`));
    const r = resolver({ maxEntries: 50 });
    for (let i = 0; i < 300; i += 30) await Promise.all(Array.from({ length: 30 }, (_, k) => r.resolveTargets(hop(`sip:n${i + k}.many.test:5060`))));
    expect(r.size).toBe(50);
    expect(r.stats.evicted).toBe(250);
  });

  it('hostile zones stay bounded: 400 SRV records, 200 addresses, CNAME loops, long names, a dead server', async () => {
    for (let i = 0; i < 400; i++) dnsServer.add(srv('_sip._udp.huge.test', i % 3, 1, 6000 + i, `t${i}.huge.test`));
    for (let i = 0; i < 400; i++) dnsServer.add(a(`t${i}.huge.test`, '127.0.0.50'));
    for (let i = 0; i < 200; i++) dnsServer.add(a('wide.test', `127.0.2.${i}`));
    dnsServer.add(
      { type: 'CNAME', name: 'loop1.test', target: 'loop2.test' },
      { type: 'CNAME', name: 'loop2.test', target: 'loop1.test' },
    );
    const r = resolver({ maxTargets: 8 });
    const huge = await r.resolveTargets(hop('sip:huge.test'));
    expect(huge).toHaveLength(8); // max_targets
    expect(huge!.every((t) => t.port >= 6000)).toBe(true);
    // 16 SRV records kept (the lowest priorities), so 16 address lookups, not 400
    let aQueries = 0;
    for (let i = 0; i < 400; i++) aQueries += dnsServer.count(`t${i}.huge.test`, 'A');
    expect(aQueries).toBeLessThanOrEqual(16);
    const wide = await r.resolveTargets(hop('sip:wide.test:5060'));
    expect(wide).toHaveLength(8);
    expect(await r.resolveTargets(hop('sip:loop1.test:5060'))).toBeNull();
    expect(await r.resolveTargets(hop(`sip:${'a'.repeat(250)}.test:5060`))).toBeNull();
    expect(dnsServer.count(`${'a'.repeat(250)}.test`, 'A')).toBe(0);
    // a server that never answers: the query times out (300 ms, 1 try) and the name is unresolvable
    dnsServer.blackhole('dead.test');
    const t0 = Date.now();
    expect(await r.resolveTargets(hop('sip:dead.test:5060'))).toBeNull();
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(r.size).toBeLessThanOrEqual(4096);
  });
});
