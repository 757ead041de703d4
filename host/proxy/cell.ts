/**
 * Kamailio's tm "cell" (RFC 3261 §16.7): one server transaction of the proxy and its branches, the
 * response context (provisionals and 2xx forwarded at once, finals collected, the best response
 * chosen once every branch ended, §16.7 steps 5-6), CANCEL of pending branches (§9.1, §16.10) and
 * the tm state a request context carries before and after t_relay(). Split out of proxy.ts, which
 * keeps ProxyCore (relay, forwarding, hooks) and drives these objects.
 */
import { Action, type Endpoint, type MessageContext } from '../core/context.js';
import type { SipMessage } from '../sip/types.js';
import { parseMessage } from '../sip/parser.js';
import type { TxData } from '../core/avp.js';
import type { ClientTransaction, ClientTransactionUser, ServerTransaction, ServerTransactionUser } from '../transaction/index.js';
import { Errors } from '../errors/registry.js';
import { pickBestResponse } from './best-response.js';
import { NO_ROUTE, type TmHooks } from './hooks.js';
import { ensureMaxForwardsProcessed } from './max-forwards.js';
import type { ProxyCore } from './proxy.js';
import type { Target } from './resolver.js';

/** Kamailio tm reasons of locally generated replies. */
export const REASON_408 = 'Request Timeout';
export const REASON_487 = 'Request Terminated';
export const REASON_478 = 'Unresolvable destination';

/**
 * Sees every response a transaction sends upstream, forwarded or built locally (Kamailio tm's
 * TMCB_RESPONSE_FWDED / TMCB_RESPONSE_OUT, what the dialog module's state machine runs on). Must
 * not throw. (additive)
 */
export interface CellObserver {
  /**
   * `resp` is the forwarded response (our Via removed), null for a reply tm built; `toTag` the
   * reply's To tag; `reason` its reason phrase.
   */
  onUpstreamResponse(cell: ProxyTransaction, status: number, resp: SipMessage | null, toTag: string | undefined, reason: string): void;
}

/** tm state of one request context (armed routes and timeouts before t_relay, the transaction after). */
export class TmRequestState {
  branchRoute = NO_ROUTE;
  replyRoute = NO_ROUTE;
  failureRoute = NO_ROUTE;
  fr: number | undefined;
  frInv: number | undefined;
  relayPending = false;
  cell: ProxyTransaction | null = null;
  /** what the transaction created for this request reports its upstream responses to (dialog). (additive) */
  observer: CellObserver | null = null;
  /**
   * edits every response sent upstream gets, forwarded or built by tm (the uac module restoring
   * the From / To it replaced, Kamailio uac's TMCB_RESPONSE_OUT callback); null = none. (additive)
   */
  replyFixups: Array<(resp: SipMessage) => void> | null = null;
  /** the transaction's message flags and AVPs (host/core/avp.ts), shared with its hook contexts. (additive) */
  tx: TxData | null = null;
}

/** the reply fixups armed for a request context (ProxyCore.addReplyFixup: uac), null when none. */
export function replyFixupsOf(ctx: MessageContext): ReadonlyArray<(resp: SipMessage) => void> | null {
  const s = ctx.tmState;
  return s instanceof TmRequestState ? s.replyFixups : null;
}

/** a reply built locally (tm, sl), with the fixups applied: parsed and serialized again, so only requests that have fixups pay. */
export function withReplyFixups(buf: Buffer, fixups: ReadonlyArray<(resp: SipMessage) => void>): Buffer {
  const parsed = parseMessage(buf);
  if (!parsed.ok) return buf;
  for (const fix of fixups) fix(parsed.message);
  return parsed.message.toBuffer();
}

export const enum BranchState {
  /** waiting for DNS. */
  Resolving = 0,
  /** client transaction running. */
  Pending = 1,
  /** final response, timeout or local failure. */
  Done = 2,
}

