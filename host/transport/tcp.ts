/**
 * TCP listener (RFC 3261 §18.3; the connections are in tcp-connection.ts). It owns the limits no
 * single connection can enforce (host/transport/README.md has the table):
 *
 * - `max_connections` open connections in all (Kamailio tcp_max_connections). Accepted connections
 *   may use all but `outbound_reserve` of them, so peers connecting to us can never take the slots
 *   the proxy needs to forward over TCP.
 * - `accept_iplimit` connections per peer IP, accepted and opened, IPv6 per /64 (Kamailio
 *   tcp_accept_iplimit, which counts accepted ones only; a Map of counts, so an accept costs O(1)
 *   where Kamailio walks every connection).
 * - `wq_max` bytes in all write queues together (Kamailio tcp_wq_max).
 * - A sweep (Kamailio's tcp_check_timer), every quarter of the shortest deadline and at least once a
 *   second, closes connections past msg_read_timeout, msg_data_timeout, send_timeout or
 *   connect_timeout. Idle connections close after idle_timeout (tcp_connection_lifetime) through the
 *   socket's own timer.
 *
 * Refusals and limit closes are counted (`stats`, the `tcp` statistics group) and logged as warnings
 * with their code (E3010-E3016), at most one line per code per second.
 */
import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { Errors, SiphonError, type ErrorName } from '../errors/registry.js';
import type { Endpoint } from '../core/context.js';
import type { ListenAddress } from './listen-uri.js';
import type { StreamFramer } from './framing.js';
import { TcpConnection, peerKey } from './tcp-connection.js';
import { sourceIpKey, TCP_LIMIT_DEFAULTS, type TcpLimits } from './tcp-options.js';
import type { ServerProfile, TlsContexts } from './tls-options.js';
import { newTransportStats, type Channel, type Listener, type MessageSink, type TransportStats } from './types.js';
import { sipTap } from './tap.js';

export { TcpConnection } from './tcp-connection.js';
import type { TlsConnectionInfo } from './tcp-connection.js';

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
  /** the other core.tcp limits; absent ones take TCP_LIMIT_DEFAULTS. */
  limits?: Partial<TcpLimits>;
  /**
   * TLS contexts: this listener is a `tls:` one (RFC 3261 §26.2) and the connections it opens are TLS
   * ones. Every core.tcp limit applies to the TCP connection under the TLS session, from accept on,
   * so a handshake flood meets max_connections, accept_iplimit and msg_data_timeout like any other.
   */
  tls?: TlsContexts;
}

/** how often the whole-queue total is recounted at most when it looks over wq_max (ms). */
const RECOUNT_MS = 10;

export class TcpListener implements Listener {
  readonly proto: 'tcp' | 'tls';
  /** the TLS contexts of a tls: listener; null for plain TCP. */
  readonly tls: TlsContexts | null;
  /** the listen address (port 0 in the options: the port bound, once started). */
  local: Endpoint;
  readonly stats: TransportStats = newTransportStats();
  readonly sink: MessageSink;
  readonly log: Logger;
  readonly framer: StreamFramer;
  readonly maxMessageSize: number;
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly limits: Readonly<TcpLimits>;
  /** accepted connections beyond which accepts are refused: max_connections less the outbound reserve. */
  readonly maxInbound: number;
  private readonly address: ListenAddress;
  private readonly server: net.Server;
  /** open connections by peer `address:port` (inbound and outbound). */
  private readonly byPeer = new Map<string, TcpConnection>();
  /** RFC 5923 aliases, peer `address:port` → connection (alias.ts; at most one per connection). */
  private readonly aliases = new Map<string, TcpConnection>();
  private readonly all = new Set<TcpConnection>();
  /** connections per peer sourceIpKey, both directions (entries are deleted at 0: at most max_connections keys). */
  private readonly perIp = new Map<string, number>();
  private inbound = 0;
  /** sum of the connections' `queued` (refreshed on writes, drains and sweeps; may run high in between). */
  private queuedTotal = 0;
  private lastRecount = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly sweepMs: number;
  private readonly lastWarn = new Map<ErrorName, { at: number; suppressed: number }>();
  private closing = false;

