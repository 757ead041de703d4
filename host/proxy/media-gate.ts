/**
 * Work a routed message waits for before it leaves the proxy (the rtpengine module's offer/answer:
 * plugin hooks are synchronous, the media relay answers over UDP). Kamailio's rtpengine functions
 * block the worker process until rtpengine answers; here the hook records the command and the proxy
 * holds the message instead:
 *   request  after request_route (t_relay or RELAY): the server transaction is created and, for an
 *            INVITE, 100 Trying sent (retransmissions are absorbed by it, RFC 3261 §17.2.1), then
 *            the branches are created once the gate resolves (ProxyCore.afterRequestRoute). A CANCEL
 *            that arrives meanwhile ends it with 487 (§9.2) instead of relaying.
 *   reply    after onreply_route: the reply is forwarded once the gate resolves; later replies of the
 *            same transaction queue behind it, so a 200 never overtakes the 183 before it (cell.ts).
 * `gate` must be cheap and synchronous when there is nothing to wait for (null: the message goes on
 * at once, no promise, no await), and its promise must never reject.
 */
import type { MessageContext } from '../core/context.js';
import { REASON_487 } from './cell.js';
import type { ProxyCore } from './proxy.js';

export interface MediaGate {
  /**
   * null: nothing to wait for. Else resolves with 0 (go on: the message as the gate left it) or,
   * for a request, the status to answer it with instead of relaying (400-699).
   */
  gate(ctx: MessageContext): Promise<number> | null;
}

/**
 * A relay held by the gate (ProxyCore.afterRequestRoute): the transaction exists now (and 100
 * Trying went out for an INVITE, §16.2 / §17.2.1), the branches once `wait` resolves. Returns true
 * (the request is handled); false only when no transaction could be made (the caller answers 500).
 */
export function relayAfterGate(proxy: ProxyCore, ctx: MessageContext, wait: Promise<number>): boolean {
  const msg = ctx.msg;
  if (msg.kind !== 'request') return false;
  if (msg.method === 'ACK') {
    // an ACK creates no transaction: forwarded statelessly once its SDP is done
    void wait.then(() => proxy.relayOrAnswer(ctx));
    return true;
  }
  const cell = proxy.cellOf(ctx);
  if (cell === null) return false;
  if (msg.method === 'INVITE' && proxy.layer.config.auto100 && cell.server.lastStatus === 0) proxy.replyLocally(cell, 100, 'Trying');
  void wait.then((reject) => {
    if (cell.server.finalSent) return;
    if (cell.canceled) {
      proxy.replyLocally(cell, 487, REASON_487);
      return;
    }
    if (reject >= 400) {
      proxy.replyLocally(cell, reject, reject === 503 ? 'Service Unavailable' : 'Media Relay Failed');
      return;
    }
    proxy.withHooks(cell.hooks, () => proxy.relayOrAnswer(ctx));
  });
  return true;
}
