/**
 * A tiny authoritative DNS server for tests (RFC 1035 §4 message format, written by hand): UDP and
 * TCP on 127.0.0.1 (same port), answers A, AAAA, CNAME, SRV (RFC 2782) and NAPTR (RFC 3403) from a
 * table the test fills, NXDOMAIN for names it does not know, NOERROR with no answer for a known
 * name without records of the type asked. A name can be black-holed (the query is never answered)
 * and every query is counted. Answers past 1232 bytes over UDP are truncated (TC, RFC 1035
 * §4.1.1): the client asks again over TCP, as c-ares does.
 */
import dgram from 'node:dgram';
import net from 'node:net';

export type DnsRecord =
  | { type: 'A' | 'AAAA'; name: string; address: string; ttl?: number }
  | { type: 'CNAME'; name: string; target: string; ttl?: number }
  | { type: 'SRV'; name: string; priority: number; weight: number; port: number; target: string; ttl?: number }
  | { type: 'NAPTR'; name: string; order: number; preference: number; flags: string; service: string; regexp?: string; replacement: string; ttl?: number };

const TYPE = { A: 1, CNAME: 5, AAAA: 28, SRV: 33, NAPTR: 35 } as const;
const TYPE_NAME = new Map<number, string>(Object.entries(TYPE).map(([k, v]) => [v, k]));
const UDP_MAX = 1232;

