/**
 * The ng control protocol client (rtpengine's "ng" protocol over UDP): every request is
 * `<cookie> <bencoded dictionary>`, the answer `<cookie> <bencoded dictionary>` with the same
 * cookie. A try waits rtpengine_tout_ms; a request is sent at most rtpengine_retr times with the
 * same cookie (rtpengine answers a repeated cookie from its cache, so a retry never runs a command
 * twice). Answers are taken only from the address and port the request went to, and only for a
 * cookie still waiting; anything else is counted and dropped.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { asDict, bdecode, bencode, BencodeError, type BDict } from './bencode.js';
import type { InstanceSpec } from './config.js';
import type { RtpengineStats } from './stats.js';

/** largest ng answer read (one UDP datagram). */
export const MAX_DATAGRAM = 65_535;

interface Waiting {
  inst: InstanceSpec;
  payload: Buffer;
  tries: number;
  timer: NodeJS.Timeout | null;
  resolve(v: BDict | null): void;
}

export class NgClient {
  private readonly sockets: { 4: Socket | null; 6: Socket | null } = { 4: null, 6: null };
  private readonly waiting = new Map<string, Waiting>();
  private readonly prefix = randomBytes(4).toString('hex');
  private seq = 0;
  private closed = false;

  constructor(
    private readonly timeoutMs: number,
    private readonly retries: number,
    private readonly maxPending: number,
    private readonly stats: RtpengineStats,
  ) {}

  /** ng requests waiting for their answer. */
  get pending(): number {
    return this.waiting.size;
  }

  /** false when max_pending requests wait already (the caller fails at once). */
  get hasRoom(): boolean {
    return this.waiting.size < this.maxPending;
  }

  /**
   * Sends `dict` to `inst`; resolves with the answer dictionary, or null when every try timed out
   * (or the socket failed, or the client is closed). Never rejects.
   */
  request(inst: InstanceSpec, dict: BDict): Promise<BDict | null> {
    if (this.closed || !this.hasRoom) return Promise.resolve(null);
    const cookie = `${this.prefix}_${(this.seq = (this.seq + 1) % 0x7fffffff)}`;
    let payload: Buffer;
    try {
      payload = Buffer.concat([Buffer.from(`${cookie} `, 'latin1'), bencode(dict)]);
    } catch {
      return Promise.resolve(null);
    }
    return new Promise((resolve) => {
      const w: Waiting = { inst, payload, tries: 0, timer: null, resolve };
      this.waiting.set(cookie, w);
      this.sendTry(cookie, w);
    });
  }

  private sendTry(cookie: string, w: Waiting): void {
    w.tries++;
    this.stats.requestsSent++;
    this.socket(w.inst.family).send(w.payload, w.inst.port, w.inst.host, (err) => {
      if (err && this.waiting.get(cookie) === w) {
        this.stats.sendErrors++;
        this.finish(cookie, w, null);
      }
    });
    w.timer = setTimeout(() => {
      if (this.waiting.get(cookie) !== w) return;
      if (w.tries < this.retries) this.sendTry(cookie, w);
      else {
        this.stats.timeouts++;
        this.finish(cookie, w, null);
      }
    }, this.timeoutMs);
    w.timer.unref?.();
  }

  private finish(cookie: string, w: Waiting, v: BDict | null): void {
    if (w.timer !== null) clearTimeout(w.timer);
    this.waiting.delete(cookie);
    w.resolve(v);
  }

  private socket(family: 4 | 6): Socket {
    const have = this.sockets[family];
    if (have !== null) return have;
    const s = createSocket({ type: family === 4 ? 'udp4' : 'udp6', recvBufferSize: 1 << 20 });
    s.on('message', (buf, rinfo) => this.onMessage(buf, rinfo.address, rinfo.port));
    s.on('error', () => {
      this.stats.sendErrors++;
    });
    s.unref();
    this.sockets[family] = s;
    return s;
  }

  private onMessage(buf: Buffer, address: string, port: number): void {
    const sp = buf.indexOf(0x20);
    if (sp <= 0 || sp > 64) {
      this.stats.badAnswers++;
      return;
    }
    const cookie = buf.toString('latin1', 0, sp);
    const w = this.waiting.get(cookie);
    if (w === undefined || w.inst.port !== port || !sameHost(w.inst.host, address)) {
      // late (answered after its last try timed out), or not from the instance asked
      this.stats.strayAnswers++;
      return;
    }
    let dict: BDict | null;
    try {
      dict = asDict(bdecode(buf, sp + 1));
    } catch (e) {
      if (!(e instanceof BencodeError)) throw e;
      dict = null;
    }
    if (dict === null) {
      this.stats.badAnswers++;
      return; // the next try (or the timeout) ends it
    }
    this.finish(cookie, w, dict);
  }

  close(): void {
    this.closed = true;
    for (const [cookie, w] of [...this.waiting]) this.finish(cookie, w, null);
    for (const f of [4, 6] as const) {
      this.sockets[f]?.close();
      this.sockets[f] = null;
    }
  }
}

function sameHost(a: string, b: string): boolean {
  return a === b || a.toLowerCase() === b.toLowerCase() || b === `::ffff:${a}`;
}
