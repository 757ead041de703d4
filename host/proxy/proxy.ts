/**
 * The proxy core (RFC 3261 §16, Kamailio tm + core forwarding, kamailio.md §4.2):
 *
 *   t_relay()   stateful relay: a server transaction for the request, 100 Trying for INVITE, one
 *               client transaction per branch (the R-URI or $du, plus the destination set: parallel
 *               forking, §16.5–16.6), response processing (§16.7): provisionals and every 2xx
 *               forwarded at once, finals collected until every branch ended, then failure_route
 *               (serial forking: new branches + t_relay again) or the best response upstream.
 *   forward()   stateless relay (§16.11): a Via whose branch is a hash of the incoming one, so
 *               retransmissions get the same branch; used for ACK of 2xx and whenever the plugin
 *               asks for it.
 *   CANCEL      matched to its INVITE server transaction: answered 200, CANCEL sent on every branch
 *               that received a provisional (and on the others once they do, Kamailio
 *               cancel_b_method 1 / RFC 3261 §9.1), 487 upstream once the branches answer.
 *   responses   matched to client transactions by the transaction layer; unmatched responses whose
 *               top Via is ours are forwarded statelessly to the next Via (§16.11, §18.2.2).
 *
 * Branch requests are copies of the request as request_route left it (re-parsed from its bytes), so
 * branch_route can edit each one separately. Route hooks run on the plugin version that was routing
 * when the transaction was created (pinning). Hooks never re-enter the plugin: a t_relay() called from
 * a hook is recorded and performed when the hook returns (Kamailio too relays when the route ends).
 */
import type { Logger } from 'pino';
import { Action, protoOfViaTransport, VIA_TRANSPORT, type Endpoint, type MessageContext, type Proto } from '../core/context.js';
import { hashHex } from '../core/hash.js';
import { txOf } from '../core/pv.js';
import type { TxData } from '../core/avp.js';
import { Errors } from '../errors/registry.js';
import { isValidRequestUri, SipMessageImpl } from '../sip/message.js';
import { parseMessage } from '../sip/parser.js';
import type { SipMessage } from '../sip/types.js';
import type { ReplyBody } from '../core/sl.js';
import type { Channel } from '../transport/types.js';
import type { MessageMetrics } from '../metrics/metrics.js';
import { stripBrackets } from '../transport/reply-route.js';
import {
  buildCancel, ClientState, RequestMatch, type ClientTransactionUser, type SentRequest,
  type ServerTransaction, type TransactionLayer,
} from '../transaction/index.js';
import { BranchState, ProxyTransaction, withReplyFixups, REASON_478, REASON_487, TmRequestState, type CellObserver, type ProxyBranch } from './cell.js';
import { DestinationSet, type BranchTarget } from './dset.js';
import { HookContext, NO_ROUTE, type TmHooks } from './hooks.js';
import { ensureMaxForwardsProcessed } from './max-forwards.js';
import { markReceived } from './received.js';
import { relayAfterGate, type MediaGate } from './media-gate.js';
import { doubleRecordRoute, needsDoubleRecordRoute, type IsMyself } from './record-route.js';
import { nextHopOf, Resolver, type NextHop, type ResolvedAddress, type Target } from './resolver.js';

/** Sockets the proxy may send through (the server's listeners). */
export interface ChannelProvider {
  /** a channel able to reach `address:port` over that protocol and address family; null when none listens. */
  /** `name`: the host the target URI named when it is not an address (TLS: RFC 5922 identity, SNI). */
  channelFor(proto: Proto, family: 4 | 6, address: string, port: number, name?: string): Channel | null;
  /** whether a listener of that transport exists (RFC 3263 §4.1: NAPTR/SRV offer only those); absent = all. */
  hasTransport?(proto: Proto): boolean;
}

/** Builds a reply from a request (the stateless replier, RFC 3261 §8.2.6). */
export interface ReplyBuilder {
  build(req: SipMessage, source: Endpoint, code: number, reason: string, extra?: readonly string[], more?: readonly string[], body?: ReplyBody): Buffer;
  toTagFor(req: SipMessage): string;
}

/**
 * Pins plugin versions for transactions (host/wasm/manager.ts PluginManager.pin/release): a
 * transaction's hooks run on the version current when it was created, even after a reload.
 */
export interface HookPinner {
  pin(): TmHooks | null;
  release(hooks: TmHooks): void;
}

export interface ProxyOptions {
  layer: TransactionLayer;
  /** plugin version pinning; without it a transaction keeps the hooks given to setActiveHooks(). */
  pinner?: HookPinner;
  channels: ChannelProvider;
  replies: ReplyBuilder;
  isMyself: IsMyself;
  log: Logger;
  resolver?: Resolver;
  /**
   * Kamailio core `max_branches` (default 12): the most branches one transaction creates over its
   * life (parallel and serial forking together, as tm's nr_of_outgoings); more are not created.
   */
  maxBranches?: number;
  /**
   * Kamailio `use_dns_failover` (default true): a branch answered 503, timed out or failing at the
   * transport is retried on the next target of its DNS answer (RFC 3263 §4.3) as a new branch.
   */
  dnsFailover?: boolean;
}