  constructor(opts: TcpListenerOptions) {
    this.address = opts.address;
    this.sink = opts.sink;
    this.log = opts.log;
    this.framer = opts.framer;
    this.maxMessageSize = opts.maxMessageSize;
    this.idleTimeoutMs = Math.round(opts.idleTimeout * 1000);
    this.maxConnections = opts.maxConnections;
    this.limits = { ...TCP_LIMIT_DEFAULTS, ...opts.limits };
    const reserve = Math.min(Math.max(0, this.limits.outboundReserve), this.maxConnections - 1);
    this.maxInbound = this.maxConnections - reserve;
    const l = this.limits;
    const shortest = Math.min(l.msgReadTimeout, l.msgDataTimeout, l.sendTimeout, l.connectTimeout) * 1000;
    this.sweepMs = Math.max(5, Math.min(1000, Math.floor(shortest / 4)));
    this.tls = opts.tls ?? null;
    this.proto = this.tls === null ? 'tcp' : 'tls';
    this.local = { address: opts.address.host, port: opts.address.port, proto: this.proto, family: opts.address.family };
    this.server = net.createServer({ noDelay: true }, this.onConnection);
  }

  get connectionCount(): number {
    return this.all.size;
  }

  /** accepted connections now open. */
  get inboundCount(): number {
    return this.inbound;
  }

  /** bytes waiting in all write queues (as last accounted). */
  get writeQueueBytes(): number {
    return this.queuedTotal;
  }

