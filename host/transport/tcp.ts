/**
 * TCP listener and connections (RFC 3261 §18.3: on a stream the end of a message is found through
 * Content-Length, which is mandatory there). Per connection: a reassembly buffer capped at
 * `maxMessageSize` (a sender that never completes a message is cut off), an idle timer
 * (Kamailio tcp_connection_lifetime, default 120 s, reset by traffic in either direction), and the
 * RFC 5626 §4.4.1 double-CRLF keepalive answered with a single CRLF. A framing error closes that
 * connection only. Beyond `maxConnections` new connections are refused (Kamailio tcp_max_connections).
 */
import net from 'node:net';
import type { Logger } from 'pino';
import { SiphonError } from '../errors/registry.js';
import type { Endpoint } from '../core/context.js';
import type { ListenAddress } from './listen-uri.js';
import type { StreamFramer } from './framing.js';
import { newTransportStats, type Channel, type Listener, type MessageSink, type TransportStats } from './types.js';

export interface TcpListenerOptions {
  address: ListenAddress;
  sink: MessageSink;
  log: Logger;
  framer: StreamFramer;
  /** largest message, and so the largest reassembly buffer, per connection (core.max_message_size). */
  maxMessageSize: number;
  /** seconds without traffic before a connection is closed (core.tcp.idle_timeout). */
  idleTimeout: number;
  /** open connections (inbound + outbound) beyond which new ones are refused (core.tcp.max_connections). */
  maxConnections: number;
}

const PONG = Buffer.from('\r\n');

/** One TCP connection; it is the Channel of every message it carries. */
export class TcpConnection implements Channel {
  readonly proto = 'tcp' as const;
  readonly local: Endpoint;
  /** the peer (reused for every message on this connection). */
  readonly source: Endpoint;
  readonly key: string;
  private pending: Buffer | null = null;
  private closed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly listener: TcpListener,
    peerAddress: string,
    peerPort: number,
  ) {
    this.local = listener.local;
    const family: 4 | 6 = net.isIPv6(peerAddress) ? 6 : 4;
    this.source = { address: peerAddress, port: peerPort, proto: 'tcp', family };
    this.key = peerKey(peerAddress, peerPort);
    socket.setNoDelay(true);
    socket.setTimeout(listener.idleTimeoutMs);
    socket.on('data', this.onData);
    socket.on('timeout', this.onTimeout);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  get isOpen(): boolean {
    return !this.closed && !this.socket.destroyed;
  }

  private readonly onData = (chunk: Buffer): void => {
    try {
      this.consume(chunk);
    } catch (e) {
      // a bug in framing must cost this connection only, never the process
      this.listener.stats.framingErrors++;
      this.listener.log.error({ peer: this.key, err: (e as Error).message }, 'tcp receive failed, closing connection');
      this.destroy();
    }
  };

  private consume(chunk: Buffer): void {
    const l = this.listener;
    let buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    let offset = 0;
    while (offset < buf.length && !this.closed) {
      const f = l.framer(buf, offset);
      if (f.kind === 'message') {
        if (f.end - f.start > l.maxMessageSize) {
          // Kamailio closes a TCP connection carrying a message over its buffer size (no 513 on streams)
          l.stats.framingErrors++;
          l.stats.dropped++;
          l.log.debug({ peer: this.key, size: f.end - f.start }, 'tcp message exceeds max_message_size, closing connection');
          this.destroy();
          return;
        }
        l.stats.received++;
        l.sink.receive(buf.subarray(f.start, f.end), this.source, this);
        offset = f.end;
      } else if (f.kind === 'keepalive') {
        // RFC 5626 §4.4.1: a CRLFCRLF ping is answered with one CRLF (pong).
        l.stats.keepalives++;
        if (f.pong) this.write(PONG);
        offset = f.end;
      } else if (f.kind === 'incomplete') {
        break;
      } else {
        l.stats.framingErrors++;
        l.log.debug({ peer: this.key, reason: f.reason }, 'tcp framing error, closing connection');
        this.destroy();
        return;
      }
    }
    if (offset >= buf.length) {
      this.pending = null;
      return;
    }
    buf = offset === 0 ? buf : buf.subarray(offset);
    if (buf.length > l.maxMessageSize) {
      // the peer keeps sending without completing a message within the size limit
      l.stats.framingErrors++;
      l.stats.dropped++;
      l.log.debug({ peer: this.key, buffered: buf.length }, 'tcp message exceeds max_message_size, closing connection');
      this.destroy();
      return;
    }
    this.pending = buf;
  }

  private readonly onTimeout = (): void => {
    this.listener.stats.idleTimeouts++;
    this.destroy();
  };

  private readonly onError = (err: Error): void => {
    this.listener.log.debug({ peer: this.key, err: err.message }, 'tcp connection error');
  };

  private readonly onClose = (): void => {
    this.closed = true;
    this.pending = null;
    this.listener.forget(this);
  };

  /** writes on this connection; false when it is closed. */
  write(buf: Buffer): boolean {
    if (!this.isOpen) return false;
    this.socket.write(buf);
    return true;
  }

  /**
   * RFC 3261 §18.2.2: a response goes back on the connection the request came on while it is open;
   * otherwise a new connection is opened to the address the response is for.
   */
  send(buf: Buffer, address: string, port: number): void {
    if (this.write(buf)) {
      this.listener.stats.sent++;
      return;
    }
    this.listener.sendTo(buf, address, port);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = null;
    this.socket.destroy();
    this.listener.forget(this);
  }
}

