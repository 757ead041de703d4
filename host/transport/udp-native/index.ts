/**
 * Batched UDP (Linux): a socket owned by the native addon udp_batch.cc, read with recvmmsg (up to 32
 * datagrams per system call and one JS call per batch) and written with sendmmsg (every datagram a
 * loop turn queued in one system call). Node's dgram costs one JS callback, one microtask checkpoint
 * and one system call per datagram received, and one system call per datagram sent; on the message
 * path those were ~12 % of an OPTIONS's CPU (bench/RESULTS.md "Batched UDP").
 *
 * UdpListener (../udp.ts) uses this when `core.udp_batch` is on (the default) and the addon is built
 * (scripts/build-native.mjs at `npm install`), else Node's dgram, with E3039 logged once.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { fileURLToPath } from 'node:url';

interface UdpBatchAddon {
  SLOTS: number;
  SLOT_BYTES: number;
  META: number;
  open(family: number, host: string, port: number, rcvbuf: number, sndbuf: number, onReadable: () => void, onWritable: () => void, data: Buffer, meta: Int32Array): object;
  port(h: object): number;
  recv(h: object): number;
  send(h: object, bufs: ReadonlyArray<Buffer | undefined>, addrs: readonly string[], ports: readonly number[], n: number, errs: Int32Array): number;
  armWritable(h: object): void;
  bufferSizes(h: object): [number, number];
  close(h: object): void;
}

/** where node-gyp puts the addon, seen from host/transport/udp-native/ (sources) and dist/host/transport/udp-native/. */
const CANDIDATES = ['./build/Release/udp_batch.node', '../../../../host/transport/udp-native/build/Release/udp_batch.node'];

let addon: UdpBatchAddon | null | undefined;
let unavailable = '';

/** The addon, or null with the reason in udpBatchUnavailable(). Loaded once per thread. */
function load(): UdpBatchAddon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.platform !== 'linux') {
    unavailable = 'batched UDP needs Linux (recvmmsg/sendmmsg)';
    return null;
  }
  if (endianness() !== 'LE') {
    unavailable = 'batched UDP reads addresses little-endian';
    return null;
  }
  unavailable = 'udp_batch addon not built (run `npm run build`; needs a C++ compiler and Node headers)';
  for (const rel of CANDIDATES) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    if (!existsSync(path)) continue;
    try {
      addon = createRequire(import.meta.url)(path) as UdpBatchAddon;
      return addon;
    } catch (err) {
      unavailable = `udp_batch addon unusable: ${(err as Error).message}`;
    }
  }
  return null;
}

/** '' when batched UDP can be used, else why not (for the E3039 log line). */
export function udpBatchUnavailable(): string {
  return load() === null ? unavailable : '';
}

export type DatagramHandler = (buf: Buffer, address: string, port: number, family: 4 | 6) => void;
/** errno of a datagram the kernel refused; EINVAL (22) also for an address that is not an IP literal. */
export type SendErrorHandler = (errno: number, address: string, port: number, buf: Buffer) => void;
export const EINVAL = 22;

/** datagrams waiting for the send buffer (EAGAIN) at most; beyond, new ones are dropped and counted. */
const MAX_PENDING = 8192;
/** recvmmsg batches per readable event before the loop gets a turn (timers, sends): 4 × 32 datagrams. */
const BATCHES_PER_EVENT = 4;
/** source address strings kept for reuse (a few peers send most datagrams); cleared when full. */
const ADDRESS_CACHE = 4096;

export class NativeUdpSocket {
  private readonly a: UdpBatchAddon;
  private readonly handle: object;
  private readonly data: Buffer;
  private readonly meta: Int32Array;
  private readonly metaBytes: Uint8Array;
  private errs = new Int32Array(64);
  private readonly v4 = new Map<number, string>();
  private readonly v6 = new Map<string, string>();
  private closed = false;
  /** datagrams the kernel had no room for (EAGAIN), sent on the next writable event. */
  private readonly pendBufs: Buffer[] = [];
  private readonly pendAddrs: string[] = [];
  private readonly pendPorts: number[] = [];
  private waitingWritable = false;
  /** datagrams dropped because MAX_PENDING were already waiting. */
  dropped = 0;

  private constructor(a: UdpBatchAddon, family: 4 | 6, host: string, port: number, bufferBytes: number, private readonly onDatagram: DatagramHandler, private readonly onSendError: SendErrorHandler) {
    this.a = a;
    this.data = Buffer.alloc(a.SLOTS * a.SLOT_BYTES);
    this.meta = new Int32Array(a.SLOTS * a.META);
    this.metaBytes = new Uint8Array(this.meta.buffer);
    this.handle = a.open(family, host, port, bufferBytes, bufferBytes, this.onReadable, this.onWritable, this.data, this.meta);
  }

