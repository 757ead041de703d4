/**
 * The queueing delay of a UDP listener, measured (core.overload, host/server/overload.ts).
 *
 * Every `intervalMs` a 16-byte datagram goes from a socket of our own (same address as the listener,
 * any port) to the listener: it waits in the kernel's receive buffer behind whatever arrived before
 * it, then behind the loop's other work, exactly like a request would. The listener hands probes
 * back here (take()) before counting or parsing anything; the time from send to take is the delay.
 * Probes are recognised by their source (our probe socket's address and port) and an 8-byte random
 * token; anything else of 16 bytes is an ordinary datagram. Nothing is trusted from the payload
 * except the sequence number, which only indexes our own table of send times.
 *
 * The probe timer's lateness is reported as the loop's lag (what a TCP message waits).
 * Cost: one send and one receive per interval (100/s at 10 ms) and one length comparison per
 * received datagram.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';

export const PROBE_BYTES = 16;
/** send times kept (2.56 s of probes at 10 ms). */
const RING = 256;
const MAGIC = 0x53515031; // "SQP1"

export interface QueueProbeSink {
  probeDelay(ms: number): void;
  loopLag(ms: number): void;
}

export interface QueueProbeTarget {
  host: string;
  port: number;
  family: 4 | 6;
}

/** where a probe for a listener bound to `host` is sent from and to: a wildcard listener is probed over loopback. */
export function probeHost(host: string, family: 4 | 6): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return family === 6 ? host.replace(/^\[|\]$/g, '') : host;
}

export class UdpQueueProbe {
  private readonly socket: dgram.Socket;
  private readonly token = randomBytes(8);
  private readonly packet = Buffer.alloc(PROBE_BYTES);
  private readonly sentAt = new Float64Array(RING);
  private readonly sentSeq = new Int32Array(RING).fill(-1);
  private nextSeq = 0;
  private lastAnswered = -1;
  private localPort = -1;
  private readonly host: string;
  private timer: NodeJS.Timeout | null = null;
  private lastTick = 0;
  /** probes sent / answered (for tests and stats). */
  sent = 0;
  answered = 0;

  constructor(
    private readonly target: QueueProbeTarget,
    private readonly intervalMs: number,
    private readonly sink: QueueProbeSink,
    private readonly log: Logger,
  ) {
    this.host = probeHost(target.host, target.family);
    this.socket = dgram.createSocket({ type: target.family === 6 ? 'udp6' : 'udp4', lookup: (h, _o, cb) => cb(null, h, target.family) });
    this.socket.on('error', (err) => this.log.debug({ err: err.message }, 'queue probe send failed'));
    // a stray datagram to the probe socket is read and dropped (never processed)
    this.socket.on('message', () => {});
    this.token.copy(this.packet, 0);
    this.packet.writeUInt32BE(MAGIC, 12);
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind({ address: this.host, port: 0, exclusive: true }, () => {
        this.socket.off('error', reject);
        resolve();
      });
    });
    this.localPort = this.socket.address().port;
    this.lastTick = performance.now();
    this.timer = setInterval(this.tick, this.intervalMs);
    this.timer.unref();
    this.socket.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    try {
      this.socket.close();
    } catch {
      // never bound
    }
  }

  private readonly tick = (): void => {
    const now = performance.now();
    this.sink.loopLag(Math.max(0, now - this.lastTick - this.intervalMs));
    this.lastTick = now;
    const seq = this.nextSeq;
    this.nextSeq = (seq + 1) | 0;
    const slot = seq & (RING - 1);
    this.sentAt[slot] = now;
    this.sentSeq[slot] = seq;
    this.packet.writeInt32BE(seq, 8);
    this.sent++;
    this.socket.send(this.packet, this.target.port, this.host);
  };

  /** the listener's datagram: true (and measured) when it is one of our probes. */
  take(buf: Buffer, address: string, port: number): boolean {
    if (port !== this.localPort || address !== this.host || !this.token.equals(buf.subarray(0, 8)) || buf.readUInt32BE(12) !== MAGIC) return false;
    const seq = buf.readInt32BE(8);
    const slot = seq & (RING - 1);
    if (this.sentSeq[slot] !== seq) return true; // older than the ring: ours, but not measurable
    this.sentSeq[slot] = -1;
    if (seq > this.lastAnswered) this.lastAnswered = seq;
    this.answered++;
    this.sink.probeDelay(performance.now() - this.sentAt[slot]!);
    return true;
  }

  /** the age (ms) of the oldest probe sent after the last answered one, 0 when none is outstanding. */
  oldestOutstandingMs(): number {
    const first = this.lastAnswered + 1;
    if (first >= this.nextSeq) return 0;
    const seq = Math.max(first, this.nextSeq - RING);
    const slot = seq & (RING - 1);
    if (this.sentSeq[slot] !== seq) return 0;
    return performance.now() - this.sentAt[slot]!;
  }
}
