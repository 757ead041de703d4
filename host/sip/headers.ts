/**
 * Header names: compact forms, canonical keys, and which headers carry comma-separated lists.
 *
 * Header names are case-insensitive (RFC 3261 §7.3.1) and some have a one-letter compact form
 * (§7.3.3 and the extensions that registered one). A header whose grammar is `#element` may be
 * written as one field with a comma-separated list or as several fields (§7.3.1); all others must
 * never be split on commas — notably the authentication headers (§20.7, §20.27, §20.28, §20.44),
 * whose challenge/credential parameters are comma-separated, and Date (§20.17), whose value holds
 * a comma after the weekday.
 */

/** one-letter compact form → canonical lower-case name. */
export const COMPACT_FORMS: Readonly<Record<string, string>> = Object.freeze({
  a: 'accept-contact', // RFC 3841
  b: 'referred-by', // RFC 3892
  c: 'content-type', // RFC 3261 §7.3.3
  d: 'request-disposition', // RFC 3841
  e: 'content-encoding', // RFC 3261
  f: 'from', // RFC 3261
  i: 'call-id', // RFC 3261
  j: 'reject-contact', // RFC 3841
  k: 'supported', // RFC 3261
  l: 'content-length', // RFC 3261
  m: 'contact', // RFC 3261
  n: 'identity-info', // RFC 4474
  o: 'event', // RFC 6665
  r: 'refer-to', // RFC 3515
  s: 'subject', // RFC 3261
  t: 'to', // RFC 3261
  u: 'allow-events', // RFC 6665
  v: 'via', // RFC 3261
  x: 'session-expires', // RFC 4028
  y: 'identity', // RFC 8224
});

/** canonical key → the spelling used when siphon writes the header itself. */
const CANONICAL_SPELLING: Record<string, string> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
};

/**
 * Headers whose ABNF is a comma-separated list (RFC 3261 §20 and extensions). Unknown headers are
 * not split: siphon cannot know their grammar.
 */
export const LIST_HEADERS: ReadonlySet<string> = new Set([
  'accept', 'accept-encoding', 'accept-language', 'alert-info', 'allow', 'call-info', 'contact',
  'content-encoding', 'content-language', 'error-info', 'in-reply-to', 'proxy-require',
  'record-route', 'require', 'route', 'supported', 'unsupported', 'via', 'warning',
  'allow-events', // RFC 6665
  'path', // RFC 3327
  'service-route', // RFC 3608
  'accept-contact', 'reject-contact', 'request-disposition', // RFC 3841
  'privacy', // RFC 3323
  'p-asserted-identity', 'p-preferred-identity', // RFC 3325
  'history-info', // RFC 7044
  'reason', // RFC 3326
  'security-client', 'security-server', 'security-verify', // RFC 3329
  'p-associated-uri', // RFC 7315
  'permission-missing', 'trigger-consent', // RFC 5360
]);

/** Keys parsed eagerly by the parser (types.ts). */
export const EAGER_KEYS: ReadonlySet<string> = new Set([
  'via', 'from', 'to', 'call-id', 'cseq', 'max-forwards', 'content-length', 'route',
]);

/** lookup cache: name as written → canonical key. Bounded so hostile names cannot grow it. */
const keyCache = new Map<string, string>();
const KEY_CACHE_MAX = 512;

for (const [short, long] of Object.entries(COMPACT_FORMS)) {
  keyCache.set(short, long);
  keyCache.set(short.toUpperCase(), long);
}
for (const name of [
  'Via', 'From', 'To', 'Call-ID', 'Call-Id', 'CSeq', 'Cseq', 'Max-Forwards', 'Content-Length',
  'Content-Type', 'Contact', 'Route', 'Record-Route', 'Allow', 'Supported', 'User-Agent', 'Server',
  'Authorization', 'Proxy-Authorization', 'WWW-Authenticate', 'Proxy-Authenticate', 'Expires',
  'Subject', 'Date', 'Accept', 'Require', 'Proxy-Require', 'Event', 'Allow-Events', 'Path',
]) {
  keyCache.set(name, name.toLowerCase());
}

/**
 * Header names the scanner recognises without allocating: each with its key and the spelling
 * most senders use (a name written exactly so reuses this string).
 */
