/**
 * RFC 5923 connection reuse through the real pipeline: a caller on TCP that listens nowhere puts
 * `;alias` in its Via; the callee's in-dialog BYE (sent to the caller's Contact, the Via port)
 * reaches it over the caller's own connection instead of a new dial. Without `;alias` the same
 * BYE needs a connection nobody accepts and fails. The alias table stays at one entry per
 * connection and empties when the connection closes; the alias is the connection's own address.
 */
import net from 'node:net';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../host/config/load.js';
import { SiphonServer } from '../../../host/server/server.js';
import type { SipMessage } from '../../../host/sip/types.js';
import { viaAliasPort } from '../../../host/transport/alias.js';
import type { TcpListener } from '../../../host/transport/tcp.js';
import { loadPlugin } from '../../../host/wasm/runtime.js';
import type { LoadedPlugin } from '../../../host/wasm/types.js';
// @ts-expect-error: plain ESM script without type declarations
import { buildPlugin } from '../../../scripts/build-plugins.mjs';
import { freePort, freePorts } from '../../helpers/ports.js';
import { reply, request, TestUA } from './harness.js';
import { StreamLog } from './stream-log.js';

const PLUGINS = path.resolve(import.meta.dirname, 'plugins');
const log = pino({ level: 'silent' });
const ports = await freePorts(3);
const P = ports[0]!;
let server: SiphonServer;
let plugin: LoadedPlugin;
let uas: TestUA;
let tcp: TcpListener;

/** a SIP client over one TCP connection (no listening socket). */
class TcpClient {
  readonly log = new StreamLog();
  private constructor(readonly sock: net.Socket) {
    this.log.attach(sock);
  }

  get got(): SipMessage[] {
    return this.log.got;
  }

  static connect(port: number): Promise<TcpClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new TcpClient(s)));
      s.once('error', reject);
    });
  }

  send(text: string): void {
    this.sock.write(text.replace(/\r?\n/g, '\r\n'));
  }

  wait(pred: (m: SipMessage) => boolean, what: string): Promise<SipMessage> {
    return this.log.wait(pred, what);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.sock.once('close', () => resolve());
      this.sock.destroy();
    });
  }
}

beforeAll(async () => {
  await buildPlugin(PLUGINS, 'tm-probe');
  const yaml = ['core:', '  listen:', `    - udp:127.0.0.1:${P}`, `    - tcp:127.0.0.1:${P}`, 'routing:', '  plugin: tm-probe'];
  const config = parseConfig(yaml.join('\n'), null);
  server = new SiphonServer({ config, log, router: null, transactions: { timers: { t1: 100, fr: 1500 } } });
  plugin = await loadPlugin(path.join(PLUGINS, 'tm-probe', 'build', 'tm-probe.wasm'), {
    log, providers: server.importProviders(), isMyself: server.isMyself, config: { tag: 'alias' },
  });
  server.setRouter(plugin);
  await server.start();
  tcp = server.listenerFor(`tcp:127.0.0.1:${P}`) as unknown as TcpListener;
  uas = await TestUA.bind(ports[1]!);
}, 90_000);

afterAll(async () => {
  await server?.stop();
  plugin?.close();
  await uas?.close();
});

/** INVITE over `client` (Via sent-by 127.0.0.1:viaPort, `;alias` when asked) answered 200 by the UDP callee; the callee's view. */
async function call(client: TcpClient, callId: string, viaPort: number, alias: boolean): Promise<{ inv: SipMessage; routes: string[] }> {
  const via = `Via: SIP/2.0/TCP 127.0.0.1:${viaPort};branch=z9hG4bK-${callId}${alias ? ';alias' : ''}`;
  const text = request({ ruri: `sip:bob@127.0.0.1:${ports[1]}`, uacPort: viaPort, branch: `z9hG4bK-${callId}`, callId })
    .replace(/^Via: .*$/m, via)
    .replace(/^Contact: .*$/m, `Contact: <sip:alice@127.0.0.1:${viaPort};transport=tcp>`);
  client.send(text);
  const got = await uas.waitFor((m) => m.method === 'INVITE' && m.callId === callId);
  uas.send(reply(got.msg, 200, 'OK', { contactPort: ports[1], copyRecordRoute: true }), P);
  await client.wait((m) => m.status === 200 && m.callId === callId, '200');
  // the callee's route set: the Record-Route it received, in order (RFC 3261 §12.1.1)
  return { inv: got.msg, routes: got.msg.headerValues('record-route') };
}

