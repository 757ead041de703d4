/**
 * BINRPC server: Kamailio's ctl protocol, so the stock `kamcmd` (and `siphon rpc`) can drive siphon.
 * Listeners: unix stream sockets (mode 0600 by default, as ctl's `mode`), and optionally TCP or UDP on
 * loopback. Stream connections may carry many requests (kamcmd's interactive mode keeps one open); they
 * are answered in order. Each UDP datagram is one request, answered to its sender.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { SiphonError } from '../errors/registry.js';
import { BinrpcType, BinrpcWriter, decodeBody, parseHeader, resultRecords } from './binrpc-codec.js';
import { assertLoopback, formatCtlAddress, parseCtlAddress, type NetCtlAddress } from './ctl-address.js';
import { FaultCode } from './registry.js';
import { RpcFault, type RpcRegistry, type RpcValue } from './types.js';

/** Called once per RPC call, for metrics. */
export interface RpcCallObserver {
  rpcCall(transport: 'binrpc' | 'jsonrpc', outcome: 'ok' | 'fault' | 'error'): void;
}

export interface CtlListenerOptions {
  /** `unix:/path`, `tcp:127.0.0.1:2049`, `udp:127.0.0.1:2049` or a path. */
  address: string;
  /** permissions of a unix socket (ctl's `mode`), default 0o600. */
  mode?: number;
  /** allow a TCP/UDP listener on a non-loopback address (there is no authentication). */
  allowNonLoopback?: boolean;
}

export interface BinrpcServerOptions {
  registry: RpcRegistry;
  log?: Logger;
  observer?: RpcCallObserver;
  /**
   * Largest reply packet; bigger replies become a 500 "reply too big" fault as in ctl
   * (binrpc_max_body_size). Default 128 KiB, the reply buffer of kamcmd.
   */
  maxReplyBytes?: number;
  /** Largest request accepted; a bigger one closes the connection. Default 64 KiB. */
  maxRequestBytes?: number;
  /** Stream connections open at once over all stream listeners; more are closed. Default 32. */
  maxConnections?: number;
  /** A packet started on a stream must be complete within this, ms. Default 20 s (tcp_msg_read_timeout). */
  packetTimeoutMs?: number;
  /** UDP requests running at once; further datagrams are dropped. Default 16. */
  maxDatagramsInFlight?: number;
}

const DEFAULT_MAX_REPLY = 128 * 1024;
const DEFAULT_MAX_REQUEST = 64 * 1024;
const DEFAULT_MAX_CONNECTIONS = 32;
const DEFAULT_PACKET_TIMEOUT_MS = 20_000;
const DEFAULT_MAX_DATAGRAMS_IN_FLIGHT = 16;
/** UDP payload limit for IPv4. */
const MAX_DATAGRAM = 65507;

interface OpenListener {
  address: string;
  close(): Promise<void>;
}

export class BinrpcServer {
  private readonly writer = new BinrpcWriter();
  private readonly listeners: OpenListener[] = [];
  private readonly connections = new Set<Socket>();
  private readonly maxReply: number;
  private readonly maxRequest: number;
  private readonly maxConnections: number;
  private readonly packetTimeout: number;
  private readonly maxDatagramsInFlight: number;
  private datagramsInFlight = 0;
  /** datagram requests dropped because `maxDatagramsInFlight` were running. */
  datagramsDropped = 0;

  constructor(private readonly opts: BinrpcServerOptions) {
    this.maxReply = opts.maxReplyBytes ?? DEFAULT_MAX_REPLY;
    this.maxRequest = opts.maxRequestBytes ?? DEFAULT_MAX_REQUEST;
    this.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.packetTimeout = opts.packetTimeoutMs ?? DEFAULT_PACKET_TIMEOUT_MS;
    this.maxDatagramsInFlight = opts.maxDatagramsInFlight ?? DEFAULT_MAX_DATAGRAMS_IN_FLIGHT;
  }

  /** the addresses actually listened on (a TCP/UDP port 0 is resolved). */
  get addresses(): string[] {
    return this.listeners.map((l) => l.address);
  }

