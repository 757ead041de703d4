/**
 * Responses the proxy sends upstream on a transaction (RFC 3261 §16.7): a branch's response
 * forwarded without our Via (step 9), replies tm builds itself (100 Trying, 408, 487, t_reply,
 * step 6's 500 for a 503), and the reply a relay that sent nothing gets. Reply fixups (the uac
 * module) and the transaction's observer (the dialog module) see each one. Split out of proxy.ts.
 */
import type { SipMessage } from '../sip/types.js';
import type { ReplyBody } from '../core/sl.js';
import { withReplyFixups, REASON_478, REASON_487, type ProxyTransaction } from './cell.js';
import type { ProxyCore } from './proxy.js';

/** relay(): Max-Forwards was 0. */
export const RELAY_TOO_MANY_HOPS = -3;

/**
 * The reply a relay that sent nothing gets: 483 (Max-Forwards 0), the branches' best, 503 when no
 * socket reaches the next hop (its family or transport has no listener here: sips: without a tls:
 * listener, an IPv6 target on an IPv4-only node; Kamailio's E_NO_SOCKET, never a 500 that reads
 * like a crash), else 500.
 */
export function relayFailureReply(rc: number, cell: ProxyTransaction): [number, string] {
  if (rc === RELAY_TOO_MANY_HOPS) return [483, 'Too Many Hops'];
  const best = cell.bestStatus();
  if (best === 478) return [478, REASON_478];
  if (best === 482) return [482, 'Loop Detected'];
  if (best === 503) return [503, 'Service Unavailable'];
  if (best >= 300) return [best, best === 487 ? REASON_487 : 'Relay Failed'];
  return [500, 'Server Internal Error'];
}

/** @internal a branch response goes upstream without our Via (§16.7 step 9). */
export function forwardUpstream(core: ProxyCore, cell: ProxyTransaction, resp: SipMessage): void {
  if (resp.vias.length < 2) return;
  resp.removeHeader('via', 0);
  const fixups = cell.state.replyFixups;
  if (fixups !== null) for (const fix of fixups) fix(resp);
  if (cell.server.respond(resp.status, resp.toBuffer(), resp.to?.tag)) {
    core.stats.responsesForwarded++;
    core.metrics?.replyOut(resp.status);
    cell.observer?.onUpstreamResponse(cell, resp.status, resp, resp.to?.tag, resp.reason);
  }
}

/** @internal a reply built by tm (100 Trying, 408, 487, t_reply ...). */
export function replyLocally(core: ProxyCore, cell: ProxyTransaction, code: number, reason: string, extra?: readonly string[], body?: ReplyBody): boolean {
  const req = cell.request;
  // released once a final was sent: nothing may be answered locally after that (§16.7 step 10;
  // only further 2xx from downstream branches are forwarded, §16.7 step 5)
  if (req === null) return false;
  const server = cell.server;
  try {
    let buf = core.replies.build(req, server.source, code, reason, extra, undefined, body);
    const fixups = cell.state.replyFixups;
    if (fixups !== null) buf = withReplyFixups(buf, fixups);
    const toTag = code >= 180 ? req.to?.tag ?? core.replies.toTagFor(req) : undefined;
    const ok = server.respond(code, buf, toTag);
    if (ok) {
      core.stats.localReplies++;
      core.metrics?.replyOut(code);
      cell.observer?.onUpstreamResponse(cell, code, null, toTag, reason);
    }
    return ok;
  } catch (e) {
    core.log.warn({ err: (e as Error).message, callid: req.callId, code }, 'cannot build a tm reply');
    return false;
  }
}
