/**
 * The branches of a stateful relay (RFC 3261 §16.6): branch_route, next hop and its RFC 3263
 * targets, our Via, the client transaction; and DNS failover to the next target of the same
 * answer (RFC 3263 §4.3, Kamailio use_dns_failover). Split out of proxy.ts.
 */
import { Action, VIA_TRANSPORT, type Proto } from '../core/context.js';
import { isValidRequestUri, SipMessageImpl } from '../sip/message.js';
import { parseMessage } from '../sip/parser.js';
import type { SipMessage } from '../sip/types.js';
import type { Channel } from '../transport/types.js';
import type { SentRequest } from '../transaction/index.js';
import { BranchState, REASON_478, REASON_487, type ProxyBranch, type ProxyTransaction } from './cell.js';
import type { BranchTarget } from './dset.js';
import { NO_ROUTE } from './hooks.js';
import type { ProxyCore } from './proxy.js';
import { doubleRecordRoute, needsDoubleRecordRoute } from './record-route.js';
import { nextHopOf, type Target } from './resolver.js';

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
export function startBranch(core: ProxyCore, cell: ProxyTransaction, msg: SipMessage, target: BranchTarget): number {
  if (msg instanceof SipMessageImpl && (cell.branchRoute === NO_ROUTE || cell.hooks?.branchRoute === undefined)) {
    if (!isValidRequestUri(target.uri)) return 0;
    const hop = nextHopOf(target.dstUri ?? target.uri);
    const cached = hop === null ? undefined : core.resolver.targetsCached(hop);
    if (hop !== null && cached !== undefined && cached !== null) {
      const branch = cell.addBranch(null, msg.method);
      core.stats.branches++;
      return sendBranch(core, cell, branch, hop.host, cached, 0, msg, target.uri) ? 1 : 0;
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
  core.stats.branches++;
  let dst = target.dstUri;
  if (cell.branchRoute !== NO_ROUTE && cell.hooks?.branchRoute !== undefined) {
    const hctx = core.newHookContext(req, cell.source, cell.local, dst, cell.state.tx);
    const route = cell.branchRoute;
    const action = core.runHook(cell, branch.index, () => cell.hooks!.branchRoute!(hctx, route, branch.index));
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
  const cached = core.resolver.targetsCached(hop);
  if (cached === null) {
    cell.finishLocally(branch, 478, REASON_478);
    return -2;
  }
  if (cached !== undefined) return sendBranch(core, cell, branch, hop.host, cached, 0) ? 1 : 0;
  void core.resolver.resolveTargets(hop).then((targets) => {
    if (branch.state !== BranchState.Resolving) return; // cancelled meanwhile
    if (targets === null) cell.finishLocally(branch, 478, REASON_478);
    else if (cell.canceled) cell.finishLocally(branch, 487, REASON_487);
    else sendBranch(core, cell, branch, hop.host, targets, 0);
  });
  return 1;
}

/**
 * Sends a branch to `targets[index]` (the next ones when no socket here reaches it, RFC 3263
 * §4.3): its own copy (`branch.request`), or else `direct` with `ruri` as Request-URI
 * (startBranch's fast path, `direct` left unedited). `name` is the host the URI named (TLS SNI).
 */
function sendBranch(
  core: ProxyCore, cell: ProxyTransaction, branch: ProxyBranch, name: string, targets: readonly Target[], index: number,
  direct: SipMessageImpl | null = null, ruri = '',
): boolean {
  let channel: Channel | null = null;
  let target: Target | undefined;
  for (; index < targets.length; index++) {
    target = targets[index]!;
    if (core.isMyself(target.address, target.port)) {
      // RFC 3261 §16.3 step 4 / §21.4.20: a request sent to ourselves would loop
      cell.finishLocally(branch, 482, 'Loop Detected');
      return false;
    }
    channel = core.channels.channelFor(target.proto, target.family, target.address, target.port, name);
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
  const more = core.dnsFailover && index + 1 < targets.length;
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
  const id = core.layer.newBranch();
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
  core.metrics?.requestOut(req.method);
  branch.ct = core.layer.startClient({
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
export function failover(core: ProxyCore, cell: ProxyTransaction, branch: ProxyBranch): boolean {
  const targets = branch.targets;
  const copy = branch.copy;
  branch.releaseTargets();
  const ctx = cell.ctx;
  if (targets === null || cell.canceled || cell.server.finalSent || ctx === null) return false;
  if (cell.branches.length >= core.maxBranches) {
    core.stats.branchesRefused++;
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
    core.stats.branches++;
    core.stats.dnsFailovers++;
    return sendBranch(core, cell, nb, branch.hopName, targets, branch.targetIndex + 1, direct, branch.ruri);
  } finally {
    cell.relaying = prev;
  }
}

export function viaValue(channel: Channel, proto: Proto, branch: string): string {
  const local = channel.local;
  const host = local.address.includes(':') ? `[${local.address}]` : local.address;
  return `SIP/2.0/${VIA_TRANSPORT[proto]} ${host}:${local.port};branch=${branch}`;
}
