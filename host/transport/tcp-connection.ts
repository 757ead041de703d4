/**
 * One TCP connection (RFC 3261 §18.3: on a stream a message ends where its Content-Length says).
 *
 * Receiving costs O(bytes) whatever the segmentation: complete messages in a segment are handed on
 * as views of it (no copy); a message split across segments is reassembled in a buffer of its own,
 * looking for the end of the header section only in the bytes that just arrived, then waiting for
 * exactly the Content-Length bytes the framer announced (a peer sending one byte at a time costs one
 * byte of work per byte, not a re-scan of everything buffered). The reassembly buffer never exceeds
 * max_message_size (plus one read), and the listener's sweep closes a message not complete within
 * msg_read_timeout (Kamailio tcp_msg_read_timeout) and a connection that never delivered a message
 * within msg_data_timeout (tcp_msg_data_timeout; CRLF keepalives do not count, as in Kamailio).
 *
 * Sending: bytes the peer has not taken yet wait in the socket's queue (`writableLength`). Past the
 * socket's high-water mark (16 KiB) reading pauses until the queue drains, so a peer that does not
 * read cannot make us read (and answer) more; a write that would take the queue past conn_wq_max, or
 * all queues past wq_max, closes the connection (Kamailio tcp_conn_wq_max / tcp_wq_max, which fail
 * the send and drop the connection), and so does a queue without progress for send_timeout.
 */
import net from 'node:net';
import type tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { Endpoint } from '../core/context.js';
import type { Channel } from './types.js';
import { sipTap } from './tap.js';
import { viaAliasPort } from './alias.js';
import type { TcpListener } from './tcp.js';

const PONG = Buffer.from('\r\n');
const CRLFCRLF = Buffer.from('\r\n\r\n');
/** first size of a header reassembly buffer; it doubles as needed, up to max_message_size + one read. */
const MIN_STORE = 2048;
/** the most one socket read delivers (libuv reads TCP in 64 KiB buffers). */
const READ_MAX = 65536;

export type TcpDirection = 'in' | 'out';

let nextId = 1;

/** One TCP connection; it is the Channel of every message it carries. */
/** one TLS connection as tls.list shows it. */
export interface TlsConnectionInfo {
  id: number;
  direction: TcpDirection;
  src_ip: string;
  src_port: number;
  dst_ip: string;
  dst_port: number;
  version: string;
  cipher: string;
  server_name: string;
  peer_subject: string;
  peer_verified: number;
  state: string;
}

export class TcpConnection implements Channel {
  readonly proto: 'tcp' | 'tls';
  readonly local: Endpoint;
  /** the peer (reused for every message on this connection). */
  readonly source: Endpoint;
  readonly key: string;
  /** a number for core.tcp_list (Kamailio's connection id). */
  readonly id = nextId++;
  /** performance.now() when accepted or opened. */
  readonly openedAt = performance.now();
  /** a complete SIP message arrived (msg_data_timeout no longer applies). */
  gotMessage = false;
  /** the RFC 5923 alias (`address:port`) this connection serves too; null = none. */
  aliasKey: string | null = null;
  /** performance.now() when the first byte of the message being reassembled arrived; 0 = none. */
  partialSince = 0;
  /** write-queue bytes as last accounted in the listener's total. */
  queued = 0;
  /** bytes the kernel took, as seen by the last sweep, and when that last changed (send_timeout). */
  flushed = 0;
  flushedAt = this.openedAt;
  private paused = false;
  private closed = false;
  /** closed by destroy() (this server), not by the peer. */
  private destroyed = false;
  /** outbound: connected (and, over TLS, the handshake done); inbound: always. */
  private established: boolean;
  /** whenFailed() callbacks while an outbound connection is being established. */
  private failWaiters: Array<() => void> | null = null;
  /** a message split across reads: bytes [0, storeLen) of `store`. */
  private store: Buffer | null = null;
  private storeLen = 0;
  /** header phase: store[0, scanned) holds no CRLFCRLF. */
  private scanned = 0;
  /** body phase: the message's total length, which is also store.length; 0 in the header phase. */
  private need = 0;