/** One outgoing branch of a proxy transaction. */
export class ProxyBranch implements ClientTransactionUser {
  state = BranchState.Resolving;
  ct: ClientTransaction | null = null;
  /** final status (0 = none yet). */
  status = 0;
  reason = '';
  /** the final response received (null for local outcomes: timeout, unresolvable ...). */
  response: SipMessage | null = null;
  provisional = false;
  cancelPending = false;
  cancelSent = false;
  /**
   * RFC 3263 §4.3 failover state (only while further DNS targets exist): the targets, the one
   * this branch went to, the host the URI named, the Request-URI of a fast-path branch, and the
   * request before our Via for a branch with its own copy. Released at the branch's final.
   */
  targets: readonly Target[] | null = null;
  targetIndex = 0;
  hopName = '';
  ruri = '';
  copy: Buffer | null = null;

  /**
   * the branch's own copy of the request, edited by branch_route and sendBranch(); released (null)
   * once its bytes are handed to the client transaction, which alone re-sends them: a transaction
   * waiting in wt state then keeps no parsed copy of the request per branch. null from the start
   * for a branch serialized straight from the relayed request (no branch_route, see startBranch).
   */
  request: SipMessage | null;

  constructor(
    readonly cell: ProxyTransaction,
    readonly index: number,
    request: SipMessage | null,
    /** the request method (kept when `request` is released). */
    readonly method: string,
  ) {
    this.request = request;
  }

  keepTargets(targets: readonly Target[], index: number, name: string, ruri: string, copy: Buffer | null): void {
    this.targets = targets;
    this.targetIndex = index;
    this.hopName = name;
    this.ruri = ruri;
    this.copy = copy;
  }

  releaseTargets(): void {
    this.targets = null;
    this.copy = null;
  }

  onClientResponse(_ct: ClientTransaction, msg: SipMessage, source: Endpoint): void {
    this.cell.onBranchResponse(this, msg, source);
  }

  onClientTimeout(): void {
    this.cell.onBranchTimeout(this);
  }

  /** RFC 3261 §16.7 step 1 / §17.1.4: a branch whose request could not be sent ends as a 503. */
  onClientTransportError(): void {
    if (this.cell.canceled) this.cell.finishLocally(this, 487, REASON_487);
    else this.cell.finishOrFailover(this, 503, 'Service Unavailable');
  }
}

/** Kamailio's "cell": one server transaction and its branches. */
export class ProxyTransaction implements ServerTransactionUser {
  readonly branches: ProxyBranch[] = [];
  branchRoute = NO_ROUTE;
  replyRoute = NO_ROUTE;
  failureRoute = NO_ROUTE;
  fr: number | undefined;
  frInv: number | undefined;
  canceled = false;
  cancelReasons: string[] | undefined;
  inFailureRoute = false;
  /** true while relay() creates branches: completion is checked once they all exist. */
  relaying = false;
  /** R-URI and $du when the last relay happened (failure_route starts from them). */
  relayRuri = '';
  relayDst: string | null = null;
  /** sees the responses sent upstream (the dialog module); null = none. (additive) */
  observer: CellObserver | null = null;
  /** replies held by the media gate, in order (null: none, the common case). (additive) */
  private replyQueue: Promise<void> | null = null;
  private maxForwardsDone = false;
  private terminated = false;
  /**
   * the request context (failure_route and serial forking run on it); released (null) with the
   * server transaction's request once a final response went upstream (onServerFinal).
   */
  ctx: MessageContext | null;
  /** where the request came from and the socket it arrived on (hook contexts of branch/reply routes). */
  readonly source: Endpoint;
  readonly local: Endpoint;

  constructor(
    readonly proxy: ProxyCore,
    readonly server: ServerTransaction,
    ctx: MessageContext,
    readonly state: TmRequestState,
    /** the plugin version that created the transaction (pinned for later hooks). */
    readonly hooks: TmHooks | null,
  ) {
    this.ctx = ctx;
    this.source = ctx.source;
    this.local = ctx.local;
    this.observer = state.observer;
    server.user = this;
  }

  /** the request being proxied; null once a final response was sent (ServerTransaction.request). */
  get request(): SipMessage | null {
    return this.server.request;
  }

  /** the branch count still waiting for a final outcome. */
  get pendingBranches(): number {
    let n = 0;
    for (const b of this.branches) if (b.state !== BranchState.Done) n++;
    return n;
  }

