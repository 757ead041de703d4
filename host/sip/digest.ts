/**
 * Digest credentials (Authorization / Proxy-Authorization values): RFC 3261 §25.1 `credentials`,
 * RFC 7616 §3.4 (the HTTP digest response these carry), RFC 8760 (SHA-256 in SIP).
 *
 *   credentials     = "Digest" LWS digest-response
 *   digest-response = dig-resp *(COMMA dig-resp)
 *   dig-resp        = token EQUAL ( token / quoted-string )
 *
 * One left-to-right pass, every length bounded (DIGEST_LIMITS): the header, the number of
 * parameters, each value. A parameter given twice makes the whole header invalid (RFC 7616 §3.4:
 * each directive at most once; taking the first or the last one would let two parsers that
 * disagree see different realms or usernames). Unknown parameters are skipped (RFC 7616 §3.4).
 */

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';

export const DIGEST_LIMITS = Object.freeze({
  /** longest credentials header value considered (Kamailio AUTH_HDR_MAX_SIZE is 8 KiB). */
  maxHeaderLength: 4096,
  /** most parameters in one header. */
  maxParams: 32,
  /** longest username / realm (the subscriber table's columns are VARCHAR(64); 128 for user@domain). */
  maxName: 128,
  /** longest digest-uri (a Request-URI with parameters). */
  maxUri: 1024,
  /** longest nonce / cnonce / opaque. */
  maxNonce: 256,
  /** longest response (SHA-512 hex would be 128). */
  maxResponse: 128,
  /** longest value of any other (skipped) parameter. */
  maxOther: 256,
  /** most Authorization + Proxy-Authorization headers looked at in one request. */
  maxHeaders: 8,
});

export interface DigestCredentials {
  /** which header it came from: 'www' = Authorization, 'proxy' = Proxy-Authorization. */
  readonly hdr: 'www' | 'proxy';
  /** position among that header's fields (for consume_credentials). */
  readonly index: number;
  /** the username parameter as sent ($aU). */
  readonly username: string;
  /** the user part: username up to the first '@' ($au). */
  readonly user: string;
  /** the part after '@' when the username has one ($ad), else null. */
  readonly domain: string | null;
  readonly realm: string;
  readonly nonce: string | null;
  /** digest-uri ($adu). */
  readonly uri: string | null;
  readonly response: string | null;
  /** the algorithm parameter as sent; null when absent (which means MD5, RFC 7616 §3.3). */
  readonly algorithmText: string | null;
  /** the algorithm we know it as; null for one we do not support. */
  readonly algorithm: DigestAlgorithm | null;
  readonly cnonce: string | null;
  readonly opaque: string | null;
  /** qop as sent (lower-cased), null when absent. */
  readonly qop: string | null;
  /** nonce-count as sent (8 hex digits when well formed), null when absent. */
  readonly nc: string | null;
  /** RFC 7616 §3.4.4 userhash=true (not supported: the username is then a hash). */
  readonly userhash: boolean;
}

/**
 * What a request's authentication left on its context (MessageContext.auth; host/modules/auth): the credentials
 * findCredentials chose ("marked", Kamailio mark_authorized_cred) and whether verify accepted them.
 * `$au $ad $aU $ar $adu $aa` read `cred`; consume_credentials() removes its header; a challenge
 * adds `stale=true` when `stale` is set (Kamailio: the marked credentials carried a stale nonce).
 */
export interface DigestAuthState {
  cred: DigestCredentials | null;
  /** verify() answered AUTH_OK for `cred`. */
  authorized: boolean;
  /** the nonce of `cred` was valid but expired / its state lost: the next challenge says stale=true. */
  stale: boolean;
  /** consume_credentials() removed the header of `cred`. */
  consumed?: boolean;
}

const ALGORITHMS: ReadonlyMap<string, DigestAlgorithm> = new Map<string, DigestAlgorithm>([
  ['md5', 'MD5'], ['md5-sess', 'MD5-sess'], ['sha-256', 'SHA-256'], ['sha-256-sess', 'SHA-256-sess'],
]);

/** RFC 3261 §25.1 token characters. */
function isTokenChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) ||
    c === 0x2d || c === 0x2e || c === 0x21 || c === 0x25 || c === 0x2a || c === 0x5f ||
    c === 0x2b || c === 0x60 || c === 0x27 || c === 0x7e
  );
}

const isWs = (c: number): boolean => c === 0x20 || c === 0x09;