/** the callee's BYE towards the caller's Contact, through the proxy (Route = the Record-Route it saw). */
function calleeBye(callId: string, contactPort: number, routes: string[]): void {
  uas.send(
    [
      `BYE sip:alice@127.0.0.1:${contactPort};transport=tcp SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${ports[1]};rport;branch=z9hG4bK-bye-${callId}`,
      ...routes.map((r) => `Route: ${r}`),
      'Max-Forwards: 70',
      'From: <sip:bob@127.0.0.1>;tag=bob1',
      'To: "Alice" <sip:alice@127.0.0.1>;tag=alice1',
      `Call-ID: ${callId}`,
      'CSeq: 1 BYE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    P,
  );
}

describe('RFC 5923 connection aliases', () => {
  it('the top Via alias parameter and its port are read from the raw request (any case, IPv6 sent-by, default port)', () => {
    const req = (via: string) => Buffer.from(`BYE sip:x@h SIP/2.0\r\nFrom: <sip:a@b>\r\nVia: ${via}\r\nVia: SIP/2.0/TCP other:1;alias\r\n\r\n`);
    expect(viaAliasPort(req('SIP/2.0/TCP 10.0.0.1:5072;branch=z9hG4bK1;alias'), 5060)).toBe(5072);
    expect(viaAliasPort(req('SIP/2.0/TLS [2001:db8::1]:5081 ;ALIAS;branch=z'), 5061)).toBe(5081);
    expect(viaAliasPort(req('SIP/2.0/TCP host.example;alias'), 5060)).toBe(5060);
    expect(viaAliasPort(req('SIP/2.0/TCP 10.0.0.1:5072;branch=z9hG4bK1'), 5060)).toBe(-1); // only the top Via counts
    expect(viaAliasPort(req('SIP/2.0/TCP 10.0.0.1:99999;alias'), 5060)).toBe(-1);
    expect(viaAliasPort(Buffer.from('SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 1.2.3.4:5;alias\r\n\r\n'), 5060)).toBe(-1); // responses: no
  });

  it('an in-dialog BYE to a caller that listens nowhere reuses its connection (;alias)', async () => {
    const client = await TcpClient.connect(P);
    try {
      const viaPort = await freePort('tcp'); // nobody listens there
      const { routes } = await call(client, 'alias1', viaPort, true);
      expect(tcp.aliasCount).toBe(1);
      calleeBye('alias1', viaPort, routes);
      const bye = await client.wait((m) => m.method === 'BYE' && m.callId === 'alias1', 'BYE over the alias');
      expect(bye.vias[0]!.transport).toBe('TCP');
      client.send(reply(bye, 200, 'OK'));
      await uas.waitFor((m) => m.kind === 'response' && m.status === 200 && m.method === 'BYE' && m.callId === 'alias1');
    } finally {
      await client.close();
    }
    // the alias goes with its connection
    const deadline = Date.now() + 2000;
    while (tcp.aliasCount !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(tcp.aliasCount).toBe(0);
  });

  it('without ;alias the BYE needs a new connection to a port nobody listens on: it fails (500 upstream)', async () => {
    const client = await TcpClient.connect(P);
    try {
      const viaPort = await freePort('tcp');
      const { routes } = await call(client, 'noalias1', viaPort, false);
      expect(tcp.aliasCount).toBe(0);
      calleeBye('noalias1', viaPort, routes);
      const r = await uas.waitFor((m) => m.kind === 'response' && m.method === 'BYE' && m.callId === 'noalias1' && m.status >= 300);
      expect(r.msg.status).toBe(500); // the branch's 503 (connect refused, §17.1.4) goes up as 500 (§16.7 step 6)
      expect(client.got.some((m) => m.method === 'BYE')).toBe(false);
    } finally {
      await client.close();
    }
  });

  it('bounded: one alias per connection (the latest), keyed by the connection address, not the Via host', async () => {
    const client = await TcpClient.connect(P);
    try {
      const [p1, p2] = [await freePort('tcp'), await freePort('tcp')];
      for (const [i, p] of [p1, p2, p1, p2].entries()) {
        client.send(
          request({ method: 'OPTIONS', ruri: `sip:127.0.0.1:${P}`, uacPort: p, branch: `z9hG4bK-opt${i}`, callId: `opt${i}@alias` })
            .replace(/^Via: .*$/m, `Via: SIP/2.0/TCP 10.9.9.9:${p};branch=z9hG4bK-opt${i};alias`),
        );
      }
      await client.wait((m) => m.kind === 'response' && m.callId === 'opt3@alias', 'the 4th OPTIONS answer');
      expect(tcp.aliasCount).toBe(1);
      // the claim of 10.9.9.9 is not honoured: the alias is this connection's 127.0.0.1 with the Via port
      expect(tcp.channelTo('127.0.0.1', p2)).toBe(tcp.channelTo('127.0.0.1', p2));
      expect((tcp.channelTo('127.0.0.1', p2) as { id?: number }).id).toBeTypeOf('number'); // a TcpConnection
      expect((tcp.channelTo('10.9.9.9', p2) as { id?: number }).id).toBeUndefined(); // would dial
      expect((tcp.channelTo('127.0.0.1', p1) as { id?: number }).id).toBeUndefined(); // replaced by the latest
    } finally {
      await client.close();
    }
  });
});
