/**
 * Requests the transaction layer builds itself, from the request a client transaction sent:
 *
 *   - the ACK for a non-2xx final response (RFC 3261 §17.1.1.3): same Request-URI, Call-ID, From and
 *     CSeq number as the request, CSeq method ACK, To from the response (it carries the tag), one Via
 *     equal to the request's top Via (same branch: the ACK is part of the INVITE transaction), the
 *     request's Route headers;
 *   - CANCEL (§9.1): same Request-URI, Call-ID, To, From, CSeq number and Route headers as the
 *     request being cancelled, CSeq method CANCEL, one Via equal to its top Via; the proxy copies the
 *     Reason header of the CANCEL it received (Kamailio e2e_cancel_reason).
 */

/** What the builders need from a sent request (captured once when the branch is sent). */
export interface SentRequest {
  readonly method: string;
  readonly requestUri: string;
  /** value of the request's top Via (ours). */
  readonly via: string;
  readonly from: string;
  readonly to: string;
  readonly callId: string;
  readonly cseq: number;
  /** Route header values, in order. */
  readonly routes: readonly string[];
  /**
   * the request's Max-Forwards as sent (digits), copied into its non-2xx ACK as Kamailio's tm does
   * (RFC 3261 §17.1.1.3 names no value; the ACK travels the INVITE's hop). Absent: 70 (§8.1.1.6).
   */
  readonly maxForwards?: string;
}

function commonHeaders(req: SentRequest, method: string, to: string, maxForwards = '70'): string {
  let s = `${method} ${req.requestUri} SIP/2.0\r\nVia: ${req.via}\r\n`;
  for (let i = 0; i < req.routes.length; i++) s += `Route: ${req.routes[i]!}\r\n`;
  s += `Max-Forwards: ${maxForwards}\r\nFrom: ${req.from}\r\nTo: ${to}\r\nCall-ID: ${req.callId}\r\nCSeq: ${req.cseq} ${method}\r\n`;
  return s;
}

/** RFC 3261 §17.1.1.3: the hop-by-hop ACK of a non-2xx final response whose To header is `responseTo`. */
export function buildNon2xxAck(req: SentRequest, responseTo: string): Buffer {
  const mf = req.maxForwards !== undefined && /^\d{1,3}$/.test(req.maxForwards) ? req.maxForwards : '70';
  return Buffer.from(`${commonHeaders(req, 'ACK', responseTo, mf)}Content-Length: 0\r\n\r\n`, 'utf8');
}

/** RFC 3261 §9.1: the CANCEL of `req`; `reason` header values (RFC 3326) are copied when given. */
export function buildCancel(req: SentRequest, reason?: readonly string[]): Buffer {
  let s = commonHeaders(req, 'CANCEL', req.to);
  if (reason !== undefined) for (const r of reason) if (!/[\r\n]/.test(r)) s += `Reason: ${r}\r\n`;
  return Buffer.from(`${s}Content-Length: 0\r\n\r\n`, 'utf8');
}
