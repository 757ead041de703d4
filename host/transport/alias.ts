/**
 * RFC 5923 connection reuse: a request arriving over TCP/TLS whose top Via carries the `alias`
 * parameter (§5) asks us to send our requests for its sent-by over the same connection instead
 * of dialing a new one (in-dialog requests to a UA behind NAT, a UA that listens nowhere).
 *
 * As Kamailio does with tcp_accept_aliases, the alias is the connection's own remote IP with the
 * sent-by port (RFC 5923 §5 default 5060/5061): a peer can only alias ports of the address it
 * connects from, never take over another host's address (§10: without mutual TLS a sent-by
 * host is just a claim). One alias per connection (the latest), removed when the connection
 * closes, so the alias table is never larger than the connection table (core.tcp.max_connections).
 *
 * The scan runs on the framed bytes in the listener's thread (the connections live there, also
 * with core.workers), before the message path: a message without ";alias" (the usual case) costs
 * one indexOf per spelling; otherwise the header section up to the first Via is read once.
 */

const ALIAS_SPELLINGS = [';alias', ';ALIAS', ';Alias'] as const;

/**
 * The sent-by port of the top Via of a request in `msg` when that Via has the `alias` parameter
 * (RFC 5923 §5), else -1. `defaultPort`: the transport's (5060, 5061 for TLS) when sent-by has none.
 */
export function viaAliasPort(msg: Buffer, defaultPort: number): number {
  let found = false;
  for (const s of ALIAS_SPELLINGS) {
    if (msg.indexOf(s) >= 0) {
      found = true;
      break;
    }
  }
  if (!found) return -1;
  const end = msg.indexOf('\r\n\r\n');
  const head = msg.toString('latin1', 0, end < 0 ? msg.length : end);
  if (head.startsWith('SIP/')) return -1; // a response: its Via is ours
  let pos = head.indexOf('\r\n');
  while (pos >= 0) {
    const next = head.indexOf('\r\n', pos + 2);
    const line = head.slice(pos + 2, next < 0 ? head.length : next);
    const colon = line.indexOf(':');
    if (colon > 0) {
      const name = line.slice(0, colon).trim().toLowerCase();
      if (name === 'via' || name === 'v') return aliasPortOf(line.slice(colon + 1), defaultPort);
    }
    pos = next;
  }
  return -1;
}

/** `SIP/2.0/TCP host[:port];params` (the first element of a Via value) → the port when `alias` is a parameter. */
function aliasPortOf(value: string, defaultPort: number): number {
  const comma = value.indexOf(',');
  const first = comma < 0 ? value : value.slice(0, comma);
  const semi = first.indexOf(';');
  if (semi < 0) return -1;
  let alias = false;
  for (const p of first.slice(semi + 1).split(';')) {
    const eq = p.indexOf('=');
    if ((eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase() === 'alias') alias = true;
  }
  if (!alias) return -1;
  const sentBy = first.slice(0, semi).trim().split(/\s+/).pop() ?? '';
  let portText: string | undefined;
  if (sentBy.startsWith('[')) {
    const close = sentBy.indexOf(']');
    if (close < 0) return -1;
    if (sentBy[close + 1] === ':') portText = sentBy.slice(close + 2);
  } else {
    const c = sentBy.indexOf(':');
    if (c >= 0) portText = sentBy.slice(c + 1);
  }
  if (portText === undefined) return defaultPort;
  if (!/^\d{1,5}$/.test(portText)) return -1;
  const port = Number(portText);
  return port >= 1 && port <= 65535 ? port : -1;
}
