/**
 * Warm-up before the sockets open (`core.warmup`, calls; 0 disables).
 *
 * V8 runs new code in its interpreter and compiles the hot functions with its optimising compiler
 * only after they ran for a while; WebAssembly starts on the baseline compiler too. Measured on the
 * bench VM (bench/RESULTS.md, "Warm-up"), a freshly started node answered the first ~1.5 s of a
 * 1,500 calls/s SIPp load 80–280 ms late while this happened, where a warm node answers in a few
 * ms. So a node first drives whole calls through a private copy of its own message path, then opens
 * its sockets:
 *
 *   - a throwaway SiphonServer (same config, no sockets: every datagram it would send is captured)
 *     relays INVITE/100/180/200/ACK/BYE/200 calls as a record-routing stateful proxy (RFC 3261 §16,
 *     §17): parser, transactions, proxy core, record-route/loose_route, serializer;
 *   - a twin of the routing plugin (same compiled module, its own instances) routes OPTIONS, a
 *     REGISTER of the callee and then whole calls through the same throwaway server: the plugin's
 *     code, the ABI glue and the modules' functions. The twin's imports come from throwaway copies
 *     of the configured modules (registrar in memory, dispatcher without keepalives, every store
 *     embedded in a temporary folder; a module whose copy cannot start is linked to -6 stubs).
 *
 * Then a second phase over loopback sockets (server/warmup-loopback.ts: a started throwaway server
 * and the plugin behind a PluginManager, the objects the node itself runs), while the first twin is
 * still alive. core.workers > 1: shard 0 (this thread) only; the worker shards run the first phase.
 *
 * Nothing leaks into the running node: the copies share no state with the node's modules, log to
 * a silent logger and, in the first phase, send nothing (every datagram is captured; the second
 * phase's stay on loopback sockets of this process); the throwaway server's counters,
 * metrics, transactions and timers are discarded with it, and the temporary folder is removed. The
 * peers are in TEST-NET-1 (192.0.2.0/24, RFC 5737), never one of our addresses; a dispatcher copy
 * selects the configured gateways, but what is "sent" to them is only captured.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import type { SiphonConfig } from '../config/types.js';
import type { Channel } from '../transport/types.js';
import type { LoadedPlugin } from '../wasm/types.js';
import { WasmPlugin } from '../wasm/plugin.js';
import { withUnconfiguredModules } from '../wasm/loader.js';
import { parseMessage } from '../sip/parser.js';
import type { SipMessage } from '../sip/types.js';
import { looseRoute, recordRoute } from '../proxy/record-route.js';
import { Action, type Endpoint, type MessageContext } from '../core/context.js';
import { SiphonServer, type RequestRouter } from './server.js';
import { MODULE_FACTORIES, wirePike } from './modules.js';
import { wireAuthDb } from '../modules/auth_db/index.js';
import type { SiphonModule } from '../modules/types.js';
import type { LocalRequestSender } from '../proxy/local-request.js';
import { SiphonMetrics } from '../metrics/metrics.js';
import { SiphonError } from '../errors/registry.js';
import { loopbackPhase, type LoopbackReport } from './warmup-loopback.js';
import { hostPort, WARMUP_SDP, warmupRequest, warmupResponse } from './warmup-messages.js';

export interface WarmupReport {
  /** proxied calls driven through the throwaway server. */
  calls: number;
  /** requests routed by the plugin twin (0 when the plugin is not a Wasm plugin). */
  pluginRequests: number;
  /** SIP messages the throwaway server received. */
  messages: number;
  /** requests it relayed statefully and responses it proxied (the calls really went through tm). */
  relayed: number;
  responsesProxied: number;
  /** rounds of the second phase over loopback sockets (server/warmup-loopback.ts; 0: not run). */
  loopbackRounds: number;
  /** its requests that got their final response. */
  loopbackAnswered: number;
  /** why the loopback phase ended early, if it failed. */
  loopbackError?: string;
  ms: number;
}

