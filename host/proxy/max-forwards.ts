/**
 * Max-Forwards processing of a forwarded request (RFC 3261 §16.6 step 3), shared by the stateful
 * relay (cell.ts) and stateless forward() (proxy.ts).
 */
import { RECEIVED_MF_WINDOW, SipMessageImpl } from '../sip/message.js';
import type { SipMessage } from '../sip/types.js';

// Linear: every attempt must start with LF + the literal name, and the only backtracking is over the
// blanks after that name (disjoint runs for distinct starts); the \d+ ends the match. It reads at
// most RECEIVED_MF_WINDOW bytes.
const MAX_FORWARDS_RE = /\r?\n[Mm][Aa][Xx]-[Ff][Oo][Rr][Ww][Aa][Rr][Dd][Ss][ \t]*:[ \t]*(\d+)/;

/**
 * RFC 3261 §16.6 step 3: the forwarded request carries Max-Forwards decremented by one, or 70 when
 * the request had none. When the plugin already did it (maxfwd_process, as kamailio.cfg does in
 * REQINIT), the value differs from the received one and is left alone, so it is never decremented twice.
 * Returns false when the request arrived with Max-Forwards 0 and must not be forwarded (§16.3 step 3:
 * 483; the plugin normally answers it itself after maxfwd_process).
 */
export function ensureMaxForwardsProcessed(msg: SipMessage): boolean {
  const current = msg.maxForwards;
  // the parse usually knows what the scan below would find (SipMessageImpl.receivedMaxForwards)
  let received = msg instanceof SipMessageImpl ? msg.receivedMaxForwards() : undefined;
  if (received === undefined) {
    const head = msg.raw.toString('latin1', 0, Math.min(msg.raw.length, RECEIVED_MF_WINDOW));
    const m = MAX_FORWARDS_RE.exec(head);
    received = m === null ? undefined : Number(m[1]);
  }
  if (received === 0) return false;
  if (current === undefined) {
    if (msg.headerCount('max-forwards') === 0) msg.setHeader('Max-Forwards', '70');
    return true;
  }
  if (received !== undefined && current === received && current > 0) msg.setHeader('Max-Forwards', String(current - 1));
  return true;
}
