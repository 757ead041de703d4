/**
 * Via entries (RFC 3261 §20.42, §25.1; RFC 3581 rport):
 *
 *   via-parm      = sent-protocol LWS sent-by *( SEMI via-params )
 *   sent-protocol = protocol-name SLASH protocol-version SLASH transport   (SLASH = SWS "/" SWS)
 *   sent-by       = host [ COLON port ]
 *
 * LWS is allowed around the slashes, the colon and the parameter separators (RFC 4475 §3.1.1.1
 * wsinv). `protocol` is returned normalised ("SIP/2.0/UDP") and `raw` is the element as written.
 */
import type { Via } from './types.js';
import { CHAR, DIGIT, TOKEN } from './chars.js';
import { PARAMS_BAD, parseParams, skipWs } from './params.js';
import { scanHostPort } from './uri.js';

const PROTOCOLS: Record<string, string> = {
  UDP: 'SIP/2.0/UDP', TCP: 'SIP/2.0/TCP', TLS: 'SIP/2.0/TLS', SCTP: 'SIP/2.0/SCTP', WS: 'SIP/2.0/WS', WSS: 'SIP/2.0/WSS',
};

function isWsCode(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10;
}

function upperAscii(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 97 && c <= 122) return s.toUpperCase();
  }
  return s;
}

function readToken(s: string, i: number, end: number): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c > 255 || (CHAR[c]! & TOKEN) === 0) break;
    i++;
  }
  return i;
}

function parseDigits(v: string): number {
  if (v.length === 0 || v.length > 10) return -1;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c > 127 || (CHAR[c]! & DIGIT) === 0) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

/**
 * Parses one Via element (not a comma-separated list). `lenient` tolerates empty parameters, so a
 * reply can still be routed for a request whose Via is only slightly broken (RFC 4475 §3.1.2.1).
 */
export function parseVia(text: string, lenient = false): Via | null {
  const end = text.length;
  let i = skipWs(text, 0, end);
  const nameStart = i;
  i = readToken(text, i, end);
  if (i === nameStart) return null;
  const name = text.slice(nameStart, i);
  i = skipWs(text, i, end);
  if (text.charCodeAt(i) !== 47 /* / */) return null;
  i = skipWs(text, i + 1, end);
  const versionStart = i;
  i = readToken(text, i, end);
  if (i === versionStart) return null;
  const version = text.slice(versionStart, i);
  i = skipWs(text, i, end);
  if (text.charCodeAt(i) !== 47) return null;
  i = skipWs(text, i + 1, end);
  const transportStart = i;
  i = readToken(text, i, end);
  if (i === transportStart) return null;
  const transport = upperAscii(text.slice(transportStart, i));
  const afterTransport = i;
  i = skipWs(text, i, end);
  if (i === afterTransport || i >= end) return null; // LWS sent-by

  // sent-by: host [ COLON port ], LWS allowed around the colon
  const hostStart = i;
  let hostEnd: number;
  if (text.charCodeAt(i) === 91 /* [ */) {
    const close = text.indexOf(']', i);
    if (close < 0) return null;
    hostEnd = close + 1;
  } else {
    hostEnd = i;
    while (hostEnd < end) {
      const c = text.charCodeAt(hostEnd);
      if (c === 58 || c === 59 || c === 32 || c === 9 || c === 13 || c === 10) break;
      hostEnd++;
    }
  }
  i = skipWs(text, hostEnd, end);
  let port = -1;
  if (i < end && text.charCodeAt(i) === 58 /* : */) {
    i = skipWs(text, i + 1, end);
    const ps = i;
    while (i < end && text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
    if (i === ps || i - ps > 5) return null;
    port = Number(text.slice(ps, i));
    if (port > 65535) return null;
  }
  if (scanHostPort(text, hostStart, hostEnd) !== -1) return null;

  const params: Array<[string, string | null]> = [];
  if (parseParams(text, i, end, params, lenient) === PARAMS_BAD) return null;

  // one object shape for every Via (absent parts are undefined)
  const via: Via = {
    protocol: name === 'SIP' && version === '2.0' ? PROTOCOLS[transport] ?? `SIP/2.0/${transport}` : `${name}/${version}/${transport}`,
    transport,
    host: text.slice(hostStart, hostEnd),
    port: port >= 0 ? port : undefined,
    params,
    branch: undefined,
    received: undefined,
    rport: undefined,
    maddr: undefined,
    ttl: undefined,
    raw: nameStart === 0 && !isWsCode(text.charCodeAt(end - 1)) ? text : text.trim(),
  };
  for (let k = 0; k < params.length; k++) {
    const [pname, pvalue] = params[k]!;
    switch (pname) {
      case 'branch':
        if (pvalue === null || pvalue.length === 0) { if (!lenient) return null; break; }
        via.branch = pvalue;
        break;
      case 'received':
        if (pvalue === null || pvalue.length === 0) { if (!lenient) return null; break; }
        via.received = pvalue;
        break;
      case 'maddr':
        if (pvalue === null || pvalue.length === 0) { if (!lenient) return null; break; }
        via.maddr = pvalue;
        break;
      case 'rport': {
        // RFC 3581 §3: "rport" without value in requests, "rport=port" once filled in.
        if (pvalue === null) { via.rport = null; break; }
        const n = parseDigits(pvalue);
        if (n < 0 || n > 65535) { if (!lenient) return null; break; }
        via.rport = n;
        break;
      }
      case 'ttl': {
        const n = pvalue === null ? -1 : parseDigits(pvalue);
        if (n < 0 || n > 255) { if (!lenient) return null; break; }
        via.ttl = n;
        break;
      }
      default:
        break;
    }
  }
  return via;
}
