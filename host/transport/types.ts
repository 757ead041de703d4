/**
 * What transports hand to the message pipeline, and what the pipeline sends replies through.
 * The pipeline registers one MessageSink object (no per-message closures); each received message
 * arrives with the Channel it came on, so a reply can go back the same way (RFC 3261 §18.2.2).
 */
import type { Endpoint, Proto } from '../core/context.js';

/** Where a message arrived: a UDP listen socket or one TCP connection. */
export interface Channel {
  readonly proto: Proto;
  /** the local socket address ($Ri, $Rp). */
  readonly local: Endpoint;
  /**
   * Sends bytes to `address:port` through this channel. UDP: a datagram from the listen socket.
   * TCP: on this connection when it is still open and leads to that peer; otherwise the owning
   * listener opens (or reuses) a connection to `address:port`; TLS: `name` is the host the target
   * URI named (RFC 5922: the certificate must carry it; SNI). `failed` is called when the bytes
   * cannot leave: a connection that could not be opened (refused, timed out, TLS handshake or
   * certificate refused), so a client transaction can treat it as a 503 (RFC 3261 §17.1.4). Never throws; failures are logged
   * and counted by the transport (E3003).
   */
  send(buf: Buffer, address: string, port: number, name?: string, failed?: () => void): void;
  /**
   * TCP: true once this server closed the connection (a core.tcp limit, a framing error, idle, stop);
   * false while open or when the peer closed it. (additive; host/shards/hub.ts reads it)
   */
  readonly closedByServer?: boolean;
}

export interface MessageSink {
  /** One complete SIP message (a UDP datagram or one framed TCP message). Must not throw. */
  receive(buf: Buffer, source: Endpoint, channel: Channel): void;
}

/** Counters every transport keeps (plain numbers; exported as metrics by the control plane). */
export interface TransportStats {
  received: number;
  sent: number;
  sendErrors: number;
  /** datagrams/frames dropped before parsing (oversized, bad framing). */
  dropped: number;
  /** TCP only. */
  connectionsOpened: number;
  /** accepts refused for any reason (Kamailio tcp:local_reject), of which ... */
  connectionsRefused: number;
  /** ... over core.tcp.accept_iplimit. */
  ipLimitRefused: number;
  connectionsClosed: number;
  idleTimeouts: number;
  framingErrors: number;
  keepalives: number;
  /** connections closed because their write queue passed conn_wq_max or all queues wq_max (tcp:sendq_full). */
  writeQueueFull: number;
  /** connections closed because their write queue made no progress for send_timeout (tcp:send_timeout). */
  sendTimeouts: number;
  /** outbound connects that took longer than connect_timeout (counted in tcp:connect_failed too). */
  connectTimeouts: number;
  connectFailed: number;
  /** connections closed because a message was not complete msg_read_timeout after its first byte. */
  readTimeouts: number;
  /** accepted connections closed because no SIP message arrived within msg_data_timeout. */
  dataTimeouts: number;
  /** times reading from a connection was paused because its peer did not read our writes (backpressure). */
  readPauses: number;
}

export function newTransportStats(): TransportStats {
  return {
    received: 0,
    sent: 0,
    sendErrors: 0,
    dropped: 0,
    connectionsOpened: 0,
    connectionsRefused: 0,
    ipLimitRefused: 0,
    connectionsClosed: 0,
    idleTimeouts: 0,
    framingErrors: 0,
    keepalives: 0,
    writeQueueFull: 0,
    sendTimeouts: 0,
    connectTimeouts: 0,
    connectFailed: 0,
    readTimeouts: 0,
    dataTimeouts: 0,
    readPauses: 0,
  };
}

export interface Listener {
  readonly proto: Proto;
  readonly local: Endpoint;
  readonly stats: TransportStats;
  /** binds the socket; rejects with SiphonError TRANSPORT_BIND (E3002). */
  start(): Promise<void>;
  /** stops accepting, closes every connection; resolves once closed. */
  close(): Promise<void>;
  /** a channel for sending to a destination reached through this listener (UDP: itself). */
  channelTo?(address: string, port: number, name?: string): Channel;
}

/** Socket buffer size asked for on UDP sockets (the kernel caps it at net.core.[rw]mem_max). */
export const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
