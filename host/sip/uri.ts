/**
 * SIP, SIPS and TEL URIs (RFC 3261 §19.1, §25.1; RFC 3966).
 *
 *   SIP-URI = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
 *   userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
 *
 * The user part may hold ";", "?" and "/" unescaped (user-unreserved), so the userinfo is cut at the
 * first "@" before hostport, parameters and headers are looked for (RFC 4475 §3.1.1.2 intmeth,
 * §3.1.1.9 semiuri). Values are returned unescaped; `raw` keeps the text as received.
 */
import type { SipUri, UriScheme } from './types.js';
import {
  CHAR, DIGIT, HEX, HNV_EXTRA, HOST, PARAM_EXTRA, PASS_EXTRA, UNRESERVED, USER_EXTRA,
  escapePercent, unescapePercent,
} from './chars.js';

/**
 * The scheme of an absolute URI, lower-cased, or null when `text` does not start with a syntactically
 * valid scheme (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"`, RFC 3986 §3.1).
 */
export function uriScheme(text: string): string | null {
  // fast path without allocating for the schemes that matter
  const c0 = text.charCodeAt(0) | 0x20;
  if (c0 === 115 /* s */ && (text.charCodeAt(1) | 0x20) === 105 && (text.charCodeAt(2) | 0x20) === 112) {
    const c3 = text.charCodeAt(3);
    if (c3 === 58) return 'sip';
    if ((c3 | 0x20) === 115 && text.charCodeAt(4) === 58) return 'sips';
  } else if (c0 === 116 /* t */ && (text.charCodeAt(1) | 0x20) === 101 && (text.charCodeAt(2) | 0x20) === 108 && text.charCodeAt(3) === 58) {
    return 'tel';
  }
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  if (c0 < 97 || c0 > 122) return null;
  for (let i = 1; i < colon; i++) {
    const c = text.charCodeAt(i);
    const alnum = (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 122);
    if (!alnum && c !== 43 && c !== 45 && c !== 46) return null;
  }
  return text.slice(0, colon).toLowerCase();
}

/** Checks that every char of s[from,to) is in `allowed` or a well-formed %HH escape. */
function allChars(s: string, from: number, to: number, allowed: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 /* % */) {
      if (i + 2 >= to || (CHAR[s.charCodeAt(i + 1)]! & HEX) === 0 || (CHAR[s.charCodeAt(i + 2)]! & HEX) === 0) return false;
      i += 2;
    } else if (c > 127 || (CHAR[c]! & allowed) === 0) {
      return false;
    }
  }
  return true;
}

const USER_CHARS = UNRESERVED | USER_EXTRA;
const PASS_CHARS = UNRESERVED | PASS_EXTRA;
const PARAM_CHARS = UNRESERVED | PARAM_EXTRA;
const HNV_CHARS = UNRESERVED | HNV_EXTRA;

export const HOSTPORT_BAD = -2;

/**
 * Checks host[:port] in s[from,to) without allocating: the port, -1 when absent, or HOSTPORT_BAD.
 */
export function scanHostPort(s: string, from: number, to: number): number {
  if (from >= to) return HOSTPORT_BAD;
  let i: number;
  if (s.charCodeAt(from) === 91 /* [ */) {
    i = from + 1;
    while (i < to) {
      const c = s.charCodeAt(i);
      if (c === 93 /* ] */) break;
      if (c > 127 || ((CHAR[c]! & HEX) === 0 && c !== 58 && c !== 46)) return HOSTPORT_BAD;
      i++;
    }
    if (i >= to || i === from + 1) return HOSTPORT_BAD;
    i++;
  } else {
    i = from;
    while (i < to) {
      const c = s.charCodeAt(i);
      if (c === 58) break;
      if (c > 127 || (CHAR[c]! & HOST) === 0) return HOSTPORT_BAD;
      i++;
    }
    if (i === from) return HOSTPORT_BAD;
  }
  if (i === to) return -1;
  if (s.charCodeAt(i) !== 58 || i + 1 === to || to - i - 1 > 5) return HOSTPORT_BAD;
  let port = 0;
  for (i++; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return HOSTPORT_BAD;
    port = port * 10 + (c - 48);
  }
  return port > 65535 ? HOSTPORT_BAD : port;
}

/**
 * Parses the host[:port] in s[from,to). Returns [host, port|-1] or null.
 * host = hostname / IPv4address / IPv6reference (RFC 3261 §25.1).
 */
