/**
 * The message pipeline (Kamailio's receive_msg → request_route, stateless for now):
 *
 *   transport ─▶ parseMessage ─┬─ failure: a request with a readable partial (not ACK) gets
 *                              │  `failure.status failure.reason` statelessly; anything else is dropped
 *                              ├─ response: no transactions yet → dropped, counted
 *                              ├─ ACK of one of our stateless non-2xx replies → absorbed (sl_filter_ACK)
 *                              ├─ sanity (RFC 3261 §16.3) failure → 4xx (never to an ACK)
 *                              └─▶ plugin request_route(ctx) ─▶ action:
 *                                    REPLIED / DROP     done
 *                                    CONTINUE           end of route: dropped if nobody replied (Kamailio)
 *                                    RELAY              501 Not Implemented (no forwarding in this version)
 *                                    ERROR              500 Server Internal Error (never to an ACK)
 *
 * Nothing thrown escapes receive(): the whole per-message path is in one try/catch that logs and counts.
 *
 * With `transactions` enabled (host/transaction, host/proxy; additive) the path gains RFC 3261 §17
 * matching: a request is first checked against the server transactions (retransmissions, ACK of a
 * non-2xx and CANCEL of a known INVITE are absorbed there), a response goes to its client
 * transaction (or is forwarded statelessly when its top Via is ours), and RELAY or a tm.t_relay()
 * of the plugin relays statefully once request_route returned.
 */
import type { Logger } from 'pino';
import { Action } from '../core/context.js';
import type { Endpoint } from '../core/context.js';
import { RequestContext, type ReplySender } from '../core/message-context.js';
import { checkRequestSanity } from '../core/sanity.js';
import { StatelessReplier, type ReplyBody } from '../core/sl.js';
import type { SiphonConfig } from '../config/types.js';
import type { ParseLimits, SipMessage } from '../sip/types.js';
import { parseMessage } from '../sip/parser.js';
import { replyAddress, stripBrackets, type ReplyAddress } from '../transport/reply-route.js';
import { UdpListener } from '../transport/udp.js';
import type { UdpQueueProbe } from '../transport/queue-probe.js';
import { TcpListener } from '../transport/tcp.js';
import { tcpLimitsFrom } from '../transport/tcp-options.js';
import { TlsContexts } from '../transport/tls-options.js';
import { WsListener } from '../transport/ws.js';
import { sipStreamFramer } from '../transport/sip-framer.js';
import type { StreamFramer } from '../transport/framing.js';
import type { Channel, Listener, MessageSink } from '../transport/types.js';
import type { ListenAddress } from '../transport/listen-uri.js';
import type { Proto } from '../core/context.js';
import type { ImportProvider } from '../wasm/types.js';
import { TransactionLayer } from '../transaction/index.js';
import { ProxyCore, type ChannelProvider, type HookPinner, type TmHooks } from '../proxy/index.js';
import { replyFixupsOf, withReplyFixups } from '../proxy/cell.js';
import { tmImportProviders } from '../proxy/abi.js';
import { textImportProviders } from '../textops/abi.js';
import type { MessageMetrics } from '../metrics/metrics.js';
import { OverloadGuard } from './overload.js';
import { newPipelineStats, type FloodGuard, type PipelineStats, type RequestRouter, type RouteObserver, type ServerOptions, type ServerStats } from './server-types.js';
import { localAddresses, parseAlias } from './local-addresses.js';
import { onParseFailure, refuseFlood, refuseTableFull } from './refusals.js';
import { Resolver } from '../proxy/resolver.js';
import { CORE_DEFAULTS, OVERLOAD_DEFAULTS, TM_DEFAULTS } from '../config/schema.js';
import { SiphonError } from '../errors/registry.js';
import type { MessagePrefetcher } from '../modules/types.js';

export type { FloodGuard, PipelineStats, RequestRouter, RouteObserver, ServerOptions, ServerStats } from './server-types.js';

export class SiphonServer implements MessageSink, ReplySender, ChannelProvider {
  private readonly config: SiphonConfig;
  /** @internal */
  readonly log: Logger;
  private router: RequestRouter | null;
  private readonly framer: StreamFramer;
  private readonly limits: ParseLimits;
  private readonly sl: StatelessReplier;
  private readonly listeners: Array<{ address: ListenAddress; listener: Listener }> = [];
  /** @internal */
  readonly counters: PipelineStats = newPipelineStats();

