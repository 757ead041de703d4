/**
 * The warm-up's second phase (server/warmup.ts): the same traffic over real loopback sockets, through
 * a started throwaway server whose objects are built the way the node's are.
 *
 * Why a second phase: V8's optimised code is specialised to the objects it saw. After the first
 * phase alone the node's first busy 250 ms still ran 36–92 ms late (bench/RESULTS.md, "The first
 * second after a start"), and `--trace-deopt` named the differences: the first phase feeds
 * `receive()` directly (the UDP listener's receive/send loop never runs), captures what is sent
 * in another Channel class than the node's, routes through the plugin itself rather than through a
 * PluginManager, and its plugin twin's import functions are other closures than the node's
 * ("wrong call target" deopts of msg_get, sl_reply, pike_check_req, charge). Here:
 *
 *   - a SiphonServer with the node's config but two listen sockets on `127.0.0.1:0`, started as the
 *     node's are (UdpListener, batched receive and send, the overload probes), with the node's pike
 *     wiring and prefetchers on the module copies;
 *   - routing through a PluginManager holding a second twin of the plugin, while the first phase's
 *     twin is still alive: V8's call feedback then covers "any closure of these import functions"
 *     instead of one twin's, and the node's own instance runs the optimised code unchanged;
 *   - two callers (127.0.0.1, one of the server's own addresses, and 127.0.0.2, a foreign source)
 *     and a callee, UDP sockets in this process: keepalive OPTIONS, the callee's REGISTER, and calls
 *     (INVITE/180/200/ACK/BYE/200) the plugin routes to the registered callee.
 *
 * Nothing leaves loopback and nothing reaches the node: every relay the throwaway server makes goes
 * to the callee socket, whatever destination the plugin picked (a dispatcher gateway from the
 * configured modules gets nothing: its calls are answered by the callee), the modules are
 * throwaway copies, and server, manager, twin and sockets are closed at the end. Bounded by the
 * round count and by `deadlineMs`; a lost message only ends its round.
 */
import dgram from 'node:dgram';
import type { Logger } from 'pino';
import type { SiphonConfig } from '../config/types.js';
import type { Endpoint } from '../core/context.js';
import type { Channel } from '../transport/types.js';
import type { ListenAddress } from '../transport/listen-uri.js';
import type { SiphonModule } from '../modules/types.js';
import { WasmPlugin } from '../wasm/plugin.js';
import { PluginManager } from '../wasm/manager.js';
import { withUnconfiguredModules } from '../wasm/loader.js';
import { parseMessage } from '../sip/parser.js';
import type { SipMessage } from '../sip/types.js';
import { SiphonMetrics } from '../metrics/metrics.js';
import { SiphonServer } from './server.js';
import { modulePrefetchers, wirePike } from './modules.js';
import { hostPort, WARMUP_SDP, warmupRequest, warmupResponse } from './warmup-messages.js';

export interface LoopbackPhaseOptions {
  config: SiphonConfig;
  /** a silent logger. */
  log: Logger;
  /** rounds: OPTIONS, the callee's REGISTER, one call. */
  rounds: number;
  /** the node's plugin: routed through a PluginManager holding a twin of it. */
  plugin: WasmPlugin;
  /** the first phase's module copies. */
  modules: readonly SiphonModule[];
  /** the phase ends by then even with rounds left (ms). */
  deadlineMs: number;
}

export interface LoopbackReport {
  rounds: number;
  /** requests that got their final response. */
  answered: number;
  ms: number;
}

/** the callee's user: not the first phase's `callee`, whose contact in the registrar copy is in TEST-NET-1. */
const CALLEE_USER = 'lb-callee';
/** index of the callee among Peers' sockets. */
const CALLEE = 2;
/** rounds in flight at once. */
const CONCURRENCY = 16;
/** how long a request waits for its final response before its round ends (ms). */
const STEP_TIMEOUT_MS = 250;

/**
 * The channel of a relay to any destination but the callee socket (a dispatcher gateway the plugin
 * picked, say): it goes to the callee socket instead, so such calls complete too and nothing
 * leaves this process.
 */
class ToCalleeChannel implements Channel {
  readonly proto = 'udp' as const;
  readonly local: Endpoint;
  constructor(
    private readonly socket: Channel,
    private readonly callee: Endpoint,
  ) {
    this.local = socket.local;
  }
  send(buf: Buffer): void {
    this.socket.send(buf, this.callee.address, this.callee.port);
  }
}

