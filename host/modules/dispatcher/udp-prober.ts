/**
 * A standalone UDP keepalive sender: its own dgram socket, one non-INVITE client transaction per
 * ping (RFC 3261 §17.1.2): the request is retransmitted on Timer E (T1 doubling up to T2) until a
 * response arrives or Timer F fires; a 1xx keeps it waiting (retransmits at T2), the first final
 * response ends it. Replies are matched by the Via branch (RFC 3261 §17.1.3).
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { SiphonError } from '../../errors/registry.js';
import { uriHashParts } from './hash.js';
import type { ProbeResult, ProbeTarget, Prober } from './prober.js';

/** RFC 3261 §17.1.1.1 timer defaults (ms). */
const T1 = 500;
const T2 = 4000;

interface Pending {
  resolve: (r: ProbeResult) => void;
  retransmit: NodeJS.Timeout | null;
  timeout: NodeJS.Timeout;
}

export interface UdpProberOptions {
  /** local address to bind (default 127.0.0.1). */
  address?: string;
  /** local port (0 = any). */
  port?: number;
}

// Both regexes read at most the first 2048 bytes of a reply (onMessage) and are linear: STATUS_LINE
// is anchored (one attempt, [^\r\n]* then a literal); in VIA_BRANCH `^` (multiline) admits one
// attempt per line, the lazy [^\r\n]*? stops at each ';' and the [ \t]* after it backtracks only over
// the blanks following that ';' (disjoint runs), and the captured [^;,\s]+ ends the match.
const STATUS_LINE = /^SIP\/2\.0 ([1-6][0-9]{2})(?: ([^\r\n]*))?\r?\n/;
const VIA_BRANCH = /^(?:via|v)[ \t]*:[^\r\n]*?;[ \t]*branch=([^;,\s]+)/im;

export class UdpProber implements Prober {
  private socket: dgram.Socket | null = null;
  private readonly pending = new Map<string, Pending>();
  private localPort = 0;
  private localAddress: string;

  private constructor(private readonly opts: UdpProberOptions) {
    this.localAddress = opts.address ?? '127.0.0.1';
  }

  /** Binds the socket and returns the ready prober. */
  static async start(opts: UdpProberOptions = {}): Promise<UdpProber> {
    const p = new UdpProber(opts);
    await p.bind();
    return p;
  }

  get port(): number {
    return this.localPort;
  }

  private bind(): Promise<void> {
    const type = isIP(this.localAddress) === 6 ? 'udp6' : 'udp4';
    const sock = dgram.createSocket(type);
    this.socket = sock;
    sock.on('message', (buf) => this.onMessage(buf));
    return new Promise((resolve, reject) => {
      const onErr = (e: Error): void => reject(new SiphonError('DS_PROBER', `cannot bind ${this.localAddress}:${this.opts.port ?? 0}: ${e.message}`, { cause: e }));
      sock.once('error', onErr);
      sock.bind(this.opts.port ?? 0, this.localAddress, () => {
        sock.off('error', onErr);
        sock.on('error', () => {
          /* ICMP errors on a connectionless socket: the transaction times out instead */
        });
        this.localPort = sock.address().port;
        resolve();
      });
    });
  }

  private onMessage(buf: Buffer): void {
    // only the head is needed: status line and the top Via
    const head = buf.toString('latin1', 0, Math.min(buf.length, 2048));
    const sl = STATUS_LINE.exec(head);
    if (!sl) return;
    const vb = VIA_BRANCH.exec(head);
    if (!vb) return;
    const p = this.pending.get(vb[1]!);
    if (!p) return;
    const code = Number(sl[1]);
    if (code < 200) {
      // Proceeding: keep waiting for the final response, retransmit at T2 (RFC 3261 §17.1.2.2)
      return;
    }
    this.finish(vb[1]!, { code, reason: sl[2] ?? '' });
  }

  private finish(branch: string, r: ProbeResult): void {
    const p = this.pending.get(branch);
    if (!p) return;
    this.pending.delete(branch);
    if (p.retransmit) clearTimeout(p.retransmit);
    clearTimeout(p.timeout);
    p.resolve(r);
  }

  /** Builds the keepalive request (RFC 3261 §8.1.1, §11.1). */
  buildRequest(dst: ProbeTarget, branch: string, callId: string): Buffer {
    const host = this.localAddress.includes(':') ? `[${this.localAddress}]` : this.localAddress;
    const lines = [
      `${dst.method} ${dst.uri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${host}:${this.localPort};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <${dst.from}>;tag=${dst.fromTag}`,
      `To: <${dst.uri}>`,
      `Call-ID: ${callId}`,
      `CSeq: 1 ${dst.method}`,
      'Content-Length: 0',
      '',
      '',
    ];
    return Buffer.from(lines.join('\r\n'), 'utf8');
  }

  private async resolveTarget(dst: ProbeTarget): Promise<{ address: string; port: number }> {
    const parts = uriHashParts(dst.obproxy ?? dst.uri);
    if (!parts) throw new SiphonError('DS_PROBER', `bad target uri ${dst.obproxy ?? dst.uri}`);
    if (parts.scheme === 'sips' || /;transport=(tcp|tls|sctp|ws|wss)/i.test(dst.obproxy ?? dst.uri)) {
      throw new SiphonError('DS_PROBER', `the UDP prober cannot reach ${dst.uri}`);
    }
    const host = parts.host.startsWith('[') ? parts.host.slice(1, -1) : parts.host;
    const address = isIP(host) ? host : (await lookup(host)).address;
    return { address, port: parts.portText !== undefined ? Number(parts.portText) : 5060 };
  }

  async sendOptions(dst: ProbeTarget): Promise<ProbeResult> {
    const sock = this.socket;
    if (!sock) throw new SiphonError('DS_PROBER', 'prober is closed');
    const to = await this.resolveTarget(dst);
    const branch = 'z9hG4bK' + randomBytes(8).toString('hex');
    const callId = `${randomBytes(10).toString('hex')}@${this.localAddress}`;
    const req = this.buildRequest(dst, branch, callId);
    const send = (): Promise<void> =>
      new Promise((resolve, reject) => sock.send(req, to.port, to.address, (e) => (e ? reject(e) : resolve())));
    await send().catch((e: Error) => {
      throw new SiphonError('DS_PROBER', `cannot send keepalive to ${dst.uri}: ${e.message}`, { cause: e });
    });
    return new Promise<ProbeResult>((resolve) => {
      const timerF = dst.timeoutMs > 0 ? dst.timeoutMs : 64 * T1;
      const p: Pending = {
        resolve,
        retransmit: null,
        timeout: setTimeout(() => this.finish(branch, { timeout: true }), timerF),
      };
      let interval = T1;
      const arm = (): void => {
        p.retransmit = setTimeout(() => {
          if (!this.pending.has(branch)) return;
          send().catch(() => undefined);
          interval = Math.min(interval * 2, T2);
          arm();
        }, interval);
      };
      arm();
      this.pending.set(branch, p);
    });
  }

  /** Closes the socket; outstanding pings resolve as timeouts. */
  async close(): Promise<void> {
    for (const b of [...this.pending.keys()]) this.finish(b, { timeout: true });
    const s = this.socket;
    this.socket = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