  /** the open connections (tests, RPC). */
  connections(): IterableIterator<TcpConnection> {
    return this.all.values();
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onBindError = (err: Error) => {
        reject(new SiphonError('TRANSPORT_BIND', `${this.address.uri}: ${err.message}`, { cause: err }));
      };
      this.server.once('error', onBindError);
      this.server.listen({ host: this.address.host, port: this.address.port, ipv6Only: this.address.family === 6, backlog: 1024, exclusive: true }, () => {
        this.server.off('error', onBindError);
        const bound = this.server.address();
        if (this.address.port === 0 && bound !== null && typeof bound === 'object') this.local = { ...this.local, port: bound.port };
        this.server.on('error', (err) => this.log.error({ err: err.message, listen: this.address.uri }, 'tcp listener error'));
        this.sweepTimer = setInterval(this.sweep, this.sweepMs);
        this.sweepTimer.unref();
        this.log.info({ listen: this.address.uri }, 'listening');
        resolve();
      });
    });
  }

  private readonly onConnection = (socket: net.Socket): void => {
    const address = socket.remoteAddress;
    const port = socket.remotePort;
    if (this.closing || address === undefined || port === undefined) {
      socket.on('error', () => {});
      socket.destroy(); // shutting down, or already gone
      return;
    }
    if (this.all.size >= this.maxConnections || this.inbound >= this.maxInbound) {
      this.refuse(socket, 'TCP_CONN_LIMIT', { peer: `${address}:${port}`, max: this.maxConnections, inbound_max: this.maxInbound });
      return;
    }
    const ipKey = sourceIpKey(address);
    const n = this.perIp.get(ipKey) ?? 0;
    if (this.limits.acceptIpLimit > 0 && n >= this.limits.acceptIpLimit) {
      this.stats.ipLimitRefused++;
      this.refuse(socket, 'TCP_IP_LIMIT', { peer: `${address}:${port}`, address: ipKey, max: this.limits.acceptIpLimit, direction: 'in' });
      return;
    }
    this.perIp.set(ipKey, n + 1);
    this.inbound++;
    const stream = this.tls === null ? socket : this.serverSession(socket, this.tls, `${address}:${port}`);
    this.adopt(new TcpConnection(stream, this, address, port, 'in', ipKey));
  };

  /**
   * The TLS server side of an accepted connection. The profile is the default one, or the one whose
   * server_name the client asked for (SNI, RFC 6066 §3). Client certificates follow the chosen
   * profile's verify_client (Kamailio verify_certificate / require_certificate): a certificate is
   * asked for when any profile wants one, and checked once the handshake is done, so a profile
   * with verify_client: off accepts the client whatever it sent.
   */
  private serverSession(socket: net.Socket, contexts: TlsContexts, peer: string): tls.TLSSocket {
    let profile: ServerProfile | null = contexts.defaultServer;
    const session = new tls.TLSSocket(socket, {
      isServer: true,
      ...(profile !== null ? { secureContext: profile.context } : {}),
      requestCert: contexts.profiles().some((p) => p.verifyClient !== 'off'),
      rejectUnauthorized: false,
      SNICallback: (name, cb) => {
        profile = contexts.serverFor(name);
        if (profile === null) cb(new Error(`no certificate for server name ${name}`), undefined);
        else cb(null, profile.context);
      },
    });
    let established = false;
    session.once('secure', () => {
      established = true;
      const mode = profile?.verifyClient ?? 'off';
      if (mode === 'off') return;
      const presented = Object.keys(session.getPeerCertificate() ?? {}).length > 0;
      // what tls.Server does for its own sockets (its 'secure' handler): OpenSSL verified the chain
      // during the handshake and kept the result; Node exposes it on the handle only
      const verifyError = presented ? (session as unknown as { _handle?: { verifyError?: () => Error | null } })._handle?.verifyError?.() : undefined;
      if (presented && verifyError === null) session.authorized = true;
      if ((mode === 'required' || presented) && !session.authorized) {
        const reason = !presented ? 'no client certificate (verify_client: required)' : verifyError ? ((verifyError as NodeJS.ErrnoException).code ?? verifyError.message) : 'client certificate not verifiable';
        this.warn('TLS_HANDSHAKE', { peer, reason, server_name: profile?.name });
        session.destroy();
      }
    });
    session.on('error', (err: NodeJS.ErrnoException) => {
      if (!established) this.warn('TLS_HANDSHAKE', { peer, reason: err.code ?? err.message, server_name: profile?.name });
    });
    return session;
  }

  /**
   * The TLS client side of a connection we open. The server's certificate must chain to ca_list (or
   * the system CAs) and name the target (RFC 5922 §7.2: the host of the URI we route to when it is
   * a name, else its address) unless verify_server is off; a refusal is logged with the peer and
   * OpenSSL's reason (E3032). SNI carries the name, never an address (RFC 6066 §3).
   */
  private clientSession(address: string, port: number, name: string | undefined, contexts: TlsContexts): tls.TLSSocket {
    const identity = name ?? address;
    const session = tls.connect({
      socket: net.connect({ host: address, port, localAddress: this.local.address, noDelay: true }),
      secureContext: contexts.client,
      ...(name !== undefined && net.isIP(name) === 0 ? { servername: name } : {}),
      rejectUnauthorized: contexts.settings.verify_server,
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(identity, cert),
    });
    let established = false;
    session.once('secureConnect', () => (established = true));
    session.on('error', (err: NodeJS.ErrnoException) => {
      if (established) return;
      const verify = err.code !== undefined && (/CERT|SIGNATURE|ISSUER|SELF_SIGNED|ALTNAME|VERIFY/.test(err.code));
      this.warn(verify ? 'TLS_VERIFY' : 'TLS_HANDSHAKE', { dst: `${address}:${port}`, name: identity, reason: err.code ?? err.message, detail: err.message });
    });
    return session;
  }

  private refuse(socket: net.Socket, code: ErrorName, fields: Record<string, unknown>): void {
    this.stats.connectionsRefused++;
    this.warn(code, fields);
    socket.on('error', () => {});
    socket.destroy();
  }

  private adopt(conn: TcpConnection): void {
    this.stats.connectionsOpened++;
    this.all.add(conn);
    this.byPeer.set(conn.key, conn);
  }

  /** called by a connection once its socket closed. */
  forget(conn: TcpConnection): void {
    if (!this.all.delete(conn)) return;
    this.stats.connectionsClosed++;
    this.queuedTotal -= conn.queued;
    conn.queued = 0;
    if (this.byPeer.get(conn.key) === conn) this.byPeer.delete(conn.key);
    if (conn.aliasKey !== null && this.aliases.get(conn.aliasKey) === conn) this.aliases.delete(conn.aliasKey);
    if (conn.direction === 'in') this.inbound--;
    const n = (this.perIp.get(conn.ipKey) ?? 1) - 1;
    if (n > 0) this.perIp.set(conn.ipKey, n);
    else this.perIp.delete(conn.ipKey);
  }

  /** a connection's write queue is now `bytes` long. */
  accountQueue(conn: TcpConnection, bytes: number): void {
    this.queuedTotal += bytes - conn.queued;
    conn.queued = bytes;
  }

  /**
   * Would `more` bytes take all write queues past wq_max? The running total only moves on writes,
   * drains and sweeps, so it can run high; before saying yes it is recounted (at most every 10 ms).
   */
  queuesFull(more: number): boolean {
    if (this.queuedTotal + more <= this.limits.wqMax) return false;
    const now = performance.now();
    if (now - this.lastRecount >= RECOUNT_MS) {
      this.lastRecount = now;
      for (const c of this.all) this.accountQueue(c, c.writeQueueBytes);
    }
    return this.queuedTotal + more > this.limits.wqMax;
  }

  /** a write found the queues full (conn_wq_max / wq_max): the connection is closed, the bytes dropped. */
  writeQueueFull(conn: TcpConnection, waiting: number): void {
    this.stats.writeQueueFull++;
    this.stats.sendErrors++;
    this.warn('TCP_WRITE_QUEUE_FULL', { peer: conn.key, queued: waiting, conn_wq_max: this.limits.connWqMax, total: this.queuedTotal, wq_max: this.limits.wqMax });
    conn.destroy();
  }

  /** The deadlines (Kamailio's tcp_check_timer walk): O(open connections) per tick. */
  private readonly sweep = (): void => {
    const now = performance.now();
    const l = this.limits;
    for (const c of this.all) {
      if (c.direction === 'out' && c.connecting) {
        if (now - c.openedAt >= l.connectTimeout * 1000) this.expire(c, 'TCP_CONNECT_TIMEOUT');
        continue;
      }
      if (c.partialSince > 0 && now - c.partialSince >= l.msgReadTimeout * 1000) {
        this.expire(c, 'TCP_READ_TIMEOUT');
        continue;
      }
      if (c.direction === 'in' && !c.gotMessage && now - c.openedAt >= l.msgDataTimeout * 1000) {
        this.expire(c, 'TCP_DATA_TIMEOUT');
        continue;
      }
      const waiting = c.writeQueueBytes;
      this.accountQueue(c, waiting);
      const flushed = waiting === 0 ? -1 : c.bytesFlushed;
      if (waiting === 0 || flushed !== c.flushed) {
        c.flushed = flushed;
        c.flushedAt = now;
      } else if (now - c.flushedAt >= l.sendTimeout * 1000) {
        this.expire(c, 'TCP_SEND_TIMEOUT');
      }
    }
  };

  private expire(conn: TcpConnection, code: 'TCP_CONNECT_TIMEOUT' | 'TCP_READ_TIMEOUT' | 'TCP_DATA_TIMEOUT' | 'TCP_SEND_TIMEOUT'): void {
    const s = this.stats;
    if (code === 'TCP_CONNECT_TIMEOUT') {
      s.connectTimeouts++;
      s.connectFailed++;
    } else if (code === 'TCP_READ_TIMEOUT') s.readTimeouts++;
    else if (code === 'TCP_DATA_TIMEOUT') s.dataTimeouts++;
    else s.sendTimeouts++;
    this.warn(code, { peer: conn.key });
    conn.destroy();
  }

  /** one warning line per code per second; the lines skipped meanwhile are counted in the next one. */
  private warn(code: ErrorName, fields: Record<string, unknown>): void {
    const now = performance.now();
    const last = this.lastWarn.get(code);
    if (last !== undefined && now - last.at < 1000) {
      last.suppressed++;
      return;
    }
    const spec = Errors[code];
    this.log.warn({ ...fields, code: spec.code, suppressed: last?.suppressed ?? 0 }, `${spec.title} [E${spec.code}]`);
    this.lastWarn.set(code, { at: now, suppressed: 0 });
  }

  /**
   * Sends on an open connection to address:port, opening one when there is none. `name` is the host
   * the target URI named, for a TLS connection's server name and certificate check.
   */
  sendTo(buf: Buffer, address: string, port: number, name?: string, failed?: () => void): void {
    const key = peerKey(address, port);
    const existing = this.byPeer.get(key) ?? this.aliases.get(key);
    if (sipTap.on) sipTap.sent(buf, this.local, address, port);
    if (existing?.write(buf)) {
      if (existing.isOpen) this.stats.sent++; // else dropped by the queue limits (counted there)
      if (failed !== undefined) existing.whenFailed(failed);
      return;
    }
    const refuse = (): void => {
      if (failed !== undefined) queueMicrotask(failed);
    };
    // outbound connections may use every slot, the outbound reserve included
    if (this.closing || this.all.size >= this.maxConnections) {
      this.stats.sendErrors++;
      this.warn('TRANSPORT_SEND', { dst: key, reason: 'connection limit reached (max_connections)' });
      return refuse();
    }
    const family = net.isIPv6(address) ? 6 : net.isIPv4(address) ? 4 : 0;
    if (family !== this.local.family) {
      this.stats.sendErrors++;
      this.warn('TRANSPORT_SEND', { dst: key, reason: "destination is not an address of this listener's family" });
      return refuse();
    }
    // the per-IP limit counts connections we open too: replies to a closed connection go to the
    // peer's address and a port of its choosing (RFC 3261 §18.2.2), so without it one peer could make
    // us hold max_connections connects to ports it black-holes
    const ipKey = sourceIpKey(address);
    const n = this.perIp.get(ipKey) ?? 0;
    if (this.limits.acceptIpLimit > 0 && n >= this.limits.acceptIpLimit) {
      this.stats.sendErrors++;
      this.stats.ipLimitRefused++;
      this.warn('TCP_IP_LIMIT', { dst: key, address: ipKey, max: this.limits.acceptIpLimit, direction: 'out' });
      return refuse();
    }
    this.perIp.set(ipKey, n + 1);
    const socket = this.tls === null ? net.connect({ host: address, port, localAddress: this.local.address, noDelay: true }) : this.clientSession(address, port, name, this.tls);
    const conn = new TcpConnection(socket, this, address, port, 'out', ipKey);
    this.adopt(conn);
    let connected = false;
    if (failed !== undefined) conn.whenFailed(failed);
    socket.once(this.tls === null ? 'connect' : 'secureConnect', () => {
      connected = true;
      conn.markEstablished();
    });
    socket.once('error', (err) => {
      this.stats.sendErrors++;
      if (!connected) this.stats.connectFailed++;
      this.warn('TRANSPORT_SEND', { dst: key, err: err.message, reason: `${this.proto} connect failed` });
    });
    // net.Socket buffers writes until connected (counted in its write queue)
    conn.write(buf);
    this.stats.sent++;
  }

  channelTo(address: string, port: number, name?: string): Channel {
    const key = peerKey(address, port);
    return this.byPeer.get(key) ?? this.aliases.get(key) ?? new OutboundChannel(this, address, port, name);
  }

  /**
   * RFC 5923 §5: `conn` (whose request's top Via had `alias`) also serves requests to its peer's
   * address at `port`; the connection's previous alias, if any, is dropped (one per connection).
   */
  addAlias(conn: TcpConnection, port: number): void {
    const key = peerKey(conn.source.address, port);
    if (key === conn.key || conn.aliasKey === key) return;
    if (conn.aliasKey !== null && this.aliases.get(conn.aliasKey) === conn) this.aliases.delete(conn.aliasKey);
    conn.aliasKey = key;
    this.aliases.set(key, conn);
  }

  /** RFC 5923 aliases now (at most the connection count). */
  get aliasCount(): number {
    return this.aliases.size;
  }

  /** the open connections' TLS facts (tls.list); empty for a plain TCP listener. */
  tlsConnections(): TlsConnectionInfo[] {
    const out: TlsConnectionInfo[] = [];
    if (this.tls === null) return out;
    for (const c of this.all) out.push(c.tlsInfo());
    return out;
  }

  close(): Promise<void> {
    this.closing = true;
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const c of this.all) c.destroy();
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }
}

