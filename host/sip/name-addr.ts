/**
 * name-addr / addr-spec values with header parameters: From, To, Contact, Route, Record-Route,
 * Reply-To, Refer-To ... (RFC 3261 §20.10, §20.20, §20.39, §25.1):
 *
 *   ( name-addr / addr-spec ) *( SEMI param )
 *   name-addr    = [ display-name ] LAQUOT addr-spec RAQUOT
 *   display-name = *(token LWS) / quoted-string
 *
 * Strictness follows RFC 4475: no LWS inside < > (§3.1.2.14 badaspec), display names that are not
 * tokens must be quoted (§3.1.2.15 baddn), quotes must balance (§3.1.2.6 quotbal), and an addr-spec
 * holding "?" must be in < > (§20.10; §3.1.2.13 regbadct).
 */
import type { NameAddr } from './types.js';
import { CHAR, TOKEN } from './chars.js';
import { PARAMS_BAD, isWs, paramValue, parseParams, skipQuoted, skipWs } from './params.js';
import { isValidUri, uriScheme } from './uri.js';

/** Resolves the quoted-pairs of the inside of a quoted-string (RFC 3261 §25.1). */
export function unquote(s: string, from: number, to: number): string {
  let bs = s.indexOf('\\', from);
  if (bs < 0 || bs >= to) return s.slice(from, to);
  // copies the runs between quoted-pairs as slices (not one concatenation per character)
  let out = '';
  let copied = from;
  while (bs >= 0 && bs + 1 < to) {
    out += s.slice(copied, bs);
    copied = bs + 1; // the escaped character starts the next run
    bs = s.indexOf('\\', bs + 2);
    if (bs >= to) break;
  }
  return out + s.slice(copied, to);
}

/**
 * A token display name as the parser returns it: runs of LWS collapsed to one SP when the name holds
 * a line break, a tab or two blanks in a row (else returned as is). One pass (no regex).
 */
function collapseLws(name: string): string {
  const len = name.length;
  let plain = true;
  for (let i = 0; i < len && plain; i++) {
    const c = name.charCodeAt(i);
    if (c === 9 || c === 13 || c === 10 || (isWs(c) && i + 1 < len && isWs(name.charCodeAt(i + 1)))) plain = false;
  }
  if (plain) return name;
  let out = '';
  let runStart = 0;
  let i = 0;
  while (i < len) {
    if (!isWs(name.charCodeAt(i))) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < len && isWs(name.charCodeAt(j))) j++;
    out += name.slice(runStart, i);
    out += ' ';
    runStart = j;
    i = j;
  }
  return out + name.slice(runStart);
}

/**
 * Checks the URI of a name-addr/addr-spec: an absolute URI without whitespace; sip, sips and tel
 * URIs must also parse. Other schemes (http:, isbn:, urn: ...) are accepted as opaque text
 * (RFC 4475 §3.3.4 unksm2).
 */
function acceptableUri(uri: string, deep: boolean): boolean {
  if (uri.length === 0) return false;
  for (let i = 0; i < uri.length; i++) {
    const c = uri.charCodeAt(i);
    if (c <= 32 || c === 127 || c === 34 || c === 60 || c === 62) return false;
  }
  const scheme = uriScheme(uri);
  if (scheme === null) return false;
  if (deep && (scheme === 'sip' || scheme === 'sips' || scheme === 'tel')) return isValidUri(uri, scheme);
  return true;
}

/**
 * Parses one name-addr or addr-spec with its parameters; null when it does not follow the grammar.
 * `validateUri` = false checks the URI only for a scheme and forbidden characters (what Kamailio's
 * To/From parser does; the URI itself is parsed when someone asks for it).
 */
export function parseNameAddr(text: string, validateUri = true): NameAddr | null {
  const end = text.length;
  let i = skipWs(text, 0, end);
  if (i >= end) return null;
  let displayName: string | undefined;
  let c = text.charCodeAt(i);

  // Contact: * (RFC 3261 §10.2.2)
  if (c === 42 /* * */ && skipWs(text, i + 1, end) === end) {
    return { displayName: undefined, uri: '*', params: [], tag: undefined, star: true };
  }

  let angle = -1;
  if (c === 34 /* " */) {
    const q = skipQuoted(text, i, end);
    if (q < 0) return null;
    displayName = unquote(text, i + 1, q - 1);
    i = skipWs(text, q, end);
    if (i >= end || text.charCodeAt(i) !== 60 /* < */) return null;
    angle = i;
  } else {
    // *(token LWS) then '<', or else this is an addr-spec.
    let k = i;
    while (k < end) {
      c = text.charCodeAt(k);
      if (c < 256 && ((CHAR[c]! & TOKEN) !== 0 || isWs(c))) k++;
      else break;
    }
    if (k < end && text.charCodeAt(k) === 60) {
      const name = text.slice(i, k).trim();
      if (name.length > 0) displayName = collapseLws(name);
      angle = k;
    }
  }

  let uri: string;
  let paramsAt: number;
  if (angle >= 0) {
    const close = text.indexOf('>', angle + 1);
    if (close < 0) return null;
    uri = text.slice(angle + 1, close);
    if (!acceptableUri(uri, validateUri)) return null;
    paramsAt = close + 1;
  } else {
    // addr-spec: the URI runs to the first ';' (header parameters follow) or LWS.
    let k = i;
    while (k < end) {
      c = text.charCodeAt(k);
      if (c === 59 /* ; */ || isWs(c)) break;
      if (c === 63 /* ? */ || c === 44 /* , */ || c === 60 || c === 62 || c === 34) return null;
      k++;
    }
    uri = text.slice(i, k);
    if (!acceptableUri(uri, validateUri)) return null;
    paramsAt = k;
  }

  const params: Array<[string, string | null]> = [];
  if (parseParams(text, paramsAt, end, params, false) === PARAMS_BAD) return null;
  const tag = paramValue(params, 'tag');
  // one object shape for every name-addr (absent parts are undefined): monomorphic property reads
  return { displayName, uri, params, tag: typeof tag === 'string' ? tag : undefined, star: undefined };
}