const KNOWN_SPELLINGS = [
  'Via', 'From', 'To', 'Call-ID', 'CSeq', 'Max-Forwards', 'Content-Length', 'Content-Type', 'Contact',
  'Route', 'Record-Route', 'Allow', 'Supported', 'User-Agent', 'Server', 'Authorization',
  'Proxy-Authorization', 'WWW-Authenticate', 'Proxy-Authenticate', 'Expires', 'Min-Expires', 'Subject',
  'Date', 'Accept', 'Require', 'Proxy-Require', 'Unsupported', 'Event', 'Allow-Events', 'Path',
  'P-Asserted-Identity', 'P-Preferred-Identity', 'Privacy', 'Session-Expires', 'Min-SE', 'Refer-To',
  'Referred-By', 'Reason', 'Warning', 'Organization', 'Timestamp', 'Content-Disposition',
  'Content-Encoding', 'Accept-Encoding', 'Accept-Language', 'RAck', 'RSeq', 'Identity', 'Diversion',
  'Service-Route', 'Security-Client', 'Security-Server', 'Security-Verify', 'Reply-To', 'In-Reply-To',
  'Alert-Info', 'Call-Info', 'Error-Info', 'MIME-Version', 'Priority', 'Retry-After',
  'Subscription-State', 'Authentication-Info', 'History-Info', 'Accept-Contact', 'Reject-Contact',
  'Request-Disposition', 'Identity-Info', 'Content-Language', 'Replaces', 'Join', 'Target-Dialog',
  'P-Charging-Vector', 'P-Access-Network-Info', 'P-Called-Party-ID', 'P-Associated-URI', 'X-Forwarded-For',
];

const KNOWN_KEYS: string[] = [];
const KNOWN_NAMES: string[] = [];
const KNOWN_TABLE = new Int16Array(1024).fill(-1);

/** hash of a header name, ASCII case folded; the scanner computes the same while reading the name. */
export function nameHashStep(h: number, c: number): number {
  return (Math.imul(h, 31) + (c | 0x20)) | 0;
}

function addKnown(spelling: string, key: string): void {
  let h = 0;
  for (let i = 0; i < spelling.length; i++) h = nameHashStep(h, spelling.charCodeAt(i));
  let slot = h & 1023;
  while (KNOWN_TABLE[slot] !== -1) slot = (slot + 1) & 1023;
  KNOWN_TABLE[slot] = KNOWN_KEYS.length;
  KNOWN_KEYS.push(key);
  KNOWN_NAMES.push(spelling);
}
for (const spelling of KNOWN_SPELLINGS) addKnown(spelling, spelling.toLowerCase());
for (const [short, long] of Object.entries(COMPACT_FORMS)) addKnown(short, long);

/** number of known names: indexes from findKnownHeader() are below it. */
export const KNOWN_HEADER_COUNT = KNOWN_KEYS.length;

/** last char code of each known name's usual spelling */
const KNOWN_LAST = new Int32Array(KNOWN_NAMES.length);
for (let i = 0; i < KNOWN_NAMES.length; i++) KNOWN_LAST[i] = KNOWN_NAMES[i]!.charCodeAt(KNOWN_NAMES[i]!.length - 1);

/** known-name indexes by the first char of their usual spelling (case-sensitive). */
const KNOWN_BY_FIRST: number[][] = Array.from({ length: 128 }, () => []);
for (let i = 0; i < KNOWN_NAMES.length; i++) KNOWN_BY_FIRST[KNOWN_NAMES[i]!.charCodeAt(0)]!.push(i);

/**
 * Fast path of the header scanner: the field at s[from] starts with the usual spelling of a known
 * name followed by optional SP/HT and ':' (native startsWith compares, no per-char loop). Returns
 * the known index and leaves the colon's offset in `spellingMatch.colon`; -1 when the name is
 * written otherwise (any case, unknown name, defect), for the generic scanner.
 */
