/**
 * The pieces of the dispatcher oracle (dispatcher.test.ts):
 *
 *   GatewayFarm   the destinations both servers share (one list file): UDP sockets on 127.0.0.1 that
 *                 record every request with the server it came from (its source port) and answer by
 *                 a script; a keepalive can be held unanswered until the test has read both servers'
 *                 states (the barrier between probing rounds).
 *   dsRequest     the generated requests: set, algorithm and limit in X-DS-* headers, Call-ID, From,
 *                 To, R-URI and credentials varied by a seeded generator (the hashed keys of
 *                 algorithms 0, 1, 2, 3, 5 and 7).
 *   dsExchange    sends one request to both servers and waits for its final reply (and the ACKs):
 *                 the gateways answer at once, so every hop of a failover is in by then.
 *   readDsList    `kamcmd dispatcher.list` of either server as `set uri flags priority` lines.
 */
import dgram from 'node:dgram';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { callIdOf, header, param, readSip, sinkResponse, Waiters, type OraclePair, type Outcome, type Received, type ServerName, type Side, type SipText } from './harness/index.js';

/** A gateway's answer to a request; null = no answer (never used for selection cases). */
export type GatewayAnswer = { status: number; reason: string } | null;

export interface GatewayRecord extends Received {
  gateway: string;
  side: ServerName | 'other';
  /** arrival order across the farm. */
  seq: number;
}

export class Gateway {
  readonly received: GatewayRecord[] = [];
  /** answers to requests; `n` counts the distinct requests (by Via branch) of this method from that source. */
  script: (req: SipText, side: ServerName | 'other', n: number) => GatewayAnswer = (req) => (req.method === 'INVITE' ? { status: 486, reason: 'Busy Here' } : { status: 200, reason: 'OK' });
  /** per side: hold every new request unanswered until release() (the barrier of keepalive rounds). */
  readonly holding: Record<ServerName, boolean> = { kamailio: false, siphon: false };
  private readonly held = new Map<number, Array<() => void>>();
  private readonly heldKeys = new Set<string>();
  private readonly branches = new Map<string, number>();
  private readonly counts = new Map<string, number>();
  readonly expectedAcks = new Set<string>();

  constructor(
    readonly name: string,
    private readonly sock: dgram.Socket,
    readonly port: number,
    private readonly sideOf: (port: number) => ServerName | 'other',
    private readonly portOf: (side: ServerName) => number,
    private readonly notify: () => void,
    private readonly nextSeq: () => number,
  ) {
    sock.on('message', (m, rinfo) => this.onMessage(readSip(m), rinfo));
  }

  get uri(): string {
    return `sip:127.0.0.1:${this.port}`;
  }

  /** distinct requests (retransmissions not counted) of `method` from `side`. */
  count(side: ServerName, method: string): number {
    return this.counts.get(`${this.portOf(side)}|${method}`) ?? 0;
  }

  heldFor(side: ServerName): number {
    return this.held.get(this.portOf(side))?.length ?? 0;
  }

  release(side: ServerName): void {
    const h = this.held.get(this.portOf(side))?.splice(0) ?? [];
    for (const send of h) send();
  }

  private onMessage(msg: SipText, rinfo: dgram.RemoteInfo): void {
    // counted by source port: keepalives may come before the servers' ports are known (attach)
    const side = this.sideOf(rinfo.port);
    const branch = param(header(msg, 'via'), 'branch') ?? '';
    const key = `${rinfo.port}|${callIdOf(msg)}|${branch}`;
    if (msg.kind !== 'request') return;
    if (msg.method === 'ACK') {
      const hopAck = this.expectedAcks.delete(key);
      this.received.push({ msg, hopAck, gateway: this.name, side, seq: this.nextSeq() });
      this.notify();
      return;
    }
    // a retransmission (RFC 3261 §17.1.2.2 Timer E) is answered like the first, not counted again
    const seen = this.branches.get(key);
    const ck = `${rinfo.port}|${msg.method}`;
    const n = seen ?? (this.counts.get(ck) ?? 0) + 1;
    if (seen === undefined) {
      this.branches.set(key, n);
      this.counts.set(ck, n);
      this.received.push({ msg, gateway: this.name, side, seq: this.nextSeq() });
    }
    const answer = this.script(msg, side, n);
    if (answer === null || this.heldKeys.has(key)) {
      this.notify();
      return;
    }
    const send = (): void => {
      if (msg.method === 'INVITE' && answer.status >= 300) this.expectedAcks.add(key);
      this.sock.send(Buffer.from(sinkResponse(msg, answer.status, answer.reason), 'latin1'), rinfo.port, rinfo.address);
    };
    if (seen === undefined && side !== 'other' && this.holding[side]) {
      // the barrier of a probing round: unanswered until release(side)
      this.heldKeys.add(key);
      if (!this.held.has(rinfo.port)) this.held.set(rinfo.port, []);
      this.held.get(rinfo.port)!.push(() => {
        this.heldKeys.delete(key);
        send();
      });
    } else send();
    this.notify();
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}

export class GatewayFarm {
  readonly gateways = new Map<string, Gateway>();
  private readonly waiters = new Waiters();
  private ports: Record<number, ServerName> = {};
  private portOf: Record<ServerName, number> = { kamailio: 0, siphon: 0 };