function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of name.replace(/\.$/, '').split('.')) {
    if (label.length === 0) continue;
    const b = Buffer.from(label, 'latin1');
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function charString(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  return Buffer.concat([Buffer.from([b.length]), b]);
}

function rdata(r: DnsRecord): Buffer {
  switch (r.type) {
    case 'A':
      return Buffer.from(r.address.split('.').map(Number));
    case 'AAAA': {
      // expand "::" into zero groups
      const [head, tail] = r.address.includes('::') ? r.address.split('::') : [r.address, undefined];
      const h = head ? head.split(':') : [];
      const t = tail !== undefined && tail.length > 0 ? tail.split(':') : [];
      const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
      const b = Buffer.alloc(16);
      groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
      return b;
    }
    case 'CNAME':
      return encodeName(r.target);
    case 'SRV': {
      const b = Buffer.alloc(6);
      b.writeUInt16BE(r.priority, 0);
      b.writeUInt16BE(r.weight, 2);
      b.writeUInt16BE(r.port, 4);
      return Buffer.concat([b, encodeName(r.target)]);
    }
    case 'NAPTR': {
      const b = Buffer.alloc(4);
      b.writeUInt16BE(r.order, 0);
      b.writeUInt16BE(r.preference, 2);
      return Buffer.concat([b, charString(r.flags), charString(r.service), charString(r.regexp ?? ''), encodeName(r.replacement)]);
    }
  }
}

function encodeRecord(r: DnsRecord): Buffer {
  const data = rdata(r);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(TYPE[r.type], 0);
  fixed.writeUInt16BE(1, 2); // IN
  fixed.writeUInt32BE(r.ttl ?? 300, 4);
  fixed.writeUInt16BE(data.length, 8);
  return Buffer.concat([encodeName(r.name), fixed, data]);
}

export class TestDnsServer {
  private readonly records: DnsRecord[] = [];
  private readonly blackholed = new Set<string>();
  /** queries seen, "name TYPE" (lower case) → count. */
  readonly queries = new Map<string, number>();
  private udp!: dgram.Socket;
  private tcp!: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  /** starts UDP and TCP on 127.0.0.1 (a random free port for both). */
  static async start(): Promise<TestDnsServer> {
    for (let attempt = 0; ; attempt++) {
      const s = new TestDnsServer();
      try {
        await s.listen();
        return s;
      } catch (e) {
        if (attempt >= 5) throw e;
      }
    }
  }

  private async listen(): Promise<void> {
    this.udp = dgram.createSocket('udp4');
    this.udp.on('message', (msg, rinfo) => {
      const out = this.answer(msg, true);
      if (out !== null) this.udp.send(out, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve, reject) => {
      this.udp.once('error', reject);
      this.udp.bind(0, '127.0.0.1', () => resolve());
    });
    this.port = this.udp.address().port;
    this.tcp = net.createServer((sock) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      sock.on('error', () => {});
      let buf = Buffer.alloc(0);
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const len = buf.readUInt16BE(0);
          const out = this.answer(buf.subarray(2, 2 + len), false);
          buf = buf.subarray(2 + len);
          if (out !== null) {
            const l = Buffer.alloc(2);
            l.writeUInt16BE(out.length);
            sock.write(Buffer.concat([l, out]));
          }
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.tcp.once('error', (e) => {
        this.udp.close();
        reject(e);
      });
      this.tcp.listen(this.port, '127.0.0.1', () => resolve());
    });
  }

  /** "127.0.0.1:PORT", for core.dns.servers. */
  get server(): string {
    return `127.0.0.1:${this.port}`;
  }

  add(...records: DnsRecord[]): this {
    this.records.push(...records);
    return this;
  }

  clear(): void {
    this.records.length = 0;
    this.blackholed.clear();
    this.queries.clear();
  }

  /** queries for `name` are never answered (a dead server for that name). */
  blackhole(name: string): void {
    this.blackholed.add(name.toLowerCase());
  }

  /** how often "name TYPE" was asked. */
  count(name: string, type: keyof typeof TYPE): number {
    return this.queries.get(`${name.toLowerCase()} ${type}`) ?? 0;
  }

  private answer(msg: Buffer, udp: boolean): Buffer | null {
    if (msg.length < 12) return null;
    const id = msg.readUInt16BE(0);
    const flags = msg.readUInt16BE(2);
    if (msg.readUInt16BE(4) !== 1) return null;
    // question: labels, type, class (queries are never compressed)
    let off = 12;
    const labels: string[] = [];
    while (off < msg.length && msg[off] !== 0) {
      const len = msg[off]!;
      labels.push(msg.subarray(off + 1, off + 1 + len).toString('latin1'));
      off += 1 + len;
    }
    off++;
    if (off + 4 > msg.length) return null;
    const qtype = msg.readUInt16BE(off);
    const question = msg.subarray(12, off + 4);
    const name = labels.join('.').toLowerCase();
    const typeName = TYPE_NAME.get(qtype) ?? String(qtype);
    this.queries.set(`${name} ${typeName}`, (this.queries.get(`${name} ${typeName}`) ?? 0) + 1);
    if (this.blackholed.has(name)) return null;
    const known = this.records.some((r) => r.name.toLowerCase() === name);
    // the records of the type asked, and a CNAME chain followed inside our own table (bounded: a loop stops)
    const answers: DnsRecord[] = [];
    let current = name;
    const seen = new Set<string>();
    for (let hops = 0; hops < 16 && !seen.has(current); hops++) {
      seen.add(current);
      const here = this.records.filter((r) => r.name.toLowerCase() === current);
      const cname = here.find((r) => r.type === 'CNAME');
      if (cname !== undefined && qtype !== TYPE.CNAME) {
        answers.push(cname);
        current = (cname as { target: string }).target.toLowerCase();
        continue;
      }
      answers.push(...here.filter((r) => TYPE[r.type] === qtype));
      break;
    }
    const header = Buffer.alloc(12);
    header.writeUInt16BE(id, 0);
    const rcode = known ? 0 : 3; // NXDOMAIN
    let body = Buffer.concat(answers.map(encodeRecord));
    let count = answers.length;
    let tc = 0;
    if (udp && 12 + question.length + body.length > UDP_MAX) {
      tc = 0x0200; // RFC 1035 §4.1.1 TC: ask again over TCP
      body = Buffer.alloc(0);
      count = 0;
    }
    header.writeUInt16BE(0x8000 | 0x0400 | tc | (flags & 0x0100) | rcode, 2); // QR, AA, TC, RD copied
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(count, 6);
    return Buffer.concat([header, question, body]);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all([
      new Promise<void>((r) => this.udp.close(() => r())),
      new Promise<void>((r) => this.tcp.close(() => r())),
    ]);
  }
}
