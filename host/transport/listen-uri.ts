/**
 * Listen addresses, written `proto:host:port` like Kamailio's `listen=udp:127.0.0.1:5060`:
 *   udp:127.0.0.1:5060   tcp:[::1]:5060   udp:0.0.0.0   (port defaults to 5060, RFC 3261 §19.1.2)
 * IPv6 addresses are written in brackets (RFC 3986 §3.2.2). The host must be an IP literal: binding
 * to a name would depend on DNS at start-up, and the address is what we put in Via/Record-Route later.
 */
import net from 'node:net';
import { SiphonError } from '../errors/registry.js';
import type { Proto } from '../core/context.js';

export const DEFAULT_SIP_PORT = 5060;

export interface ListenAddress {
  proto: Proto;
  /** IP address without brackets. */
  host: string;
  port: number;
  family: 4 | 6;
  /** canonical text: `udp:[::1]:5060`. */
  uri: string;
}

const SUPPORTED = new Set<string>(['udp', 'tcp', 'tls', 'ws', 'wss']);
/** RFC 3261 §19.1.2: 5061 for TLS (sips), 5060 otherwise. */
export const DEFAULT_TLS_PORT = 5061;

/** Parses one listen URI; throws SiphonError TRANSPORT_LISTEN_URI (E3001) naming the defect. */
export function parseListenUri(text: string, where?: string): ListenAddress {
  const fail = (why: string): never => {
    throw new SiphonError('TRANSPORT_LISTEN_URI', `'${text}': ${why} (expected proto:host[:port], e.g. udp:127.0.0.1:5060, tcp:[::1]:5060 or tls:127.0.0.1:5061)`, { where });
  };
  const s = text.trim();
  const colon = s.indexOf(':');
  if (colon <= 0 || !/^[A-Za-z]+$/.test(s.slice(0, colon))) fail('missing transport prefix');
  const proto = s.slice(0, colon).toLowerCase();
  if (!SUPPORTED.has(proto)) fail(`unsupported transport '${proto}' (supported: udp, tcp, tls, ws, wss)`);
  const rest = s.slice(colon + 1);
  if (rest.length === 0) fail('missing host');

  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) fail("unterminated IPv6 reference (missing ']')");
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after.length > 0) {
      if (after[0] !== ':') fail(`unexpected '${after}' after the IPv6 address`);
      portText = after.slice(1);
    }
    if (net.isIPv6(host) === false) fail(`'${host}' is not an IPv6 address`);
  } else {
    const parts = rest.split(':');
    if (parts.length > 2) fail('IPv6 addresses must be written in brackets, e.g. udp:[::1]:5060');
    host = parts[0]!;
    portText = parts[1];
    if (host.length === 0) fail('missing host');
    if (!net.isIPv4(host)) fail(`'${host}' is not an IPv4 address (names are not accepted; IPv6 goes in brackets)`);
  }

  // RFC 7118 §7: ws and wss default to HTTP's ports
  let port = proto === 'tls' ? DEFAULT_TLS_PORT : proto === 'ws' ? 80 : proto === 'wss' ? 443 : DEFAULT_SIP_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) fail(`bad port '${portText}'`);
    port = Number(portText);
    if (port < 1 || port > 65535) fail(`port ${port} out of range 1-65535`);
  }
  const family: 4 | 6 = net.isIPv6(host) ? 6 : 4;
  const uri = `${proto}:${family === 6 ? `[${host}]` : host}:${port}`;
  return { proto: proto as Proto, host, port, family, uri };
}