  static async open(names: string[]): Promise<GatewayFarm> {
    const farm = new GatewayFarm();
    for (const name of names) {
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
      farm.gateways.set(name, new Gateway(name, sock, sock.address().port, (p) => farm.ports[p] ?? 'other', (s) => farm.portOf[s], () => farm.notify(), () => ++farm.counter));
    }
    return farm;
  }

  /** the servers' ports (where their requests come from: Kamailio and siphon send from the listener). */
  attach(pair: OraclePair): void {
    this.ports = { [pair.kamailio.port]: 'kamailio', [pair.siphon.port]: 'siphon' };
    this.portOf = { kamailio: pair.kamailio.port, siphon: pair.siphon.port };
  }

  gw(name: string): Gateway {
    const g = this.gateways.get(name);
    if (!g) throw new Error(`no gateway ${name}`);
    return g;
  }

  /** `<gw-name>` for each gateway's address, before the harness's own substitutions. */
  side(side: Side): Side {
    return { ...side, substitutions: [...[...this.gateways.values()].map((g): [string, string] => [`127.0.0.1:${g.port}`, `<${g.name}>`]), ...side.substitutions] };
  }

  /** what reached any gateway from `side` with `callId`, in arrival order across gateways. */
  records(side: ServerName, callId: string, from: Map<string, number>): GatewayRecord[] {
    const all: GatewayRecord[] = [];
    for (const g of this.gateways.values()) for (const r of g.received.slice(from.get(g.name) ?? 0)) if (r.side === side && callIdOf(r.msg) === callId) all.push(r);
    return all.sort((a, b) => a.seq - b.seq);
  }

  marks(): Map<string, number> {
    return new Map([...this.gateways.values()].map((g) => [g.name, g.received.length]));
  }

  private counter = 0;

  private notify(): void {
    this.waiters.notify();
  }

  /** resolves true once `test` holds (checked after every datagram), false after `timeoutMs`. */
  until(test: () => boolean, timeoutMs: number): Promise<boolean> {
    return this.waiters.until(test, timeoutMs);
  }

  acksPending(side: ServerName): boolean {
    return [...this.gateways.values()].some((g) => [...g.expectedAcks].some((k) => k.startsWith(`${this.portOf[side]}|`)));
  }

  async close(): Promise<void> {
    await Promise.all([...this.gateways.values()].map((g) => g.close()));
  }
}

/** xorshift32: the generated requests are the same for a given seed (printed by the test). */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

export interface DsCase {
  name: string;
  method: string;
  set: number;
  alg: number;
  limit?: number;
  mark?: boolean;
  /** alg 5: the username of an Authorization header. */
  authUser?: string;
  callId: string;
  from: string;
  to: string;
  ruri: string;
}

const USERS = ['alice', 'bob', 'carol', 'dave', 'eve', 'frank', '1001', '1002', '+4930123', 'x', ''];
const HOSTS = ['example.com', 'sip.example.org', '10.0.0.7', '192.168.1.20:5070', 'pbx.example.net:5060', 'gw.example.com:5080'];

/** `n` requests for (set, alg), keys drawn from `rand`. */
export function dsCases(rand: () => number, set: number, alg: number, n: number, opts: { methods?: string[]; limit?: number; mark?: boolean; tag?: string } = {}): DsCase[] {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)]!;
  const word = (): string => Math.floor(rand() * 0x7fffffff).toString(36);
  const uri = (): string => {
    const u = pick(USERS);
    return `sip:${u === '' ? '' : u + '@'}${pick(HOSTS)}`;
  };
  const methods = opts.methods ?? ['MESSAGE', 'OPTIONS', 'INVITE'];
  const out: DsCase[] = [];
  for (let i = 0; i < n; i++) {
    const method = pick(methods);
    const c: DsCase = {
      name: `set ${set} alg ${alg}${opts.limit ? ` limit ${opts.limit}` : ''}${opts.mark ? ' mark' : ''}${opts.tag ? ` ${opts.tag}` : ''} #${i} ${method}`,
      method,
      set,
      alg,
      callId: `${word()}${rand() < 0.5 ? '@' + pick(HOSTS) : ''}`,
      from: uri(),
      to: uri(),
      ruri: (() => {
        const r = uri();
        return r.includes('@') ? r : `sip:u${i}@${pick(HOSTS)}`;
      })(),
    };
    if (opts.limit !== undefined) c.limit = opts.limit;
    if (opts.mark) c.mark = true;
    if (alg === 5 && rand() < 0.6) c.authUser = pick(USERS.filter((u) => u !== '')) + (rand() < 0.3 ? '@example.com' : '');
    out.push(c);
  }
  return out;
}

