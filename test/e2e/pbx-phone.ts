/**
 * A scripted SIP phone for the PBX end-to-end tests: one UDP socket on 127.0.0.1, REGISTER, INVITE,
 * CANCEL, ACK, and replies to requests it receives. Messages are plain text built per RFC 3261 §8.1.
 */
import dgram from 'node:dgram';

export interface SipText {
  raw: string;
  firstLine: string;
  status: number;
  method: string;
  header(name: string): string | undefined;
  headers(name: string): string[];
}

export function parseSip(raw: string): SipText {
  const [head] = raw.split('\r\n\r\n');
  const lines = head!.split('\r\n');
  const firstLine = lines[0]!;
  const m = /^SIP\/2\.0 (\d{3})/.exec(firstLine);
  const headers = (name: string): string[] =>
    lines.slice(1).filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`)).map((l) => l.slice(l.indexOf(':') + 1).trim());
  return {
    raw,
    firstLine,
    status: m ? Number(m[1]) : 0,
    method: m ? '' : firstLine.split(' ')[0]!,
    header: (n) => headers(n)[0],
    headers,
  };
}

/**
 * a response to a received request: Via, Record-Route, From, To (+ tag), Call-ID, CSeq copied
 * (RFC 3261 §8.2.6.2); `extra`: header lines (each ending in CRLF) before Content-Length.
 */
export function responseText(req: SipText, code: number, reason: string, o: { contact?: string; toTag?: string; extra?: string } = {}): string {
  const to = req.header('To')!;
  const lines = [
    `SIP/2.0 ${code} ${reason}`,
    ...req.headers('Via').map((v) => `Via: ${v}`),
    ...req.headers('Record-Route').map((v) => `Record-Route: ${v}`),
    `From: ${req.header('From')}`,
    `To: ${/;tag=/.test(to) ? to : `${to};tag=${o.toTag ?? 'uas'}`}`,
    `Call-ID: ${req.header('Call-ID')}`,
    `CSeq: ${req.header('CSeq')}`,
    ...(o.contact ? [`Contact: <${o.contact}>`] : []),
  ];
  return `${lines.join('\r\n')}\r\n${o.extra ?? ''}Content-Length: 0\r\n\r\n`;
}

let counter = 0;
const uniq = (): string => `${process.pid}-${Date.now().toString(36)}-${++counter}`;

export class Phone {
  private sock!: dgram.Socket;
  port = 0;
  address = '127.0.0.1';
  private inbox: SipText[] = [];
  private waiters: Array<() => void> = [];

  constructor(readonly user: string, private readonly proxyPort: number) {}

  /** `address`: another loopback address (127.0.0.2 ...) is a source that is not the server's own. */
  static async open(user: string, proxyPort: number, port = 0, address = '127.0.0.1'): Promise<Phone> {
    const p = new Phone(user, proxyPort);
    p.sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => p.sock.bind(port, address, () => r()));
    p.port = p.sock.address().port;
    p.address = address;
    p.sock.on('message', (m) => {
      p.inbox.push(parseSip(m.toString('latin1')));
      for (const w of p.waiters.splice(0)) w();
    });
    return p;
  }

  get contact(): string {
    return `sip:${this.user}@127.0.0.1:${this.port}`;
  }

  send(text: string, port = this.proxyPort): void {
    this.sock.send(text, port, '127.0.0.1');
  }

  /** the next received message matching `pred` (removed from the inbox), or null after `ms`. */
  async next(pred: (m: SipText) => boolean = () => true, ms = 4000): Promise<SipText | null> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.inbox.findIndex(pred);
      if (i >= 0) return this.inbox.splice(i, 1)[0]!;
      const left = end - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** everything received so far matching pred (kept in the inbox). */
  peek(pred: (m: SipText) => boolean): SipText[] {
    return this.inbox.filter(pred);
  }

  async register(expires: number, proxyPort = this.proxyPort): Promise<SipText | null> {
    const id = uniq();
    this.send(
      `REGISTER sip:127.0.0.1:${proxyPort} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=z9hG4bK-reg-${id};rport\r\n` +
        `Max-Forwards: 70\r\nFrom: <sip:${this.user}@127.0.0.1>;tag=r${id}\r\nTo: <sip:${this.user}@127.0.0.1>\r\n` +
        `Call-ID: reg-${id}\r\nCSeq: 1 REGISTER\r\nContact: <${this.contact}>\r\nExpires: ${expires}\r\nContent-Length: 0\r\n\r\n`,
      proxyPort,
    );
    return this.next((m) => m.status >= 200 && m.header('Call-ID') === `reg-${id}`);
  }

  /** an INVITE to `target` (the extension); returns what is needed to CANCEL / ACK it. `callId`: its Call-ID (default: a fresh one). */
  invite(target: string, proxyPort = this.proxyPort, callId = `call-${uniq()}`): { callId: string; branch: string; text: string; fromTag: string } {
    const id = uniq();
    const branch = `z9hG4bK-inv-${id}`;
    const fromTag = `f${id}`;
    const text =
      `INVITE sip:${target}@127.0.0.1:${proxyPort} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:${this.user}@127.0.0.1>;tag=${fromTag}\r\nTo: <sip:${target}@127.0.0.1>\r\n` +
      `Call-ID: ${callId}\r\nCSeq: 1 INVITE\r\nContact: <${this.contact}>\r\nContent-Length: 0\r\n\r\n`;
    this.send(text, proxyPort);
    return { callId, branch, text, fromTag };
  }

  /** RFC 3261 §9.1: CANCEL with the INVITE's R-URI, Via branch, Call-ID and CSeq number. */
  cancel(target: string, call: { callId: string; branch: string; fromTag: string }): void {
    this.send(
      `CANCEL sip:${target}@127.0.0.1:${this.proxyPort} SIP/2.0\r\n` +
        `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${call.branch};rport\r\n` +
        `Max-Forwards: 70\r\nFrom: <sip:${this.user}@127.0.0.1>;tag=${call.fromTag}\r\nTo: <sip:${target}@127.0.0.1>\r\n` +
        `Call-ID: ${call.callId}\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n`,
    );
  }

  /** answers a received request: Via/From/To/Call-ID/CSeq copied (RFC 3261 §8.2.6.2), To-tag added. */
  reply(req: SipText, code: number, reason: string, extra = ''): void {
    this.send(responseText(req, code, reason, { contact: this.contact, toTag: `callee-${this.user}`, extra }), this.proxyPort);
  }

  close(): void {
    this.sock.close();
  }
}
