/**
 * Control listener addresses, written like the ctl module's `binrpc` parameter and kamcmd's `-s`
 * (reference kamailio.md §3.1): `unix:/path` or `unixs:/path` (unix stream), `tcp:host:port`,
 * `udp:host:port`; a bare path is a unix stream socket. The default BINRPC port is 2049 as in ctl.
 * `unixd:` (unix datagram) is not offered: Node has no unix datagram sockets.
 */
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { SiphonError } from '../errors/registry.js';

export const DEFAULT_BINRPC_PORT = 2049;
export const CTL_SOCKET_NAME = 'siphon_ctl';

export interface UnixCtlAddress {
  proto: 'unix';
  path: string;
}
export interface NetCtlAddress {
  proto: 'tcp' | 'udp';
  host: string;
  port: number;
}
export type CtlAddress = UnixCtlAddress | NetCtlAddress;

/**
 * The one rule the server and `siphon rpc` share for the default control socket:
 *   1. $SIPHON_CTL when set (any address form);
 *   2. $RUNTIME_DIRECTORY/siphon_ctl (systemd's RuntimeDirectory=siphon sets it to /run/siphon);
 *   3. /run/siphon/siphon_ctl when running as root;
 *   4. $XDG_RUNTIME_DIR/siphon/siphon_ctl for a user session;
 *   5. ./run/siphon_ctl under the working directory.
 */
export function defaultCtlPath(
  env: NodeJS.ProcessEnv = process.env,
  uid: number = process.getuid?.() ?? -1,
  cwd: string = process.cwd(),
): string {
  if (env.SIPHON_CTL) return env.SIPHON_CTL;
  const runtimeDir = env.RUNTIME_DIRECTORY?.split(':')[0];
  if (runtimeDir) return join(runtimeDir, CTL_SOCKET_NAME);
  if (uid === 0) return join('/run/siphon', CTL_SOCKET_NAME);
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'siphon', CTL_SOCKET_NAME);
  return resolve(cwd, 'run', CTL_SOCKET_NAME);
}

export function parseCtlAddress(text: string): CtlAddress {
  const s = text.trim();
  if (s === '') throw new SiphonError('RPC_LISTEN_ADDRESS', 'empty control address');
  const colon = s.indexOf(':');
  const proto = colon > 0 ? s.slice(0, colon).toLowerCase() : '';
  const rest = colon > 0 ? s.slice(colon + 1) : s;
  switch (proto) {
    case 'unix':
    case 'unixs':
      if (rest === '') throw new SiphonError('RPC_LISTEN_ADDRESS', `no socket path in "${text}"`);
      return { proto: 'unix', path: rest };
    case 'unixd':
      throw new SiphonError('RPC_LISTEN_ADDRESS', `unix datagram sockets are not supported: "${text}"`);
    case 'tcp':
    case 'udp':
      return { proto, ...hostPort(rest, text) };
    default:
      // ctl: without a protocol a path-like name is a unix stream socket
      if (s.startsWith('/') || s.startsWith('.')) return { proto: 'unix', path: s };
      throw new SiphonError('RPC_LISTEN_ADDRESS', `unknown control address "${text}" (unix:/path, tcp:host:port, udp:host:port)`);
  }
}

function hostPort(rest: string, text: string): { host: string; port: number } {
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new SiphonError('RPC_LISTEN_ADDRESS', `unbalanced [ in "${text}"`);
    host = rest.slice(1, close);
    portText = rest[close + 1] === ':' ? rest.slice(close + 2) : undefined;
  } else {
    const last = rest.lastIndexOf(':');
    if (last >= 0 && rest.indexOf(':') === last) {
      host = rest.slice(0, last);
      portText = rest.slice(last + 1);
    } else {
      host = rest; // bare IPv6 or a host without port
    }
  }
  if (host === '') throw new SiphonError('RPC_LISTEN_ADDRESS', `no host in "${text}"`);
  let port = DEFAULT_BINRPC_PORT;
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
      throw new SiphonError('RPC_LISTEN_ADDRESS', `bad port "${portText}" in "${text}"`);
    }
  }
  return { host, port };
}

/** True for 127.0.0.0/8, ::1, IPv4-mapped loopback and the name localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h.startsWith('::ffff:127.');
  return false;
}

/**
 * Control listeners are loopback-only unless the operator explicitly allows otherwise: the RPC
 * surface can reload, kill and reconfigure the node and has no authentication.
 */
export function assertLoopback(host: string, what: string, allowNonLoopback: boolean): void {
  if (allowNonLoopback || isLoopbackHost(host)) return;
  throw new SiphonError(
    'RPC_NON_LOOPBACK',
    `${what} on ${host} refused: control listeners bind to loopback unless allowNonLoopback is set`,
  );
}

export function formatCtlAddress(a: CtlAddress): string {
  if (a.proto === 'unix') return `unix:${a.path}`;
  return `${a.proto}:${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}
