/**
 * WebSocket listener (RFC 7118: SIP over WebSocket; RFC 6455), `ws:HOST:PORT` and, with the TLS
 * contexts of core.tls, `wss:HOST:PORT`. Each WebSocket message carries one SIP message (RFC 7118
 * §5). The framing, masking and handshake are the `ws` package's (the de-facto Node implementation;
 * writing RFC 6455 again would add risk, not value); what SIP needs is here:
 *
 * - the opening handshake must offer the `sip` subprotocol (RFC 7118 §4.1) and, when
 *   core.ws.origins is set, come from one of those Origins (a browser page of another site cannot
 *   use its visitors as SIP clients); otherwise it is refused with an HTTP error and closed;
 * - the core.tcp connection limits apply from accept on, before any HTTP: max_connections (of
 *   this listener), accept_iplimit per source address, and msg_data_timeout for a connection that
 *   never completes its upgrade; a message is at most core.max_message_size (close code 1009);
 * - keepalives: a WebSocket ping every core.ws.keepalive_interval seconds; a connection that did not
 *   answer the previous one is closed (Kamailio websocket keepalive_mechanism=ping);
 * - a connection's write queue is bounded by core.tcp.conn_wq_max (the connection is closed);
 * - requests to a WebSocket client go on its connection (the registrar stores the source as
 *   `received`, fix_nated_register): siphon never opens WebSocket connections, as Kamailio.
 */
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { Errors, SiphonError, type ErrorName } from '../errors/registry.js';
import type { Endpoint } from '../core/context.js';
import type { ListenAddress } from './listen-uri.js';
import { peerKey } from './tcp-connection.js';
import { sourceIpKey, TCP_LIMIT_DEFAULTS, type TcpLimits } from './tcp-options.js';
import type { TlsContexts } from './tls-options.js';
import { sipTap } from './tap.js';
import { newTransportStats, type Channel, type Listener, type MessageSink, type TransportStats } from './types.js';

/** `core.ws` as written in the config. */
export interface WsSettings {
  /** Origins allowed to open a connection (exact `scheme://host[:port]`); empty = any Origin. */
  origins: string[];
  /** seconds between keepalive pings (Kamailio websocket keepalive_interval / keepalive_timeout). */
  keepalive_interval: number;
  /** open connections per ws:/wss: listener. */
  max_connections: number;
}

export const WS_DEFAULTS: Readonly<WsSettings> = Object.freeze({ origins: [], keepalive_interval: 30, max_connections: 2048 });

export interface WsListenerOptions {
  address: ListenAddress;
  sink: MessageSink;
  log: Logger;
  maxMessageSize: number;
  settings?: Partial<WsSettings>;
  limits?: Partial<TcpLimits>;
  /** wss: the TLS profiles (SNI, client certificates are not asked for on wss). */
  tls?: TlsContexts;
}

/** one WebSocket connection: the channel replies and requests to that client go on. */
export class WsConnection implements Channel {
  readonly proto: 'ws' | 'wss';
  readonly local: Endpoint;
  readonly source: Endpoint;
  readonly key: string;
  readonly openedAt = performance.now();
  /** answered the last ping (or sent something since). */
  alive = true;
  private closedFlag = false;

  constructor(
    private readonly listener: WsListener,
    private readonly socket: WebSocket,
    address: string,
    port: number,
    readonly ipKey: string,
  ) {
    this.proto = listener.proto;
    this.local = listener.local;
    this.source = { address, port, proto: this.proto, family: net.isIPv6(address) ? 6 : 4 };
    this.key = peerKey(address, port);
  }

  get isOpen(): boolean {
    return !this.closedFlag && this.socket.readyState === this.socket.OPEN;
  }

  get closedByServer(): boolean {
    return this.closedFlag;
  }

  /** RFC 7118 §5: one SIP message per WebSocket message, sent as a text frame (UTF-8 SIP). */
  send(buf: Buffer, address: string, port: number, _name?: string, failed?: () => void): void {
    if (!this.isOpen) {
      this.listener.sendTo(buf, address, port, failed);
      return;
    }
    const l = this.listener;
    if (this.socket.bufferedAmount + buf.length > l.limits.connWqMax) {
      l.stats.writeQueueFull++;
      l.stats.sendErrors++;
      l.warn('TCP_WRITE_QUEUE_FULL', { peer: this.key, queued: this.socket.bufferedAmount, conn_wq_max: l.limits.connWqMax });
      this.close();
      return;
    }
    if (sipTap.on) sipTap.sent(buf, this.local, address, port);
    this.socket.send(buf, { binary: false });
    l.stats.sent++;
  }

  ping(): void {
    if (!this.alive) {
      this.listener.stats.idleTimeouts++;
      this.close();
      return;
    }
    this.alive = false;
    try {
      this.socket.ping();
    } catch {
      this.close();
    }
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.socket.terminate();
  }
}

