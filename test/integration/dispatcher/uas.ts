/**
 * A tiny UDP UAS on 127.0.0.1 for keepalive tests: answers OPTIONS with a configurable code
 * (RFC 3261 §8.2.6: Via, From, To with a tag, Call-ID and CSeq copied from the request).
 */
import dgram from 'node:dgram';

export class TinyUas {
  private sock: dgram.Socket | null = null;
  received: string[] = [];
  /** reply code; 0 = stay silent. */
  code = 200;
  /** ignore this many requests before answering (to exercise retransmissions). */
  dropFirst = 0;
  /** send a 100 Trying before the final reply. */
  provisional = false;

  constructor(readonly port: number) {}

  async start(): Promise<void> {
    const s = dgram.createSocket('udp4');
    s.on('message', (buf, rinfo) => {
      const text = buf.toString('utf8');
      this.received.push(text);
      if (this.dropFirst > 0) {
        this.dropFirst--;
        return;
      }
      if (this.code === 0) return;
      const hdr = (name: string) => text.split('\r\n').filter((l) => l.toLowerCase().startsWith(name.toLowerCase() + ':'));
      const reply = (code: number, reason: string) => {
        const lines = [`SIP/2.0 ${code} ${reason}`, ...hdr('Via'), ...hdr('From'), ...hdr('To').map((l) => `${l};tag=uas${this.port}`), ...hdr('Call-ID'), ...hdr('CSeq'), 'Content-Length: 0', '', ''];
        s.send(Buffer.from(lines.join('\r\n')), rinfo.port, rinfo.address);
      };
      if (this.provisional) reply(100, 'Trying');
      reply(this.code, this.code === 200 ? 'OK' : 'Error');
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(this.port, '127.0.0.1', () => resolve());
    });
    this.sock = s;
  }

  async stop(): Promise<void> {
    const s = this.sock;
    this.sock = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