export interface ProxyStats {
  relayed: number;
  branches: number;
  forwardedStateless: number;
  responsesForwarded: number;
  responsesForwardedStateless: number;
  responsesDropped: number;
  cancelsReceived: number;
  cancelsSent: number;
  failureRoutes: number;
  localReplies: number;
  relayFailures: number;
  /** branches not created because the transaction had max_branches already. (additive) */
  branchesRefused: number;
  /** branches started on the next DNS target after a 503/timeout/transport error (RFC 3263 §4.3). (additive) */
  dnsFailovers: number;
}

const RELAY_TOO_MANY_HOPS = -3;
/** Kamailio's max_branches default. */
export const DEFAULT_MAX_BRANCHES = 12;

/**
 * The reply a relay that sent nothing gets: 483 (Max-Forwards 0), the branches' best, 503 when no
 * socket reaches the next hop (its family or transport has no listener here: sips: without a tls:
 * listener, an IPv6 target on an IPv4-only node; Kamailio's E_NO_SOCKET, never a 500 that reads
 * like a crash), else 500.
 */
function relayFailureReply(rc: number, cell: ProxyTransaction): [number, string] {
  if (rc === RELAY_TOO_MANY_HOPS) return [483, 'Too Many Hops'];
  const best = cell.bestStatus();
  if (best === 478) return [478, REASON_478];
  if (best === 482) return [482, 'Loop Detected'];
  if (best === 503) return [503, 'Service Unavailable'];
  if (best >= 300) return [best, best === 487 ? REASON_487 : 'Relay Failed'];
  return [500, 'Server Internal Error'];
}

/**
 * the tm state of a context: kept in the context's own tmState slot (a field lookup, and it goes
 * away with the context) rather than in a WeakMap keyed by contexts.
 */
function stateIn(ctx: MessageContext): TmRequestState | undefined {
  return ctx.tmState as TmRequestState | undefined;
}

/** A CANCEL (or other fire-and-forget request) client transaction: its responses need no processing. */
const IGNORE_RESPONSES: ClientTransactionUser = {
  onClientResponse() {},
  onClientTimeout() {},
};


export class ProxyCore {
  readonly layer: TransactionLayer;
  readonly dset: DestinationSet;
  readonly resolver: Resolver;
  readonly stats: ProxyStats = {
    relayed: 0,
    branches: 0,
    forwardedStateless: 0,
    responsesForwarded: 0,
    responsesForwardedStateless: 0,
    responsesDropped: 0,
    cancelsReceived: 0,
    cancelsSent: 0,
    failureRoutes: 0,
    localReplies: 0,
    relayFailures: 0,
    branchesRefused: 0,
    dnsFailovers: 0,
  };
  /** use_dns_failover. */
  readonly dnsFailover: boolean;
  /** core.max_branches. */
  readonly maxBranches: number;
  private branchWarnAt = -Infinity;
  private readonly channels: ChannelProvider;
  private readonly replies: ReplyBuilder;
  readonly isMyself: IsMyself;
  private readonly log: Logger;
  private pinner: HookPinner | undefined;
  /** the plugin routing the current request (pinned into the transactions it creates). */
  private activeHooks: TmHooks | null = null;
  /** branch index of the hook being run (t_branch_index), -1 outside branch/reply hooks. */
  private hookBranch = -1;
  /** the transaction whose hook is running. */
  private hookCell: ProxyTransaction | null = null;
  private nextHookContextId = 0x40000000;
  private readonly rrCallbacks: Array<(ctx: MessageContext) => void> = [];
  /** requests/replies sent, for /metrics (set by startNode). (additive) */
  metrics: MessageMetrics | null = null;
  /** what a relayed request or forwarded reply waits for (the rtpengine module); null = nothing. (additive) */
  mediaGate: MediaGate | null = null;

  constructor(opts: ProxyOptions) {
    this.layer = opts.layer;
    this.channels = opts.channels;
    this.replies = opts.replies;
    this.isMyself = opts.isMyself;
    this.log = opts.log;
    this.pinner = opts.pinner;
    this.resolver = opts.resolver ?? new Resolver();
    const channels = opts.channels;
    if (channels.hasTransport !== undefined) this.resolver.supports = (p) => channels.hasTransport!(p);
    this.dnsFailover = opts.dnsFailover ?? true;
    this.maxBranches = opts.maxBranches ?? DEFAULT_MAX_BRANCHES;
    this.dset = new DestinationSet(this.maxBranches);
  }

  // ==== pipeline entry points ==================================================================

  /** Sets (or clears) the plugin version pinning (the plugin manager). */
  setPinner(pinner: HookPinner | undefined): void {
    this.pinner = pinner;
  }

  /** The plugin about to route a request (its transactions pin it). */
  setActiveHooks(hooks: TmHooks | null): void {
    this.activeHooks = hooks;
  }

  /**
   * A request arrived: transaction matching first (§17.2.3). Returns true when the transaction layer
   * consumed it (retransmission, ACK of a non-2xx, CANCEL of a known INVITE); false: route it.
   */
  receiveRequest(msg: SipMessage, source: Endpoint, channel: Channel): boolean {
    const layer = this.layer;
    switch (layer.receiveRequest(msg)) {
      case RequestMatch.Retransmission:
      case RequestMatch.AckAbsorbed:
        return true;
      case RequestMatch.CancelMatched:
        this.onCancel(msg, source, channel, layer.matched!);
        return true;
      default:
        return false;
    }
  }

  /**
   * A response arrived: to its client transaction, else stateless forwarding when its top Via is
   * ours. false when it was dropped (not ours, or a late non-2xx of a finished transaction).
   */
  receiveResponse(msg: SipMessage, source: Endpoint): boolean {
    if (this.layer.receiveResponse(msg, source)) return true;
    return this.forwardResponseStatelessly(msg);
  }