export function parseHostPort(s: string, from: number, to: number): [string, number] | null {
  if (from >= to) return null;
  let hostEnd: number;
  let i: number;
  if (s.charCodeAt(from) === 91 /* [ */) {
    const close = s.indexOf(']', from);
    if (close < 0 || close >= to) return null;
    for (let k = from + 1; k < close; k++) {
      const c = s.charCodeAt(k);
      if ((CHAR[c]! & HEX) === 0 && c !== 58 /* : */ && c !== 46 /* . */) return null;
    }
    if (close === from + 1) return null;
    hostEnd = close + 1;
    i = hostEnd;
  } else {
    i = from;
    while (i < to && s.charCodeAt(i) !== 58) {
      const c = s.charCodeAt(i);
      if (c > 127 || (CHAR[c]! & HOST) === 0) return null;
      i++;
    }
    hostEnd = i;
    if (hostEnd === from) return null;
  }
  let port = -1;
  if (i < to) {
    if (s.charCodeAt(i) !== 58) return null;
    i++;
    if (i === to || to - i > 5) return null;
    port = 0;
    for (; i < to; i++) {
      const c = s.charCodeAt(i);
      if ((CHAR[c]! & DIGIT) === 0 || c > 127) return null;
      port = port * 10 + (c - 48);
    }
    if (port > 65535) return null;
  }
  return [s.slice(from, hostEnd), port];
}

/** Parses `;name[=value]` parameters in s[from,to) into `out`. Returns false on a syntax error. */
function parseUriParams(s: string, from: number, to: number, out: Array<[string, string | null]> | null): boolean {
  let i = from;
  while (i < to) {
    // s[i] is ';'
    let end = s.indexOf(';', i + 1);
    if (end < 0 || end > to) end = to;
    // '=' looked for within this parameter only: an indexOf to the end of the URI for each of
    // thousands of ";a" parameters would be quadratic
    let eq = i + 1;
    while (eq < end && s.charCodeAt(eq) !== 61 /* = */) eq++;
    const hasValue = eq < end;
    const nameEnd = hasValue ? eq : end;
    if (nameEnd === i + 1) return false; // empty parameter name (";;" or ";=x")
    if (!allChars(s, i + 1, nameEnd, PARAM_CHARS)) return false;
    if (hasValue && !allChars(s, eq + 1, end, PARAM_CHARS)) return false;
    if (out !== null) {
      // allChars() has checked every escape, so unescapePercent cannot fail here
      const name = unescapePercent(s.slice(i + 1, nameEnd))!;
      const value = hasValue ? unescapePercent(s.slice(eq + 1, end))! : null;
      out.push([lowerAscii(name), value]);
    }
    i = end;
  }
  return true;
}

/** Parses `?h=v&h=v` URI headers in s[from,to) (from points at '?'). */
function parseUriHeaders(s: string, from: number, to: number, out: Array<[string, string]>): boolean {
  let i = from + 1;
  if (i >= to) return false;
  while (i < to) {
    let end = s.indexOf('&', i);
    if (end < 0 || end > to) end = to;
    const eq = s.indexOf('=', i);
    if (eq < 0 || eq >= end || eq === i) return false;
    if (!allChars(s, i, eq, HNV_CHARS) || !allChars(s, eq + 1, end, HNV_CHARS)) return false;
    const name = unescapePercent(s.slice(i, eq));
    const value = unescapePercent(s.slice(eq + 1, end));
    if (name === null || value === null) return false;
    out.push([name, value]);
    i = end + 1;
    if (end < to && i >= to) return false; // trailing '&'
  }
  return true;
}

/** Lower-cases ASCII letters, without allocating when there are none to change. */
export function lowerAscii(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return s.toLowerCase();
  }
  return s;
}

/** Parses a sip:, sips: or tel: URI. Returns null for any other scheme or a syntax error. */
export function parseUri(text: string): SipUri | null {
  const scheme = uriScheme(text);
  if (scheme === 'sip' || scheme === 'sips') return parseSipUri(text, scheme, true);
  if (scheme === 'tel') return parseTelUri(text);
  return null;
}

const VALID: SipUri = Object.freeze({ scheme: 'sip', host: '', params: [], headers: [], raw: '' }) as SipUri;