export class TcpListener implements Listener {
  readonly proto = 'tcp' as const;
  readonly local: Endpoint;
  readonly stats: TransportStats = newTransportStats();
  readonly sink: MessageSink;
  readonly log: Logger;
  readonly framer: StreamFramer;
  readonly maxMessageSize: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  private readonly address: ListenAddress;
  private readonly server: net.Server;
  /** open connections by peer `address:port` (inbound and outbound). */
  private readonly byPeer = new Map<string, TcpConnection>();
  private readonly all = new Set<TcpConnection>();
  private closing = false;

  constructor(opts: TcpListenerOptions) {
    this.address = opts.address;
    this.sink = opts.sink;
    this.log = opts.log;
    this.framer = opts.framer;
    this.maxMessageSize = opts.maxMessageSize;
    this.idleTimeoutMs = Math.round(opts.idleTimeout * 1000);
    this.maxConnections = opts.maxConnections;
    this.local = { address: opts.address.host, port: opts.address.port, proto: 'tcp', family: opts.address.family };
    this.server = net.createServer({ noDelay: true }, this.onConnection);
  }

  get connectionCount(): number {
    return this.all.size;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onBindError = (err: Error) => {
        reject(new SiphonError('TRANSPORT_BIND', `${this.address.uri}: ${err.message}`, { cause: err }));
      };
      this.server.once('error', onBindError);
      this.server.listen({ host: this.address.host, port: this.address.port, ipv6Only: this.address.family === 6, backlog: 1024, exclusive: true }, () => {
        this.server.off('error', onBindError);
        this.server.on('error', (err) => this.log.error({ err: err.message, listen: this.address.uri }, 'tcp listener error'));
        this.log.info({ listen: this.address.uri }, 'listening');
        resolve();
      });
    });
  }

  private readonly onConnection = (socket: net.Socket): void => {
    if (this.closing || this.all.size >= this.maxConnections) {
      this.stats.connectionsRefused++;
      if (this.log.isLevelEnabled('debug')) this.log.debug({ peer: `${socket.remoteAddress}:${socket.remotePort}`, max: this.maxConnections }, 'tcp connection refused (max_connections)');
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    const address = socket.remoteAddress;
    const port = socket.remotePort;
    if (address === undefined || port === undefined) {
      socket.destroy(); // already gone
      return;
    }
    this.adopt(new TcpConnection(socket, this, address, port));
  };

  private adopt(conn: TcpConnection): void {
    this.stats.connectionsOpened++;
    this.all.add(conn);
    this.byPeer.set(conn.key, conn);
  }

  /** called by a connection once its socket closed. */
  forget(conn: TcpConnection): void {
    if (!this.all.delete(conn)) return;
    this.stats.connectionsClosed++;
    if (this.byPeer.get(conn.key) === conn) this.byPeer.delete(conn.key);
  }

  /** Sends on an open connection to address:port, opening one when there is none. */
  sendTo(buf: Buffer, address: string, port: number): void {
    const key = peerKey(address, port);
    const existing = this.byPeer.get(key);
    if (existing?.write(buf)) {
      this.stats.sent++;
      return;
    }
    if (this.closing || this.all.size >= this.maxConnections) {
      this.stats.sendErrors++;
      this.log.warn({ dst: key, code: 3003 }, 'tcp send failed: connection limit reached [E3003]');
      return;
    }
    const family = net.isIPv6(address) ? 6 : net.isIPv4(address) ? 4 : 0;
    if (family !== this.local.family) {
      this.stats.sendErrors++;
      this.log.warn({ dst: key, code: 3003 }, 'tcp send failed: destination is not an address of this listener\'s family [E3003]');
      return;
    }
    const socket = net.connect({ host: address, port, localAddress: this.local.address, noDelay: true });
    const conn = new TcpConnection(socket, this, address, port);
    this.adopt(conn);
    socket.once('error', (err) => {
      this.stats.sendErrors++;
      this.log.warn({ dst: key, err: err.message, code: 3003 }, 'tcp connect failed [E3003]');
    });
    // net.Socket buffers writes until connected
    socket.write(buf);
    this.stats.sent++;
  }

  channelTo(address: string, port: number): Channel {
    return this.byPeer.get(peerKey(address, port)) ?? new OutboundChannel(this, address, port);
  }

  close(): Promise<void> {
    this.closing = true;
    for (const c of this.all) c.destroy();
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }
}

/** A channel for a peer we have no connection to yet (sending opens one). */
class OutboundChannel implements Channel {
  readonly proto = 'tcp' as const;
  readonly local: Endpoint;
  constructor(
    private readonly listener: TcpListener,
    private readonly address: string,
    private readonly port: number,
  ) {
    this.local = listener.local;
  }
  send(buf: Buffer, address = this.address, port = this.port): void {
    this.listener.sendTo(buf, address, port);
  }
}

function peerKey(address: string, port: number): string {
  return net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

