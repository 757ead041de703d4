/**
 * SIP messages read off TCP sockets in tests (dns-node, tcp-alias): framing at the empty line (the
 * tests send no bodies), parsing, and waiting for a message matching a predicate.
 */
import type net from 'node:net';
import { parseMessage } from '../../../host/sip/parser.js';
import type { SipMessage } from '../../../host/sip/types.js';

export class StreamLog {
  readonly got: SipMessage[] = [];
  private waiters: Array<() => void> = [];

  /** parses what `sock` delivers; `onMessage` sees each message (its return text, if any, is written back). */
  attach(sock: net.Socket, onMessage?: (m: SipMessage) => string | null): void {
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const r = parseMessage(Buffer.from(buf.slice(0, end + 4), 'latin1'));
        buf = buf.slice(end + 4);
        if (!r.ok) continue;
        this.got.push(r.message);
        const out = onMessage?.(r.message) ?? null;
        if (out !== null) sock.write(out);
        for (const w of this.waiters.splice(0)) w();
      }
    });
    sock.on('error', () => {});
  }

  /** the first message matching `pred` (already received ones count), within 4 s. */
  async wait(pred: (m: SipMessage) => boolean, what: string): Promise<SipMessage> {
    const deadline = Date.now() + 4000;
    for (;;) {
      const m = this.got.find(pred);
      if (m !== undefined) return m;
      if (Date.now() > deadline) throw new Error(`TCP peer: no ${what}; got ${this.got.map((g) => g.status || g.method).join(',')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}
