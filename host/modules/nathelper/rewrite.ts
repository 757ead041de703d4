/**
 * The text edits of nathelper: the host:port of a Contact URI (fix_nated_contact), a URI parameter
 * (`alias`, set_contact_alias / handle_ruri_alias; `received` of add_rcv_param(1)), a Contact header
 * parameter (`received`, add_rcv_param()) and the top Via's `rport`/`received` (force_rport).
 *
 * Every function is one linear pass (indexOf scans, no regex that backtracks) and returns null for
 * text it cannot read; an edit **replaces** a parameter that is already there, so calling a function
 * again leaves the message the same size (a plugin looping over it cannot grow the message).
 */
import type { Endpoint } from '../../core/context.js';

/** [start, end) of the URI inside one Contact value (name-addr or addr-spec, RFC 3261 §20.10). */
export function contactUriBounds(v: string): [number, number] | null {
  let i = 0;
  while (i < v.length && (v.charCodeAt(i) === 32 || v.charCodeAt(i) === 9)) i++;
  let quoted = false;
  if (v.charCodeAt(i) === 0x22 /* " */) {
    quoted = true;
    i++;
    while (i < v.length && v.charCodeAt(i) !== 0x22) i += v.charCodeAt(i) === 0x5c /* \ */ ? 2 : 1;
    if (i >= v.length) return null;
    i++;
  }
  const lt = v.indexOf('<', i);
  if (lt >= 0) {
    const gt = v.indexOf('>', lt + 1);
    return gt < 0 ? null : [lt + 1, gt];
  }
  if (quoted) return null; // a quoted display name needs <uri>
  const semi = v.indexOf(';', i);
  let end = semi < 0 ? v.length : semi;
  while (end > i && (v.charCodeAt(end - 1) === 32 || v.charCodeAt(end - 1) === 9)) end--;
  return end > i ? [i, end] : null;
}

export interface HostPort {
  /** [start, end) of the host (brackets included for IPv6). */
  hostStart: number;
  hostEnd: number;
  /** end of host[:port]. */
  end: number;
  host: string;
  /** undefined when the URI has no port. */
  port: number | undefined;
  /** where the URI parameters end (the `?` of the headers, or the end of the URI). */
  paramsEnd: number;
}

/** host[:port] of a sip/sips URI `uri` (RFC 3261 §19.1.1); null for other schemes or unreadable text. */
export function uriHostPort(uri: string): HostPort | null {
  const colon = uri.indexOf(':');
  if (colon <= 0) return null;
  const scheme = uri.slice(0, colon).toLowerCase();
  if (scheme !== 'sip' && scheme !== 'sips') return null;
  const q = uri.indexOf('?', colon);
  const paramsEnd = q < 0 ? uri.length : q;
  // the user part may hold ';' (user-params): the host starts after the last '@' before the headers
  const at = uri.lastIndexOf('@', paramsEnd - 1);
  const hostStart = at > colon ? at + 1 : colon + 1;
  let i = hostStart;
  if (uri.charCodeAt(i) === 0x5b /* [ */) {
    const close = uri.indexOf(']', i);
    if (close < 0 || close >= paramsEnd) return null;
    i = close + 1;
  } else {
    while (i < paramsEnd) {
      const c = uri.charCodeAt(i);
      if (c === 0x3a /* : */ || c === 0x3b /* ; */) break;
      if (c <= 32 || c === 0x3c || c === 0x3e || c === 0x22) return null;
      i++;
    }
  }
  const hostEnd = i;
  if (hostEnd === hostStart) return null;
  let port: number | undefined;
  if (uri.charCodeAt(i) === 0x3a) {
    let j = i + 1;
    let n = 0;
    while (j < paramsEnd && j - i <= 6) {
      const c = uri.charCodeAt(j);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
      j++;
    }
    if (j === i + 1 || j - i > 6 || n > 65535) return null;
    if (j < paramsEnd && uri.charCodeAt(j) !== 0x3b) return null;
    port = n;
    i = j;
  } else if (i < paramsEnd && uri.charCodeAt(i) !== 0x3b) return null;
  return { hostStart, hostEnd, end: i, host: uri.slice(hostStart, hostEnd), port, paramsEnd };
}

/** `ip` as a URI host: IPv6 in brackets. */
export function hostText(ip: string): string {
  return ip.includes(':') && ip.charCodeAt(0) !== 0x5b ? `[${ip}]` : ip;
}

/** `sip:ip:port` + `;transport=tcp` unless UDP: the source of a message as Kamailio writes it (received_avp, add_rcv_param). */
export function sourceUri(src: Endpoint): string {
  return `sip:${hostText(src.address)}:${src.port}${src.proto === 'udp' ? '' : `;transport=${src.proto}`}`;
}

/** the URI with its host:port replaced by `hostport`; null when it has none. */
export function replaceHostPort(uri: string, hostport: string): string | null {
  const hp = uriHostPort(uri);
  return hp === null ? null : uri.slice(0, hp.hostStart) + hostport + uri.slice(hp.end);
}

/**
 * Removes every `;name[=value]` from a `;`-separated parameter list s[from, to) (names compared
 * case-insensitively; quoted values kept whole). Returns the list without them.
 */
