/**
 * What secfilter looks at in From/To/Contact: the display name, the URI user and the URI host
 * (Kamailio secfilter uses parse_from_header/parse_to/parse_contact, then parse_uri). These helpers
 * take the header value as text (RFC 3261 §20.10 name-addr / addr-spec, §25.1 quoted-string), or an
 * already parsed NameAddr from the SIP parser.
 */
import type { NameAddr } from '../../sip/types.js';

export interface HeaderParts {
  /** display name, surrounding quotes removed and quoted-pairs resolved; undefined when absent or empty. */
  name?: string;
  /** URI user part as written (no password); undefined when the URI has none. */
  user?: string;
  /** URI host as written (IPv6 references keep their brackets); undefined when absent. */
  host?: string;
}

const EMPTY: HeaderParts = Object.freeze({});

/** ASCII case-insensitive test that `s` has `scheme` followed by ':' at `colon`. */
function isScheme(s: string, colon: number, scheme: string): boolean {
  if (colon !== scheme.length) return false;
  for (let i = 0; i < colon; i++) if ((s.charCodeAt(i) | 0x20) !== scheme.charCodeAt(i)) return false;
  return true;
}

/** user and host of a sip:/sips:/tel: URI (RFC 3261 §19.1.1, RFC 3966); other schemes have neither. */
export function uriUserHost(uri: string, out: HeaderParts): void {
  const colon = uri.indexOf(':');
  if (colon < 0) return;
  if (isScheme(uri, colon, 'tel')) {
    const n = uri.slice(colon + 1, indexOfDelimiter(uri, colon + 1, false));
    if (n) out.user = n;
    return;
  }
  if (!isScheme(uri, colon, 'sip') && !isScheme(uri, colon, 'sips')) return;
  const start = colon + 1;
  const q = uri.indexOf('?', start);
  let at = uri.indexOf('@', start);
  if (q >= 0 && at > q) at = -1;
  let hostStart = start;
  if (at >= 0) {
    const pw = uri.indexOf(':', start);
    const user = uri.slice(start, pw >= 0 && pw < at ? pw : at);
    if (user) out.user = user;
    hostStart = at + 1;
  }
  let hostEnd: number;
  if (uri.charCodeAt(hostStart) === 0x5b /* [ */) {
    const close = uri.indexOf(']', hostStart);
    hostEnd = close < 0 ? uri.length : close + 1;
  } else {
    hostEnd = indexOfDelimiter(uri, hostStart, true);
  }
  const host = uri.slice(hostStart, hostEnd).trim();
  if (host) out.host = host;
}

/** first ';', '?', '>' (and ':' when `port`) at or after `from`, else the length. */
function indexOfDelimiter(s: string, from: number, port: boolean): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x3b || c === 0x3f || c === 0x3e || (port && c === 0x3a)) return i;
  }
  return s.length;
}

/** end of an addr-spec: first ';', space or tab. */
function addrSpecEnd(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x3b || c === 0x20 || c === 0x09) return i;
  }
  return s.length;
}

/**
 * Splits a From/To/Contact value into display name, user and host. Returns null when the value is
 * malformed (unterminated quote or '<' without '>'); Kamailio answers -1 in that case.
 * `*` (Contact wildcard) and URIs without user give parts without user.
 */
export function parseHeaderParts(value: string): HeaderParts | null {
  let i = 0;
  const n = value.length;
  while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  if (i >= n) return null;
  if (value[i] === '*') return EMPTY;
  const out: HeaderParts = {};
  let uri: string;
  if (value[i] === '"') {
    // quoted-string display name (RFC 3261 §25.1): "\" escapes the next character
    let j = i + 1;
    let escaped = false;
    for (; j < n; j++) {
      const c = value.charCodeAt(j);
      if (c === 0x5c /* \\ */) {
        escaped = true;
        j++;
      } else if (c === 0x22 /* " */) break;
    }
    if (j >= n) return null;
    let name = value.slice(i + 1, j);
    if (escaped) name = name.replace(/\\(.)/gs, '$1');
    name = name.trim();
    if (name) out.name = name;
    const lt = value.indexOf('<', j + 1);
    if (lt < 0) return null;
    const gt = value.indexOf('>', lt + 1);
    if (gt < 0) return null;
    uri = value.slice(lt + 1, gt);
  } else {
    const lt = value.indexOf('<', i);
    if (lt >= 0) {
      const gt = value.indexOf('>', lt + 1);
      if (gt < 0) return null;
      const name = value.slice(i, lt).trim();
      if (name) out.name = name;
      uri = value.slice(lt + 1, gt);
    } else {
      // addr-spec form: parameters after ';' belong to the header, not to the URI (RFC 3261 §20.10)
      uri = value.slice(i, addrSpecEnd(value, i));
    }
  }
  uriUserHost(uri.trim(), out);
  return out;
}

/** the same parts from a NameAddr of the SIP parser (display name already unquoted). */
export function partsFromNameAddr(na: NameAddr): HeaderParts {
  if (na.star) return EMPTY;
  const out: HeaderParts = {};
  const name = na.displayName?.trim();
  if (name) out.name = name;
  uriUserHost(na.uri.trim(), out);
  return out;
}
