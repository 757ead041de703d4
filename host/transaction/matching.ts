/**
 * Transaction matching keys.
 *
 * Server side (RFC 3261 §17.2.3): when the top Via branch starts with the magic cookie `z9hG4bK`, a
 * request belongs to the transaction with the same branch, the same sent-by (host and port of the
 * top Via) and the same method — except ACK, which matches the INVITE transaction it acknowledges.
 * CANCEL is a transaction of its own; the INVITE it cancels is found with the same key and method
 * INVITE (§9.2). Without the cookie (RFC 2543 peers, last paragraph of §17.2.3) the match uses the
 * Request-URI, From tag, Call-ID, CSeq number and the top Via; the To tag of an ACK must equal the
 * tag of the response it acknowledges, which the caller checks on the transaction found.
 *
 * Client side (§17.1.3): a response matches the client transaction whose top Via branch and CSeq
 * method it carries.
 *
 * Keys are single strings (one concatenation per message) so a Map lookup does the match.
 */
import type { SipMessage, Via } from '../sip/types.js';

export const MAGIC_COOKIE = 'z9hG4bK';

/** RFC 3261 §8.1.1.7: a branch produced by an RFC 3261 element starts with the magic cookie. */
export function hasMagicCookie(branch: string | undefined): branch is string {
  return branch !== undefined && branch.length > MAGIC_COOKIE.length && branch.startsWith(MAGIC_COOKIE);
}

const SEP = '\u0000';

function sentBy(via: Via): string {
  const port = via.port ?? (via.transport === 'TLS' ? 5061 : 5060);
  return `${via.host.toLowerCase()}:${port}`;
}

/**
 * Key of the server transaction a request belongs to, with `method` the method of the transaction
 * looked for (INVITE for an ACK or for the INVITE a CANCEL targets). null when the request has no Via.
 */
export function serverKey(msg: SipMessage, method: string): string | null {
  const via = msg.vias[0];
  if (via === undefined) return null;
  if (hasMagicCookie(via.branch)) return via.branch + SEP + sentBy(via) + SEP + method;
  // RFC 2543 fallback: Request-URI, From tag, Call-ID, CSeq number, top Via (To tag checked by the caller)
  return (
    '2543' + SEP + msg.requestUri + SEP + (msg.from?.tag ?? '') + SEP + msg.callId + SEP + String(msg.cseq?.seq ?? '') + SEP +
    via.transport + SEP + sentBy(via) + SEP + method
  );
}

/** Key of the client transaction a response belongs to (top Via branch + CSeq method); null when unmatched by construction. */
export function clientKeyOfResponse(msg: SipMessage): string | null {
  const branch = msg.vias[0]?.branch;
  const method = msg.cseq?.method;
  if (branch === undefined || method === undefined) return null;
  return branch + SEP + method;
}

/** Key a client transaction is stored under. */
export function clientKey(branch: string, method: string): string {
  return branch + SEP + method;
}