  onServerTerminated(): void {
    this.terminated = true;
    this.proxy.releaseHooks(this.hooks);
  }

  /**
   * A final response went upstream (RFC 3261 §16.7 steps 8-10): the response context is over, no
   * failure_route or new branch can follow (relay() refuses once finalSent). What only that search
   * needed is dropped so the transaction waiting out its timers (wt, H, J) holds no parsed message:
   * the request context, the best-response candidates and the relay-time R-URI. Kept: the branches'
   * client transactions (CANCEL of branches still pending, §16.7 step 10; 2xx retransmissions,
   * §16.7 step 5), statuses, and the endpoints reply_route hook contexts use.
   */
  onServerFinal(): void {
    this.ctx = null;
    this.relayRuri = '';
    for (const b of this.branches) b.response = null;
  }

  /** RFC 3261 §16.6 step 3 (once per transaction): decrement Max-Forwards, or add 70 when absent; false: 483. */
  prepareMaxForwards(): boolean {
    if (this.maxForwardsDone) return true;
    const req = this.request;
    if (req === null || !ensureMaxForwardsProcessed(req)) return false;
    this.maxForwardsDone = true;
    return true;
  }

  // ---- responses ---------------------------------------------------------------------------

  onBranchResponse(branch: ProxyBranch, resp: SipMessage, source: Endpoint): void {
    const proxy = this.proxy;
    const status = resp.status;
    let wait: Promise<number> | null = null;
    if (this.replyRoute !== NO_ROUTE && this.hooks?.onReplyRoute !== undefined) {
      const hctx = proxy.newHookContext(resp, source, this.local, null, this.state.tx);
      const action = proxy.runHook(this, branch.index, () => this.hooks!.onReplyRoute!(hctx, this.replyRoute, status));
      if (action === Action.DROP && status < 200) {
        this.afterProvisional(branch);
        return;
      }
      // rtpengine_answer/manage recorded in onreply_route: the reply leaves once rtpengine answered
      if (proxy.mediaGate !== null) wait = proxy.mediaGate.gate(hctx);
    }
    if (wait === null && this.replyQueue === null) {
      this.processResponse(branch, resp);
      return;
    }
    // held (media-gate.ts): this reply and every later one of the transaction, in arrival order
    const queued = (this.replyQueue ?? Promise.resolve())
      .then(() => wait)
      .then(() => this.processResponse(branch, resp))
      .catch((e: unknown) => proxy.layer.log.error({ err: (e as Error).message, code: Errors.TM_HOOK.code }, 'held reply failed [E9004]'));
    this.replyQueue = queued;
    void queued.then(() => {
      if (this.replyQueue === queued) this.replyQueue = null;
    });
  }

  /** a response after onreply_route (RFC 3261 §16.7 steps 5-6). */
  private processResponse(branch: ProxyBranch, resp: SipMessage): void {
    const proxy = this.proxy;
    const status = resp.status;
    if (status < 200) {
      this.afterProvisional(branch);
      // §16.7 step 5: 100 is not forwarded; other provisionals are, until a final was sent
      if (status > 100 && !this.server.finalSent) proxy.forwardUpstream(this, resp);
      return;
    }
    if (status < 300) {
      branch.releaseTargets();
      const first = branch.state !== BranchState.Done;
      branch.state = BranchState.Done;
      branch.status = status;
      proxy.forwardUpstream(this, resp); // every 2xx goes upstream (§16.7 step 5)
      // §16.7 step 10: once a 2xx was forwarded, the other pending branches are cancelled
      if (first) this.cancelBranches(branch);
      return;
    }
    if (branch.state === BranchState.Done) return;
    branch.state = BranchState.Done;
    branch.status = status;
    branch.reason = resp.reason;
    // kept as a best-response candidate (§16.7 step 6) only while no final went upstream
    if (!this.server.finalSent) branch.response = resp;
    if (status >= 600) this.cancelBranches(branch); // §16.7 step 5: a 6xx ends the search
    // RFC 3263 §4.3 / Kamailio use_dns_failover: a 503 sends the request to the next DNS target
    if (status === 503 && this.proxy.failover(this, branch)) return;
    branch.releaseTargets();
    this.checkCompletion();
  }

