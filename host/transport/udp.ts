/**
 * UDP listener (RFC 3261 §18.1.2 / §18.2.1: one datagram carries one message). The socket is its
 * own Channel: replies leave from the address requests came to, as Kamailio's udp_send does, so
 * NATs and symmetric-response clients (RFC 3581) see the port they sent to.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { SiphonError } from '../errors/registry.js';
import type { Endpoint } from '../core/context.js';
import type { ListenAddress } from './listen-uri.js';
import { PROBE_BYTES, UdpQueueProbe, type QueueProbeSink } from './queue-probe.js';
import { EINVAL, NativeUdpSocket, udpBatchUnavailable } from './udp-native/index.js';
import { newTransportStats, SOCKET_BUFFER_BYTES, type Channel, type Listener, type MessageSink, type TransportStats } from './types.js';
import { sipTap } from './tap.js';

export interface UdpListenerOptions {
  address: ListenAddress;
  sink: MessageSink;
  log: Logger;
  /** core.udp_batch: recvmmsg/sendmmsg through the udp_batch addon when it is built (default true). */
  batch?: boolean;
}

let batchWarned = false;

export class UdpListener implements Listener, Channel {
  readonly proto = 'udp' as const;
  /** the listen address (port 0 in the options: the port bound, once started), as TcpListener's. */
  local: Endpoint;
  readonly stats: TransportStats = newTransportStats();
  /** Node's dgram socket, or null when the batched native socket serves this listener. */
  private readonly socket: dgram.Socket | null;
  private native: NativeUdpSocket | null = null;
  private readonly useBatch: boolean;
  private readonly sink: MessageSink;
  private readonly log: Logger;
  private readonly address: ListenAddress;
  private closed = false;
  private bound = false;
  /** datagrams queued in this loop turn (send(), flushed by flushOutbox); the arrays are reused. */
  private readonly outBufs: Array<Buffer | undefined> = [];
  private readonly outAddresses: string[] = [];
  private readonly outPorts: number[] = [];
  private outLength = 0;
  /** core.overload's queue probe of this socket (transport/queue-probe.ts); null when off. */
  private probe: UdpQueueProbe | null = null;

  constructor(opts: UdpListenerOptions) {
    this.address = opts.address;
    this.sink = opts.sink;
    this.log = opts.log;
    this.local = { address: opts.address.host, port: opts.address.port, proto: 'udp', family: opts.address.family };
    const why = opts.batch === false ? 'off' : udpBatchUnavailable();
    this.useBatch = why === '';
    if (why !== '' && why !== 'off' && !batchWarned) {
      batchWarned = true;
      this.log.warn({ code: 3039, reason: why }, `core.udp_batch: using Node's dgram [E3039]`);
    }
    if (this.useBatch) {
      this.socket = null;
      return;
    }
    this.socket = dgram.createSocket({
      type: opts.address.family === 6 ? 'udp6' : 'udp4',
      ipv6Only: opts.address.family === 6,
      recvBufferSize: SOCKET_BUFFER_BYTES,
      sendBufferSize: SOCKET_BUFFER_BYTES,
      lookup: literalFirstLookup,
    });
    // bound methods once, not per datagram
    this.socket.on('message', this.onMessage);
    this.socket.on('error', this.onError);
  }

  start(): Promise<void> {
    if (this.useBatch) return this.startNative();
    const socket = this.socket!;
    return new Promise((resolve, reject) => {
      const onBindError = (err: Error) => {
        reject(new SiphonError('TRANSPORT_BIND', `${this.address.uri}: ${err.message}`, { cause: err }));
      };
      socket.once('error', onBindError);
      socket.bind({ address: this.address.host, port: this.address.port, exclusive: true }, () => {
        socket.off('error', onBindError);
        this.bound = true;
        if (this.address.port === 0) this.local = { ...this.local, port: socket.address().port };
        this.log.info({ listen: this.address.uri }, 'listening');
        resolve();
      });
    });
  }

  private async startNative(): Promise<void> {
    try {
      this.native = NativeUdpSocket.open(this.address.family, this.address.host, this.address.port, SOCKET_BUFFER_BYTES, this.onDatagram, this.onNativeSendError);
    } catch (err) {
      throw new SiphonError('TRANSPORT_BIND', `${this.address.uri}: ${(err as Error).message}`, { cause: err });
    }
    this.bound = true;
    if (this.address.port === 0) this.local = { ...this.local, port: this.native.port() };
    this.log.info({ listen: this.address.uri, udp_batch: true }, 'listening');
  }

  private readonly onMessage = (buf: Buffer, rinfo: dgram.RemoteInfo): void => {
    this.onDatagram(buf, rinfo.address, rinfo.port, rinfo.family === 'IPv6' ? 6 : 4);
  };

  private readonly onDatagram = (buf: Buffer, address: string, port: number, family: 4 | 6): void => {
    // the overload guard's own probe datagrams are measured and never processed
    if (buf.length === PROBE_BYTES && this.probe !== null && this.probe.take(buf, address, port)) return;
    // size limits are the parser's (it answers 513 when it can, RFC 3261 §21.5.14)
    this.stats.received++;
    const source: Endpoint = { address, port, proto: 'udp', family };
    if (sipTap.on) sipTap.received(buf, this.local, source);
    this.sink.receive(buf, source, this);
  };

