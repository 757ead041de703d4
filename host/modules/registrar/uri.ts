/**
 * The little URI and Contact reading the registrar needs: user/host/port of a SIP URI (RFC 3261
 * §19.1.1), and one Contact header value split into URI and parameters (RFC 3261 §20.10). Values
 * arrive already split per comma by SipMessage.headerValues().
 */

export interface UriParts {
  scheme: string;
  user: string | undefined;
  host: string;
  port: number | undefined;
  /** `transport` URI parameter, lower-cased, when present. */
  transport: string | undefined;
}

/** Splits `sip:user:pw@host:port;params?headers` (brackets allowed around it). Null when unreadable. */
export function parseUriParts(text: string): UriParts | null {
  let s = text.trim();
  if (s.startsWith('<') && s.endsWith('>')) s = s.slice(1, -1);
  const colon = s.indexOf(':');
  if (colon <= 0) return null;
  const scheme = s.slice(0, colon).toLowerCase();
  let rest = s.slice(colon + 1);
  if (scheme === 'tel') {
    const semi = rest.indexOf(';');
    const number = semi < 0 ? rest : rest.slice(0, semi);
    return number ? { scheme, user: number, host: '', port: undefined, transport: undefined } : null;
  }
  if (scheme !== 'sip' && scheme !== 'sips') return null;
  // params/headers start after the host part; the user part may itself contain ';' (RFC 3261 §19.1.1 user-params)
  const at = rest.lastIndexOf('@', firstOf(rest, '?', rest.length));
  let user: string | undefined;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const pw = userinfo.indexOf(':');
    user = unescapeUri(pw >= 0 ? userinfo.slice(0, pw) : userinfo);
    rest = rest.slice(at + 1);
  }
  const end = firstOf(rest, ';', firstOf(rest, '?', rest.length));
  const hostport = rest.slice(0, end);
  const params = rest.slice(end);
  let host: string;
  let portText: string | undefined;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) return null;
    host = hostport.slice(0, close + 1);
    if (hostport.length > close + 1) {
      if (hostport[close + 1] !== ':') return null;
      portText = hostport.slice(close + 2);
    }
  } else {
    const pc = hostport.indexOf(':');
    host = pc >= 0 ? hostport.slice(0, pc) : hostport;
    if (pc >= 0) portText = hostport.slice(pc + 1);
  }
  if (!host || /[\s<>"]/.test(host)) return null;
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText)) return null;
    port = Number(portText);
    if (port > 65535) return null;
  }
  // linear: a literal prefix, then one greedy class that ends the match (no backtracking)
  const tm = /;transport=([^;?]+)/i.exec(params);
  return { scheme, user, host, port, transport: tm ? tm[1]!.toLowerCase() : undefined };
}

function firstOf(s: string, ch: string, fallback: number): number {
  const i = s.indexOf(ch);
  return i < 0 ? fallback : i;
}

function unescapeUri(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** One Contact value (RFC 3261 §20.10). */
export interface ContactValue {
  /** `*` (RFC 3261 §10.2.2). */
  star: boolean;
  /** the URI, without angle brackets. */
  uri: string;
  /** header parameters, names lower-cased, values unquoted (null for a flag parameter). */
  params: Map<string, string | null>;
}

/**
 * Reads one Contact value: `"Name" <uri>;p=v`, `Name <uri>;p=v`, `<uri>;p=v` or `uri;p=v` (for the
 * bare addr-spec form every `;` parameter belongs to the header, RFC 3261 §20.10). Null when malformed.
 */
export function parseContactValue(value: string): ContactValue | null {
  const v = value.trim();
  if (v === '*') return { star: true, uri: '*', params: new Map() };
  let i = 0;
  let uri: string;
  if (v[0] === '"') {
    // quoted display name with quoted-pair escapes
    i = 1;
    while (i < v.length && v[i] !== '"') i += v[i] === '\\' ? 2 : 1;
    if (i >= v.length) return null;
    i++;
  }
  const lt = v.indexOf('<', i);
  if (lt >= 0) {
    const gt = v.indexOf('>', lt);
    if (gt < 0) return null;
    uri = v.slice(lt + 1, gt).trim();
    i = gt + 1;
  } else {
    if (i > 0) return null; // a quoted display name needs <uri>
    const semi = v.indexOf(';');
    uri = (semi < 0 ? v : v.slice(0, semi)).trim();
    i = semi < 0 ? v.length : semi;
    if (/\s/.test(uri)) return null;
  }
  if (!uri || parseUriParts(uri) === null) return null;
  const params = new Map<string, string | null>();
  const rest = v.slice(i).trim();
  if (rest.length > 0) {
    if (rest[0] !== ';') return null;
    for (const raw of splitParams(rest.slice(1))) {
      const eq = raw.indexOf('=');
      const name = (eq < 0 ? raw : raw.slice(0, eq)).trim().toLowerCase();
      if (!name) continue;
      let val: string | null = eq < 0 ? null : raw.slice(eq + 1).trim();
      if (val !== null && val.length >= 2 && val[0] === '"' && val[val.length - 1] === '"') val = val.slice(1, -1).replace(/\\(.)/g, '$1');
      params.set(name, val);
    }
  }
  return { star: false, uri, params };
}

/** splits `a=1;b="x;y";c` on semicolons outside quotes. */
function splitParams(s: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === ';' && !quoted) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

/** Kamailio's request-method bitmask (parser/msg_parser.h METHOD_*), as stored in `location.methods`. */
export const METHOD_BITS: Readonly<Record<string, number>> = Object.freeze({
  INVITE: 1,
  CANCEL: 2,
  ACK: 4,
  BYE: 8,
  INFO: 16,
  REGISTER: 32,
  SUBSCRIBE: 64,
  NOTIFY: 128,
  MESSAGE: 256,
  OPTIONS: 512,
  PRACK: 1024,
  UPDATE: 2048,
  REFER: 4096,
  PUBLISH: 8192,
});

/** bitmask of a comma-separated method list (Allow header, `methods` Contact parameter); unknown names are ignored. */
export function methodsMask(list: readonly string[]): number {
  let m = 0;
  for (const item of list) {
    for (const name of item.split(',')) {
      const bit = METHOD_BITS[name.trim().toUpperCase()];
      if (bit !== undefined) m |= bit;
    }
  }
  return m;
}