  private afterProvisional(branch: ProxyBranch): void {
    branch.provisional = true;
    if (branch.cancelPending) this.proxy.sendCancel(this, branch);
  }

  onBranchTimeout(branch: ProxyBranch): void {
    if (branch.state === BranchState.Done) return;
    // RFC 3261 §16.8: an INVITE branch that had a provisional is CANCELed
    if (branch.provisional && branch.method === 'INVITE') this.proxy.sendCancel(this, branch);
    if (this.canceled) this.finishLocally(branch, 487, REASON_487);
    else if (branch.provisional) this.finishLocally(branch, 408, REASON_408); // it answered: no failover
    else this.finishOrFailover(branch, 408, REASON_408); // RFC 3263 §4.3: no response at all
  }

  /** a branch ends without a response; the next DNS target gets the request when there is one (§4.3). */
  finishOrFailover(branch: ProxyBranch, status: number, reason: string): void {
    if (branch.state === BranchState.Done) return;
    branch.state = BranchState.Done;
    branch.status = status;
    branch.reason = reason;
    if (this.proxy.failover(this, branch)) return;
    this.checkCompletion();
  }

  /** a branch ends without a response (timeout, unresolvable, dropped ...). */
  finishLocally(branch: ProxyBranch, status: number, reason: string): void {
    if (branch.state === BranchState.Done) return;
    branch.releaseTargets();
    branch.state = BranchState.Done;
    branch.status = status;
    branch.reason = reason;
    this.checkCompletion();
  }

  /** CANCEL every pending branch except `except` (RFC 3261 §9.1, §16.10). */
  cancelBranches(except: ProxyBranch | null): void {
    for (const b of this.branches) {
      if (b === except || b.state === BranchState.Done) continue;
      if (b.state === BranchState.Resolving) {
        this.finishLocally(b, 487, REASON_487);
        continue;
      }
      if (b.provisional) this.proxy.sendCancel(this, b);
      else b.cancelPending = true; // §9.1: no CANCEL before a provisional response
    }
  }

  /** an upstream CANCEL for this transaction. */
  cancel(reasons: string[] | undefined): void {
    if (this.canceled) return;
    this.canceled = true;
    this.cancelReasons = reasons;
    this.cancelBranches(null);
  }

  /** every branch ended: failure_route, then the best response upstream (§16.7 step 6). */
  checkCompletion(): void {
    if (this.pendingBranches > 0 || this.inFailureRoute || this.relaying || this.terminated) return;
    if (this.server.finalSent) return; // a 2xx went up already
    const proxy = this.proxy;
    if (this.failureRoute !== NO_ROUTE && this.hooks?.failureRoute !== undefined) {
      const route = this.failureRoute;
      this.failureRoute = NO_ROUTE; // Kamailio: failure_route must re-arm itself with t_on_failure
      proxy.runFailureRoute(this, route);
      if (this.server.finalSent || this.pendingBranches > 0) return;
    }
    this.sendBestResponse();
  }

  private sendBestResponse(): void {
    const proxy = this.proxy;
    const statuses = this.branches.map((b) => b.status);
    const best = pickBestResponse(statuses);
    if (best < 0) {
      proxy.replyLocally(this, this.canceled ? 487 : 408, this.canceled ? REASON_487 : REASON_408);
      return;
    }
    const b = this.branches[best]!;
    if (b.status === 503) {
      proxy.replyLocally(this, 500, 'Server Internal Error'); // §16.7 step 6
      return;
    }
    if (b.response !== null) proxy.forwardUpstream(this, b.response);
    else proxy.replyLocally(this, b.status, b.reason);
  }

  /** the status the transaction's best branch has (Kamailio $T_reply_code); 0 = none. */
  bestStatus(): number {
    const best = pickBestResponse(this.branches.map((b) => b.status));
    return best < 0 ? 0 : this.branches[best]!.status;
  }

  /** @internal */
  addBranch(request: SipMessage | null, method: string): ProxyBranch {
    const b = new ProxyBranch(this, this.branches.length, request, method);
    this.branches.push(b);
    return b;
  }
}