/**
 * Loopback rounds per `core.warmup` call (3,000 rounds for the default 2,000: about 1.3 s on the
 * bench VM), and the longest the phase may take (ms): the sockets open after it. Measured in
 * bench/RESULTS.md ("The 2026-12-06 10:20–11:20 UTC runs"): 500 rounds left most
 * of the node's path still to be compiled under load; 3,000 and 6,000 did equally well.
 */
const LOOPBACK_ROUNDS_PER_CALL = 1.5;
/** rounds of the loopback phase's short first run (see warmUp). */
const LOOPBACK_PRELUDE_ROUNDS = 32;
const LOOPBACK_DEADLINE_MS = 3000;

/** reqs_density_per_unit of the warm-up's pike copy: above any rate the warm-up reaches. */
const WARMUP_PIKE_DENSITY = 1_000_000;

/** Calls per batch between two yields to the event loop (optimised code is installed meanwhile). */
const BATCH = 100;

const CALLER: Endpoint = { address: '192.0.2.1', port: 5060, proto: 'udp', family: 4 };
const CALLEE: Endpoint = { address: '192.0.2.2', port: 5060, proto: 'udp', family: 4 };
const CALLEE_URI = `sip:${CALLEE.address}:${CALLEE.port}`;

/** A channel that keeps what the throwaway server sends instead of sending it. */
class CapturingChannel implements Channel {
  readonly proto = 'udp' as const;
  readonly sent: Buffer[] = [];
  constructor(readonly local: Endpoint) {}
  send(buf: Buffer): void {
    this.sent.push(buf);
  }
}

/** The route of a plain record-routing proxy: in-dialog by Route headers, the rest to the callee. */
function proxyRouter(isMyself: (host: string, port: number | undefined) => boolean): RequestRouter {
  return {
    requestRoute(ctx: MessageContext): Action {
      if (ctx.msg.to?.tag !== undefined) {
        looseRoute(ctx, isMyself);
        return Action.RELAY;
      }
      if (ctx.msg.method === 'INVITE') recordRoute(ctx);
      ctx.dstUri = CALLEE_URI;
      return Action.RELAY;
    },
  };
}

/**
 * Runs the warm-up: `calls` proxied calls, then `calls / 4` rounds of four requests through the
 * plugin twin, then (`loopback`) the loopback phase. A rejection only means a colder start:
 * startNode logs it and goes on.
 */
