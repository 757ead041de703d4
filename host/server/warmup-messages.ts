/**
 * The SIP messages the warm-up's simulated user agents send (server/warmup.ts drives them straight
 * into a throwaway server, server/warmup-loopback.ts over loopback sockets): a caller's requests and
 * a callee's responses, built as a UA would (RFC 3261 §8.1.1, §8.2.6).
 */
import type { Endpoint } from '../core/context.js';
import type { SipMessage } from '../sip/types.js';

/** `host:port` as it goes into a URI (IPv6 in brackets). */
export function hostPort(e: Pick<Endpoint, 'address' | 'port' | 'family'>): string {
  return `${e.family === 6 ? `[${e.address}]` : e.address}:${e.port}`;
}

export interface WarmupRequest {
  method: string;
  ruri: string;
  /** the caller (Via, From host, default Contact). */
  from: Endpoint;
  /** `host:port` of the server, the To host. */
  us: string;
  callId: string;
  cseq: number;
  /** `;tag=…` of an in-dialog request, '' otherwise. */
  toTag: string;
  branch: string;
  extra: readonly string[];
  body: string;
  contact?: string;
  /** the user part of To (default `callee`; '' for none, as a keepalive's `To: <sip:host:port>`). */
  toUser?: string;
  /** the caller's port in the From URI too (SIPp's and most phones' shape). */
  fromPort?: boolean;
  /** a display name in From (half the warm-up's requests carry one: both header shapes get warm). */
  display?: boolean;
}

/** A caller's request (RFC 3261 §8.1.1: Via with rport, Max-Forwards, From+tag, To, Call-ID, CSeq, Contact). */
export function warmupRequest(r: WarmupRequest): Buffer {
  const via = hostPort(r.from);
  const lines = [
    `${r.method} ${r.ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP ${via};branch=${r.branch};rport`,
    'Max-Forwards: 70',
    `From: ${r.display === false ? '' : '"Warm Up" '}<sip:caller@${r.fromPort === true ? via : r.from.address}>;tag=${r.callId.slice(0, r.callId.indexOf('@'))}`,
    `To: <sip:${r.toUser === '' ? '' : `${r.toUser ?? 'callee'}@`}${r.us}>${r.toTag}`,
    `Call-ID: ${r.callId}`,
    `CSeq: ${r.cseq} ${r.method}`,
    `Contact: ${r.contact ?? `<sip:caller@${via}>`}`,
    ...r.extra,
    'User-Agent: siphon-warmup',
  ];
  if (r.body.length > 0) lines.push('Content-Type: application/sdp');
  lines.push(`Content-Length: ${Buffer.byteLength(r.body)}`, '', r.body);
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

/**
 * The callee's response to a request it received (RFC 3261 §8.2.6: Vias, From, To + tag, Call-ID,
 * CSeq; §12.1.1: the Record-Route of a dialog-creating request copied into its responses).
 */
export function warmupResponse(req: SipMessage, status: number, reason: string, recordRoutes: readonly string[], toTag: string, contactUri: string): Buffer {
  const lines = [`SIP/2.0 ${status} ${reason}`];
  for (const v of req.headerValues('via')) lines.push(`Via: ${v}`);
  for (const r of recordRoutes) lines.push(`Record-Route: ${r}`);
  lines.push(
    `From: ${req.header('from') ?? ''}`,
    `To: ${req.header('to') ?? ''}${req.to?.tag === undefined ? `;tag=${toTag}` : ''}`,
    `Call-ID: ${req.callId}`,
    `CSeq: ${req.header('cseq') ?? ''}`,
    `Contact: <${contactUri}>`,
    'Content-Length: 0',
    '',
    '',
  );
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

export const WARMUP_SDP = ['v=0', 'o=warmup 1 1 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 't=0 0', 'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