  /**
   * After request_route returned: performs a t_relay() the plugin asked for, or the RELAY action.
   * Returns true when the request was relayed (or a reply was sent for it by tm).
   */
  afterRequestRoute(ctx: MessageContext, action: Action): boolean {
    const state = stateIn(ctx);
    const pending = state?.relayPending === true;
    if (state !== undefined) state.relayPending = false;
    if (action === Action.ERROR) return false;
    if (!pending && action !== Action.RELAY) return false;
    // a media relay command the plugin recorded (rtpengine): the request leaves once it is done
    const wait = this.mediaGate === null ? null : this.mediaGate.gate(ctx);
    if (wait !== null) return relayAfterGate(this, ctx, wait);
    return this.relayOrAnswer(ctx);
  }

  /** @internal relay() now; when nothing could be sent, a stateful answer (true) or false (the caller replies). */
  relayOrAnswer(ctx: MessageContext): boolean {
    const rc = this.relay(ctx);
    if (rc < 0 && ctx.msg.method !== 'ACK') {
      // nothing could be sent: answer statefully when a transaction exists, else the caller replies
      const cell = stateIn(ctx)?.cell;
      if (cell !== null && cell !== undefined && !cell.server.finalSent) {
        const [code, reason] = relayFailureReply(rc, cell);
        this.replyLocally(cell, code, reason);
        return true;
      }
      return false;
    }
    return true;
  }

  /** @internal the request's transaction, created now when it has none (null: it cannot be). */
  cellOf(ctx: MessageContext): ProxyTransaction | null {
    const state = this.stateOf(ctx);
    return state.cell ?? this.createCell(ctx, state);
  }

  /** @internal runs `fn` with `hooks` as the routing plugin (a deferred relay pins the transaction's version). */
  withHooks<T>(hooks: TmHooks | null, fn: () => T): T {
    const prev = this.activeHooks;
    this.activeHooks = hooks;
    try {
      return fn();
    } finally {
      this.activeHooks = prev;
    }
  }

  /**
   * A chain member returned CONTINUE (host/wasm/manager.ts runChain): may the next member route the
   * request? Not once a relay is pending (t_relay()) or a transaction exists (t_reply): the request
   * is handled. Otherwise the tm routes the member armed (t_on_branch/reply/failure) are disarmed,
   * since their ids are that member's own numbering and the hooks run on the member that relays
   * (docs/plugins.md "Chains"); timeouts it set (t_set_timeouts) stay.
   */
  passOn(ctx: MessageContext): boolean {
    const state = stateIn(ctx);
    if (state === undefined) return true;
    if (state.relayPending || state.cell !== null) return false;
    state.branchRoute = NO_ROUTE;
    state.replyRoute = NO_ROUTE;
    state.failureRoute = NO_ROUTE;
    return true;
  }

  // ==== plugin functions (tm / rr namespaces) ==================================================

  /** tm t_relay() called from a hook: validated now, performed when the hook returns. 1 ok, -1 no destination. */
  requestRelay(ctx: MessageContext): number {
    const msg = ctx.msg;
    if (msg.kind !== 'request') return -1;
    const target = ctx.dstUri ?? msg.requestUri;
    if (nextHopOf(target) === null && this.dset.count(ctx) === 0 && (ctx.branches?.length ?? 0) === 0) return -1;
    this.stateOf(ctx).relayPending = true;
    return 1;
  }

  /**
   * Stateful relay now (Kamailio t_relay): 1 relayed (branches sent or resolving), -1 failure,
   * -2 no branch could be resolved, -3 Max-Forwards was 0. An ACK is forwarded statelessly (it
   * creates no transaction).
   */
  relay(ctx: MessageContext): number {
    const msg = ctx.msg;
    if (msg.kind !== 'request') return -1;
    if (msg.method === 'ACK') return this.forward(ctx);
    const state = this.stateOf(ctx);
    const cell = state.cell ?? this.createCell(ctx, state);
    if (cell === null) return -1;
    if (cell.server.finalSent) return -1;
    // routes and timeouts armed so far apply to the branches created now
    cell.branchRoute = state.branchRoute;
    cell.replyRoute = state.replyRoute;
    cell.failureRoute = state.failureRoute;
    if (state.fr !== undefined) cell.fr = state.fr;
    if (state.frInv !== undefined) cell.frInv = state.frInv;

    if (msg.method === 'INVITE' && this.layer.config.auto100 && cell.server.lastStatus === 0) {
      this.replyLocally(cell, 100, 'Trying');
    }

    // at most max_branches over the transaction's life (Kamailio tm add_uac: E_TOO_MANY_BRANCHES):
    // the targets past the room left are not created (one REGISTER with 300 contacts then cannot
    // turn one INVITE into 300)
    const room = this.maxBranches - cell.branches.length;
    const targets: BranchTarget[] = [];
    let refused = 0;
    const ruriIsNew = !cell.inFailureRoute || msg.requestUri !== cell.relayRuri || ctx.dstUri !== cell.relayDst;
    if (ruriIsNew) targets.push({ uri: msg.requestUri, dstUri: ctx.dstUri });
    for (const t of this.dset.take(ctx)) {
      if (targets.length < room) targets.push(t);
      else refused++;
    }
    const extra = ctx.branches; // registrar lookup's other contacts (append_branches)
    if (extra !== undefined && extra.length > 0) {
      for (const uri of extra) {
        if (targets.length < room) targets.push({ uri, dstUri: null });
        else refused++;
      }
      extra.length = 0;
    }
    if (targets.length > room) {
      refused += targets.length - Math.max(room, 0);
      targets.length = Math.max(room, 0);
    }
    if (refused > 0) {
      this.stats.branchesRefused += refused;
      // warned at most every 10 s (a flood must not turn into a log flood); the counter has every one
      const now = Date.now();
      if (now - this.branchWarnAt >= 10_000) {
        this.branchWarnAt = now;
        ctx.log.warn({ code: Errors.TM_TOO_MANY_BRANCHES.code, max: this.maxBranches, refused, total: this.stats.branchesRefused, ruri: msg.requestUri }, 'max_branches reached: branches not created [E9010]');
      }
    }
    if (targets.length === 0) return -1;
    cell.relayRuri = msg.requestUri;
    cell.relayDst = ctx.dstUri;
    if (!cell.prepareMaxForwards()) return RELAY_TOO_MANY_HOPS;
    markReceived(msg, ctx.source);
    this.stats.relayed++;

    let live = 0;
    let unresolvable = 0;
    cell.relaying = true;
    try {
      for (const t of targets) {
        const outcome = this.startBranch(cell, msg, t);
        if (outcome > 0) live++;
        else if (outcome === -2) unresolvable++;
      }
    } finally {
      cell.relaying = false;
    }
    if (live > 0) return 1;
    this.stats.relayFailures++;
    if (ctx.log.isLevelEnabled('info')) {
      ctx.log.info({ code: Errors.TM_RELAY.code, ruri: msg.requestUri, du: ctx.dstUri, branches: cell.branches.map((b) => b.status) }, 't_relay sent no branch [E9003]');
    }
    return unresolvable > 0 ? -2 : -1;
  }

