/**
 * A small stateful proxy over real UDP sockets on 127.0.0.1 for the proxy tests: the transport's
 * UdpListener, the SIP parser, the transaction layer and the proxy core, with a JavaScript
 * "request_route" standing in for the plugin (it calls the same ProxyCore methods the tm/rr
 * imports call). The UAs are plain dgram sockets.
 */
import dgram from 'node:dgram';
import pino from 'pino';
import { Action, type Endpoint, type MessageContext, type Proto } from '../../../host/core/context.js';
import { StatelessReplier } from '../../../host/core/sl.js';
import { ProxyCore, type Resolver, type TmHooks } from '../../../host/proxy/index.js';
import { parseMessage } from '../../../host/sip/parser.js';
import type { SipMessage } from '../../../host/sip/types.js';
import { TransactionLayer, type TransactionTimers } from '../../../host/transaction/index.js';
import { UdpListener } from '../../../host/transport/udp.js';
import type { Channel, MessageSink } from '../../../host/transport/types.js';

const log = pino({ level: 'silent' });

export class TestContext implements MessageContext {
  dstUri: string | null = null;
  replied = false;
  replyHeaders?: string[];
  readonly vars = new Map<string, string>();
  readonly log = log;
  constructor(
    readonly id: number,
    readonly msg: SipMessage,
    readonly source: Endpoint,
    readonly channel: Channel,
  ) {}
  get local(): Endpoint {
    return this.channel.local;
  }
  slReply(): boolean {
    return false;
  }
}

export type Router = (ctx: TestContext, proxy: ProxyCore) => Action;

export interface HarnessOptions {
  timers?: Partial<TransactionTimers>;
  router: Router;
  hooks?: TmHooks;
  /** the next-hop resolver (RFC 3263 tests pass one asking a test DNS server). */
  resolver?: Resolver;
  /** use_dns_failover (default on). */
  dnsFailover?: boolean;
}

export class ProxyHarness implements MessageSink {
  readonly listener: UdpListener;
  readonly layer: TransactionLayer;
  readonly proxy: ProxyCore;
  router: Router;
  hooks: TmHooks | null;
  readonly routed: TestContext[] = [];
  private nextId = 1;

  constructor(
    readonly port: number,
    opts: HarnessOptions,
  ) {
    this.router = opts.router;
    this.hooks = opts.hooks ?? null;
    this.listener = new UdpListener({
      address: { proto: 'udp', host: '127.0.0.1', port, family: 4, uri: `udp:127.0.0.1:${port}` },
      sink: this,
      log,
    });
    this.layer = new TransactionLayer({ log, timers: opts.timers });
    const listener = this.listener;
    this.proxy = new ProxyCore({
      layer: this.layer,
      log,
      replies: new StatelessReplier({ serverHeader: 'siphon-test', tagSeed: `test:${port}` }),
      isMyself: (host, p) => host === '127.0.0.1' && (p ?? 5060) === port,
      channels: { channelFor: (proto: Proto, family: 4 | 6) => (proto === 'udp' && family === 4 ? listener : null), hasTransport: (p: Proto) => p === 'udp' },
      resolver: opts.resolver,
      dnsFailover: opts.dnsFailover,
    });
  }

  static async start(port: number, opts: HarnessOptions): Promise<ProxyHarness> {
    const h = new ProxyHarness(port, opts);
    await h.listener.start();
    return h;
  }

  receive(buf: Buffer, source: Endpoint, channel: Channel): void {
    const r = parseMessage(buf);
    if (!r.ok) return;
    const msg = r.message;
    if (msg.kind === 'response') {
      this.proxy.receiveResponse(msg, source);
      return;
    }
    if (this.proxy.receiveRequest(msg, source, channel)) return;
    const ctx = new TestContext(this.nextId++, msg, source, channel);
    this.routed.push(ctx);
    this.proxy.setActiveHooks(this.hooks);
    const action = this.router(ctx, this.proxy);
    this.proxy.afterRequestRoute(ctx, action); // still under the routing plugin: the transaction pins it
    this.proxy.setActiveHooks(null);
  }

  async close(): Promise<void> {
    this.layer.close();
    await this.listener.close();
  }
}

