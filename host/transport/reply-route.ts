/**
 * Where a response to a request goes (RFC 3261 §18.2.2, RFC 3581 §4), computed from the request's
 * top Via and the address the request came from:
 *   - reliable transport (TCP): back on the connection the request came on while it is open,
 *     otherwise to the source address (the `received` value) and the sent-by port (default 5060);
 *   - `maddr` present: to that address, port = sent-by port or 5060;
 *   - otherwise to the source address (what `received` holds, or the sent-by host, which then
 *     equals the source address) and, when the request carried `rport`, to the source port
 *     (RFC 3581 §4), else to the sent-by port or 5060.
 * The connection case is the channel's business (TcpConnection.send); this function gives the
 * address for every case so a closed connection can be re-opened to the right place.
 */
import net from 'node:net';
import type { Endpoint } from '../core/context.js';
import type { Via } from '../sip/types.js';
import { DEFAULT_SIP_PORT, DEFAULT_TLS_PORT } from './listen-uri.js';

export interface ReplyAddress {
  address: string;
  port: number;
}

export function replyAddress(topVia: Via | undefined, source: Endpoint, out: ReplyAddress = { address: '', port: 0 }): ReplyAddress {
  if (topVia === undefined) {
    out.address = source.address;
    out.port = source.port;
    return out;
  }
  // RFC 3261 §18.2.2 / §19.1.2: a sent-by without a port means the default port of the transport the
  // request came over (5061 for TLS), whatever the Via's token says (Kamailio: the receiving protocol)
  const sentByPort = topVia.port ?? (source.proto === 'tls' ? DEFAULT_TLS_PORT : DEFAULT_SIP_PORT);
  if (topVia.maddr !== undefined && source.proto === 'udp') {
    const maddr = stripBrackets(topVia.maddr);
    if (net.isIP(maddr) !== 0) {
      out.address = maddr;
      out.port = sentByPort;
      return out;
    }
    // a maddr that is a name would need DNS (RFC 3263); answer to the source instead.
  }
  out.address = source.address;
  // over TCP this is where a *new* connection goes; the open connection is preferred by the channel
  out.port = topVia.rport !== undefined ? source.port : sentByPort;
  return out;
}

export function stripBrackets(host: string): string {
  return host.length > 1 && host.charCodeAt(0) === 0x5b /* [ */ && host.charCodeAt(host.length - 1) === 0x5d ? host.slice(1, -1) : host;
}