export async function warmUp(config: SiphonConfig, calls: number, plugin: LoadedPlugin | null, opts: { loopback?: boolean } = {}): Promise<WarmupReport> {
  const started = performance.now();
  const log = pino({ level: 'silent' });
  const server = new SiphonServer({ config, log, router: null, transactions: true });
  const listen = config.core.listenAddresses.find((a) => a.proto === 'udp') ?? config.core.listenAddresses[0];
  const host = listen === undefined || listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host;
  const local: Endpoint = { address: host, port: listen?.port ?? 5060, proto: 'udp', family: host.includes(':') ? 6 : 4 };
  const channel = new CapturingChannel(local);
  server.setOutbound({ channelFor: () => channel });
  // the message-path counters run too (a private registry, dropped afterwards)
  const metrics = new SiphonMetrics({ defaultMetrics: false });
  server.metrics = metrics;
  if (server.proxy) server.proxy.metrics = metrics;
  const sim = new CallSimulator(server, channel, local);
  let twin: WasmPlugin | null = null;
  let modules: SiphonModule[] = [];
  let dataDir: string | null = null;
  try {
    server.setRouter(proxyRouter(server.isMyself));
    for (let i = 0; i < calls; i++) {
      sim.proxiedCall(i);
      if (i % BATCH === BATCH - 1) await yieldToLoop();
    }
    if (plugin instanceof WasmPlugin) {
      dataDir = await mkdtemp(path.join(os.tmpdir(), 'siphon-warmup-'));
      modules = await moduleCopies(config, dataDir, log);
      // the node's pike wiring on the copies: the host flood check (modules.pike.auto) and
      // pike_check_req()'s own-address test run as in the node
      wirePike(modules, server);
      const providers = [...modules.flatMap((m) => m.imports()), ...server.importProviders()];
      twin = plugin.twin({ log, providers: withUnconfiguredModules(providers), isMyself: server.isMyself });
      server.setRouter(twin);
      const rounds = Math.ceil(calls / 4);
      for (let i = 0; i < rounds; i++) {
        sim.pluginRound(i);
        if (i % BATCH === BATCH - 1) await yieldToLoop();
      }
    }
    const st = server.stats();
    // the first phase's server is stopped before the second phase, the first twin stays alive until
    // after it (warmup-loopback.ts says why)
    await server.stop();
    // (a failure there, a loopback socket refused say, leaves the first phase's warmth: reported, not thrown)
    let loop: LoopbackReport | null = null;
    let loopbackError: string | undefined;
    if (opts.loopback === true && plugin instanceof WasmPlugin) {
      try {
        // first a short run on module copies of its own, all torn down before the main run: a
        // teardown writes fields that stop() and close() write for the first time (the sockets'
        // `closed` say), which deoptimises the code V8 compiled assuming they never change; this way
        // that happens to the prelude's code, not to the code the main run leaves to the node
        const preludeDir = path.join(dataDir!, 'prelude');
        await mkdir(preludeDir);
        const prelude = await moduleCopies(config, preludeDir, log);
        try {
          await loopbackPhase({ config, log, rounds: LOOPBACK_PRELUDE_ROUNDS, plugin, modules: prelude, deadlineMs: LOOPBACK_DEADLINE_MS });
        } finally {
          for (const m of prelude.reverse()) await m.close().catch(() => undefined);
        }
        loop = await loopbackPhase({ config, log, rounds: Math.ceil(calls * LOOPBACK_ROUNDS_PER_CALL), plugin, modules, deadlineMs: LOOPBACK_DEADLINE_MS });
      } catch (e) {
        loopbackError = (e as Error).message;
      }
    }
    return {
      calls, pluginRequests: sim.pluginRequests, messages: st.received, relayed: st.relayed, responsesProxied: st.responsesProxied,
      loopbackRounds: loop?.rounds ?? 0, loopbackAnswered: loop?.answered ?? 0, ...(loopbackError !== undefined ? { loopbackError } : {}),
      ms: Math.round(performance.now() - started),
    };
  } finally {
    twin?.close();
    await server.stop();
    for (const m of modules.reverse()) await m.close().catch(() => undefined);
    if (dataDir !== null) await rm(dataDir, { recursive: true, force: true });
  }
}

/** nothing may leave the warm-up: a module copy that tries to send a request of its own is refused. */
const NO_LOCAL_REQUESTS: LocalRequestSender = {
  request: () => Promise.reject(new SiphonError('TM_LOCAL_REQUEST', 'no requests during the warm-up')),
};

/**
 * Throwaway copies of the configured modules for the plugin twin: no database of the node (db_url
 * dropped: the embedded store in `dataDir`), registrar in memory, dispatcher without keepalives.
 * A copy that cannot start (a dispatcher whose destinations live only in the node's database, say)
 * is left out: its namespace then links to the -6 stubs.
 */
async function moduleCopies(config: SiphonConfig, dataDir: string, log: Logger): Promise<SiphonModule[]> {
  const out: SiphonModule[] = [];
  for (const [name, section] of Object.entries(config.modules)) {
    const make = MODULE_FACTORIES[name];
    if (!make) continue;
    const copy: Record<string, unknown> = { ...(section as Record<string, unknown>) };
    delete copy.db_url;
    if (name === 'registrar') copy.db_mode = 0;
    if (name === 'dispatcher') copy.ds_ping_interval = 0;
    if (name === 'secfilter') delete copy.seed_ua_blacklist; // an empty throwaway table: no seeding writes
    // the warm-up's caller sends thousands of requests a second: its pike copy counts them but
    // never blocks, so the plugin twin runs its whole route (the node's own table is untouched)
    if (name === 'pike') copy.reqs_density_per_unit = WARMUP_PIKE_DENSITY;
    const mod = make();
    try {
      await mod.init({ config: copy, dataDir, log, localRequests: NO_LOCAL_REQUESTS });
      out.push(mod);
    } catch {
      await mod.close().catch(() => undefined);
    }
  }
  // the auth_db copy checks through the auth copy's digest core (a copy without it answers -1)
  wireAuthDb(out, false);
  return out;
}

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Builds the caller's and callee's messages of one call and feeds them to the server. */
class CallSimulator {
  pluginRequests = 0;
  private readonly us: string;