  /** Kamailio forward(): stateless relay to $du or the R-URI (§16.11). 1 sent (or resolving), -1 failed. */
  forward(ctx: MessageContext): number {
    const msg = ctx.msg;
    if (msg.kind !== 'request') return -1;
    const hop = nextHopOf(ctx.dstUri ?? msg.requestUri);
    if (hop === null) return -1;
    if (!ensureMaxForwardsProcessed(msg)) return -1; // §16.11: stateless forwarding follows §16.6 too
    markReceived(msg, ctx.source);
    const branch = statelessBranch(msg);
    // RFC 3263 §4: the first target a socket here reaches (stateless: no failover, §16.11)
    const send = (targets: readonly Target[] | null): boolean => {
      if (targets === null) return false;
      for (const t of targets) {
        if (this.isMyself(t.address, t.port)) return false;
        const channel = this.channels.channelFor(t.proto, t.family, t.address, t.port, hop.host);
        if (channel === null) continue;
        msg.addHeader('Via', viaValue(channel, t.proto, branch), 'first');
        channel.send(msg.toBuffer(), t.address, t.port);
        this.stats.forwardedStateless++;
        this.metrics?.requestOut(msg.method);
        return true;
      }
      return false;
    };
    const cached = this.resolver.targetsCached(hop);
    if (cached !== undefined) return send(cached) ? 1 : -1;
    void this.resolver.resolveTargets(hop).then((t) => {
      if (!send(t)) this.log.debug({ host: hop.host }, 'forward(): next hop does not resolve');
    });
    return 1;
  }

  /** tm t_reply(code, reason): a stateful reply (creates the transaction when needed). 1 sent, -1 failed. */
  tReply(ctx: MessageContext, code: number, reason: string): number {
    const msg = ctx.msg;
    if (msg.kind !== 'request' || msg.method === 'ACK' || code < 100 || code > 699) return -1;
    const state = this.stateOf(ctx);
    const cell = state.cell ?? this.createCell(ctx, state);
    if (cell === null) return -1;
    const ok = this.replyLocally(cell, code, reason, ctx.replyHeaders, ctx.replyBody);
    if (ok) ctx.replyBody = undefined; // textops set_reply_body: for the next reply only
    if (ok && code >= 200) ctx.replied = true;
    return ok ? 1 : -1;
  }

  tOnBranch(ctx: MessageContext, route: number): number {
    this.stateOf(ctx).branchRoute = route;
    return 1;
  }

  tOnReply(ctx: MessageContext, route: number): number {
    const s = this.stateOf(ctx);
    s.replyRoute = route;
    if (s.cell !== null) s.cell.replyRoute = route;
    return 1;
  }

  tOnFailure(ctx: MessageContext, route: number): number {
    const s = this.stateOf(ctx);
    s.failureRoute = route;
    if (s.cell !== null && s.cell.inFailureRoute) s.cell.failureRoute = route;
    return 1;
  }

  /** tm t_set_fr-like: per-transaction fr_timer / fr_inv_timer (ms, 0 = keep). */
  tSetTimeouts(ctx: MessageContext, frMs: number, frInvMs: number): number {
    const s = this.stateOf(ctx);
    if (frMs > 0) s.fr = frMs;
    if (frInvMs > 0) s.frInv = frInvMs;
    return 1;
  }

  /** t_is_canceled(): 1 when the transaction of the hook being run (or of ctx) was CANCELed, else -1. */
  tIsCanceled(ctx: MessageContext): number {
    const cell = this.hookCell ?? stateIn(ctx)?.cell ?? null;
    return cell !== null && cell.canceled ? 1 : -1;
  }

