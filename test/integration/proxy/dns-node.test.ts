/**
 * RFC 3263 and IPv6 through the real pipeline: a SiphonServer with transactions, the tm-probe Wasm
 * plugin (record_route, branch_route, failure_route), listeners on UDP 127.0.0.1, UDP [::1] and TCP
 * 127.0.0.1, and core.dns.servers pointing at the test DNS server (test/helpers/dns-server.ts).
 *   - NAPTR chooses TCP: the INVITE reaches a TCP-only callee found through NAPTR → SRV → A;
 *   - failover: the first SRV target answers 503, the second gets the INVITE as a new branch, and
 *     failure_route runs only once both failed;
 *   - IPv6 (RFC 5118): sip:bob@[::1]:PORT is relayed over IPv6 with a bracketed Via and a double
 *     Record-Route (IPv4 in, IPv6 out).
 */
import net from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasIpv6Loopback, parseConfig } from '../../../host/config/load.js';
import { SiphonServer } from '../../../host/server/server.js';
import type { SipMessage } from '../../../host/sip/types.js';
import { loadPlugin } from '../../../host/wasm/runtime.js';
import type { LoadedPlugin } from '../../../host/wasm/types.js';
// @ts-expect-error: plain ESM script without type declarations
import { buildPlugin } from '../../../scripts/build-plugins.mjs';
import { freePort, freePorts } from '../../helpers/ports.js';
import { TestDnsServer } from '../../helpers/dns-server.js';
import { reply, request, TestUA } from './harness.js';
import { StreamLog } from './stream-log.js';

const IPV6 = hasIpv6Loopback();
const PLUGINS = path.resolve(import.meta.dirname, 'plugins');
const log = pino({ level: 'silent' });
const ports = await freePorts(6);
const P = ports[0]!;
let server: SiphonServer;
let plugin: LoadedPlugin;
let dnsServer: TestDnsServer;
let uac: TestUA;

/** a SIP UAS on TCP 127.0.0.1: the requests it got, answered by `answer` over the same connection. */
class TcpUas {
  readonly log = new StreamLog();
  private readonly sockets = new Set<net.Socket>();
  constructor(
    readonly server: net.Server,
    readonly port: number,
    answer: (req: SipMessage) => string | null,
  ) {
    server.on('connection', (sock) => {
      this.sockets.add(sock);
      this.log.attach(sock, (m) => (m.kind === 'request' ? answer(m) : null));
    });
  }

  static async start(answer: (req: SipMessage) => string | null): Promise<TcpUas> {
    const port = await freePort('tcp');
    const srv = net.createServer();
    await new Promise<void>((resolve) => srv.listen(port, '127.0.0.1', () => resolve()));
    return new TcpUas(srv, port, answer);
  }