  /** the transaction layer and the proxy core; null when transactions are disabled. */
  readonly transactions: TransactionLayer | null = null;
  readonly proxy: ProxyCore | null = null;
  /** message-path counters for /metrics (requests/replies in by method/class, parse errors); set by startNode. (additive) */
  metrics: MessageMetrics | null = null;
  /** scratch for reply routing (single-threaded, reused). */
  private readonly replyAddr: ReplyAddress = { address: '', port: 0 };
  private nextContextId = 1;
  private myAddresses: Set<string> = new Set();
  private readonly aliases: Array<{ host: string; port: number | undefined }>;
  private started = false;
  /** core.tls contexts (tlsContexts()); undefined = not built yet, null = no tls: listener. */
  private tls: TlsContexts | null | undefined = undefined;
  private readonly prefetchers: readonly MessagePrefetcher[];
  /** `Retry-After: <core.tm.retry_after>` of the 503 a full transaction table answers. */
  /** @internal */
  readonly tableFullRetryAfter: string;
  /** @internal */
  tableFullWarnAt = -Infinity;
  private outbound: ChannelProvider | null = null;
  /** core.overload's load shedding; null when off. (additive) */
  readonly overload: OverloadGuard | null = null;
  private probes: UdpQueueProbe[] = [];
  /** modules.pike.auto; null when off. (additive) */
  private floodGuard: FloodGuard | null = null;
  /** core.workers > 1: the main thread's hub runs the flood guard before steering (host/shards/hub.ts). */
  private floodCheckedUpstream = false;
  /** where the listeners deliver; default this server (core.workers > 1: the shard hub). */
  private inbound: MessageSink | null = null;
  /** the dialog module's view of routing; null when no module asked for it. (additive) */
  private routeObserver: RouteObserver | null = null;

  constructor(opts: ServerOptions) {
    this.config = opts.config;
    this.log = opts.log;
    this.router = opts.router;
    this.prefetchers = opts.prefetchers ?? [];
    this.framer = opts.framer ?? sipStreamFramer;
    this.limits = { maxMessageSize: opts.config.core.max_message_size, maxHeaders: opts.config.core.max_headers };
    this.sl = new StatelessReplier({
      serverHeader: opts.config.core.server_header,
      tagSeed: `${opts.config.core.node_id}|${opts.config.core.listen.join(',')}`,
    });
    this.aliases = opts.config.core.aliases.map(parseAlias);
    this.tableFullRetryAfter = `Retry-After: ${opts.config.core.tm?.retry_after ?? TM_DEFAULTS.retry_after}`;
    const ov = opts.config.core.overload;
    if (ov && ov.enabled) {
      this.overload = new OverloadGuard({ maxDelayMs: ov.max_delay, windowMs: ov.window, sustain: ov.sustain, retryAfter: ov.retry_after, utilization: ov.utilization, retransmissions: () => this.retransmissionsSeen(), messages: () => this.counters.received, minRate: ov.min_rate, startupGraceMs: ov.startup_grace }, this.log, opts.overloadUtilization);
    }
    this.myAddresses = localAddresses(this.config.core.listenAddresses);
    if (opts.transactions) {
      const timers = typeof opts.transactions === 'object' ? opts.transactions.timers : undefined;
      const core = opts.config.core;
      this.transactions = new TransactionLayer({ log: this.log, timers, maxServer: core.tm?.max_transactions ?? TM_DEFAULTS.max_transactions });
      const dc = core.dns_cache ?? CORE_DEFAULTS.dns_cache;
      const d = core.dns ?? CORE_DEFAULTS.dns;
      const resolver = new Resolver({
        ttlMs: dc.ttl * 1000, negativeTtlMs: dc.negative_ttl * 1000, maxEntries: dc.max_entries, maxPending: dc.max_pending, log: this.log,
        minTtlMs: (dc.min_ttl ?? CORE_DEFAULTS.dns_cache.min_ttl) * 1000, maxTtlMs: (dc.max_ttl ?? CORE_DEFAULTS.dns_cache.max_ttl) * 1000,
        servers: d.servers, timeoutMs: d.timeout, tries: d.tries, tryNaptr: d.try_naptr, srvLb: d.srv_lb, maxTargets: d.max_targets,
      });
      this.proxy = new ProxyCore({
        layer: this.transactions, channels: this, replies: this.sl, isMyself: this.isMyself, log: this.log,
        resolver, maxBranches: core.max_branches ?? CORE_DEFAULTS.max_branches, dnsFailover: d.use_failover,
      });
      this.setPinnerFrom(this.router);
    }
  }