export async function loopbackPhase(o: LoopbackPhaseOptions): Promise<LoopbackReport> {
  const started = performance.now();
  // two sockets on port 0 (any free one; no valid listen URI for an operator, so built here), the
  // caller alternating between them: V8 then compiles the listener's per-socket arrow functions
  // (onReadable, onDatagram, flushOutbox) for any socket, not for the one it saw, and the node's own
  // socket runs that code as it is
  const listens: ListenAddress[] = [0, 1].map(() => ({ proto: 'udp', host: '127.0.0.1', port: 0, family: 4, uri: 'udp:127.0.0.1:0' }));
  const config: SiphonConfig = { ...o.config, core: { ...o.config.core, listen: listens.map((l) => l.uri), listenAddresses: listens, aliases: [] } };
  const server = new SiphonServer({ config, log: o.log, router: null, transactions: true, prefetchers: modulePrefetchers(o.modules) });
  const metrics = new SiphonMetrics({ defaultMetrics: false });
  server.metrics = metrics;
  if (server.proxy) server.proxy.metrics = metrics;
  const peers = new Peers();
  let twin: WasmPlugin | null = null;
  let manager: PluginManager | null = null;
  try {
    await server.start();
    await peers.open();
    const sockets = server.listenerList() as unknown as Channel[];
    // isMyself reads the listen addresses: this private copy now names the bound ports
    sockets.forEach((l, k) => {
      listens[k]!.port = l.local.port;
      listens[k]!.uri = `udp:127.0.0.1:${l.local.port}`;
    });
    const listener = sockets[0]!;
    const callee = peers.endpoint(CALLEE);
    const redirect = new ToCalleeChannel(listener, callee);
    server.setOutbound({
      channelFor: (_proto, _family, address, port) => (address === callee.address && port === callee.port ? listener : redirect),
    });
    wirePike(o.modules, server);
    const providers = withUnconfiguredModules([...o.modules.flatMap((m) => m.imports()), ...server.importProviders()]);
    const t = o.plugin.twin({ log: o.log, providers, isMyself: server.isMyself });
    twin = t;
    manager = new PluginManager({ log: o.log, metrics, loadOptions: { limits: t.limits, config: undefined, isMyself: server.isMyself, providers }, loader: () => Promise.resolve(t) });
    await manager.loadRouting('warm-up');
    server.setRouter(manager);
    const sim = new LoopbackCalls(peers, sockets.map((l) => l.local), callee);
    const deadline = started + o.deadlineMs;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < o.rounds && performance.now() < deadline) await sim.round(next++);
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    return { rounds: next, answered: sim.answered, ms: Math.round(performance.now() - started) };
  } finally {
    server.setRouter(null);
    manager?.closeAll();
    twin?.close();
    await peers.close();
    await server.stop();
  }
}

type Waiter = (msg: SipMessage | null) => void;

/**
 * The callers and the callee. The callee answers what the server relays (INVITE: 180 and 200 with
 * the Record-Route copied; BYE and the rest but ACK: 200); final responses, to any of the sockets,
 * go to the round waiting for them.
 */
class Peers {
  /**
   * Two callers, on 127.0.0.1 (one of the server's own addresses) and on 127.0.0.2 (a foreign source
   * for pike and the flood check; 127.0.0.1 again where that cannot be bound), then the callee, which
   * also sends its own REGISTER (its Contact is its source: no NAT handling kicks in).
   */
  private readonly sockets = [dgram.createSocket('udp4'), dgram.createSocket('udp4'), dgram.createSocket('udp4')];
  private readonly waiting = new Map<string, Waiter>();
  private tags = 0;

  async open(): Promise<void> {
    const [local, foreign, callee] = this.sockets as [dgram.Socket, dgram.Socket, dgram.Socket];
    await bind(local, '127.0.0.1');
    await bind(callee, '127.0.0.1');
    // 127.0.0.0/8 is all loopback on Linux; elsewhere (macOS) only 127.0.0.1 may be bound
    await bind(foreign, '127.0.0.2').catch(() => bind(foreign, '127.0.0.1'));
    for (const s of this.sockets) {
      s.on('message', (buf, rinfo) => this.onMessage(s, buf, rinfo.address, rinfo.port));
      // a send to a closed port and the like: the round times out instead
      s.on('error', () => undefined);
    }
  }

  /** the caller of round i: rounds alternate between the two. */
  caller(i: number): number {
    return i & 1;
  }

  endpoint(peer: number): Endpoint {
    const a = this.sockets[peer]!.address();
    return { address: a.address, port: a.port, proto: 'udp', family: 4 };
  }