function withoutParam(s: string, from: number, to: number, name: string): string {
  let out = '';
  let i = from;
  while (i < to) {
    // s[i] is ';' (or the list's first character)
    let j = i + 1;
    let quoted = false;
    while (j < to) {
      const c = s.charCodeAt(j);
      if (c === 0x22) quoted = !quoted;
      else if (c === 0x5c && quoted) j++;
      else if (c === 0x3b && !quoted) break;
      j++;
    }
    if (j > to) j = to;
    const piece = s.slice(i, j);
    const eq = piece.indexOf('=');
    const pname = (eq < 0 ? piece.slice(1) : piece.slice(1, eq)).trim().toLowerCase();
    if (pname !== name) out += piece;
    i = j;
  }
  return out;
}

/** the URI with URI parameter `name` set to `value` (any previous one removed); null when unreadable. */
export function setUriParam(uri: string, name: string, value: string): string | null {
  const hp = uriHostPort(uri);
  if (hp === null) return null;
  const params = withoutParam(uri, hp.end, hp.paramsEnd, name);
  return uri.slice(0, hp.end) + params + `;${name}=${value}` + uri.slice(hp.paramsEnd);
}

/** value of URI parameter `name` (null for a flag parameter), undefined when absent. */
export function uriParam(uri: string, name: string): string | null | undefined {
  const hp = uriHostPort(uri);
  if (hp === null) return undefined;
  let found: string | null | undefined;
  let i = hp.end;
  while (i < hp.paramsEnd) {
    let j = uri.indexOf(';', i + 1);
    if (j < 0 || j > hp.paramsEnd) j = hp.paramsEnd;
    const piece = uri.slice(i + 1, j);
    const eq = piece.indexOf('=');
    if ((eq < 0 ? piece : piece.slice(0, eq)).trim().toLowerCase() === name) found = eq < 0 ? null : piece.slice(eq + 1).trim();
    i = j;
  }
  return found;
}

/** the URI without URI parameter `name`. */
export function removeUriParam(uri: string, name: string): string | null {
  const hp = uriHostPort(uri);
  if (hp === null) return null;
  return uri.slice(0, hp.end) + withoutParam(uri, hp.end, hp.paramsEnd, name) + uri.slice(hp.paramsEnd);
}

/** a Contact value with its URI transformed by `f`; null when the value or f's result is unreadable. */
export function mapContactUri(v: string, f: (uri: string) => string | null): string | null {
  const b = contactUriBounds(v);
  if (b === null) return null;
  const next = f(v.slice(b[0], b[1]));
  if (next === null) return null;
  // an addr-spec Contact gets brackets when its URI gains parameters (RFC 3261 §20.10: they would
  // otherwise read as header parameters)
  if (v.charCodeAt(b[0] - 1) !== 0x3c /* < */) return `${v.slice(0, b[0])}<${next}>${v.slice(b[1])}`;
  return v.slice(0, b[0]) + next + v.slice(b[1]);
}

/** a Contact value with header parameter `name` set to `value` (quoted), any previous one removed. */
export function setContactParam(v: string, name: string, value: string): string | null {
  const b = contactUriBounds(v);
  if (b === null) return null;
  const after = v.charCodeAt(b[1]) === 0x3e /* > */ ? b[1] + 1 : b[1];
  let end = v.length;
  while (end > after && (v.charCodeAt(end - 1) === 32 || v.charCodeAt(end - 1) === 9)) end--;
  const rest = withoutParam(v, after, end, name);
  return `${v.slice(0, after)}${rest};${name}="${value}"`;
}

/**
 * The top Via element with `rport=<source port>` and `received=<source address>` (RFC 3581 §4: what
 * a server fills in when rport is present; Kamailio force_rport() makes it so for a client that did
 * not ask). Previous rport/received parameters are replaced. Null when the text has no sent-by.
 */
export function viaWithRport(raw: string, src: Endpoint): string | null {
  const semi = raw.indexOf(';');
  const head = (semi < 0 ? raw : raw.slice(0, semi)).trimEnd();
  if (head.length === 0) return null;
  let params = semi < 0 ? '' : withoutParam(raw, semi, raw.length, 'rport');
  params = withoutParam(params, 0, params.length, 'received');
  return `${head}${params};received=${src.address};rport=${src.port}`;
}

/** Kamailio alias transport numbers (ip~port~proto): 1 UDP, 2 TCP, 3 TLS, 4 SCTP, 5 WS, 6 WSS. */
const ALIAS_PROTO: Readonly<Record<string, number>> = { udp: 1, tcp: 2, tls: 3, sctp: 4, ws: 5, wss: 6 };
const ALIAS_TRANSPORT = ['', 'udp', 'tcp', 'tls', 'sctp', 'ws', 'wss'];

/** `ip~port~proto` of a source (set_contact_alias). */
export function aliasOf(src: Endpoint): string {
  return `${src.address}~${src.port}~${ALIAS_PROTO[src.proto] ?? 1}`;
}

/**
 * An alias value `ip~port~proto` as the `$du` handle_ruri_alias() sets: `sip:ip:port[;transport=x]`.
 * Null unless ip is a numeric address, port 1-65535 and proto 1-6 (the sender wrote it: nothing
 * else is accepted).
 */
export function aliasToUri(alias: string, isIp: (s: string) => boolean): string | null {
  if (alias.length > 64) return null;
  const a = alias.split('~');
  if (a.length !== 3) return null;
  const [ip, portText, protoText] = a as [string, string, string];
  if (!isIp(ip) || !/^[0-9]{1,5}$/.test(portText) || !/^[1-6]$/.test(protoText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  const proto = ALIAS_TRANSPORT[Number(protoText)]!;
  return `sip:${hostText(ip)}:${port}${proto === 'udp' ? '' : `;transport=${proto}`}`;
}
