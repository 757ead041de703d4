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
 *
 * ProxyCore keeps relay(), the tm/rr plugin functions and the hook machinery; the branches and DNS
 * failover are in branches.ts, CANCEL in cancel.ts, replies upstream in local-reply.ts, stateless
 * forwarding in stateless.ts, options and counters in options.ts.
 */
import type { Logger } from 'pino';
import { Action, type Endpoint, type MessageContext } from '../core/context.js';
import { txOf } from '../core/pv.js';
import type { TxData } from '../core/avp.js';
import { Errors } from '../errors/registry.js';
import type { SipMessage } from '../sip/types.js';
import type { ReplyBody } from '../core/sl.js';
import type { Channel } from '../transport/types.js';
import type { MessageMetrics } from '../metrics/metrics.js';
import { RequestMatch, type TransactionLayer } from '../transaction/index.js';
import { ProxyTransaction, TmRequestState, type CellObserver, type ProxyBranch } from './cell.js';
import { DestinationSet, type BranchTarget } from './dset.js';
import { HookContext, NO_ROUTE, type TmHooks } from './hooks.js';
import { markReceived } from './received.js';
import { relayAfterGate, type MediaGate } from './media-gate.js';
import type { IsMyself } from './record-route.js';
import { nextHopOf, Resolver } from './resolver.js';
import { DEFAULT_MAX_BRANCHES, type ChannelProvider, type HookPinner, type ProxyOptions, type ProxyStats, type ReplyBuilder } from './options.js';
import { failover, startBranch } from './branches.js';
import { onCancel, sendCancel } from './cancel.js';
import { forwardUpstream, relayFailureReply, RELAY_TOO_MANY_HOPS, replyLocally } from './local-reply.js';
import { forwardResponseStatelessly, forwardStateless } from './stateless.js';

export { DEFAULT_MAX_BRANCHES, type ChannelProvider, type HookPinner, type ProxyOptions, type ProxyStats, type ReplyBuilder } from './options.js';


/**
 * the tm state of a context: kept in the context's own tmState slot (a field lookup, and it goes
 * away with the context) rather than in a WeakMap keyed by contexts.
 */
function stateIn(ctx: MessageContext): TmRequestState | undefined {
  return ctx.tmState as TmRequestState | undefined;
}

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
  /** @internal */
  readonly channels: ChannelProvider;
  /** @internal */
  readonly replies: ReplyBuilder;
  readonly isMyself: IsMyself;
  /** @internal */
  readonly log: Logger;
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
        onCancel(this, msg, source, channel, layer.matched!);
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
    return forwardResponseStatelessly(this, msg);
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
        const outcome = startBranch(this, cell, msg, t);
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
    return forwardStateless(this, ctx);
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

  /** @internal RFC 3263 §4.3 failover of a branch (branches.ts). */
  failover(cell: ProxyTransaction, branch: ProxyBranch): boolean {
    return failover(this, cell, branch);
  }

  /** @internal sends a CANCEL for a branch (once; cancel.ts). */
  sendCancel(cell: ProxyTransaction, branch: ProxyBranch): void {
    sendCancel(this, cell, branch);
  }

  /** @internal a branch response goes upstream without our Via (§16.7 step 9; local-reply.ts). */
  forwardUpstream(cell: ProxyTransaction, resp: SipMessage): void {
    forwardUpstream(this, cell, resp);
  }

  /** @internal a reply built by tm (100 Trying, 408, 487, t_reply ...; local-reply.ts). */
  replyLocally(cell: ProxyTransaction, code: number, reason: string, extra?: readonly string[], body?: ReplyBody): boolean {
    return replyLocally(this, cell, code, reason, extra, body);
  }
}

export { ensureMaxForwardsProcessed } from './max-forwards.js';
export { ProxyTransaction } from './cell.js';
export { statelessBranch } from './stateless.js';

// ---- helpers ----------------------------------------------------------------------------------

/** the channel a request context arrived on, when the context exposes it (RequestContext does). */
function channelOfContext(ctx: MessageContext): Channel | null {
  const c = (ctx as { channel?: Channel }).channel;
  return c !== undefined && typeof c.send === 'function' ? c : null;
}

