/**
 * Messages crossing between the main thread and a worker shard travel in batches: the bytes of every
 * message of one loop turn are copied into one ArrayBuffer that is transferred (not cloned) with a
 * postMessage, with the per-message fields in parallel arrays. One postMessage per turn and per
 * direction instead of one per message; a worker reads each message as a view into the transferred
 * buffer, without another copy.
 */

/** first size of a batch buffer; it doubles when a turn carries more. */
const INITIAL_BYTES = 64 * 1024;

export interface WireBatch {
  /** every message's bytes, back to back. */
  data: ArrayBuffer;
  /** byte length of each message, in order. */
  lens: number[];
  /** peer address (source of an inbound message, destination of an outbound one). */
  addrs: string[];
  ports: number[];
  /** channel ids (hub.ts: listener index, or a TCP connection's id). */
  chans: number[];
  /**
   * outbound only, absent when no message of the batch has them: the TLS server name of each send
   * (Channel.send's `name`, '' for none) and the id the worker waits on for a failed stream send
   * (Channel.send's `failed`, 0 for none).
   */
  names?: string[];
  failIds?: number[];
}

/** Collects one turn's messages; `take()` hands them over as a WireBatch and starts a new buffer. */
export class BatchWriter {
  private buf = new Uint8Array(INITIAL_BYTES);
  private used = 0;
  private lens: number[] = [];
  private addrs: string[] = [];
  private ports: number[] = [];
  private chans: number[] = [];
  private names: string[] | null = null;
  private failIds: number[] | null = null;

  get count(): number {
    return this.lens.length;
  }

  add(bytes: Uint8Array, address: string, port: number, chan: number, name = '', failId = 0): void {
    if ((name !== '' || failId !== 0) && this.names === null) {
      // the first send of the turn with a name or a failure id: the earlier ones had neither
      this.names = new Array<string>(this.lens.length).fill('');
      this.failIds = new Array<number>(this.lens.length).fill(0);
    }
    if (this.names !== null) {
      this.names.push(name);
      this.failIds!.push(failId);
    }
    const need = this.used + bytes.length;
    if (need > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < need) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.used));
      this.buf = next;
    }
    this.buf.set(bytes, this.used);
    this.used = need;
    this.lens.push(bytes.length);
    this.addrs.push(address);
    this.ports.push(port);
    this.chans.push(chan);
  }

  /** the batch (its buffer is transferred by the caller) and a fresh writer state. */
  take(): WireBatch {
    // transfer exactly the bytes used: a small batch does not ship its whole 64 KiB buffer
    const data = this.used === this.buf.length ? this.buf.buffer : this.buf.buffer.slice(0, this.used);
    const batch: WireBatch = { data: data as ArrayBuffer, lens: this.lens, addrs: this.addrs, ports: this.ports, chans: this.chans };
    if (this.names !== null) {
      batch.names = this.names;
      batch.failIds = this.failIds!;
      this.names = null;
      this.failIds = null;
    }
    if (data === this.buf.buffer) this.buf = new Uint8Array(INITIAL_BYTES);
    this.used = 0;
    this.lens = [];
    this.addrs = [];
    this.ports = [];
    this.chans = [];
    return batch;
  }
}

/** Calls `fn(bytes, address, port, chan, name, failId)` for every message of a batch (bytes: views into its buffer). */
export function forEachMessage(b: WireBatch, fn: (bytes: Buffer, address: string, port: number, chan: number, name: string, failId: number) => void): void {
  let off = 0;
  for (let i = 0; i < b.lens.length; i++) {
    const len = b.lens[i]!;
    fn(Buffer.from(b.data, off, len), b.addrs[i]!, b.ports[i]!, b.chans[i]!, b.names?.[i] ?? '', b.failIds?.[i] ?? 0);
    off += len;
  }
}