/** A channel for a peer we have no connection to yet (sending opens one). */
class OutboundChannel implements Channel {
  readonly proto: 'tcp' | 'tls';
  readonly local: Endpoint;
  constructor(
    private readonly listener: TcpListener,
    private readonly address: string,
    private readonly port: number,
    /** the host name the target URI had (TLS server name and certificate identity). */
    private readonly name?: string,
  ) {
    this.local = listener.local;
    this.proto = listener.proto;
  }
  send(buf: Buffer, address = this.address, port = this.port, name = this.name, failed?: () => void): void {
    this.listener.sendTo(buf, address, port, name, failed);
  }
}

/**
 * The `tcp` statistics group (stats.get_statistics tcp:, /metrics siphon_module_statistic{module="tcp"}),
 * summed over the TCP listeners given, with Kamailio's tcp counter names where they exist.
 */
export function tcpStatistics(listeners: Iterable<Listener | undefined>): Record<string, number> {
  const out: Record<string, number> = {
    established: 0,
    local_reject: 0,
    ip_limit_reject: 0,
    connect_failed: 0,
    connect_timeout: 0,
    con_timeout: 0,
    send_timeout: 0,
    sendq_full: 0,
    msg_read_timeout: 0,
    msg_data_timeout: 0,
    read_paused: 0,
    framing_errors: 0,
    current_opened_connections: 0,
    current_inbound_connections: 0,
    current_write_queue_size: 0,
  };
  for (const l of listeners) {
    if (!(l instanceof TcpListener)) continue;
    const s = l.stats;
    out.established! += s.connectionsOpened;
    out.local_reject! += s.connectionsRefused;
    out.ip_limit_reject! += s.ipLimitRefused;
    out.connect_failed! += s.connectFailed;
    out.connect_timeout! += s.connectTimeouts;
    out.con_timeout! += s.idleTimeouts;
    out.send_timeout! += s.sendTimeouts;
    out.sendq_full! += s.writeQueueFull;
    out.msg_read_timeout! += s.readTimeouts;
    out.msg_data_timeout! += s.dataTimeouts;
    out.read_paused! += s.readPauses;
    out.framing_errors! += s.framingErrors;
    out.current_opened_connections! += l.connectionCount;
    out.current_inbound_connections! += l.inboundCount;
    out.current_write_queue_size! += l.writeQueueBytes;
  }
  return out;
}