  waitRequest(method: string): Promise<SipMessage> {
    return this.log.wait((m) => m.method === method, method);
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

beforeAll(async () => {
  dnsServer = await TestDnsServer.start();
  await buildPlugin(PLUGINS, 'tm-probe');
  const listen = [`udp:127.0.0.1:${P}`, `tcp:127.0.0.1:${P}`, ...(IPV6 ? [`udp:[::1]:${P}`] : [])];
  const yaml = ['core:', '  listen:', ...listen.map((l) => `    - ${l}`), `  dns: { servers: ["${dnsServer.server}"], timeout: 500, tries: 1 }`, 'routing:', '  plugin: tm-probe'];
  const config = parseConfig(yaml.join('\n'), null);
  server = new SiphonServer({ config, log, router: null, transactions: { timers: { t1: 100, fr: 1500 } } });
  plugin = await loadPlugin(path.join(PLUGINS, 'tm-probe', 'build', 'tm-probe.wasm'), {
    log, providers: server.importProviders(), isMyself: server.isMyself, config: { tag: 'dns' },
  });
  server.setRouter(plugin);
  await server.start();
  uac = await TestUA.bind(ports[1]!);
}, 90_000);

afterAll(async () => {
  await server?.stop();
  plugin?.close();
  await uac?.close();
  await dnsServer?.close();
});

describe('RFC 3263 in the pipeline', () => {
  it('NAPTR selects TCP: the INVITE reaches a TCP-only callee through NAPTR → SRV → A', async () => {
    const uas = await TcpUas.start((req) => (req.method === 'INVITE' ? reply(req, 200, 'OK', { contactPort: 5 }) : null));
    try {
      dnsServer.add(
        { type: 'NAPTR', name: 'tcp-only.test', order: 10, preference: 10, flags: 's', service: 'SIP+D2T', replacement: '_sip._tcp.tcp-only.test' },
        { type: 'NAPTR', name: 'tcp-only.test', order: 20, preference: 10, flags: 's', service: 'SIP+D2U', replacement: '_sip._udp.tcp-only.test' },
        { type: 'SRV', name: '_sip._tcp.tcp-only.test', priority: 1, weight: 1, port: uas.port, target: 'pbx.tcp-only.test' },
        { type: 'A', name: 'pbx.tcp-only.test', address: '127.0.0.1' },
      );
      uac.send(request({ ruri: 'sip:bob@tcp-only.test', uacPort: ports[1]!, branch: 'z9hG4bK-naptr1', callId: 'naptr1@test' }), P);
      const inv = await uas.waitRequest('INVITE');
      expect(inv.vias[0]!.transport).toBe('TCP');
      expect(inv.vias[0]!.host).toBe('127.0.0.1');
      expect(inv.requestUri).toBe('sip:bob@tcp-only.test');
      // Record-Route: UDP in, TCP out: both sockets recorded (double Record-Route)
      expect(inv.headerValues('record-route')[0]).toContain(';transport=tcp');
      await uac.waitResponse(200);
      expect(dnsServer.count('tcp-only.test', 'NAPTR')).toBe(1);
      expect(dnsServer.count('_sip._tcp.tcp-only.test', 'SRV')).toBe(1);
    } finally {
      await uas.close();
    }
  });

  it('failover before failure_route: 503 from the first SRV target, 486 from the second, then failure_route answers', async () => {
    const [a, b] = [await TestUA.bind(ports[2]!), await TestUA.bind(ports[3]!)];
    try {
      dnsServer.add(
        { type: 'SRV', name: '_sip._udp.fo.test', priority: 1, weight: 1, port: ports[2]!, target: 'a.fo.test' },
        { type: 'SRV', name: '_sip._udp.fo.test', priority: 2, weight: 1, port: ports[3]!, target: 'b.fo.test' },
        { type: 'A', name: 'a.fo.test', address: '127.0.0.1' },
        { type: 'A', name: 'b.fo.test', address: '127.0.0.1' },
      );
      uac.send(request({ ruri: 'sip:bob@fo.test', uacPort: ports[1]!, branch: 'z9hG4bK-fo1', callId: 'fo1@test' }), P);
      const got1 = await a.waitRequest('INVITE');
      expect(got1.msg.header('x-branch')).toBe('3 0 dns'); // branch_route ran on the first branch
      a.send(reply(got1.msg, 503, 'Service Unavailable'), P);
      const got2 = await b.waitRequest('INVITE');
      // the failover branch is the request as branch_route left it (one X-Branch), with a new Via
      expect(got2.msg.headerValues('x-branch')).toEqual(['3 0 dns']);
      expect(got2.msg.vias.length).toBe(2);
      expect(got2.msg.vias[0]!.branch).not.toBe(got1.msg.vias[0]!.branch);
      b.send(reply(got2.msg, 486, 'Busy Here'), P);
      const final = await uac.waitFor((m) => m.kind === 'response' && m.status >= 300 && m.callId === 'fo1@test');
      expect(final.msg.status).toBe(480); // failure_route's t_reply, after both targets
      expect(final.msg.reason).toBe('No Alternate 2 dns');
      expect(server.proxy!.stats.dnsFailovers).toBeGreaterThanOrEqual(1);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it.skipIf(!IPV6)('IPv6 (RFC 5118): sip:bob@[::1]:PORT is relayed over IPv6 with bracketed Via and Record-Route', async () => {
    const uas6 = await TestUA.bind(ports[4]!, '::1');
    try {
      const ruri = `sip:bob@[::1]:${ports[4]}`;
      uac.send(request({ ruri, uacPort: ports[1]!, branch: 'z9hG4bK-v6a', callId: 'v6a@test' }), P);
      const inv = await uas6.waitRequest('INVITE');
      expect(inv.text).toContain(`Via: SIP/2.0/UDP [::1]:${P};branch=z9hG4bK`);
      expect(inv.msg.vias[1]!.host).toBe('127.0.0.1');
      // IPv4 in, IPv6 out: both sockets record-routed, the outgoing one first (RFC 5118 §4.1 brackets)
      expect(inv.msg.headerValues('record-route')).toEqual([`<sip:[::1]:${P};r2=on;lr;ftag=alice1>`, `<sip:127.0.0.1:${P};r2=on;lr;ftag=alice1>`]);
      uas6.send(reply(inv.msg, 200, 'OK', { copyRecordRoute: true }), P);
      const ok = await uac.waitResponse(200);
      expect(ok.msg.vias.length).toBe(1);
    } finally {
      await uas6.close();
    }
  });
});
if (!IPV6) console.warn('dns-node.test: no IPv6 loopback on this host: the IPv6 relay case is skipped');
