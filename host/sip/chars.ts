/**
 * Character classes of the SIP grammar (RFC 3261 §25.1), as one 256-entry bit table so the scanners
 * test a byte/char code with a single array load instead of regexes or chains of comparisons.
 */

/** token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") */
export const TOKEN = 1;
/** SP / HTAB */
export const WSP = 2;
export const DIGIT = 4;
/** unreserved = alphanum / mark; mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")" */
export const UNRESERVED = 8;
/** user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/" (§19.1 user part) */
export const USER_EXTRA = 16;
/** param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$" (§25.1 paramchar) */
export const PARAM_EXTRA = 32;
/** hnv-unreserved = "[" / "]" / "/" / "?" / ":" / "+" / "$" (§25.1 URI headers) */
export const HNV_EXTRA = 64;
/** hostname characters: alphanum / "-" / "." (plus "_" seen in the wild, accepted as Kamailio does) */
export const HOST = 128;
/** password extra = "&" / "=" / "+" / "$" / "," */
export const PASS_EXTRA = 256;
export const HEX = 512;
/** word = token chars plus "(" ")" "<" ">" ":" "\" DQUOTE "/" "[" "]" "?" "{" "}" (Call-ID, §25.1) */
export const WORD = 1024;

export const CHAR = new Uint16Array(256);

function mark(chars: string, bit: number): void {
  for (let i = 0; i < chars.length; i++) CHAR[chars.charCodeAt(i)]! |= bit;
}

const ALPHA = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const DIGITS = '0123456789';
mark(ALPHA + DIGITS + "-.!%*_+`'~", TOKEN);
mark(' \t', WSP);
mark(DIGITS, DIGIT);
mark(ALPHA + DIGITS + "-_.!~*'()", UNRESERVED);
mark('&=+$,;?/', USER_EXTRA);
mark('[]/:&+$', PARAM_EXTRA);
mark('[]/?:+$', HNV_EXTRA);
mark(ALPHA + DIGITS + '-._', HOST);
mark('&=+$,', PASS_EXTRA);
mark(DIGITS + 'abcdefABCDEF', HEX);
mark(ALPHA + DIGITS + "-.!%*_+`'~" + '()<>:\\"/[]?{}', WORD);

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255 || (CHAR[c]! & TOKEN) === 0) return false;
  }
  return true;
}

export function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Resolves %HH escapes (RFC 3261 §19.1.2, RFC 3986 §2.1). Returns null on a malformed escape.
 * The decoded bytes are read as UTF-8 when they form valid UTF-8, else byte-for-byte (latin1), so
 * `%00` yields a NUL character (RFC 4475 §3.1.1.4 escnull) and arbitrary octets survive.
 */
export function unescapePercent(s: string): string | null {
  const first = s.indexOf('%');
  if (first < 0) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 /* % */) {
      const hi = i + 2 < s.length ? hexValue(s.charCodeAt(i + 1)) : -1;
      const lo = hi >= 0 ? hexValue(s.charCodeAt(i + 2)) : -1;
      if (lo < 0) return null;
      bytes.push(hi * 16 + lo);
      i += 2;
    } else if (c < 128) {
      bytes.push(c);
    } else {
      const enc = Buffer.from(s[i]!, 'utf8');
      for (const b of enc) bytes.push(b);
    }
  }
  const buf = Buffer.from(bytes);
  const utf8 = buf.toString('utf8');
  // a replacement character means the octets were not UTF-8: keep them as bytes instead.
  return utf8.includes('\ufffd') ? buf.toString('latin1') : utf8;
}

/** %-escapes every character of `s` whose class bit is not in `allowed` (and every non-ASCII byte). */
export function escapePercent(s: string, allowed: number): string {
  let clean = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || (CHAR[c]! & allowed) === 0 || c === 37) {
      clean = false;
      break;
    }
  }
  if (clean) return s;
  let out = '';
  const bytes = Buffer.from(s, 'utf8');
  for (const b of bytes) {
    if (b < 128 && b !== 37 && (CHAR[b]! & allowed) !== 0) out += String.fromCharCode(b);
    else out += `%${b < 16 ? '0' : ''}${b.toString(16).toUpperCase()}`;
  }
  return out;
}