  /**
   * The `tm` and `rr` import providers for the routing plugin (stubs answering -6 without
   * transactions), and `textops` / `sdpops` (message edits, host/textops).
   */
  importProviders(): ImportProvider[] {
    return [...tmImportProviders(this.proxy), ...textImportProviders()];
  }

  /**
   * The TLS contexts of the tls: listeners (host/transport/tls-options.ts), built from core.tls on the
   * first call; null without a tls: listener. A tls: listener without a certificate is refused with
   * the listen entry's file position (E3030), so `npm start` on the defaults needs no certificate.
   */
  tlsContexts(): TlsContexts | null {
    if (this.tls !== undefined) return this.tls;
    const core = this.config.core;
    const at = core.listenAddresses.findIndex((a) => a.proto === 'tls' || a.proto === 'wss');
    if (at < 0) return (this.tls = null);
    const where = this.config.source?.where;
    const settings = core.tls;
    if (settings === undefined || (settings.certificate === undefined && settings.domains.length === 0)) {
      throw new SiphonError('TLS_CONFIG', `listener ${core.listenAddresses[at]!.uri} needs core.tls.certificate and core.tls.private_key (or core.tls.domains)`, { where: where?.(['core', 'listen', at]) });
    }
    return (this.tls = new TlsContexts(settings, this.config.source?.dir ?? process.cwd(), (k) => where?.(k)));
  }

  /** ChannelProvider: a listener of that protocol and family reaching `address:port` (the proxy's outbound sockets). */
  /** ChannelProvider: a listener of that transport exists (RFC 3263 §4.1 offers only those). */
  hasTransport(proto: Proto): boolean {
    if (this.outbound !== null) return this.outbound.hasTransport?.(proto) ?? true;
    return this.listeners.some((l) => l.address.proto === proto);
  }

  channelFor(proto: Proto, family: 4 | 6, address: string, port: number, name?: string): Channel | null {
    if (this.outbound !== null) return this.outbound.channelFor(proto, family, address, port, name);
    for (const { address: a, listener } of this.listeners) {
      if (a.proto !== proto || a.family !== family) continue;
      if (listener.channelTo !== undefined) return listener.channelTo(address, port, name);
    }
    return null;
  }

  /**
   * Sends everything through `channels` instead of the listeners (the warm-up's throwaway server,
   * server/warmup.ts, which never opens a socket). (additive)
   */
  setOutbound(channels: ChannelProvider | null): void {
    this.outbound = channels;
  }

  /** A router that can pin plugin versions (the plugin manager) pins them for transactions. */
  private setPinnerFrom(router: RequestRouter | null): void {
    if (this.proxy === null) return;
    const r = router as (RequestRouter & { pin?: () => TmHooks | null; release?: (p: never) => void }) | null;
    if (r !== null && typeof r.pin === 'function' && typeof r.release === 'function') {
      const pinner: HookPinner = { pin: () => r.pin!(), release: (h) => r.release!(h as never) };
      this.proxy.setPinner(pinner);
    } else {
      this.proxy.setPinner(undefined);
    }
  }

