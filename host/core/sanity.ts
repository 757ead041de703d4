/**
 * Request sanity checks run after parsing and before routing: what RFC 3261 §16.3 (request
 * validation) and Kamailio's sanity module's default checks ask for, beyond what the parser already
 * refuses (syntax, version 505, URI scheme 416, sizes 513). Returns null when the request is fine —
 * nothing is allocated on that path.
 */
import type { SipMessage } from '../sip/types.js';

export interface SanityFailure {
  status: number;
  reason: string;
  /** extra header lines for the reply (e.g. Unsupported with a 420). */
  headers?: string[];
}

export function checkRequestSanity(msg: SipMessage): SanityFailure | null {
  // RFC 3261 §8.1.1: To, From, CSeq, Call-ID, Max-Forwards (proxies tolerate its absence), Via.
  if (msg.vias.length === 0) return { status: 400, reason: 'Bad Request - Missing Via header' };
  if (msg.from === undefined) return { status: 400, reason: 'Bad Request - Missing From header' };
  if (msg.to === undefined) return { status: 400, reason: 'Bad Request - Missing To header' };
  if (msg.callId.length === 0) return { status: 400, reason: 'Bad Request - Missing Call-ID header' };
  const cseq = msg.cseq;
  if (cseq === undefined) return { status: 400, reason: 'Bad Request - Missing CSeq header' };
  // RFC 3261 §8.1.1.5: the CSeq method MUST match the request method (Kamailio sanity SANITY_CSEQ_METHOD).
  if (cseq.method !== msg.method) return { status: 400, reason: 'Bad Request - CSeq method does not match request method' };
  // RFC 3261 §8.1.1.5: the sequence number is a 32-bit unsigned integer below 2**31.
  if (!(cseq.seq >= 0 && cseq.seq < 2 ** 31)) return { status: 400, reason: 'Bad Request - CSeq number out of range' };
  // RFC 3261 §16.3 step 4 / §8.2.2.3: we support no option tags, so any Proxy-Require gets 420 with
  // Unsupported listing them (Kamailio sanity SANITY_PROXY_REQUIRE). Not for ACK/CANCEL, which never get one.
  if (msg.method !== 'ACK' && msg.method !== 'CANCEL' && msg.headerCount('proxy-require') > 0) {
    const tags = msg.headerValues('proxy-require').join(', ');
    return { status: 420, reason: 'Bad Extension', headers: [`Unsupported: ${tags}`] };
  }
  return null;
}