  constructor(
    private readonly socket: net.Socket,
    private readonly listener: TcpListener,
    peerAddress: string,
    peerPort: number,
    readonly direction: TcpDirection,
    /** the peer's accept_iplimit bucket (sourceIpKey). */
    readonly ipKey: string,
  ) {
    this.local = listener.local;
    const family: 4 | 6 = net.isIPv6(peerAddress) ? 6 : 4;
    this.proto = listener.proto;
    this.established = direction === 'in';
    this.source = { address: peerAddress, port: peerPort, proto: this.proto, family };
    this.key = peerKey(peerAddress, peerPort);
    socket.setNoDelay(true);
    socket.setTimeout(listener.idleTimeoutMs);
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('timeout', this.onTimeout);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  get isOpen(): boolean {
    return !this.closed && !this.socket.destroyed;
  }

  /** an outbound connection still connecting. */
  get connecting(): boolean {
    return this.socket.connecting;
  }

  /** bytes written to this connection that the peer has not taken yet. */
  get writeQueueBytes(): number {
    return this.socket.writableLength;
  }

  /** bytes handed to the kernel so far (what left the write queue). */
  get bytesFlushed(): number {
    return this.socket.bytesWritten - this.socket.writableLength;
  }

  /** reading is paused until our writes drain. */
  get readPaused(): boolean {
    return this.paused;
  }

  private readonly onData = (chunk: Buffer): void => {
    try {
      this.receive(chunk);
    } catch (e) {
      // a bug in framing must cost this connection only, never the process
      this.listener.stats.framingErrors++;
      this.listener.log.error({ peer: this.key, err: (e as Error).message }, 'tcp receive failed, closing connection');
      this.destroy();
    }
  };

  private receive(chunk: Buffer): void {
    if (this.store === null) {
      this.frame(chunk, 0, false);
      return;
    }
    if (this.need > 0) {
      // body phase: copy up to the announced end; frame once when it is all there
      const n = Math.min(this.need - this.storeLen, chunk.length);
      chunk.copy(this.store, this.storeLen, 0, n);
      this.storeLen += n;
      if (this.storeLen < this.need) return;
      const message = this.store;
      this.dropStore();
      this.frame(message, 0, true);
      if (n < chunk.length && !this.closed) this.frame(chunk, n, false);
      return;
    }
    // header phase: append, then look for the empty line in the new bytes only (3 back for a split CRLFCRLF)
    this.append(chunk);
    const from = this.scanned > 3 ? this.scanned - 3 : 0;
    const view = this.store.subarray(0, this.storeLen);
    if (view.indexOf(CRLFCRLF, from) < 0) {
      this.scanned = this.storeLen;
      if (this.storeLen > this.listener.maxMessageSize) this.oversize(this.storeLen);
      return;
    }
    // the bytes delivered from `view` stay the pipeline's: the store is never written again
    this.dropStore();
    this.frame(view, 0, true);
  }

  /**
   * Delivers every complete frame of buf[offset..]; keeps the incomplete rest. `continued`: the bytes
   * at `offset` continue a message whose first byte arrived earlier (its deadline runs on).
   */
  private frame(buf: Buffer, offset: number, continued: boolean): void {
    const l = this.listener;
    const start = offset;
    while (offset < buf.length && !this.closed) {
      const f = l.framer(buf, offset);
      if (f.kind === 'message') {
        if (f.end - f.start > l.maxMessageSize) return this.oversize(f.end - f.start);
        l.stats.received++;
        this.gotMessage = true;
        offset = f.end;
        if (sipTap.on) sipTap.received(buf.subarray(f.start, f.end), this.local, this.source);
        const msg = buf.subarray(f.start, f.end);
        if (l.limits.acceptAliases !== false) {
          const aliasPort = viaAliasPort(msg, this.proto === 'tls' ? 5061 : 5060);
          if (aliasPort > 0) l.addAlias(this, aliasPort); // RFC 5923 §5, before routing sees the request
        }
        l.sink.receive(msg, this.source, this);
      } else if (f.kind === 'keepalive') {
        // RFC 5626 §4.4.1: a CRLFCRLF ping is answered with one CRLF (pong).
        l.stats.keepalives++;
        offset = f.end;
        if (f.pong) this.write(PONG);
      } else if (f.kind === 'incomplete') {
        this.keep(buf, offset, f.need ?? 0, continued && offset === start);
        return;
      } else {
        l.stats.framingErrors++;
        l.log.debug({ peer: this.key, reason: f.reason }, 'tcp framing error, closing connection');
        this.destroy();
        return;
      }
    }
    this.partialSince = 0;
  }

  /** keeps buf[offset..], the start of a message (need = its total length when the framer knows it). */
  private keep(buf: Buffer, offset: number, need: number, continued: boolean): void {
    const rest = buf.length - offset;
    if (need > this.listener.maxMessageSize) return this.oversize(need);
    if (rest > this.listener.maxMessageSize) return this.oversize(rest);
    if (!continued || this.partialSince === 0) this.partialSince = performance.now();
    if (need > 0) {
      this.store = Buffer.allocUnsafe(need);
      this.need = need;
    } else {
      this.store = Buffer.allocUnsafe(Math.max(MIN_STORE, rest * 2));
      this.scanned = rest; // the framer found no end of headers in it
    }
    buf.copy(this.store, 0, offset);
    this.storeLen = rest;
  }

  private append(chunk: Buffer): void {
    let store = this.store!;
    const len = this.storeLen + chunk.length;
    if (len > store.length) {
      // doubling, capped at max_message_size plus one read (the caller closes past max_message_size)
      const grown = Buffer.allocUnsafe(Math.max(len, Math.min(store.length * 2, this.listener.maxMessageSize + READ_MAX)));
      store.copy(grown, 0, 0, this.storeLen);
      this.store = store = grown;
    }
    chunk.copy(store, this.storeLen);
    this.storeLen = len;
  }

  private dropStore(): void {
    this.store = null;
    this.storeLen = 0;
    this.scanned = 0;
    this.need = 0;
  }

  private oversize(size: number): void {
    // Kamailio closes a TCP connection carrying a message over its buffer size (no 513 on streams)
    const l = this.listener;
    l.stats.framingErrors++;
    l.stats.dropped++;
    l.log.debug({ peer: this.key, size }, 'tcp message exceeds max_message_size, closing connection');
    this.destroy();
  }

  private readonly onDrain = (): void => {
    this.listener.accountQueue(this, 0);
    if (this.paused && !this.closed) {
      this.paused = false;
      this.socket.resume();
    }
  };

  private readonly onTimeout = (): void => {
    this.listener.stats.idleTimeouts++;
    this.destroy();
  };

  private readonly onError = (err: Error): void => {
    this.listener.log.debug({ peer: this.key, err: err.message }, 'tcp connection error');
  };

  private readonly onClose = (): void => {
    this.closed = true;
    this.dropStore();
    this.listener.forget(this);
    this.failPending();
  };

  /**
   * Writes on this connection; false when it is closed. A write the queue limits refuse closes the
   * connection and drops the bytes (still `true`: the caller must not open another connection for them).
   */
  write(buf: Buffer): boolean {
    if (!this.isOpen) return false;
    const l = this.listener;
    const socket = this.socket;
    const waiting = socket.writableLength;
    if (waiting > 0 && (waiting + buf.length > l.limits.connWqMax || l.queuesFull(buf.length))) {
      l.writeQueueFull(this, waiting);
      return true;
    }
    const below = socket.write(buf);
    const after = socket.writableLength;
    if (after !== this.queued) l.accountQueue(this, after);
    if (!below && !this.paused) {
      // backpressure: stop reading until the peer takes what we wrote ('drain')
      this.paused = true;
      l.stats.readPauses++;
      socket.pause();
    }
    return true;
  }

  /**
   * RFC 3261 §18.2.2: a response goes back on the connection the request came on while it is open;
   * otherwise a new connection is opened to the address the response is for.
   */
  send(buf: Buffer, address: string, port: number, name?: string, failed?: () => void): void {
    if (this.write(buf)) {
      if (sipTap.on) sipTap.sent(buf, this.local, address, port);
      if (!this.closed) this.listener.stats.sent++; // else dropped by the queue limits (counted there)
      if (failed !== undefined) this.whenFailed(failed);
      return;
    }
    this.listener.sendTo(buf, address, port, name, failed);
  }

  /**
   * `cb` runs if this outbound connection closes before it was established (connect refused or
   * timed out, TLS handshake or certificate refused); nothing is kept once it is established.
   */
  whenFailed(cb: () => void): void {
    if (this.established || this.direction === 'in') return;
    if (this.closed) {
      queueMicrotask(cb);
      return;
    }
    (this.failWaiters ??= []).push(cb);
  }

  /** the outbound connection is up (TCP connected; TLS: handshake done and certificate accepted). */
  markEstablished(): void {
    this.established = true;
    this.failWaiters = null;
  }

  private failPending(): void {
    const w = this.failWaiters;
    this.failWaiters = null;
    if (w === null || this.established) return;
    for (const cb of w) {
      try {
        cb();
      } catch {
        // a caller's bug must not stop the others
      }
    }
  }

  /** the TLS session's facts (tls.list; Kamailio's tls.list fields where they exist). */
  tlsInfo(): TlsConnectionInfo {
    const s = this.socket as tls.TLSSocket;
    const cipher = typeof s.getCipher === 'function' ? s.getCipher() : undefined;
    const peer = typeof s.getPeerCertificate === 'function' ? s.getPeerCertificate() : undefined;
    return {
      id: this.id,
      direction: this.direction,
      src_ip: this.source.address,
      src_port: this.source.port,
      dst_ip: this.local.address,
      dst_port: this.local.port,
      version: (typeof s.getProtocol === 'function' ? s.getProtocol() : null) ?? '',
      cipher: cipher?.name ?? '',
      server_name: (s as { servername?: string | false }).servername || '',
      peer_subject: peer !== undefined && peer.subject !== undefined ? Object.entries(peer.subject).map(([k, v]) => `${k}=${String(v)}`).join(', ') : '',
      peer_verified: s.authorized === true ? 1 : 0,
      state: this.isOpen ? (s.encrypted && cipher !== undefined ? 'established' : 'handshake') : 'closed',
    };
  }

  /** Channel.closedByServer: destroy() ran before the peer closed. */
  get closedByServer(): boolean {
    return this.destroyed;
  }

  destroy(): void {
    if (this.closed) return;
    this.destroyed = true;
    this.closed = true;
    this.dropStore();
    this.socket.destroy();
    this.listener.forget(this);
    this.failPending();
  }
}

export function peerKey(address: string, port: number): string {
  return net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}