  /**
   * Kamailio `$T_reply_code` (t_check_status): in failure_route the status of the best failed branch
   * (a local 408 when the branches timed out, 487 when canceled); elsewhere the transaction's best
   * status so far; 0 without a transaction or a final status. (additive)
   */
  tReplyCode(ctx: MessageContext): number {
    const cell = this.hookCell ?? stateIn(ctx)?.cell ?? null;
    return cell === null ? 0 : cell.bestStatus();
  }

  /** t_branch_index(): the branch of the running branch_route / onreply_route; -1 elsewhere. */
  tBranchIndex(): number {
    return this.hookBranch;
  }

  /**
   * `observer` sees every response the request's transaction sends upstream (Kamailio tm callbacks
   * TMCB_RESPONSE_FWDED/OUT, registered by the dialog module's dlg_manage()): the transaction
   * existing now or the one relay()/t_reply() creates later. (additive)
   */
  observe(ctx: MessageContext, observer: CellObserver | null): void {
    const s = this.stateOf(ctx);
    s.observer = observer;
    if (s.cell !== null) s.cell.observer = observer;
  }

  /**
   * `fix` edits every response the request's transaction sends upstream, forwarded or built by tm
   * (the uac module's From / To restoration). (additive)
   */
  addReplyFixup(ctx: MessageContext, fix: (resp: SipMessage) => void): void {
    const s = this.stateOf(ctx);
    (s.replyFixups ??= []).push(fix);
  }

  /**
   * Kamailio rr callbacks (register_rrcb): `cb` runs after every loose_route() that consumed a
   * Route of ours, with ctx.rr holding its parameters (the uac module's in-dialog restoration). (additive)
   */
  onLooseRoute(cb: (ctx: MessageContext) => void): void {
    this.rrCallbacks.push(cb);
  }

  /** @internal runs the rr callbacks after loose_route() (host/proxy/abi.ts). */
  afterLooseRoute(ctx: MessageContext): void {
    if (ctx.rr?.routeUri == null) return;
    for (const cb of this.rrCallbacks) cb(ctx);
  }

  /** The transaction a context belongs to (tests, RPC). */
  transactionOf(ctx: MessageContext): ProxyTransaction | null {
    return stateIn(ctx)?.cell ?? null;
  }

  // ==== internals ==============================================================================

  /** the hooks a new transaction keeps: a pinned version (with a pinner) or the active plugin. */
  private pinHooks(): TmHooks | null {
    if (this.pinner !== undefined && this.activeHooks !== null) return this.pinner.pin() ?? this.activeHooks;
    return this.activeHooks;
  }

  /** @internal a transaction ended: its pin is released. */
  releaseHooks(hooks: TmHooks | null): void {
    if (hooks !== null && this.pinner !== undefined) this.pinner.release(hooks);
  }

  /** The request's transaction, created now (server transaction + ProxyTransaction); null when it cannot be. */
  private createCell(ctx: MessageContext, state: TmRequestState): ProxyTransaction | null {
    const channel = channelOfContext(ctx) ?? this.channels.channelFor(ctx.source.proto, ctx.source.family, ctx.source.address, ctx.source.port);
    if (channel === null) return null;
    const st = this.layer.createServer(ctx.msg, ctx.source, channel);
    if (st === null) return null;
    const cell = st.user instanceof ProxyTransaction ? st.user : new ProxyTransaction(this, st, ctx, state, this.pinHooks());
    // Kamailio copies the message flags and AVPs into the transaction: its later routes share them
    state.tx = txOf(ctx);
    state.cell = cell;
    return cell;
  }

  private stateOf(ctx: MessageContext): TmRequestState {
    let s = stateIn(ctx);
    if (s === undefined) ctx.tmState = s = new TmRequestState();
    return s;
  }

  /** @internal */
  newHookContext(msg: SipMessage, source: Endpoint, local: Endpoint, dstUri: string | null, tx?: TxData | null): HookContext {
    const id = this.nextHookContextId;
    this.nextHookContextId = id >= 0x7fffffff ? 0x40000000 : id + 1;
    return new HookContext(id, msg, source, local, dstUri, this.log, tx ?? undefined);
  }

  /** @internal runs a hook of `cell` with the branch index and transaction exposed to tm imports. */
  runHook(cell: ProxyTransaction, branch: number, fn: () => Action): Action {
    const prevBranch = this.hookBranch;
    const prevCell = this.hookCell;
    const prevHooks = this.activeHooks;
    this.hookBranch = branch;
    this.hookCell = cell;
    this.activeHooks = cell.hooks;
    try {
      return fn();
    } catch (e) {
      // hooks do not throw (LoadedPlugin contract): this is a host bug, logged with its code
      this.log.error({ err: (e as Error).message, code: Errors.TM_HOOK.code }, 'tm hook failed [E9004]');
      return Action.ERROR;
    } finally {
      this.hookBranch = prevBranch;
      this.hookCell = prevCell;
      this.activeHooks = prevHooks;
    }
  }

