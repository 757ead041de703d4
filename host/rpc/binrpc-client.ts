/**
 * BINRPC client, used by `siphon rpc` and by tests: one connection, requests answered in order, cookies
 * checked as kamcmd checks them. Speaks to siphon or to a real Kamailio ctl socket.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { SiphonError } from '../errors/registry.js';
import { BinrpcType, BinrpcWriter, decodePacket } from './binrpc-codec.js';
import { formatCtlAddress, parseCtlAddress, type CtlAddress } from './ctl-address.js';
import { RpcFault, type RpcValue } from './types.js';

export interface BinrpcClientOptions {
  /** per-call timeout, default 10 s. */
  timeoutMs?: number;
}

interface Waiter {
  cookie: number;
  resolve(values: RpcValue[]): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class BinrpcClient {
  private readonly writer = new BinrpcWriter(1024);
  private readonly waiters: Waiter[] = [];
  private pending: Buffer | null = null;
  private nextCookie = (Math.random() * 0x7fffffff) >>> 0;
  private closed = false;

  private constructor(
    private readonly addr: CtlAddress,
    private readonly stream: Socket | null,
    private readonly dgram: UdpSocket | null,
    private readonly timeoutMs: number,
  ) {
    stream?.on('data', (chunk: Buffer) => this.onData(chunk));
    stream?.on('error', (e) => this.failAll(e));
    stream?.on('close', () => this.failAll(new SiphonError('RPC_CONNECT', 'connection closed by the server')));
    dgram?.on('message', (msg) => this.onData(msg, true));
    dgram?.on('error', (e) => this.failAll(e));
  }

  /** Connects to `unix:/path`, `tcp:host:port`, `udp:host:port` or a bare path. */
  static async connect(address: string, opts: BinrpcClientOptions = {}): Promise<BinrpcClient> {
    const addr = parseCtlAddress(address);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const where = formatCtlAddress(addr);
    if (addr.proto === 'udp') {
      const sock = createSocket(addr.host.includes(':') ? 'udp6' : 'udp4');
      await new Promise<void>((resolve, reject) => {
        sock.once('error', (e) => reject(new SiphonError('RPC_CONNECT', e.message, { where, cause: e })));
        sock.connect(addr.port, addr.host, () => resolve());
      });
      return new BinrpcClient(addr, null, sock, timeoutMs);
    }
    const sock = addr.proto === 'unix' ? connect(addr.path) : connect(addr.port, addr.host);
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error): void => reject(new SiphonError('RPC_CONNECT', e.message, { where, cause: e }));
      sock.once('error', onError);
      sock.once('connect', () => {
        sock.off('error', onError);
        resolve();
      });
    });
    return new BinrpcClient(addr, sock, null, timeoutMs);
  }

  get address(): string {
    return formatCtlAddress(this.addr);
  }

  /**
   * Calls a method; resolves with the reply's top-level values (an empty array for an empty reply),
   * rejects with RpcFault for a fault reply.
   */
  call(method: string, params: readonly RpcValue[] = []): Promise<RpcValue[]> {
    if (this.closed) return Promise.reject(new SiphonError('RPC_CONNECT', 'client is closed'));
    const cookie = (this.nextCookie = (this.nextCookie + 1) & 0x7fffffff);
    const packet = this.writer.request(cookie, method, params);
    return new Promise<RpcValue[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.findIndex((w) => w.cookie === cookie);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new SiphonError('RPC_CONNECT', `no reply to ${method} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiters.push({ cookie, resolve, reject, timer });
      if (this.stream) this.stream.write(packet);
      else this.dgram!.send(packet);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new SiphonError('RPC_CONNECT', 'client closed'));
    // a connection the server already closed emits no second 'close'
    if (this.stream && !this.stream.closed) {
      await new Promise<void>((r) => {
        this.stream!.once('close', () => r());
        this.stream!.end();
        this.stream!.destroy();
      });
    }
    if (this.dgram) await new Promise<void>((r) => this.dgram!.close(() => r()));
  }

  private onData(chunk: Buffer, datagram = false): void {
    if (datagram) this.pending = null;
    this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    for (;;) {
      let pkt;
      try {
        pkt = decodePacket(this.pending);
      } catch (e) {
        this.failAll(e as Error);
        this.stream?.destroy();
        return;
      }
      if (!pkt) return;
      this.pending = this.pending.length > pkt.length ? this.pending.subarray(pkt.length) : null;
      const i = this.waiters.findIndex((w) => w.cookie === pkt.header.cookie);
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        clearTimeout(w!.timer);
        if (pkt.header.type === BinrpcType.FAULT) {
          const [code, message] = pkt.values;
          w!.reject(new RpcFault(typeof code === 'number' ? code : 500, typeof message === 'string' ? message : 'fault'));
        } else if (pkt.header.type === BinrpcType.REPLY) {
          w!.resolve(pkt.values);
        } else {
          w!.reject(new SiphonError('RPC_PROTOCOL', 'not a reply'));
        }
      }
      if (!this.pending) return;
    }
  }

  private failAll(e: Error): void {
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(e);
    }
  }
}
