/**
 * CANCEL (RFC 3261 §9, §16.10): a received CANCEL of an INVITE server transaction is answered 200
 * and cancels the transaction's branches (or ends a branchless one with 487); a branch is CANCELed
 * once, and only while it has no final response (§9.1). Split out of proxy.ts.
 */
import type { Endpoint } from '../core/context.js';
import type { SipMessage } from '../sip/types.js';
import type { Channel } from '../transport/types.js';
import { buildCancel, ClientState, type ClientTransactionUser, type ServerTransaction } from '../transaction/index.js';
import { ProxyTransaction, REASON_487, type ProxyBranch } from './cell.js';
import type { ProxyCore } from './proxy.js';

/** A CANCEL (or other fire-and-forget request) client transaction: its responses need no processing. */
const IGNORE_RESPONSES: ClientTransactionUser = {
  onClientResponse() {},
  onClientTimeout() {},
};

/** @internal sends a CANCEL for a branch (once). */
export function sendCancel(core: ProxyCore, cell: ProxyTransaction, branch: ProxyBranch): void {
  const ct = branch.ct;
  branch.cancelPending = false;
  // §9.1: only a request without final response is CANCELed (ct.sent is released at the final)
  if (ct === null || branch.cancelSent || ct.method !== 'INVITE' || ct.state > ClientState.Proceeding || ct.sent === null) return;
  branch.cancelSent = true;
  core.stats.cancelsSent++;
  core.metrics?.requestOut('CANCEL');
  const buf = buildCancel(ct.sent, cell.cancelReasons);
  core.layer.startClient({
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
export function onCancel(core: ProxyCore, cancel: SipMessage, source: Endpoint, channel: Channel, invite: ServerTransaction): void {
  core.stats.cancelsReceived++;
  const cst = core.layer.createServer(cancel, source, channel);
  if (cst !== null) {
    cst.respond(200, core.replies.build(cancel, source, 200, 'canceling'), core.replies.toTagFor(cancel));
  }
  const cell = invite.user;
  if (cell instanceof ProxyTransaction) {
    const reasons = cancel.headerValues('reason');
    cell.cancel(reasons.length > 0 ? reasons : undefined);
  } else if (!invite.finalSent && invite.request !== null) {
    // a transaction without branches (e.g. t_reply 180 only): terminate the INVITE with 487
    const buf = core.replies.build(invite.request, invite.source, 487, REASON_487);
    invite.respond(487, buf, core.replies.toTagFor(invite.request));
  }
}
