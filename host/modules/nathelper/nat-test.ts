/**
 * nat_uac_test(flags) (Kamailio nathelper): guesses whether the sender of a message is behind NAT.
 * Each flag bit enables one test; the result is true when any enabled test is:
 *
 *     1  the (first) Contact URI host is a private address (address.ts)
 *     2  the top Via host is not the source address ("received" test; a Via host that is a name
 *        counts as different: siphon does not resolve it, Kamailio may)
 *     4  the top Via host is a private address
 *     8  an SDP connection line (`c=IN IP4 ...`) holds a private address
 *    16  the source port differs from the top Via port (5060 when the Via has none)
 *    32  the source address is private
 *    64  the message came over WebSocket (a ws:/wss: listener)
 *   128  the Contact URI port (5060 when absent) differs from the source port (legal in many
 *        non-NATed setups: a gateway registering another socket)
 *   256  an SDP connection address differs from the source address
 *
 * Cost: the top Via and the first Contact (both parsed once by the message layer) and, for 8/256,
 * one pass over the body's lines (bounded by the message size, at most SDP_MAX_LINES lines looked at).
 */
import type { Endpoint } from '../../core/context.js';
import type { SipMessage } from '../../sip/types.js';
import { isPrivateAddress, sameAddress } from './address.js';
import { contactUriBounds, uriHostPort } from './rewrite.js';

export const NAT_FLAG = {
  CONTACT_PRIVATE: 1,
  VIA_RECEIVED: 2,
  VIA_PRIVATE: 4,
  SDP_PRIVATE: 8,
  VIA_PORT: 16,
  SOURCE_PRIVATE: 32,
  WEBSOCKET: 64,
  CONTACT_PORT: 128,
  SDP_SOURCE: 256,
} as const;

/** every flag bit nat_uac_test() knows. */
export const NAT_FLAGS_ALL = 511;
/** SDP lines scanned at most by tests 8 and 256 (an SDP body has a few dozen). */
export const SDP_MAX_LINES = 512;

const DEFAULT_PORT = 5060;

/** host and port of the first Contact URI; null when there is none or it cannot be read. */
export function firstContactHostPort(msg: SipMessage): { host: string; port: number | undefined } | null {
  const v = msg.header('contact');
  if (v === undefined) return null;
  const b = contactUriBounds(v);
  if (b === null) return null;
  const hp = uriHostPort(v.slice(b[0], b[1]));
  return hp === null ? null : { host: hp.host, port: hp.port };
}

/** the connection addresses of an SDP body (RFC 4566 §5.7 `c=IN IP4 <addr>` / `IP6`), at most SDP_MAX_LINES lines read. */
export function sdpConnectionAddresses(body: Buffer): string[] {
  const out: string[] = [];
  if (body.length === 0) return out;
  const text = body.toString('latin1');
  let i = 0;
  let lines = 0;
  while (i < text.length && lines < SDP_MAX_LINES) {
    let nl = text.indexOf('\n', i);
    if (nl < 0) nl = text.length;
    lines++;
    if (text.charCodeAt(i) === 0x63 /* c */ && text.charCodeAt(i + 1) === 0x3d /* = */) {
      const line = text.slice(i + 2, nl).trim();
      const parts = line.split(' ');
      // c=<nettype> <addrtype> <connection-address>[/ttl[/n]]
      if (parts.length >= 3 && parts[0] === 'IN') out.push(parts[2]!.split('/')[0]!);
    }
    i = nl + 1;
  }
  return out;
}

/** true when any test enabled in `flags` says the sender is behind NAT (Kamailio nat_uac_test). */
export function natUacTest(msg: SipMessage, src: Endpoint, flags: number, natAddrMode = 1): boolean {
  const via = msg.vias[0];
  if (flags & NAT_FLAG.VIA_RECEIVED && via !== undefined && !sameAddress(via.host, src.address)) return true;
  if (flags & NAT_FLAG.VIA_PORT && via !== undefined && (via.port ?? DEFAULT_PORT) !== src.port) return true;
  if (flags & NAT_FLAG.SOURCE_PRIVATE && isPrivateAddress(src.address, natAddrMode)) return true;
  // Kamailio flag 64: the request came over WebSocket (a browser: reachable only on its connection)
  if (flags & NAT_FLAG.WEBSOCKET && (src.proto === 'ws' || src.proto === 'wss')) return true;
  if (flags & NAT_FLAG.VIA_PRIVATE && via !== undefined && isPrivateAddress(via.host, natAddrMode)) return true;
  if (flags & (NAT_FLAG.CONTACT_PRIVATE | NAT_FLAG.CONTACT_PORT)) {
    const c = firstContactHostPort(msg);
    if (c !== null) {
      if (flags & NAT_FLAG.CONTACT_PRIVATE && isPrivateAddress(c.host, natAddrMode)) return true;
      if (flags & NAT_FLAG.CONTACT_PORT && (c.port ?? DEFAULT_PORT) !== src.port) return true;
    }
  }
  if (flags & (NAT_FLAG.SDP_PRIVATE | NAT_FLAG.SDP_SOURCE)) {
    for (const addr of sdpConnectionAddresses(msg.body)) {
      if (flags & NAT_FLAG.SDP_PRIVATE && isPrivateAddress(addr, natAddrMode)) return true;
      if (flags & NAT_FLAG.SDP_SOURCE && !sameAddress(addr, src.address)) return true;
    }
  }
  return false;
}