  /** Opens every listen socket; on a failure closes those already opened and rejects (E3002). */
  async start(): Promise<void> {
    if (this.started) return;
    const core = this.config.core;
    const tls = this.tlsContexts();
    for (const address of core.listenAddresses) {
      const listener: Listener =
        address.proto === 'udp'
          ? new UdpListener({ address, sink: this.inbound ?? this, log: this.log, batch: core.udp_batch })
          : address.proto === 'ws' || address.proto === 'wss'
          ? new WsListener({
              address,
              sink: this.inbound ?? this,
              log: this.log,
              maxMessageSize: core.max_message_size,
              ...(core.ws !== undefined ? { settings: core.ws } : {}),
              limits: tcpLimitsFrom(core.tcp),
              ...(address.proto === 'wss' && tls !== null ? { tls } : {}),
            })
          : new TcpListener({
              address,
              sink: this.inbound ?? this,
              log: this.log,
              framer: this.framer,
              maxMessageSize: core.max_message_size,
              idleTimeout: core.tcp.idle_timeout,
              maxConnections: core.tcp.max_connections,
              limits: tcpLimitsFrom(core.tcp),
              ...(address.proto === 'tls' && tls !== null ? { tls } : {}),
            });
      this.listeners.push({ address, listener });
    }
    try {
      for (const { listener } of this.listeners) await listener.start();
      if (this.overload !== null) await this.startOverloadProbes(this.overload);
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.overload?.start();
    this.started = true;
  }

  /**
   * A worker shard (host/shards/worker.ts): no sockets of its own; the main thread delivers its
   * messages and adds the age of each batch to core.overload's delay signal (probeDelay). A window
   * without a batch takes the loop's lag instead (what a message steered here would wait): without
   * it a shard that was shedding when its traffic stopped kept refusing, its share frozen until
   * messages came again, and refused the first of them.
   */
  startDetached(): void {
    if (this.started) return;
    if (this.overload !== null) {
      this.overload.measureLag(this.config.core.overload?.probe_interval ?? OVERLOAD_DEFAULTS.probe_interval);
      this.overload.start();
    }
    this.started = true;
  }

  /**
   * core.workers > 1 (host/shards/hub.ts): the listeners deliver to `sink` (the hub steering by
   * Call-ID) instead of this server; the hub's flood guard replaces this server's. Before start().
   */
  setInbound(sink: MessageSink, floodCheckedUpstream: boolean): void {
    this.inbound = sink;
    this.floodCheckedUpstream = floodCheckedUpstream;
  }

  /**
   * A worker shard whose messages the main thread's hub flood-checked (modules.pike.auto) before
   * steering them here: pike_check_req() answers them as checked, as shard 0's do, instead of
   * counting each request a second time.
   */
  setFloodCheckedUpstream(): void {
    this.floodCheckedUpstream = true;
  }

  /** the listeners (config order) once started: what the shard hub sends the workers' messages from. */
  listenerList(): Listener[] {
    return this.listeners.map((l) => l.listener);
  }

  /**
   * core.overload's delay signal: a queue probe per UDP listener (transport/queue-probe.ts); a node
   * without UDP listeners measures the loop's lag only.
   */
  private async startOverloadProbes(guard: OverloadGuard): Promise<void> {
    const interval = this.config.core.overload?.probe_interval ?? OVERLOAD_DEFAULTS.probe_interval;
    const probes: UdpQueueProbe[] = [];
    for (const { listener } of this.listeners) {
      if (listener instanceof UdpListener) probes.push(await listener.startProbe(interval, guard));
    }
    this.probes = probes;
    if (probes.length === 0) guard.measureLag(interval);
    else guard.setOutstanding(() => probes.reduce((m, p) => Math.max(m, p.oldestOutstandingMs()), 0));
  }

  /** retransmissions received (core.overload's retransmission signal): requests absorbed by server transactions, responses re-received by client transactions. */
  private retransmissionsSeen(): number {
    const s = this.transactions?.stats;
    return s === undefined ? 0 : s.requestRetransmissions + s.responseRetransmissions;
  }

  /** probes sent and answered (the 'overload' statistics group). (additive) */
  probeCounts(): { sent: number; answered: number } {
    let sent = 0;
    let answered = 0;
    for (const p of this.probes) {
      sent += p.sent;
      answered += p.answered;
    }
    return { sent, answered };
  }

  /** Closes every socket (listeners and connections). */
  async stop(): Promise<void> {
    this.overload?.stop();
    this.probes = [];
    this.transactions?.close();
    await Promise.all(this.listeners.map(({ listener }) => listener.close()));
    this.listeners.length = 0;
    this.started = false;
  }

  /** Replaces the routing plugin (the next message uses the new one). */
  setRouter(router: RequestRouter | null): void {
    this.router = router;
    this.setPinnerFrom(router);
  }

  stats(): ServerStats {
    return {
      ...this.counters,
      transports: this.listeners.map(({ address, listener }) => ({ listen: address.uri, ...listener.stats })),
    };
  }

  /** the listeners (for tests and the control plane). */
  listenerFor(uri: string): Listener | undefined {
    return this.listeners.find((l) => l.address.uri === uri)?.listener;
  }

  /** kamailio.cfg `src_ip == myself`: `ip` is one of the server's own addresses (any port). (additive) */
  isOwnAddress = (ip: string): boolean => this.myAddresses.has(ip);

  /**
   * Kamailio check_self: is host[:port] one of our listen addresses or aliases? A missing port means
   * 5060, as Kamailio's URI parsing does; an alias without a port matches every port.
   */
  isMyself = (host: string, port: number | undefined): boolean => {
    const h = stripBrackets(host).toLowerCase();
    const p = port ?? 5060;
    for (const a of this.aliases) {
      if (a.host === h && (a.port === undefined || a.port === p)) return true;
    }
    if (!this.myAddresses.has(h)) return false;
    for (const a of this.config.core.listenAddresses) {
      if (a.port !== p) continue;
      if (a.host === h || a.host === '0.0.0.0' || a.host === '::') return true;
    }
    return false;
  };

  /**
   * Sheds the requests of flooding sources before any other work (modules.pike.auto). The server's
   * own addresses are never checked: kamailio.cfg's WITH_ANTIFLOOD block runs pike only
   * `if (src_ip != myself)`. (additive)
   */
  setFloodGuard(guard: FloodGuard | null): void {
    this.floodGuard = guard;
  }

  /** the dialog module sees every routed request before and after request_route (RouteObserver). (additive) */
  setRouteObserver(observer: RouteObserver | null): void {
    this.routeObserver = observer;
  }

  /** removes the flood guard and returns it (the shard hub runs it before steering). (additive) */
  takeFloodGuard(): FloodGuard | null {
    const g = this.floodGuard;
    this.floodGuard = null;
    return g;
  }

  // ---- the receive path ---------------------------------------------------------------------

  receive(buf: Buffer, source: Endpoint, channel: Channel): void {
    const c = this.counters;
    c.received++;
    try {
      const result = parseMessage(buf, this.limits);
      if (!result.ok) {
        onParseFailure(this, result.failure, source, channel);
        return;
      }
      const msg = result.message;
      const m = this.metrics;
      if (m !== null) {
        if (msg.kind === 'response') m.replyIn(msg.status);
        else m.requestIn(msg.method);
      }
      // modules.pike.auto: a flooding source costs a parse and a table hit, nothing more
      const guard = this.floodGuard;
      if (guard !== null && msg.kind === 'request' && !this.myAddresses.has(source.address)) {
        const shed = guard.shed(source.address);
        if (shed !== 0) {
          refuseFlood(this, guard, msg, source, channel, shed);
          return;
        }
      }
      const proxy = this.proxy;
      if (proxy !== null) {
        if (msg.kind === 'response') {
          // RFC 3261 §17.1.3: to the client transaction, else stateless forwarding (§16.11)
          if (proxy.receiveResponse(msg, source)) c.responsesProxied++;
          else c.responsesDropped++;
          return;
        }
        // RFC 3261 §17.2.3: retransmissions, ACK of a non-2xx and CANCEL of a known INVITE stop here
        if (proxy.receiveRequest(msg, source, channel)) {
          c.requests++;
          c.transactionAbsorbed++;
          return;
        }
      }
      if (msg.kind === 'response') {
        // no transactions yet: a stateless proxy would forward it by the second Via; we drop (counted)
        c.responsesDropped++;
        return;
      }
      c.requests++;
      if (msg.method === 'ACK' && this.sl.isAbsorbableAck(msg)) {
        c.acksAbsorbed++;
        return;
      }
      // core.tm.max_transactions: retransmissions matched their transactions above; while the table
      // is full a new request gets 503 + Retry-After statelessly (RFC 3261 §21.5.4, §20.33)
      const layer = this.transactions;
      if (layer !== null && layer.full && msg.method !== 'ACK') {
        refuseTableFull(this, layer, msg, source, channel);
        return;
      }
      // core.overload: retransmissions were absorbed above; a new dialog gets 503 + Retry-After
      if (this.overload !== null && this.overload.refuses(msg)) {
        c.overloadRejected++;
        this.send(msg, source, channel, 503, 'Service Unavailable', [this.overload.retryAfterHeader]);
        return;
      }
      const bad = checkRequestSanity(msg);
      if (bad !== null) {
        c.sanityFailures++;
        if (msg.method !== 'ACK') this.send(msg, source, channel, bad.status, bad.reason, bad.headers);
        if (this.log.isLevelEnabled('debug')) this.log.debug({ callid: msg.callId, src: `${source.address}:${source.port}`, status: bad.status, reason: bad.reason }, 'request failed sanity checks');
        return;
      }
      if (this.prefetchers.length > 0) {
        const wanted = wantedPrefetchers(this.prefetchers, msg);
        if (wanted !== null) {
          this.routeAfterPrefetch(wanted, msg, source, channel);
          return;
        }
      }
      this.route(msg, source, channel);
    } catch (e) {
      c.internalErrors++;
      this.log.error({ err: e instanceof Error ? { message: e.message, stack: e.stack } : String(e), src: `${source.address}:${source.port}`, proto: source.proto }, 'internal error while handling a message');
    }
  }

  /**
   * core.workers > 1: the hub's flood guard shed a request (`shed` 1 drop, 2 503) before steering;
   * this shard answers it as the single-shard path would. (additive)
   */
  receiveShed(buf: Buffer, source: Endpoint, channel: Channel, guard: FloodGuard, shed: number): void {
    this.counters.received++;
    try {
      const result = parseMessage(buf, this.limits);
      if (!result.ok) {
        onParseFailure(this, result.failure, source, channel);
        return;
      }
      if (result.message.kind === 'request') refuseFlood(this, guard, result.message, source, channel, shed);
    } catch (e) {
      this.counters.internalErrors++;
      this.log.error({ err: e instanceof Error ? { message: e.message, stack: e.stack } : String(e) }, 'internal error while refusing a flooding source');
    }
  }

  /** the modules' prefetchers load what the request needs, then it is routed (load() logs its own failures). */
  private routeAfterPrefetch(wanted: MessagePrefetcher[], msg: SipMessage, source: Endpoint, channel: Channel): void {
    const go = (): void => {
      try {
        this.route(msg, source, channel);
      } catch (e) {
        this.counters.internalErrors++;
        this.log.error({ err: e instanceof Error ? { message: e.message, stack: e.stack } : String(e), callid: msg.callId }, 'internal error while routing a prefetched message');
      } finally {
        for (const p of wanted) p.done?.(msg);
      }
    };
    const loads = wanted.length === 1 ? wanted[0]!.load(msg) : Promise.all(wanted.map((p) => p.load(msg)));
    loads.then(go, (e: unknown) => {
      this.log.warn({ err: (e as Error).message, callid: msg.callId }, 'prefetch failed; routing without it');
      go();
    });
  }

  private route(msg: SipMessage, source: Endpoint, channel: Channel): void {
    const c = this.counters;
    const id = this.nextContextId;
    this.nextContextId = id >= 0x7fffffff ? 1 : id + 1;
    const ctx = new RequestContext(id, msg, source, channel, this.log, this);
    if ((this.floodGuard !== null || this.floodCheckedUpstream) && !this.myAddresses.has(source.address)) ctx.floodChecked = true;
    const router = this.router;
    let action: Action;
    const proxy = this.proxy;
    const observer = this.routeObserver;
    if (observer !== null) observer.beforeRoute(ctx);
    if (router === null) {
      action = Action.ERROR;
    } else {
      c.routed++;
      if (proxy !== null) proxy.setActiveHooks(router as TmHooks);
      action = router.requestRoute(ctx);
    }
    if (proxy !== null) {
      // a t_relay() the plugin asked for, or the RELAY action, happens now (RFC 3261 §16)
      const relayed = router !== null && proxy.afterRequestRoute(ctx, action);
      proxy.setActiveHooks(null);
      if (observer !== null) observer.afterRoute(ctx);
      if (relayed) {
        c.relayed++;
        return;
      }
      if (action === Action.RELAY) {
        if (ctx.replied || msg.method === 'ACK') return;
        this.replyTo(ctx, 500, 'Server Internal Error');
        return;
      }
    }
    switch (action) {
      case Action.REPLIED:
        return;
      case Action.DROP:
      case Action.CONTINUE:
        // end of request_route without a reply: the request is dropped (Kamailio behaviour)
        if (!ctx.replied) c.dropped++;
        return;
      case Action.RELAY:
        if (ctx.replied || msg.method === 'ACK') return;
        c.relayNotImplemented++;
        ctx.log.warn({ ruri: msg.requestUri, du: ctx.dstUri }, 'RELAY requested but forwarding is not implemented in this version: answering 501');
        this.replyTo(ctx, 501, 'Not Implemented');
        return;
      case Action.SUSPEND:
        return;
      default:
        // Action.ERROR or anything unknown: the failure policy of request_route is 500 (docs/abi/v1.md)
        c.pluginErrors++;
        if (ctx.replied || msg.method === 'ACK') return;
        this.replyTo(ctx, 500, 'Server Internal Error');
    }
  }

  // ---- replies -------------------------------------------------------------------------------

  /** MessageContext.slReply: Kamailio sl_send_reply with the plugin's reply_hdr_add lines. */
  replyTo(ctx: RequestContext, code: number, reason: string, extraHeaders?: readonly string[]): boolean {
    if (!Number.isInteger(code) || code < 100 || code > 699) {
      ctx.log.warn({ code }, 'sl_reply: status code out of range 100-699');
      return false;
    }
    if (ctx.msg.method === 'ACK') {
      // RFC 3261 §17.1.1.3: an ACK is never answered
      ctx.log.debug('sl_reply: not replying to ACK');
      return false;
    }
    // the runtime passes ctx.replyHeaders itself as extraHeaders: add those lines once
    const more = extraHeaders === ctx.replyHeaders ? undefined : extraHeaders;
    // a From / To the uac module replaced goes back to the original (Kamailio builds sl replies from the received buffer)
    const ok = this.send(ctx.msg, ctx.source, ctx.channel, code, reason, ctx.replyHeaders, more, ctx.replyBody, replyFixupsOf(ctx));
    // set_reply_body is for the next reply (Kamailio frees the reply lumps once a reply is built)
    if (ok) ctx.replyBody = undefined;
    if (ok && code >= 200) ctx.replied = true;
    return ok;
  }

  /** @internal a stateless reply (sl_send_reply) sent on `channel` by the request's top Via. */
  send(req: SipMessage, source: Endpoint, channel: Channel, code: number, reason: string, extra?: readonly string[], more?: readonly string[], body?: ReplyBody, fixups?: ReadonlyArray<(resp: SipMessage) => void> | null): boolean {
    try {
      let buf = this.sl.build(req, source, code, reason, extra, more, body);
      if (fixups) buf = withReplyFixups(buf, fixups);
      const to = replyAddress(req.vias[0], source, this.replyAddr);
      channel.send(buf, to.address, to.port);
      this.counters.repliesSent++;
      this.metrics?.replyOut(code);
      return true;
    } catch (e) {
      this.counters.replyFailures++;
      this.log.warn({ err: (e as Error).message, callid: req.callId, code: 3003 }, 'cannot send stateless reply [E3003]');
      return false;
    }
  }

}

/**
 * Requests whose routing may call the registrar: REGISTER (save) and initial requests (lookup). ACK,
 * CANCEL and in-dialog requests (To-tag) are routed by Route headers / the transaction layer.
 */
/** the prefetchers that want `msg`, or null (the common case, no allocation). */
function wantedPrefetchers(all: readonly MessagePrefetcher[], msg: SipMessage): MessagePrefetcher[] | null {
  let out: MessagePrefetcher[] | null = null;
  for (const p of all) if (p.wants(msg)) (out ??= []).push(p);
  return out;
}