export function matchKnownSpelling(s: string, from: number, end: number): number {
  const first = s.charCodeAt(from);
  if (first >= 128) return -1;
  const candidates = KNOWN_BY_FIRST[first]!;
  for (let k = 0; k < candidates.length; k++) {
    const idx = candidates[k]!;
    const name = KNOWN_NAMES[idx]!;
    let i = from + name.length;
    let c = s.charCodeAt(i);
    // cheap rejects first (what follows the name, its last char), then one native compare
    if (c !== 58 && c !== 32 && c !== 9) continue;
    if (s.charCodeAt(i - 1) !== KNOWN_LAST[idx] || !s.startsWith(name, from)) continue;
    while ((c === 32 || c === 9) && i < end) c = s.charCodeAt(++i);
    if (c === 58 /* : */ && i < end) {
      spellingMatch.colon = i;
      return idx;
    }
  }
  return -1;
}
/** colon offset of the last matchKnownSpelling() hit (a module slot instead of a result object) */
export const spellingMatch = { colon: 0 };

/**
 * Looks the header name s[from,to) (already hashed into `hash` with nameHashStep) up among the
 * known names, case-insensitively. Returns an index for knownKey()/knownName(), or -1.
 */
export function findKnownHeader(s: string, from: number, to: number, hash: number): number {
  const len = to - from;
  let slot = hash & 1023;
  for (;;) {
    const idx = KNOWN_TABLE[slot]!;
    if (idx === -1) return -1;
    const name = KNOWN_NAMES[idx]!;
    if (name.length === len) {
      if (s.startsWith(name, from)) return idx; // the usual spelling: one native compare
      let k = 0;
      while (k < len && (s.charCodeAt(from + k) | 0x20) === (name.charCodeAt(k) | 0x20)) k++;
      if (k === len) return idx;
    }
    slot = (slot + 1) & 1023;
  }
}

export function knownKey(idx: number): string {
  return KNOWN_KEYS[idx]!;
}

/** the name as written, reusing the interned spelling when it matches exactly. */
export function knownName(idx: number, s: string, from: number, to: number): string {
  const name = KNOWN_NAMES[idx]!;
  if (s.startsWith(name, from)) return name;
  return s.slice(from, to);
}

/** Canonical lower-case key of a header name as written ("v", "VIA", "Via" → "via"). */
export function headerKey(name: string): string {
  const hit = keyCache.get(name);
  if (hit !== undefined) return hit;
  const lower = name.toLowerCase();
  const key = lower.length === 1 ? (COMPACT_FORMS[lower] ?? lower) : lower;
  if (keyCache.size < KEY_CACHE_MAX) keyCache.set(name, key);
  return key;
}

export function isListHeader(key: string): boolean {
  return LIST_HEADERS.has(key);
}

/** A readable long name for a canonical key ("call-id" → "Call-ID", "record-route" → "Record-Route"). */
export function canonicalHeaderName(key: string): string {
  const special = CANONICAL_SPELLING[key];
  if (special !== undefined) return special;
  let out = '';
  let up = true;
  for (let i = 0; i < key.length; i++) {
    const ch = key[i]!;
    out += up ? ch.toUpperCase() : ch;
    up = ch === '-';
  }
  return out;
}

/**
 * Splits a header value at the commas that separate list elements (RFC 3261 §7.3.1): commas inside
 * a quoted string (with its quoted-pairs) or inside <...> do not split. Elements are trimmed; empty
 * elements are dropped.
 */
export function splitList(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  let inQuote = false;
  let inAngle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inQuote = false;
    } else if (c === 34) {
      inQuote = true;
    } else if (c === 60 /* < */) {
      inAngle = true;
    } else if (c === 62 /* > */) {
      inAngle = false;
    } else if (c === 44 /* , */ && !inAngle) {
      const el = value.slice(start, i).trim();
      if (el.length > 0) out.push(el);
      start = i + 1;
    }
  }
  const last = value.slice(start).trim();
  if (last.length > 0) out.push(last);
  return out;
}

/** True when the list holds an empty element (",," or a leading/trailing comma), e.g. a bad Via. */
export function listHasEmptyElement(value: string): boolean {
  let inQuote = false;
  let inAngle = false;
  let sawContent = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 92) i++;
      else if (c === 34) inQuote = false;
      continue;
    }
    if (c === 44 && !inAngle) {
      if (!sawContent) return true;
      sawContent = false;
      continue;
    }
    if (c === 34) inQuote = true;
    else if (c === 60) inAngle = true;
    else if (c === 62) inAngle = false;
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10) sawContent = true;
  }
  return !sawContent;
}