/** the content of a quoted-string with its quoted-pairs resolved; null for a CTL after a backslash. */
function unescape(raw: string): string | null {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    let c = raw.charCodeAt(i);
    if (c === 0x5c) c = raw.charCodeAt(++i);
    if (c < 0x20 && c !== 0x09) return null;
    out += String.fromCharCode(c);
  }
  return out;
}

/** the bound of one parameter's value. */
function maxFor(name: string): number {
  switch (name) {
    case 'username': case 'realm': return DIGEST_LIMITS.maxName;
    case 'uri': return DIGEST_LIMITS.maxUri;
    case 'nonce': case 'cnonce': case 'opaque': return DIGEST_LIMITS.maxNonce;
    case 'response': return DIGEST_LIMITS.maxResponse;
    default: return DIGEST_LIMITS.maxOther;
  }
}

/**
 * Parses one credentials header value; null when it is not Digest, is malformed, exceeds a
 * bound, repeats a parameter, or lacks a username or realm.
 */
export function parseDigestCredentials(value: string, hdr: 'www' | 'proxy' = 'www', index = 0): DigestCredentials | null {
  const n = value.length;
  if (n > DIGEST_LIMITS.maxHeaderLength) return null;
  let i = 0;
  while (i < n && isWs(value.charCodeAt(i))) i++;
  if (n - i < 7 || value.slice(i, i + 6).toLowerCase() !== 'digest' || !isWs(value.charCodeAt(i + 6))) return null;
  i += 7;
  const params = new Map<string, string>();
  for (;;) {
    while (i < n && isWs(value.charCodeAt(i))) i++;
    if (i >= n) break;
    // name
    const nameStart = i;
    while (i < n && isTokenChar(value.charCodeAt(i))) i++;
    if (i === nameStart || i - nameStart > 32) return null;
    const name = value.slice(nameStart, i).toLowerCase();
    while (i < n && isWs(value.charCodeAt(i))) i++;
    if (value.charCodeAt(i) !== 0x3d /* = */) return null;
    i++;
    while (i < n && isWs(value.charCodeAt(i))) i++;
    const max = maxFor(name);
    let v: string | null;
    if (value.charCodeAt(i) === 0x22 /* " */) {
      // one scan to the closing quote; a quoted-pair (\x) is unescaped only when there is one
      const start = ++i;
      let escaped = false;
      for (;;) {
        if (i >= n || i - start > 2 * max) return null; // unterminated, or longer than any bounded value
        const c = value.charCodeAt(i);
        if (c === 0x22) break;
        if (c === 0x5c /* \ */) {
          escaped = true;
          i += 2;
          continue;
        }
        if (c < 0x20 && c !== 0x09) return null; // CTLs are not qdtext
        i++;
      }
      v = escaped ? unescape(value.slice(start, i)) : value.slice(start, i);
      if (v === null || v.length > max) return null;
      i++;
    } else {
      const start = i;
      while (i < n && isTokenChar(value.charCodeAt(i))) i++;
      if (i === start || i - start > max) return null;
      v = value.slice(start, i);
    }
    if (params.has(name)) return null;
    if (params.size >= DIGEST_LIMITS.maxParams) return null;
    params.set(name, v);
    while (i < n && isWs(value.charCodeAt(i))) i++;
    if (i >= n) break;
    if (value.charCodeAt(i) !== 0x2c /* , */) return null;
    i++;
  }
  const username = params.get('username');
  const realm = params.get('realm');
  if (username === undefined || realm === undefined) return null;
  const at = username.indexOf('@');
  const algorithmText = params.get('algorithm') ?? null;
  return {
    hdr,
    index,
    username,
    user: at >= 0 ? username.slice(0, at) : username,
    domain: at >= 0 ? username.slice(at + 1) : null,
    realm,
    nonce: params.get('nonce') ?? null,
    uri: params.get('uri') ?? null,
    response: params.get('response') ?? null,
    algorithmText,
    algorithm: algorithmText === null ? 'MD5' : (ALGORITHMS.get(algorithmText.toLowerCase()) ?? null),
    cnonce: params.get('cnonce') ?? null,
    opaque: params.get('opaque') ?? null,
    qop: params.has('qop') ? params.get('qop')!.toLowerCase() : null,
    nc: params.get('nc') ?? null,
    userhash: (params.get('userhash') ?? '').toLowerCase() === 'true',
  };
}