  async listen(listener: CtlListenerOptions | string): Promise<string> {
    const o = typeof listener === 'string' ? { address: listener } : listener;
    const addr = parseCtlAddress(o.address);
    let open: OpenListener;
    if (addr.proto === 'unix') open = await this.listenUnix(addr.path, o.mode ?? 0o600);
    else {
      assertLoopback(addr.host, `BINRPC ${addr.proto} listener`, o.allowNonLoopback === true);
      open = addr.proto === 'tcp' ? await this.listenTcp(addr) : await this.listenUdp(addr);
    }
    this.listeners.push(open);
    this.opts.log?.info({ address: open.address }, 'BINRPC control listener started');
    return open.address;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.destroy();
    this.connections.clear();
    const all = this.listeners.splice(0);
    await Promise.all(all.map((l) => l.close()));
  }

  private async listenUnix(path: string, mode: number): Promise<OpenListener> {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await removeStaleSocket(path);
    const server = createServer((sock) => this.serveStream(sock));
    await listenServer(server, () => server.listen(path), `unix:${path}`);
    // ctl applies `mode` right after bind; the socket directory is created 0700 as well
    await chmod(path, mode);
    return {
      address: `unix:${path}`,
      close: async () => {
        await new Promise<void>((r) => server.close(() => r()));
        await unlink(path).catch(() => undefined);
      },
    };
  }

  private async listenTcp(addr: NetCtlAddress): Promise<OpenListener> {
    const server = createServer((sock) => this.serveStream(sock));
    await listenServer(server, () => server.listen(addr.port, addr.host), formatCtlAddress(addr));
    const bound = server.address();
    const port = typeof bound === 'object' && bound ? bound.port : addr.port;
    return {
      address: formatCtlAddress({ ...addr, port }),
      close: () => new Promise<void>((r) => server.close(() => r())),
    };
  }