  constructor(
    private readonly server: SiphonServer,
    private readonly channel: CapturingChannel,
    local: Endpoint,
  ) {
    this.us = hostPort(local);
  }

  /** INVITE → 100 (local) → 180 → 200 → ACK (by Route) → BYE (by Route) → 200, as two UAs see them. */
  proxiedCall(i: number): number {
    const callId = `warmup-${i}@192.0.2.1`;
    const tag = `callee${i}`;
    const invite = this.relayed(this.request('INVITE', `sip:callee@${this.us}`, callId, 1, '', `z9hG4bKw${i}a`, [], WARMUP_SDP));
    if (invite === null) return 1;
    const rr = invite.headerValues('record-route');
    this.deliver(this.response(invite, 180, 'Ringing', rr, tag), CALLEE);
    this.deliver(this.response(invite, 200, 'OK', rr, tag), CALLEE);
    const routes = rr.length > 0 ? [`Route: ${rr[0]}`] : [];
    const toTag = `;tag=${tag}`;
    this.relayed(this.request('ACK', CALLEE_URI, callId, 1, toTag, `z9hG4bKw${i}b`, routes, ''));
    const bye = this.relayed(this.request('BYE', CALLEE_URI, callId, 2, toTag, `z9hG4bKw${i}c`, routes, ''));
    if (bye !== null) this.deliver(this.response(bye, 200, 'OK', [], tag), CALLEE);
    this.channel.sent.length = 0;
    return 3;
  }

  /**
   * What a routing plugin meets most: a keepalive OPTIONS, the callee's REGISTER (so a registrar
   * lookup finds it), then a whole call to the callee as the plugin routes it (a plugin that does
   * not relay the INVITE ends the round there).
   */
  pluginRound(i: number): void {
    const callId = `warmup-plugin-${i}@192.0.2.1`;
    this.deliver(this.request('OPTIONS', `sip:${this.us}`, callId, 1, '', `z9hG4bKp${i}o`, [], ''), CALLER);
    this.deliver(this.request('REGISTER', `sip:${this.us}`, `${callId}r`, 1, '', `z9hG4bKp${i}r`, ['Expires: 600'], '', `<${CALLEE_URI.replace('sip:', 'sip:callee@')}>`), CALLEE);
    this.pluginRequests += 2;
    this.pluginRequests += this.proxiedCall(i + 1_000_000);
    this.channel.sent.length = 0;
  }

  private deliver(buf: Buffer, from: Endpoint): void {
    this.server.receive(buf, from, this.channel);
  }

  /** Delivers a caller's request; returns the request the server relayed (the last one it sent). */
  private relayed(buf: Buffer): SipMessage | null {
    const before = this.channel.sent.length;
    this.deliver(buf, CALLER);
    for (let k = this.channel.sent.length - 1; k >= before; k--) {
      const r = parseMessage(this.channel.sent[k]!);
      if (r.ok && r.message.kind === 'request') return r.message;
    }
    return null;
  }

  private request(method: string, ruri: string, callId: string, cseq: number, toTag: string, branch: string, extra: readonly string[], body: string, contact?: string): Buffer {
    return warmupRequest({ method, ruri, from: CALLER, us: this.us, callId, cseq, toTag, branch, extra, body, ...(contact !== undefined ? { contact } : {}) });
  }

  private response(req: SipMessage, status: number, reason: string, recordRoutes: readonly string[], toTag: string): Buffer {
    return warmupResponse(req, status, reason, recordRoutes, toTag, CALLEE_URI);
  }
}