  /** @internal failure_route: the request as at relay time, then a t_relay() it asked for. */
  runFailureRoute(cell: ProxyTransaction, route: number): void {
    const ctx = cell.ctx;
    if (ctx === null) return; // a final response went upstream already (checkCompletion does not get here then)
    this.stats.failureRoutes++;
    const msg = ctx.msg;
    // Kamailio: failure_route sees the R-URI (and $du) the failed relay used
    if (msg.requestUri !== cell.relayRuri) msg.setRequestUri(cell.relayRuri);
    ctx.dstUri = cell.relayDst;
    cell.state.relayPending = false;
    cell.state.failureRoute = NO_ROUTE; // must be re-armed inside failure_route
    cell.inFailureRoute = true;
    // Kamailio $T_reply_code: the winning failure so far (408 for a timeout), readable as $var(T_reply_code) (additive)
    ctx.vars.set('T_reply_code', String(cell.bestStatus()));
    let action: Action;
    try {
      action = this.runHook(cell, -1, () => cell.hooks!.failureRoute!(ctx, route));
      if (cell.state.relayPending && action !== Action.ERROR && !cell.server.finalSent) {
        cell.state.relayPending = false;
        const prev = this.activeHooks;
        this.activeHooks = cell.hooks;
        try {
          this.relay(ctx);
        } finally {
          this.activeHooks = prev;
        }
      }
    } finally {
      cell.inFailureRoute = false;
      cell.state.relayPending = false;
    }
    if (action === Action.ERROR && !cell.server.finalSent) this.replyLocally(cell, 500, 'Server Internal Error');
  }

  /**
   * Creates one branch: branch_route, Via, next hop, client transaction.
   * Returns 1 started (or resolving), 0 dropped/failed, -2 unresolvable.
   *
   * Without branch_route and with the next hop in the resolver cache (the usual case) the branch's
   * bytes are written straight from `msg` (SipMessageImpl.toBranchBuffer: target R-URI and our Via,
   * RFC 3261 §16.6 steps 1-2 and 8), leaving `msg` as request_route left it (failure_route starts
   * from it, and the other branches copy it). Otherwise the branch gets its own parsed copy of the
   * request (branch_route may edit it; a branch waiting for DNS is sent as at relay time).
   */
  private startBranch(cell: ProxyTransaction, msg: SipMessage, target: BranchTarget): number {
    if (msg instanceof SipMessageImpl && (cell.branchRoute === NO_ROUTE || cell.hooks?.branchRoute === undefined)) {
      if (!isValidRequestUri(target.uri)) return 0;
      const hop = nextHopOf(target.dstUri ?? target.uri);
      const cached = hop === null ? undefined : this.resolver.targetsCached(hop);
      if (hop !== null && cached !== undefined && cached !== null) {
        const branch = cell.addBranch(null, msg.method);
        this.stats.branches++;
        return this.sendBranch(cell, branch, hop.host, cached, 0, msg, target.uri) ? 1 : 0;
      }
      // no next hop, or not resolved yet: the general path below
    }
    const parsed = parseMessage(msg.toBuffer());
    if (!parsed.ok) return 0;
    const req = parsed.message;
    try {
      if (req.requestUri !== target.uri) req.setRequestUri(target.uri);
    } catch {
      return 0;
    }
    const branch = cell.addBranch(req, req.method);
    this.stats.branches++;
    let dst = target.dstUri;
    if (cell.branchRoute !== NO_ROUTE && cell.hooks?.branchRoute !== undefined) {
      const hctx = this.newHookContext(req, cell.source, cell.local, dst, cell.state.tx);
      const route = cell.branchRoute;
      const action = this.runHook(cell, branch.index, () => cell.hooks!.branchRoute!(hctx, route, branch.index));
      if (action === Action.DROP) {
        // Kamailio: drop in branch_route discards this branch only
        cell.finishLocally(branch, 0, '');
        return 0;
      }
      dst = hctx.dstUri;
    }
    const hop = nextHopOf(dst ?? req.requestUri);
    if (hop === null) {
      cell.finishLocally(branch, 478, REASON_478);
      return -2;
    }
    const cached = this.resolver.targetsCached(hop);
    if (cached === null) {
      cell.finishLocally(branch, 478, REASON_478);
      return -2;
    }
    if (cached !== undefined) return this.sendBranch(cell, branch, hop.host, cached, 0) ? 1 : 0;
    void this.resolver.resolveTargets(hop).then((targets) => {
      if (branch.state !== BranchState.Resolving) return; // cancelled meanwhile
      if (targets === null) cell.finishLocally(branch, 478, REASON_478);
      else if (cell.canceled) cell.finishLocally(branch, 487, REASON_487);
      else this.sendBranch(cell, branch, hop.host, targets, 0);
    });
    return 1;
  }

