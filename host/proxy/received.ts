/**
 * The received Via of a request as it is forwarded (RFC 3261 §18.2.1, RFC 3581 §4): `received=<source
 * address>` when the sent-by host is not the address the request came from, and an empty `rport`
 * filled with the source port. The Via keeps them in the forwarded request (§16.6 step 8), so the next
 * hop's responses, relayed back along the Vias, carry them too. Kamailio adds both when it builds the
 * forwarded request (found by the oracle, test/oracle/sl-sanity.test.ts).
 */
import type { Endpoint } from '../core/context.js';
import { topViaForReply } from '../core/sl.js';
import type { SipMessage } from '../sip/types.js';

/** edits the top Via of `msg` when it needs received/rport; idempotent (a second call changes nothing). */
export function markReceived(msg: SipMessage, source: Endpoint): void {
  const via = msg.vias[0];
  if (via === undefined) return;
  const text = topViaForReply(via, source);
  if (text === via.raw) return;
  msg.removeHeader('via', 0);
  msg.addHeader('Via', text, 'first');
}