  /** a datagram the kernel refused; a name (not an IP literal) is looked up and sent again. */
  private readonly onNativeSendError = (errno: number, address: string, port: number, buf: Buffer): void => {
    if (errno === EINVAL && isIP(address) === 0 && address !== '') {
      dns.lookup(address, { family: this.address.family }, (err, resolved) => {
        // sent (and counted) once already by the flush that found the name
        if (err === null && isIP(resolved) !== 0) this.native?.sendBatch([buf], [resolved], [port], 1);
        else this.sendFailed(err?.message ?? 'unresolvable', address, port);
      });
      return;
    }
    this.sendFailed(errno === EINVAL ? 'invalid address or port' : `errno ${errno}`, address, port);
  };

  private sendFailed(reason: string, address: string, port: number): void {
    this.stats.sendErrors++;
    this.log.warn({ err: reason, code: 3003, dst: `${address}:${port}` }, 'udp send failed [E3003]');
  }

  private readonly onError = (err: Error): void => {
    // after bind, 'error' only reports failed sends (no callback is passed to send()); before it,
    // the bind error, which start() reports as E3002
    if (!this.bound) return;
    this.stats.sendErrors++;
    this.log.warn({ err: err.message, code: 3003, listen: this.address.uri }, 'udp send failed [E3003]');
  };

  /**
   * Sends one datagram at the end of this loop turn (flushOutbox). `address` is normally an IP
   * literal (the source address or a Via received/maddr), which literalFirstLookup() resolves in the
   * same tick: the flush sends it at once instead of after a process.nextTick hop through dns.lookup().
   */
  send(buf: Buffer, address: string, port: number): void {
    if (this.closed) return;
    if (sipTap.on) sipTap.sent(buf, this.local, address, port);
    // queued until the end of this loop turn (flushOutbox): see there
    const n = this.outLength++;
    this.outBufs[n] = buf;
    this.outAddresses[n] = address;
    this.outPorts[n] = port;
    if (n === 0) setImmediate(this.flushOutbox);
  }

  /**
   * Sends what this loop turn queued, back to back. A datagram to a peer that sleeps in its poll
   * wakes it (on the bench VM a sendto then costs ~16 µs instead of ~2.5 µs: the wake-up of the
   * receiving process); datagrams sent back to back reach a peer that is still awake. One turn
   * handles up to 32 datagrams per socket (libuv), so the replies and relays of a burst leave
   * together, within the same turn (setImmediate runs right after the poll phase): no timer, no
   * added wait beyond the turn's own work.
   */
  private readonly flushOutbox = (): void => {
    const n = this.outLength;
    this.outLength = 0;
    if (this.native !== null) {
      if (!this.closed) {
        this.native.sendBatch(this.outBufs, this.outAddresses, this.outPorts, n);
        this.stats.sent += n;
      }
      this.outBufs.fill(undefined, 0, n);
      return;
    }
    const socket = this.socket!;
    for (let i = 0; i < n; i++) {
      const buf = this.outBufs[i]!;
      const address = this.outAddresses[i]!;
      const port = this.outPorts[i]!;
      this.outBufs[i] = undefined;
      if (this.closed) continue;
      try {
        socket.send(buf, port, address);
        this.stats.sent++;
      } catch (e) {
        // synchronous failures: bad address family, bad port
        this.sendFailed((e as Error).message, address, port);
      }
    }
  };

  /**
   * Starts measuring this socket's queueing delay for core.overload (host/server/overload.ts): a probe
   * every `intervalMs`, results to `sink`. Call after start().
   */
  async startProbe(intervalMs: number, sink: QueueProbeSink): Promise<UdpQueueProbe> {
    const probe = new UdpQueueProbe({ host: this.address.host, port: this.local.port, family: this.address.family }, intervalMs, sink, this.log);
    await probe.start();
    this.probe = probe;
    return probe;
  }

  /** the kernel's receive/send buffer sizes (bytes) of the bound socket; for checks and tests. */
  socketBufferSizes(): { recv: number; send: number } {
    if (this.native !== null) return this.native.bufferSizes();
    return { recv: this.socket!.getRecvBufferSize(), send: this.socket!.getSendBufferSize() };
  }

  channelTo(): Channel {
    return this;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.probe?.stop();
    this.probe = null;
    if (this.native !== null || this.socket === null) {
      this.native?.close();
      return Promise.resolve();
    }
    const socket = this.socket;
    return new Promise((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve(); // never bound
      }
    });
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/**
 * The socket's address lookup: an IP literal is answered synchronously (dgram's default, dns.lookup,
 * answers even a literal through process.nextTick, so every reply would wait for the next tick and
 * cost a tick object); a name still goes to dns.lookup (Via sent-by names, RFC 3263 is not done here).
 */
function literalFirstLookup(hostname: string, options: dns.LookupOneOptions | number, callback: LookupCallback): void {
  const family = isIP(hostname);
  if (family !== 0) {
    callback(null, hostname, family);
    return;
  }
  const opts: dns.LookupOneOptions = typeof options === 'number' ? { family: options } : options;
  dns.lookup(hostname, opts, callback);
}