export class WsListener implements Listener {
  readonly proto: 'ws' | 'wss';
  local: Endpoint;
  readonly stats: TransportStats = newTransportStats();
  readonly limits: Readonly<TcpLimits>;
  readonly settings: Readonly<WsSettings>;
  private readonly address: ListenAddress;
  private readonly sink: MessageSink;
  private readonly log: Logger;
  private readonly tls: TlsContexts | null;
  private readonly server: net.Server;
  private readonly http: http.Server;
  private readonly wss: WebSocketServer;
  private readonly byPeer = new Map<string, WsConnection>();
  /** accepted sockets, upgraded or not (the limits count these). */
  private readonly sockets = new Map<net.Socket, { ipKey: string; openedAt: number; upgraded: boolean }>();
  private readonly perIp = new Map<string, number>();
  /** wss: the TCP socket under each TLS session (the limits are kept per TCP socket). */
  private readonly rawOf = new WeakMap<net.Socket, net.Socket>();
  private readonly lastWarn = new Map<ErrorName, number>();
  private timer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private closing = false;

  constructor(opts: WsListenerOptions) {
    this.address = opts.address;
    this.sink = opts.sink;
    this.log = opts.log;
    this.tls = opts.tls ?? null;
    this.proto = this.tls === null ? 'ws' : 'wss';
    this.limits = { ...TCP_LIMIT_DEFAULTS, ...opts.limits };
    this.settings = { ...WS_DEFAULTS, ...opts.settings };
    this.local = { address: opts.address.host, port: opts.address.port, proto: this.proto, family: opts.address.family };
    this.http = http.createServer((_req, res) => {
      // a plain HTTP request on a SIP WebSocket port
      res.writeHead(426, { Connection: 'close', Upgrade: 'websocket' }).end();
    });
    this.http.on('upgrade', this.onUpgrade);
    this.http.on('clientError', (_err, socket) => socket.destroy());
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.maxMessageSize,
      perMessageDeflate: false,
      // RFC 7118 §4.1: the server answers with the one subprotocol it speaks
      handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : false),
    });
    this.server = net.createServer({ noDelay: true }, this.onConnection);
  }

  get connectionCount(): number {
    return this.byPeer.size;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onBindError = (err: Error) => reject(new SiphonError('TRANSPORT_BIND', `${this.address.uri}: ${err.message}`, { cause: err }));
      this.server.once('error', onBindError);
      this.server.listen({ host: this.address.host, port: this.address.port, ipv6Only: this.address.family === 6, backlog: 1024, exclusive: true }, () => {
        this.server.off('error', onBindError);
        const bound = this.server.address();
        if (this.address.port === 0 && bound !== null && typeof bound === 'object') this.local = { ...this.local, port: bound.port };
        this.timer = setInterval(() => {
          for (const c of this.byPeer.values()) c.ping();
        }, this.settings.keepalive_interval * 1000);
        this.timer.unref();
        // an accepted connection that has not upgraded within msg_data_timeout is closed
        const limitMs = this.limits.msgDataTimeout * 1000;
        this.sweepTimer = setInterval(() => {
          const now = performance.now();
          for (const [s, info] of this.sockets) {
            if (!info.upgraded && now - info.openedAt >= limitMs) {
              this.stats.dataTimeouts++;
              this.warn('TCP_DATA_TIMEOUT', { peer: `${s.remoteAddress}:${s.remotePort}` });
              s.destroy();
            }
          }
        }, Math.max(50, Math.min(1000, limitMs / 4)));
        this.sweepTimer.unref();
        this.log.info({ listen: this.address.uri }, 'listening');
        resolve();
      });
    });
  }

  private readonly onConnection = (socket: net.Socket): void => {
    const address = socket.remoteAddress;
    const port = socket.remotePort;
    socket.on('error', () => {});
    if (this.closing || address === undefined || port === undefined) {
      socket.destroy();
      return;
    }
    if (this.sockets.size >= this.settings.max_connections) {
      this.stats.connectionsRefused++;
      this.warn('TCP_CONN_LIMIT', { peer: `${address}:${port}`, max: this.settings.max_connections });
      socket.destroy();
      return;
    }
    const ipKey = sourceIpKey(address);
    const n = this.perIp.get(ipKey) ?? 0;
    if (this.limits.acceptIpLimit > 0 && n >= this.limits.acceptIpLimit) {
      this.stats.connectionsRefused++;
      this.stats.ipLimitRefused++;
      this.warn('TCP_IP_LIMIT', { peer: `${address}:${port}`, address: ipKey, max: this.limits.acceptIpLimit, direction: 'in' });
      socket.destroy();
      return;
    }
    this.perIp.set(ipKey, n + 1);
    this.sockets.set(socket, { ipKey, openedAt: performance.now(), upgraded: false });
    this.stats.connectionsOpened++;
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.stats.connectionsClosed++;
      const left = (this.perIp.get(ipKey) ?? 1) - 1;
      if (left > 0) this.perIp.set(ipKey, left);
      else this.perIp.delete(ipKey);
    });
    let stream: net.Socket = socket;
    if (this.tls !== null) {
      const contexts = this.tls;
      const session = new tls.TLSSocket(socket, {
        isServer: true,
        ...(contexts.defaultServer !== null ? { secureContext: contexts.defaultServer.context } : {}),
        SNICallback: (name, cb) => {
          const p = contexts.serverFor(name);
          if (p === null) cb(new Error(`no certificate for server name ${name}`), undefined);
          else cb(null, p.context);
        },
      });
      session.on('error', (err: NodeJS.ErrnoException) => this.warn('TLS_HANDSHAKE', { peer: `${address}:${port}`, reason: err.code ?? err.message }));
      this.rawOf.set(session, socket);
      stream = session;
    }
    this.http.emit('connection', stream);
  };

  private readonly onUpgrade = (req: http.IncomingMessage, stream: net.Socket, head: Buffer): void => {
    const raw = this.rawOf.get(stream) ?? stream;
    const info = this.sockets.get(raw);
    const address = raw.remoteAddress;
    const port = raw.remotePort;
    const refuse = (status: number, why: string): void => {
      this.stats.connectionsRefused++;
      this.warn('WS_UPGRADE_REFUSED', { peer: `${address}:${port}`, status, reason: why });
      stream.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      stream.destroySoon?.();
    };
    if (info === undefined || address === undefined || port === undefined) return void stream.destroy();
    const origin = req.headers.origin;
    if (this.settings.origins.length > 0 && (origin === undefined || !this.settings.origins.includes(origin))) return refuse(403, `origin ${origin ?? '(none)'} not allowed`);
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim().toLowerCase());
    if (!protocols.includes('sip')) return refuse(400, 'the sip subprotocol was not offered (RFC 7118 §4.1)');
    this.wss.handleUpgrade(req, stream, head, (socket) => {
      info.upgraded = true;
      const conn = new WsConnection(this, socket, address, port, info.ipKey);
      this.byPeer.set(conn.key, conn);
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        conn.alive = true;
        this.stats.received++;
        const buf = isBinary || Buffer.isBuffer(data) ? (data as Buffer) : Buffer.from(data as unknown as ArrayBuffer);
        if (sipTap.on) sipTap.received(buf, conn.local, conn.source);
        this.sink.receive(buf, conn.source, conn);
      });
      socket.on('pong', () => (conn.alive = true));
      socket.on('error', (err) => {
        // 1009 message too big, bad frames: the ws package closes the connection
        this.stats.framingErrors++;
        this.log.debug({ peer: conn.key, err: err.message }, 'websocket error');
      });
      socket.on('close', () => {
        conn.close();
        if (this.byPeer.get(conn.key) === conn) this.byPeer.delete(conn.key);
      });
    });
  };

  /** Requests to a WebSocket client go on its connection; without one the send fails (never dialled). */
  sendTo(buf: Buffer, address: string, port: number, failed?: () => void): void {
    const conn = this.byPeer.get(peerKey(address, port));
    if (conn !== undefined && conn.isOpen) {
      conn.send(buf, address, port, undefined, failed);
      return;
    }
    this.stats.sendErrors++;
    this.warn('TRANSPORT_SEND', { dst: peerKey(address, port), reason: `no ${this.proto} connection from that client (siphon does not open WebSocket connections)` });
    if (failed !== undefined) queueMicrotask(failed);
  }

  channelTo(address: string, port: number): Channel {
    return this.byPeer.get(peerKey(address, port)) ?? new NoConnection(this, address, port);
  }

  /** one warning line per code per second. */
  warn(code: ErrorName, fields: Record<string, unknown>): void {
    const now = performance.now();
    if (now - (this.lastWarn.get(code) ?? -Infinity) < 1000) return;
    this.lastWarn.set(code, now);
    const spec = Errors[code];
    this.log.warn({ ...fields, listen: this.address.uri, code: spec.code }, `${spec.title} [E${spec.code}]`);
  }

  /** the open WebSocket connections (ws.dump). */
  connections(): IterableIterator<WsConnection> {
    return this.byPeer.values();
  }

  close(): Promise<void> {
    this.closing = true;
    if (this.timer !== null) clearInterval(this.timer);
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    for (const c of this.byPeer.values()) c.close();
    for (const s of this.sockets.keys()) s.destroy();
    this.wss.close();
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }
}

/** a WebSocket client with no open connection: sends fail (E3003) and report it. */
class NoConnection implements Channel {
  readonly proto: 'ws' | 'wss';
  readonly local: Endpoint;
  constructor(
    private readonly listener: WsListener,
    private readonly address: string,
    private readonly port: number,
  ) {
    this.proto = listener.proto;
    this.local = listener.local;
  }
  send(buf: Buffer, address = this.address, port = this.port, _name?: string, failed?: () => void): void {
    this.listener.sendTo(buf, address, port, failed);
  }
}
