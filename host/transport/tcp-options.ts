/**
 * The limits that keep a TCP listener serving when peers are hostile (core.tcp in siphon.yaml), with
 * Kamailio's names and defaults where Kamailio has the same knob (kamailio.md §6.1; Kamailio core
 * tcp_main.c / tcp_options.c), and the per-source-IP key.
 */
import net from 'node:net';
import type { CoreConfig } from '../config/types.js';

export interface TcpLimits {
  /**
   * bytes waiting in one connection's write queue beyond which the connection is closed (Kamailio
   * tcp_conn_wq_max, 32 KiB). A peer that does not read cannot make us buffer more than this plus
   * one message.
   */
  connWqMax: number;
  /** bytes waiting in all write queues together (Kamailio tcp_wq_max, 10 MiB). */
  wqMax: number;
  /** seconds a non-empty write queue may go without progress before the connection is closed (tcp_send_timeout, 10). */
  sendTimeout: number;
  /** seconds an outbound connect may take (tcp_connect_timeout, 10). */
  connectTimeout: number;
  /** seconds from a message's first byte to its last (headers and body; tcp_msg_read_timeout, 20). */
  msgReadTimeout: number;
  /** seconds an accepted connection may stay open without delivering a SIP message (tcp_msg_data_timeout, 20). */
  msgDataTimeout: number;
  /**
   * connections per peer IP (IPv6: per /64), accepted and opened; 0 = no limit (tcp_accept_iplimit,
   * Kamailio 1024, which counts accepted connections only).
   */
  acceptIpLimit: number;
  /** connections of max_connections only outbound connections may use (no Kamailio equivalent). */
  outboundReserve: number;
  /**
   * RFC 5923 `;alias` in a request's top Via makes the connection usable for requests to the
   * sender's address and Via port (alias.ts; Kamailio tcp_accept_aliases, default no). Default true.
   */
  acceptAliases?: boolean;
}

export const TCP_LIMIT_DEFAULTS: Readonly<TcpLimits> = {
  connWqMax: 32 * 1024,
  wqMax: 10 * 1024 * 1024,
  sendTimeout: 10,
  connectTimeout: 10,
  msgReadTimeout: 20,
  msgDataTimeout: 20,
  // Kamailio's 1024 lets two addresses fill the default 2048 slots; 256 still carries a NATed site.
  acceptIpLimit: 256,
  outboundReserve: 128,
  acceptAliases: true,
};

/**
 * The per-source key the accept limit counts under: the IPv4 address (also when written as an
 * IPv4-mapped IPv6 address), or the /64 prefix of an IPv6 address (one subscriber usually holds a
 * whole /64, so counting single IPv6 addresses would be no limit at all). Called once per accept.
 */
export function sourceIpKey(address: string): string {
  if (!address.includes(':')) return address;
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && net.isIPv4(lower.slice(7))) return lower.slice(7);
  const zone = lower.indexOf('%');
  const addr = zone >= 0 ? lower.slice(0, zone) : lower;
  const dbl = addr.indexOf('::');
  let groups: string[];
  if (dbl < 0) {
    groups = addr.split(':');
  } else {
    const head = addr.slice(0, dbl) === '' ? [] : addr.slice(0, dbl).split(':');
    const tail = addr.slice(dbl + 2) === '' ? [] : addr.slice(dbl + 2).split(':');
    groups = [...head, ...new Array<string>(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail];
  }
  return `${groups
    .slice(0, 4)
    .map((g) => (g === '' ? '0' : g.replace(/^0+(?=.)/, '')))
    .join(':')}::/64`;
}

/** core.tcp (siphon.yaml, seconds and bytes) → the listener's limits. */
export function tcpLimitsFrom(tcp: CoreConfig['tcp']): TcpLimits {
  return {
    connWqMax: tcp.conn_wq_max,
    wqMax: tcp.wq_max,
    sendTimeout: tcp.send_timeout,
    connectTimeout: tcp.connect_timeout,
    msgReadTimeout: tcp.msg_read_timeout,
    msgDataTimeout: tcp.msg_data_timeout,
    acceptIpLimit: tcp.accept_iplimit,
    outboundReserve: tcp.outbound_reserve,
    acceptAliases: tcp.accept_aliases ?? true,
  };
}
