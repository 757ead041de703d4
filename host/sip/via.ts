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

const TRANSPORTS = ['UDP', 'TCP', 'TLS', 'SCTP', 'WS', 'WSS'] as const;

/** The transport token s[from,to) as one of the interned TRANSPORTS (any case), or undefined. */
function knownTransport(s: string, from: number, to: number): string | undefined {
  const len = to - from;
  for (let t = 0; t < TRANSPORTS.length; t++) {
    const name = TRANSPORTS[t]!;
    if (name.length !== len) continue;
    let k = 0;
    while (k < len && (s.charCodeAt(from + k) & 0xdf) === name.charCodeAt(k)) k++;
    if (k === len) return name;
  }
  return undefined;
}

/** "SIP/2.0/" + transport, interned for the usual transports. */
function sip20Protocol(transport: string): string {
  switch (transport) {
    case 'UDP': return 'SIP/2.0/UDP';
    case 'TCP': return 'SIP/2.0/TCP';
    case 'TLS': return 'SIP/2.0/TLS';
    case 'SCTP': return 'SIP/2.0/SCTP';
    case 'WS': return 'SIP/2.0/WS';
    case 'WSS': return 'SIP/2.0/WSS';
    default: return `SIP/2.0/${transport}`;
  }
}

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
  const nameEnd = i;
  i = skipWs(text, i, end);
  if (text.charCodeAt(i) !== 47 /* / */) return null;
  i = skipWs(text, i + 1, end);
  const versionStart = i;
  i = readToken(text, i, end);
  if (i === versionStart) return null;
  const versionEnd = i;
  i = skipWs(text, i, end);
  if (text.charCodeAt(i) !== 47) return null;
  i = skipWs(text, i + 1, end);
  const transportStart = i;
  i = readToken(text, i, end);
  if (i === transportStart) return null;
  // the usual "SIP/2.0/<known transport>" is recognised in place: no slices, interned strings
  const transport = knownTransport(text, transportStart, i) ?? upperAscii(text.slice(transportStart, i));
  const sip20 = nameEnd - nameStart === 3 && versionEnd - versionStart === 3
    && text.startsWith('SIP', nameStart) && text.startsWith('2.0', versionStart);
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
    port = 0;
    for (let d = ps; d < i; d++) port = port * 10 + (text.charCodeAt(d) - 48);
    if (port > 65535) return null;
  }
  if (scanHostPort(text, hostStart, hostEnd) !== -1) return null;

  const params: Array<[string, string | null]> = [];
  if (parseParams(text, i, end, params, lenient) === PARAMS_BAD) return null;

  // one object shape for every Via (absent parts are undefined)
  const via: Via = {
    protocol: sip20
      ? sip20Protocol(transport)
      : `${text.slice(nameStart, nameEnd)}/${text.slice(versionStart, versionEnd)}/${transport}`,
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
    const param = params[k]!;
    const pname = param[0];
    const pvalue = param[1];
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
