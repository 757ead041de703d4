/**
 * Kamailio dispatcher's hash (dispatch.c `ds_get_hash`), reproduced bit-exact so that
 * `dispatcher.hash` and the hash algorithms (0, 1, 2, 3, 5, 7) pick the same slot as Kamailio.
 *
 * The C code walks each key in 4-byte big-endian words v and adds `v ^ (v >> 3)` to h; the tail
 * (0..3 bytes) is packed the same way into one last word. Bytes are read as `char`, which is signed
 * on x86: a byte >= 0x80 contributes a negative, sign-extended value. The final mix is
 * `h = (h + (h >> 11)) + ((h >> 13) + (h >> 23))` in unsigned 32-bit arithmetic, and 0 becomes 1.
 */

/** signed char value of byte b (x86 `char`). */
function sc(b: number): number {
  return b >= 0x80 ? b - 0x100 : b;
}

function addKey(h: number, key: Uint8Array): number {
  const len = key.length;
  let p = 0;
  let v: number;
  for (; p + 4 <= len; p += 4) {
    // (*p << 24) + (p[1] << 16) + (p[2] << 8) + p[3], int arithmetic then stored unsigned
    v = ((sc(key[p]!) << 24) + (sc(key[p + 1]!) << 16) + (sc(key[p + 2]!) << 8) + sc(key[p + 3]!)) >>> 0;
    h = (h + ((v ^ (v >>> 3)) >>> 0)) >>> 0;
  }
  v = 0;
  for (; p < len; p++) {
    v = ((v << 8) + sc(key[p]!)) >>> 0;
  }
  h = (h + ((v ^ (v >>> 3)) >>> 0)) >>> 0;
  return h;
}

const encoder = new TextEncoder();

function bytes(x: string | Uint8Array): Uint8Array {
  return typeof x === 'string' ? encoder.encode(x) : x;
}

/**
 * The hash of one or two keys (UTF-8 when given as strings). `undefined` keys are skipped, as a
 * NULL `str` is in Kamailio. Returns an unsigned 32-bit value, never 0.
 */
export function dsHash(x: string | Uint8Array | undefined, y?: string | Uint8Array): number {
  if (x === undefined && y === undefined) return 0;
  let h = 0;
  if (x !== undefined) h = addKey(h, bytes(x));
  if (y !== undefined) h = addKey(h, bytes(y));
  h = ((h + (h >>> 11)) + ((h >>> 13) + (h >>> 23))) >>> 0;
  return h === 0 ? 1 : h;
}

/** The parts of a SIP URI the dispatcher hashes (user, host, port text as written). */
export interface UriHashParts {
  scheme: string;
  user: string | undefined;
  host: string;
  /** port digits exactly as written, when present. */
  portText: string | undefined;
}

/**
 * Splits `sip:user:pw@host:port;params?headers` (also `sips:`, `tel:`) into the pieces the hash
 * uses, without unescaping: Kamailio hashes the raw text. Returns null when no host can be found.
 */
export function uriHashParts(uriText: string): UriHashParts | null {
  let s = uriText.trim();
  if (s.startsWith('<')) s = s.slice(1, s.indexOf('>') < 0 ? undefined : s.indexOf('>'));
  const colon = s.indexOf(':');
  if (colon <= 0) return null;
  const scheme = s.slice(0, colon).toLowerCase();
  let rest = s.slice(colon + 1);
  // cut URI parameters and headers (RFC 3261 §19.1.1): ';' or '?' after the host part
  const at = rest.lastIndexOf('@', endOfHostPart(rest));
  let user: string | undefined;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const pw = userinfo.indexOf(':');
    user = pw >= 0 ? userinfo.slice(0, pw) : userinfo;
    rest = rest.slice(at + 1);
  }
  let end = rest.length;
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c === 0x3b /* ; */ || c === 0x3f /* ? */ || c === 0x3e /* > */) {
      end = i;
      break;
    }
  }
  const hostport = rest.slice(0, end);
  let host: string;
  let portText: string | undefined;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) return null;
    host = hostport.slice(0, close + 1);
    if (hostport.charCodeAt(close + 1) === 0x3a) portText = hostport.slice(close + 2);
  } else {
    const pc = hostport.lastIndexOf(':');
    if (pc >= 0) {
      host = hostport.slice(0, pc);
      portText = hostport.slice(pc + 1);
    } else host = hostport;
  }
  if (host.length === 0) return null;
  if (portText !== undefined && !/^[0-9]+$/.test(portText)) return null;
  return { scheme, user, host, portText };
}

function endOfHostPart(rest: string): number {
  // the '@' of the userinfo comes before any ';' or '?' of the host part; user parts may contain ';'
  // (RFC 3261 user-unreserved), so search '@' in the whole text up to '?' or '>'.
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c === 0x3f || c === 0x3e) return i;
  }
  return rest.length;
}

/**
 * Kamailio `get_uri_hash_keys`: key1 = user ("" when absent), key2 = host plus `:port` when a port
 * is written and differs from 5060 (5061 for sips:). With `userOnly` (module `flags` bit 1) key2 is
 * left out.
 */
export function uriHashKeys(parts: UriHashParts, userOnly: boolean): [string, string | undefined] {
  const key1 = parts.user ?? '';
  if (userOnly) return [key1, undefined];
  let key2 = parts.host;
  if (parts.portText !== undefined) {
    const defaultPort = parts.scheme === 'sips' ? 5061 : 5060;
    if (Number(parts.portText) !== defaultPort) key2 += ':' + parts.portText;
  }
  return [key1, key2];
}

/** Hash of a URI per the rules above; null when the URI has no host. */
export function dsHashUri(uriText: string, userOnly: boolean): number | null {
  const parts = uriHashParts(uriText);
  if (!parts) return null;
  const [k1, k2] = uriHashKeys(parts, userOnly);
  return dsHash(k1, k2);
}