export interface Received {
  msg: SipMessage;
  text: string;
  from: number;
}

/** A UDP user agent that records everything it receives. */
export class TestUA {
  readonly received: Received[] = [];
  private waiters: Array<() => void> = [];
  private constructor(
    readonly socket: dgram.Socket,
    readonly port: number,
    /** the loopback address it is bound to (and sends to): 127.0.0.1 or ::1. */
    readonly host = '127.0.0.1',
  ) {
    socket.on('message', (buf, rinfo) => {
      const r = parseMessage(buf);
      if (!r.ok) return;
      this.received.push({ msg: r.message, text: buf.toString('utf8'), from: rinfo.port });
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** a UA on 127.0.0.1:port, or on [::1]:port with host '::1'. */
  static bind(port: number, host = '127.0.0.1'): Promise<TestUA> {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => resolve(new TestUA(socket, port, host)));
    });
  }

  send(text: string, port: number): void {
    this.socket.send(Buffer.from(text.replace(/\r?\n/g, '\r\n')), port, this.host);
  }

  /** requests received with that method / responses with that status. */
  requests(method: string): Received[] {
    return this.received.filter((r) => r.msg.kind === 'request' && r.msg.method === method);
  }

  responses(status: number, method?: string): Received[] {
    return this.received.filter((r) => r.msg.kind === 'response' && r.msg.status === status && (method === undefined || r.msg.method === method));
  }

  /** resolves with the first received message matching `pred` (already received ones count). */
  async waitFor(pred: (m: SipMessage) => boolean, timeoutMs = 4000, what = 'message'): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.find((r) => pred(r.msg));
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`UA ${this.port}: timed out waiting for ${what}; got: ${this.received.map((r) => r.text.split('\r\n')[0]).join(' | ')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  waitRequest(method: string, timeoutMs?: number): Promise<Received> {
    return this.waitFor((m) => m.kind === 'request' && m.method === method, timeoutMs, method);
  }

  waitResponse(status: number, method = 'INVITE', timeoutMs?: number): Promise<Received> {
    return this.waitFor((m) => m.kind === 'response' && m.status === status && m.method === method, timeoutMs, `${status} ${method}`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** An initial request from a UAC on `uacPort` through the proxy to `ruri`. */
export function request(o: {
  method?: string; ruri: string; uacPort: number; branch: string; callId: string; cseq?: number; toTag?: string;
  routes?: string[]; extra?: string[]; cseqMethod?: string;
}): string {
  const method = o.method ?? 'INVITE';
  return [
    `${method} ${o.ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${o.uacPort};rport;branch=${o.branch}`,
    ...(o.routes ?? []).map((r) => `Route: ${r}`),
    'Max-Forwards: 70',
    'From: "Alice" <sip:alice@127.0.0.1>;tag=alice1',
    `To: <sip:bob@127.0.0.1>${o.toTag ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId}`,
    `CSeq: ${o.cseq ?? 1} ${o.cseqMethod ?? method}`,
    `Contact: <sip:alice@127.0.0.1:${o.uacPort}>`,
    ...(o.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** A UAS response to a received request: every Via copied, To tag added for status > 100. */
export function reply(req: SipMessage, status: number, reason: string, o: { toTag?: string; contactPort?: number; copyRecordRoute?: boolean } = {}): string {
  const lines = [`SIP/2.0 ${status} ${reason}`];
  for (const v of req.headerValues('via')) lines.push(`Via: ${v}`);
  if (o.copyRecordRoute) for (const rr of req.headerValues('record-route')) lines.push(`Record-Route: ${rr}`);
  lines.push(`From: ${req.header('from')}`);
  const to = req.header('to')!;
  lines.push(`To: ${status > 100 && req.to?.tag === undefined ? `${to};tag=${o.toTag ?? 'bob1'}` : to}`);
  lines.push(`Call-ID: ${req.callId}`);
  lines.push(`CSeq: ${req.header('cseq')}`);
  if (o.contactPort !== undefined) lines.push(`Contact: <sip:bob@127.0.0.1:${o.contactPort}>`);
  lines.push('Content-Length: 0', '', '');
  return lines.join('\r\n');
}

export { Action };