  /**
   * Sends a branch to `targets[index]` (the next ones when no socket here reaches it, RFC 3263
   * §4.3): its own copy (`branch.request`), or else `direct` with `ruri` as Request-URI
   * (startBranch's fast path, `direct` left unedited). `name` is the host the URI named (TLS SNI).
   */
  private sendBranch(
    cell: ProxyTransaction, branch: ProxyBranch, name: string, targets: readonly Target[], index: number,
    direct: SipMessageImpl | null = null, ruri = '',
  ): boolean {
    let channel: Channel | null = null;
    let target: Target | undefined;
    for (; index < targets.length; index++) {
      target = targets[index]!;
      if (this.isMyself(target.address, target.port)) {
        // RFC 3261 §16.3 step 4 / §21.4.20: a request sent to ourselves would loop
        cell.finishLocally(branch, 482, 'Loop Detected');
        return false;
      }
      channel = this.channels.channelFor(target.proto, target.family, target.address, target.port, name);
      if (channel !== null) break;
    }
    if (channel === null || target === undefined) {
      cell.finishLocally(branch, 503, 'Service Unavailable');
      return false;
    }
    const fromDirect = direct !== null;
    let req = branch.request ?? direct;
    if (req === null) return false; // already sent
    // RFC 3263 §4.3 failover needs the request as before our Via: the relayed request again
    // (fast path) or a snapshot of this branch's copy (branch_route may have edited it)
    const more = this.dnsFailover && index + 1 < targets.length;
    const snapshot = more && !fromDirect ? req.toBuffer() : null;
    if (needsDoubleRecordRoute(req, cell.local, channel.local)) {
      if (req === direct) {
        // the fast path sends `direct` unedited: this branch gets its own copy for the second Record-Route
        const copy = parseMessage(direct.toBuffer());
        if (!copy.ok) return false;
        copy.message.setRequestUri(ruri);
        req = copy.message;
        direct = null;
      }
      doubleRecordRoute(req, cell.local, channel.local);
    }
    const id = this.layer.newBranch();
    const via = viaValue(channel, target.proto, id);
    let bytes: Buffer;
    if (req === direct) {
      try {
        bytes = direct.toBranchBuffer(via, ruri);
      } catch {
        cell.finishLocally(branch, 0, '');
        return false;
      }
    } else {
      req.addHeader('Via', via, 'first');
      bytes = req.toBuffer();
      ruri = req.requestUri;
    }
    // what CANCEL and the non-2xx ACK are built from (§9.1, §17.1.1.3): the branch's Request-URI,
    // our Via, and the request's From, To, Call-ID, CSeq and Route fields
    const sent: SentRequest = {
      method: req.method,
      requestUri: ruri,
      via,
      from: req.header('from') ?? '',
      to: req.header('to') ?? '',
      callId: req.callId,
      cseq: req.cseq?.seq ?? 0,
      routes: req.headerValues('route'),
      maxForwards: req.header('max-forwards')?.trim(),
    };
    branch.state = BranchState.Pending;
    this.metrics?.requestOut(req.method);
    branch.ct = this.layer.startClient({
      branch: id,
      request: bytes,
      sent,
      channel,
      address: target.address,
      port: target.port,
      user: branch,
      fr: cell.fr,
      frInv: cell.frInv,
    });
    branch.request = null;
    if (more) branch.keepTargets(targets, index, name, fromDirect ? ruri : '', snapshot);
    return true;
  }

  /**
   * @internal RFC 3263 §4.3 (Kamailio use_dns_failover): `branch` ended with a 503, a timeout
   * without any response or a transport error; the request goes to the next target of the same
   * DNS answer as a new branch (counted against max_branches, at most max_targets per answer).
   * True when a new branch carries on; completion is not checked here (the caller does).
   */
  failover(cell: ProxyTransaction, branch: ProxyBranch): boolean {
    const targets = branch.targets;
    const copy = branch.copy;
    branch.releaseTargets();
    const ctx = cell.ctx;
    if (targets === null || cell.canceled || cell.server.finalSent || ctx === null) return false;
    if (cell.branches.length >= this.maxBranches) {
      this.stats.branchesRefused++;
      return false;
    }
    let req: SipMessage | null = null;
    let direct: SipMessageImpl | null = null;
    if (copy !== null) {
      const parsed = parseMessage(copy);
      if (!parsed.ok) return false;
      req = parsed.message;
    } else if (ctx.msg instanceof SipMessageImpl) {
      direct = ctx.msg;
    } else {
      return false;
    }
    const prev = cell.relaying;
    cell.relaying = true; // a target failing at once must not complete the transaction under us
    try {
      const nb = cell.addBranch(req, branch.method);
      this.stats.branches++;
      this.stats.dnsFailovers++;
      return this.sendBranch(cell, nb, branch.hopName, targets, branch.targetIndex + 1, direct, branch.ruri);
    } finally {
      cell.relaying = prev;
    }
  }

  /** @internal sends a CANCEL for a branch (once). */
  sendCancel(cell: ProxyTransaction, branch: ProxyBranch): void {
    const ct = branch.ct;
    branch.cancelPending = false;
    // §9.1: only a request without final response is CANCELed (ct.sent is released at the final)
    if (ct === null || branch.cancelSent || ct.method !== 'INVITE' || ct.state > ClientState.Proceeding || ct.sent === null) return;
    branch.cancelSent = true;
    this.stats.cancelsSent++;
    this.metrics?.requestOut('CANCEL');
    const buf = buildCancel(ct.sent, cell.cancelReasons);
    this.layer.startClient({
      branch: ct.branch,
      request: buf,
      sent: { ...ct.sent, method: 'CANCEL' },
      channel: ct.channel,
      address: ct.address,
      port: ct.port,
      user: IGNORE_RESPONSES,
    });
  }

  /** CANCEL of an existing INVITE server transaction (RFC 3261 §9.2, §16.10). */
  private onCancel(cancel: SipMessage, source: Endpoint, channel: Channel, invite: ServerTransaction): void {
    this.stats.cancelsReceived++;
    const cst = this.layer.createServer(cancel, source, channel);
    if (cst !== null) {
      cst.respond(200, this.replies.build(cancel, source, 200, 'canceling'), this.replies.toTagFor(cancel));
    }
    const cell = invite.user;
    if (cell instanceof ProxyTransaction) {
      const reasons = cancel.headerValues('reason');
      cell.cancel(reasons.length > 0 ? reasons : undefined);
    } else if (!invite.finalSent && invite.request !== null) {
      // a transaction without branches (e.g. t_reply 180 only): terminate the INVITE with 487
      const buf = this.replies.build(invite.request, invite.source, 487, REASON_487);
      invite.respond(487, buf, this.replies.toTagFor(invite.request));
    }
  }