  /** Sends a request from `peer`; resolves with its final response, or null after STEP_TIMEOUT_MS. */
  request(peer: number, buf: Buffer, to: Endpoint, callId: string, method: string): Promise<SipMessage | null> {
    return new Promise((resolve) => {
      const key = `${callId} ${method}`;
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        resolve(null);
      }, STEP_TIMEOUT_MS);
      this.waiting.set(key, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.sockets[peer]!.send(buf, to.port, to.address);
    });
  }

  /** Sends from `peer` without waiting (ACK). */
  send(peer: number, buf: Buffer, to: Endpoint): void {
    this.sockets[peer]!.send(buf, to.port, to.address);
  }

  /** Final responses go to the request waiting for them; requests reach only the callee, which answers them. */
  private onMessage(socket: dgram.Socket, buf: Buffer, address: string, port: number): void {
    const r = parseMessage(buf);
    if (!r.ok) return;
    const m = r.message;
    if (m.kind === 'response') {
      if (m.status < 200) return;
      const key = `${m.callId} ${m.cseq?.method ?? ''}`;
      const w = this.waiting.get(key);
      if (w === undefined) return;
      this.waiting.delete(key);
      w(m);
      return;
    }
    if (socket !== this.sockets[CALLEE] || m.method === 'ACK') return;
    const contact = `sip:${CALLEE_USER}@${hostPort(this.endpoint(CALLEE))}`;
    const tag = `lb${this.tags++}`;
    if (m.method === 'INVITE') {
      const rr = m.headerValues('record-route');
      socket.send(warmupResponse(m, 180, 'Ringing', rr, tag, contact), port, address);
      socket.send(warmupResponse(m, 200, 'OK', rr, tag, contact), port, address);
    } else {
      socket.send(warmupResponse(m, 200, 'OK', [], tag, contact), port, address);
    }
  }

  async close(): Promise<void> {
    for (const w of this.waiting.values()) w(null);
    this.waiting.clear();
    await Promise.all(this.sockets.map((s) => new Promise<void>((resolve) => {
      try {
        s.close(() => resolve());
      } catch {
        resolve(); // never bound
      }
    })));
  }
}

/** One round: OPTIONS, the callee's REGISTER, then a call as the plugin routes it. */
class LoopbackCalls {
  answered = 0;

  constructor(
    private readonly peers: Peers,
    private readonly sockets: readonly Endpoint[],
    private readonly callee: Endpoint,
  ) {}

  async round(i: number): Promise<void> {
    // a round's requests all go to one socket (its dialog's Record-Route names it), rounds alternate
    const server = this.sockets[(i >> 3) % this.sockets.length]!;
    const caller = this.peers.caller(i);
    const us = hostPort(server);
    const id = `warmup-lb-${i}@127.0.0.1`;
    // the header shapes vary by round (display name or none, a port in From or none) as the two
    // callers alternate: the code gets warm for each shape, not specialised to one
    const display = (i & 2) === 0;
    const base = { from: this.peers.endpoint(caller), us, toUser: CALLEE_USER, toTag: '', extra: [], body: '', display, fromPort: (i & 4) === 0 };
    // a keepalive as phones and SIPp send it: no user in the Request-URI nor in To
    await this.ask(caller, server, warmupRequest({ ...base, method: 'OPTIONS', ruri: `sip:${us}`, toUser: '', callId: `${id}o`, cseq: 1, branch: `z9hG4bKl${i}o`, extra: ['Accept: application/sdp'] }), `${id}o`, 'OPTIONS');
    const contact = `<sip:${CALLEE_USER}@${hostPort(this.callee)}>`;
    await this.ask(CALLEE, server, warmupRequest({ ...base, from: this.callee, method: 'REGISTER', ruri: `sip:${us}`, callId: `${id}r`, cseq: 1, branch: `z9hG4bKl${i}r`, extra: ['Expires: 600'], contact }), `${id}r`, 'REGISTER');
    const ok = await this.ask(caller, server, warmupRequest({ ...base, method: 'INVITE', ruri: `sip:${CALLEE_USER}@${us}`, callId: id, cseq: 1, branch: `z9hG4bKl${i}a`, body: WARMUP_SDP }), id, 'INVITE');
    if (ok === null || ok.status >= 300) return;
    // in-dialog: to the callee's Contact, by the Record-Route the 200 carries (RFC 3261 §12.2.1.1)
    const routes = ok.headerValues('record-route').map((r) => `Route: ${r}`);
    const toTag = `;tag=${ok.to?.tag ?? ''}`;
    const target = `sip:${CALLEE_USER}@${hostPort(this.callee)}`;
    const inDialog = { ...base, ruri: target, callId: id, toTag, extra: routes };
    this.peers.send(caller, warmupRequest({ ...inDialog, method: 'ACK', cseq: 1, branch: `z9hG4bKl${i}b` }), server);
    await this.ask(caller, server, warmupRequest({ ...inDialog, method: 'BYE', cseq: 2, branch: `z9hG4bKl${i}c` }), id, 'BYE');
  }

  private async ask(peer: number, server: Endpoint, buf: Buffer, callId: string, method: string): Promise<SipMessage | null> {
    const m = await this.peers.request(peer, buf, server, callId, method);
    if (m !== null) this.answered++;
    return m;
  }
}

function bind(s: dgram.Socket, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, address, () => {
      s.off('error', reject);
      resolve();
    });
  });
}