  private async listenUdp(addr: NetCtlAddress): Promise<OpenListener> {
    const sock = createSocket(addr.host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', (e) =>
        reject(new SiphonError('RPC_BIND', e.message, { where: formatCtlAddress(addr), cause: e })),
      );
      sock.bind(addr.port, addr.host, () => resolve());
    });
    sock.on('error', (e) => this.opts.log?.warn({ err: e }, 'BINRPC udp socket error'));
    sock.on('message', (msg, rinfo) => {
      // each datagram is a request of its own; only so many run at once (ctl reads its datagram socket
      // in one process, one request at a time); the rest is dropped as an overflowing socket would
      if (this.datagramsInFlight >= this.maxDatagramsInFlight) {
        this.datagramsDropped++;
        return;
      }
      this.datagramsInFlight++;
      void this.serveDatagram(sock, msg, rinfo).finally(() => this.datagramsInFlight--);
    });
    return {
      address: formatCtlAddress({ ...addr, port: sock.address().port }),
      close: () => new Promise<void>((r) => sock.close(() => r())),
    };
  }

  /**
   * Frames packets off a stream and answers them one after the other. Bounded like a TCP peer in
   * Kamailio's core: at most `maxConnections` streams (tcp_max_connections), a started packet must be
   * complete within `packetTimeoutMs` (tcp_msg_read_timeout; an idle connection between packets may
   * stay, as kamcmd's interactive mode needs), reading pauses while a request runs or while the
   * client does not read its replies (at most one request and one chunk are buffered), and chunks are
   * joined only once enough bytes for the header or the packet are there (linear reassembly).
   */
  private serveStream(sock: Socket): void {
    if (this.connections.size >= this.maxConnections) {
      this.opts.log?.warn({ max: this.maxConnections }, 'BINRPC: too many control connections, closing the new one');
      sock.destroy();
      return;
    }
    this.connections.add(sock);
    const chunks: Buffer[] = [];
    let buffered = 0;
    /** bytes to have before framing is tried again. */
    let need = 1;
    let busy = false;
    let deadline: NodeJS.Timeout | null = null;
    const arm = (): void => {
      if (buffered > 0 && !busy) {
        deadline ??= setTimeout(() => {
          this.opts.log?.warn({ buffered }, 'BINRPC: packet not completed in time, closing connection');
          sock.destroy();
        }, this.packetTimeout);
      } else if (deadline) {
        clearTimeout(deadline);
        deadline = null;
      }
    };
    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      arm();
      sock.pause();
      try {
        while (buffered >= need && !sock.destroyed) {
          const pending = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, buffered);
          chunks.length = 0;
          chunks.push(pending);
          let header;
          try {
            header = parseHeader(pending);
          } catch (e) {
            // garbage on the stream: nothing can be resynchronised, drop the connection
            this.opts.log?.warn({ err: e }, 'BINRPC: bad packet, closing connection');
            sock.destroy();
            return;
          }
          if (!header) {
            need = buffered + 1;
            break;
          }
          const total = header.headerLength + header.bodyLength;
          if (total > this.maxRequest) {
            sock.end(this.writer.fault(header.cookie, FaultCode.BAD_PARAMS, 'request too big'));
            return;
          }
          if (buffered < total) {
            need = total;
            break;
          }
          const packet = pending.subarray(0, total);
          chunks.length = 0;
          if (buffered > total) chunks.push(pending.subarray(total));
          buffered -= total;
          need = 1;
          const reply = await this.answer(packet, header.type, header.cookie, header.headerLength, this.maxReply);
          // a client that does not read its replies is not read from either
          if (!sock.destroyed && !sock.write(reply)) await drained(sock);
        }
      } finally {
        busy = false;
        if (!sock.destroyed) sock.resume();
        arm();
      }
    };
    sock.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      buffered += chunk.length;
      if (buffered >= need) void pump();
      else arm();
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.connections.delete(sock);
      if (deadline) clearTimeout(deadline);
    });
  }

  private async serveDatagram(sock: UdpSocket, msg: Buffer, rinfo: RemoteInfo): Promise<void> {
    let header;
    try {
      header = parseHeader(msg);
    } catch {
      return;
    }
    if (!header || msg.length < header.headerLength + header.bodyLength) return;
    const reply = await this.answer(
      msg.subarray(0, header.headerLength + header.bodyLength),
      header.type,
      header.cookie,
      header.headerLength,
      Math.min(this.maxReply, MAX_DATAGRAM),
    );
    sock.send(reply, rinfo.port, rinfo.address);
  }

  /** Runs one request packet and builds its reply or fault packet. */
  private async answer(
    packet: Buffer,
    type: BinrpcType,
    cookie: number,
    headerLength: number,
    maxReply: number,
  ): Promise<Buffer> {
    if (type !== BinrpcType.REQUEST) return this.writer.fault(cookie, FaultCode.BAD_PARAMS, 'bad request: not a request');
    let values: RpcValue[];
    try {
      values = decodeBody(packet, headerLength, packet.length);
    } catch (e) {
      return this.writer.fault(cookie, FaultCode.BAD_PARAMS, `bad request: ${errorText(e)}`);
    }
    const method = values[0];
    if (typeof method !== 'string') return this.writer.fault(cookie, FaultCode.BAD_PARAMS, 'bad request method');
    const observer = this.opts.observer;
    try {
      const result = await this.opts.registry.call(method, values.slice(1));
      observer?.rpcCall('binrpc', 'ok');
      const reply = this.writer.reply(cookie, resultRecords(result));
      if (reply.length > maxReply) {
        this.opts.log?.warn({ method, bytes: reply.length, max: maxReply }, 'BINRPC reply too big');
        return this.writer.fault(cookie, FaultCode.FAILURE, 'reply too big');
      }
      return reply;
    } catch (e) {
      if (e instanceof RpcFault) {
        observer?.rpcCall('binrpc', 'fault');
        return this.writer.fault(cookie, e.faultCode, e.message);
      }
      observer?.rpcCall('binrpc', 'error');
      this.opts.log?.error({ err: e, method }, 'RPC method failed');
      return this.writer.fault(cookie, FaultCode.FAILURE, `internal server error: ${errorText(e)}`);
    }
  }
}

/** resolves when `sock` drained its write buffer or closed. */
function drained(sock: Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      sock.off('drain', done);
      sock.off('close', done);
      resolve();
    };
    sock.on('drain', done);
    sock.on('close', done);
  });
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function listenServer(server: Server, start: () => void, where: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => reject(new SiphonError('RPC_BIND', e.message, { where, cause: e }));
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve();
    });
    start();
  });
}

/**
 * A socket file left by a crashed server is removed (as ctl does); one that still answers belongs to a
 * running node and is never stolen; anything that is not a socket is left alone.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new SiphonError('RPC_BIND', 'path exists and is not a socket', { where: path });
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new SiphonError('RPC_BIND', 'another server is listening on this control socket', { where: path });
  await unlink(path);
}