  /** @internal a branch response goes upstream without our Via (§16.7 step 9). */
  forwardUpstream(cell: ProxyTransaction, resp: SipMessage): void {
    if (resp.vias.length < 2) return;
    resp.removeHeader('via', 0);
    const fixups = cell.state.replyFixups;
    if (fixups !== null) for (const fix of fixups) fix(resp);
    if (cell.server.respond(resp.status, resp.toBuffer(), resp.to?.tag)) {
      this.stats.responsesForwarded++;
      this.metrics?.replyOut(resp.status);
      cell.observer?.onUpstreamResponse(cell, resp.status, resp, resp.to?.tag, resp.reason);
    }
  }

  /** @internal a reply built by tm (100 Trying, 408, 487, t_reply ...). */
  replyLocally(cell: ProxyTransaction, code: number, reason: string, extra?: readonly string[], body?: ReplyBody): boolean {
    const req = cell.request;
    // released once a final was sent: nothing may be answered locally after that (§16.7 step 10;
    // only further 2xx from downstream branches are forwarded, §16.7 step 5)
    if (req === null) return false;
    const server = cell.server;
    try {
      let buf = this.replies.build(req, server.source, code, reason, extra, undefined, body);
      const fixups = cell.state.replyFixups;
      if (fixups !== null) buf = withReplyFixups(buf, fixups);
      const toTag = code >= 180 ? req.to?.tag ?? this.replies.toTagFor(req) : undefined;
      const ok = server.respond(code, buf, toTag);
      if (ok) {
        this.stats.localReplies++;
        this.metrics?.replyOut(code);
        cell.observer?.onUpstreamResponse(cell, code, null, toTag, reason);
      }
      return ok;
    } catch (e) {
      this.log.warn({ err: (e as Error).message, callid: req.callId, code }, 'cannot build a tm reply');
      return false;
    }
  }

  /**
   * §16.11 / §18.2.2: a response no transaction claims is forwarded when its top Via is ours: our
   * Via removed, sent to the next Via (received / rport honoured). Late non-2xx responses of our own
   * stateful branches (the transaction is gone) are dropped.
   */
  private forwardResponseStatelessly(resp: SipMessage): boolean {
    const top = resp.vias[0];
    if (top === undefined || !this.isMyself(top.host, top.port) || resp.vias.length < 2) {
      this.stats.responsesDropped++;
      return false;
    }
    if (resp.status >= 300 || resp.status < 200) {
      if (top.branch !== undefined && this.layer.isOwnBranch(top.branch)) {
        this.stats.responsesDropped++;
        return false;
      }
    }
    resp.removeHeader('via', 0);
    const next = resp.vias[0]!;
    const host = stripBrackets(next.received ?? next.maddr ?? next.host);
    const proto: Proto = protoOfViaTransport(next.transport) ?? 'udp';
    const port = typeof next.rport === 'number' ? next.rport : next.port ?? (proto === 'tls' ? 5061 : 5060);
    const send = (addr: ResolvedAddress | null): void => {
      const channel = addr === null ? null : this.channels.channelFor(proto, addr.family, addr.address, port);
      if (channel === null || addr === null) {
        this.stats.responsesDropped++;
        return;
      }
      channel.send(resp.toBuffer(), addr.address, port);
      this.stats.responsesForwardedStateless++;
      this.metrics?.replyOut(resp.status);
    };
    const cached = this.resolver.resolveCached(host);
    if (cached !== undefined) send(cached);
    else void this.resolver.resolve(host).then(send);
    return true;
  }
}

export { ensureMaxForwardsProcessed } from './max-forwards.js';
export { ProxyTransaction } from './cell.js';

// ---- helpers ----------------------------------------------------------------------------------

/** the channel a request context arrived on, when the context exposes it (RequestContext does). */
function channelOfContext(ctx: MessageContext): Channel | null {
  const c = (ctx as { channel?: Channel }).channel;
  return c !== undefined && typeof c.send === 'function' ? c : null;
}

function viaValue(channel: Channel, proto: Proto, branch: string): string {
  const local = channel.local;
  const host = local.address.includes(':') ? `[${local.address}]` : local.address;
  return `SIP/2.0/${VIA_TRANSPORT[proto]} ${host}:${local.port};branch=${branch}`;
}


/**
 * §16.11: a stateless proxy's branch must be the same for a retransmission and differ between
 * requests: a hash of the incoming top Via branch (RFC 3261 peers) or of the RFC 2543 matching
 * fields. An ACK for a non-2xx and a CANCEL carry the INVITE's branch and so get the INVITE's
 * downstream branch, as the next hop expects.
 */
export function statelessBranch(msg: SipMessage): string {
  const via = msg.vias[0];
  const input = via?.branch !== undefined && via.branch.startsWith('z9hG4bK')
    ? `${via.branch}${via.host}:${via.port ?? ''}`
    : `${msg.requestUri}|${msg.from?.tag ?? ''}|${msg.callId}|${msg.cseq?.seq ?? ''}|${via?.raw ?? ''}`;
  return `z9hG4bKsl.${hashHex('md5', input).slice(0, 20)}`;
}