/** Same checks as parseUri() without building the result (the parser's validation path). */
export function isValidUri(text: string, scheme: string): boolean {
  if (scheme === 'sip' || scheme === 'sips') return parseSipUri(text, scheme, false) !== null;
  if (scheme === 'tel') return parseTelUri(text) !== null;
  return false;
}

function parseSipUri(text: string, scheme: UriScheme, build: boolean): SipUri | null {
  const start = scheme.length + 1;
  const len = text.length;
  let user: string | undefined;
  let password: string | undefined;
  let hostStart = start;
  const at = text.indexOf('@', start);
  if (at >= 0) {
    if (at === start) return null; // "sip:@host"
    const colon = text.indexOf(':', start);
    const userEnd = colon >= 0 && colon < at ? colon : at;
    if (!allChars(text, start, userEnd, USER_CHARS)) return null;
    if (userEnd < at && !allChars(text, userEnd + 1, at, PASS_CHARS)) return null;
    if (build) {
      user = unescapePercent(text.slice(start, userEnd))!;
      if (userEnd < at) password = unescapePercent(text.slice(userEnd + 1, at))!;
    }
    hostStart = at + 1;
  }
  // hostport ends at ';' (parameters) or '?' (headers); an IPv6 reference holds ':' but neither.
  let hpEnd = hostStart;
  while (hpEnd < len) {
    const c = text.charCodeAt(hpEnd);
    if (c === 59 /* ; */ || c === 63 /* ? */) break;
    hpEnd++;
  }
  const port = scanHostPort(text, hostStart, hpEnd);
  if (port === HOSTPORT_BAD) return null;
  const params: Array<[string, string | null]> | null = build ? [] : null;
  const headers: Array<[string, string]> = [];
  let qm = text.indexOf('?', hpEnd);
  if (qm < 0) qm = len;
  if (hpEnd < qm && !parseUriParams(text, hpEnd, qm, params)) return null;
  if (qm < len && !parseUriHeaders(text, qm, len, headers)) return null;
  if (!build) return VALID;
  // one object shape for every URI (absent parts are undefined), which keeps property access monomorphic
  return {
    scheme,
    user,
    password,
    host: text.slice(hostStart, port >= 0 ? text.lastIndexOf(':', hpEnd) : hpEnd),
    port: port >= 0 ? port : undefined,
    params: params!,
    headers,
    raw: text,
  };
}

/**
 * tel: URIs (RFC 3966 §3): `tel:` telephone-subscriber *(";" par). The number goes to `user`;
 * `host` is empty.
 */
function parseTelUri(text: string): SipUri | null {
  const start = 4;
  const len = text.length;
  let end = text.indexOf(';', start);
  if (end < 0) end = len;
  if (end === start) return null;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    // global-number-digits / local-number-digits: digits, hex digits, visual separators, * # +
    if (c > 127 || ((CHAR[c]! & (HEX | DIGIT)) === 0 && c !== 43 && c !== 45 && c !== 46 && c !== 40 && c !== 41 && c !== 42 && c !== 35)) return null;
  }
  const params: Array<[string, string | null]> = [];
  if (end < len && !parseUriParams(text, end, len, params)) return null;
  return { scheme: 'tel', user: text.slice(start, end), password: undefined, host: '', port: undefined, params, headers: [], raw: text };
}

/** Writes a URI from its parts, %-escaping what the grammar does not allow unescaped. */
export function formatUri(uri: SipUri): string {
  let out = `${uri.scheme}:`;
  if (uri.scheme === 'tel') {
    out += uri.user ?? '';
  } else {
    if (uri.user !== undefined) {
      out += escapePercent(uri.user, USER_CHARS);
      if (uri.password !== undefined) out += `:${escapePercent(uri.password, PASS_CHARS)}`;
      out += '@';
    }
    out += uri.host;
    if (uri.port !== undefined) out += `:${uri.port}`;
  }
  for (const [name, value] of uri.params) {
    out += `;${escapePercent(name, PARAM_CHARS)}`;
    if (value !== null) out += `=${escapePercent(value, PARAM_CHARS)}`;
  }
  for (let i = 0; i < uri.headers.length; i++) {
    const [name, value] = uri.headers[i]!;
    out += `${i === 0 ? '?' : '&'}${escapePercent(name, HNV_CHARS)}=${escapePercent(value, HNV_CHARS)}`;
  }
  return out;
}
