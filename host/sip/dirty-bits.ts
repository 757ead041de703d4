/**
 * The headers SipMessageImpl interprets eagerly (Via, From, To, Call-ID, CSeq, Max-Forwards,
 * Content-Length): one bit each, what applyEagerField() dispatches on and what an edit marks for
 * re-interpretation. Split out of message.ts.
 */

// one bit per eagerly interpreted header: what applyEagerField() dispatches on and what an edit
// marks for re-interpretation
export const DIRTY_VIA = 1;
export const DIRTY_FROM = 2;
export const DIRTY_TO = 4;
export const DIRTY_CALLID = 8;
export const DIRTY_CSEQ = 16;
export const DIRTY_MAXFWD = 32;
export const DIRTY_CL = 64;

/** the eager bit of a canonical key; 0 for headers interpreted lazily. */
export function dirtyBit(key: string): number {
  switch (key) {
    case 'via': return DIRTY_VIA;
    case 'from': return DIRTY_FROM;
    case 'to': return DIRTY_TO;
    case 'call-id': return DIRTY_CALLID;
    case 'cseq': return DIRTY_CSEQ;
    case 'max-forwards': return DIRTY_MAXFWD;
    case 'content-length': return DIRTY_CL;
    default: return 0;
  }
}