let sent = 0;

/** the request of `c` as the client of `side` sends it. */
export function dsRequest(c: DsCase, side: Side, seq: number): string {
  const lines = [
    `${c.method} ${c.ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${side.client.address}:${side.client.port};branch=z9hG4bK-ds${seq}`,
    'Max-Forwards: 70',
    `From: <${c.from}>;tag=f${seq}`,
    `To: <${c.to}>`,
    `Call-ID: ds${seq}-${c.callId}`,
    `CSeq: 1 ${c.method}`,
    `X-DS-Set: ${c.set}`,
    `X-DS-Alg: ${c.alg}`,
  ];
  if (c.limit !== undefined) lines.push(`X-DS-Limit: ${c.limit}`);
  if (c.mark) lines.push('X-DS-Mark: ip');
  if (c.authUser !== undefined) lines.push(`Authorization: Digest username="${c.authUser}", realm="example.com", nonce="abc${seq}", uri="${c.ruri}", response="0123456789abcdef0123456789abcdef"`);
  if (c.method === 'INVITE') lines.push(`Contact: <sip:caller@${side.client.address}:${side.client.port}>`);
  lines.push('Content-Length: 0', '', '');
  return lines.join('\r\n');
}

/** the ACK of a non-2xx final to an INVITE (RFC 3261 §17.1.1.3: the INVITE's branch, the reply's To). */
function ackFor(invite: string, reply: SipText): string {
  const lines = invite.split('\r\n');
  const keep = lines.filter((l) => /^(Via|Max-Forwards|From|Call-ID): /.test(l));
  const ruri = lines[0]!.split(' ')[1]!;
  return [`ACK ${ruri} SIP/2.0`, ...keep, `To: ${header(reply, 'to') ?? ''}`, 'CSeq: 1 ACK', 'Content-Length: 0', '', ''].join('\r\n');
}

export interface DsOutcome extends Outcome {
  /** the gateways the request went to, in order (`gw1 gw3`); ACKs left out. */
  targets: string[];
  forwarded: GatewayRecord[];
}

/** sends case `c` to both servers; resolves once both final replies (and the ACKs they cause) are in. */
export async function dsExchange(pair: OraclePair, farm: GatewayFarm, c: DsCase, timeoutMs = 5000): Promise<Record<ServerName, DsOutcome> & { bytes: Record<ServerName, string> }> {
  const seq = ++sent;
  const marks = farm.marks();
  const one = async (side: Side): Promise<[DsOutcome, string]> => {
    const bytes = dsRequest(c, side, seq);
    const callId = callIdOf(readSip(bytes));
    const r0 = side.client.received.length;
    side.client.send(bytes, side.port);
    const final = await side.client.waitFor((m) => m.kind === 'response' && (m.status ?? 0) >= 200 && callIdOf(m) === callId, r0, timeoutMs);
    if (final === null) throw new Error(`${side.name} sent no final reply to ${c.name} within ${timeoutMs} ms${side.name === 'kamailio' ? `:\n${pair.kamailioLog().slice(-3000)}` : ''}`);
    if (c.method === 'INVITE' && (final.status ?? 0) >= 300) side.client.send(ackFor(bytes, final), side.port);
    const acksComplete = await farm.until(() => !farm.acksPending(side.name), timeoutMs);
    const forwarded = farm.records(side.name, callId, marks);
    return [
      {
        replies: side.client.received.slice(r0).map((r) => r.msg).filter((m) => callIdOf(m) === callId),
        forwarded,
        acksComplete,
        targets: forwarded.filter((f) => f.msg.method !== 'ACK').map((f) => f.gateway),
      },
      bytes,
    ];
  };
  const [[kamailio, kb], [siphon, sb]] = await Promise.all([one(pair.kamailio), one(pair.siphon)]);
  return { kamailio, siphon, bytes: { kamailio: kb, siphon: sb } };
}

const run = promisify(execFile);

/** `kamcmd -s <ctl> dispatcher.list` as `set <id> <uri> <flags> <priority>` lines, in the order printed. */
export async function readDsList(ctl: string, substitutions: Array<[string, string]>): Promise<string[]> {
  const { stdout } = await run('kamcmd', ['-s', ctl, 'dispatcher.list'], { timeout: 10_000 });
  let text = stdout;
  for (const [from, to] of substitutions) text = text.split(from).join(to);
  const out: string[] = [];
  let set = '';
  let uri = '';
  let flags = '';
  for (const line of text.split('\n').map((l) => l.trim())) {
    let m: RegExpExecArray | null;
    if ((m = /^ID: (\S+)/.exec(line))) set = m[1]!;
    else if ((m = /^URI: (\S+)/.exec(line))) uri = m[1]!;
    else if ((m = /^FLAGS: (\S+)/.exec(line))) flags = m[1]!;
    else if ((m = /^PRIORITY: (\S+)/.exec(line))) out.push(`set ${set} ${uri} ${flags} ${m[1]}`);
  }
  return out;
}