  /** Binds host:port (0: any free port); throws an Error with the errno name as `code` (EADDRINUSE ...). */
  static open(family: 4 | 6, host: string, port: number, bufferBytes: number, onDatagram: DatagramHandler, onSendError: SendErrorHandler): NativeUdpSocket {
    const a = load();
    if (a === null) throw new Error(unavailable);
    return new NativeUdpSocket(a, family, host, port, bufferBytes, onDatagram, onSendError);
  }

  port(): number {
    return this.a.port(this.handle);
  }

  bufferSizes(): { recv: number; send: number } {
    const [recv, send] = this.a.bufferSizes(this.handle);
    return { recv, send };
  }

  private readonly onReadable = (): void => {
    const { a, meta, data } = this;
    const stride = a.META;
    for (let round = 0; round < BATCHES_PER_EVENT && !this.closed; round++) {
      const n = a.recv(this.handle);
      if (n <= 0) return; // 0: drained; < 0: -errno of a receive error (ICMP port unreachable ...), nothing to deliver
      for (let i = 0; i < n && !this.closed; i++) {
        const m = i * stride;
        const len = meta[m]!;
        if (meta[m + 7] !== 0) continue; // truncated: larger than any SIP message siphon accepts (the parser's 513 is for complete ones)
        const buf = Buffer.allocUnsafe(len);
        data.copy(buf, 0, i * a.SLOT_BYTES, i * a.SLOT_BYTES + len);
        const family = meta[m + 2] === 6 ? 6 : 4;
        const address = family === 4 ? this.v4Address(meta[m + 3]!) : this.v6Address(m + 3);
        try {
          this.onDatagram(buf, address, meta[m + 1]!, family);
        } catch (err) {
          // as from a dgram 'message' listener: uncaught, but the rest of the batch is still delivered
          queueMicrotask(() => {
            throw err;
          });
        }
      }
      if (n < a.SLOTS) return;
    }
  };

  private v4Address(word: number): string {
    let s = this.v4.get(word);
    if (s === undefined) {
      // the four bytes in network order, read as a little-endian int32
      s = `${word & 255}.${(word >>> 8) & 255}.${(word >>> 16) & 255}.${word >>> 24}`;
      if (this.v4.size >= ADDRESS_CACHE) this.v4.clear();
      this.v4.set(word, s);
    }
    return s;
  }

  private v6Address(metaIndex: number): string {
    const bytes = this.metaBytes.subarray(metaIndex * 4, metaIndex * 4 + 16);
    const key = String.fromCharCode(...bytes);
    let s = this.v6.get(key);
    if (s === undefined) {
      s = formatIpv6(bytes);
      if (this.v6.size >= ADDRESS_CACHE) this.v6.clear();
      this.v6.set(key, s);
    }
    return s;
  }

  /**
   * Sends datagrams 0..n-1 of the arrays (the caller's, reused: read here, not kept). What the kernel
   * has no room for waits for the next writable event, in order, after what already waits.
   */
  sendBatch(bufs: ReadonlyArray<Buffer | undefined>, addrs: readonly string[], ports: readonly number[], n: number): void {
    if (this.closed || n === 0) return;
    if (this.pendBufs.length > 0) {
      for (let i = 0; i < n; i++) this.hold(bufs[i]!, addrs[i]!, ports[i]!);
      return;
    }
    if (this.errs.length < n) this.errs = new Int32Array(Math.max(n, this.errs.length * 2));
    const done = this.a.send(this.handle, bufs, addrs, ports, n, this.errs);
    this.reportErrors(bufs, addrs, ports, done);
    for (let i = done; i < n; i++) this.hold(bufs[i]!, addrs[i]!, ports[i]!);
  }

  private reportErrors(bufs: ReadonlyArray<Buffer | undefined>, addrs: readonly string[], ports: readonly number[], done: number): void {
    const errs = this.errs;
    for (let i = 0; i < done; i++) if (errs[i] !== 0) this.onSendError(errs[i]!, addrs[i]!, ports[i]!, bufs[i]!);
  }

  private hold(buf: Buffer, addr: string, port: number): void {
    if (this.pendBufs.length >= MAX_PENDING) {
      this.dropped++;
      return;
    }
    this.pendBufs.push(buf);
    this.pendAddrs.push(addr);
    this.pendPorts.push(port);
    if (!this.waitingWritable) {
      this.waitingWritable = true;
      this.a.armWritable(this.handle);
    }
  }

  private readonly onWritable = (): void => {
    this.waitingWritable = false;
    if (this.closed) return;
    const bufs = this.pendBufs.splice(0);
    const addrs = this.pendAddrs.splice(0);
    const ports = this.pendPorts.splice(0);
    this.sendBatch(bufs, addrs, ports, bufs.length);
  };

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pendBufs.length = 0;
    this.a.close(this.handle);
  }
}

/** RFC 5952 text of an IPv6 address (what inet_ntop and Node's rinfo.address give). */
export function formatIpv6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  // the longest run of two or more zero groups becomes '::' (the first such run on a tie)
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => g.slice(from, to).map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}
