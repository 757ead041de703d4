/**
 * Readers of single header values the parser interprets (RFC 3261 §7.3.1 folding, §20.8 Call-ID,
 * §20.16 CSeq, 1*DIGIT fields). Each is one linear pass over the value: no regexes on message text.
 */
import type { CSeq } from './types.js';
import { CHAR, DIGIT, isToken } from './chars.js';

/**
 * Collapses each line fold of a field value, `*(SP / HT) [CR] LF 1*(SP / HT)`, to one SP (RFC 3261
 * §7.3.1: a folded line is equivalent to a single SP; Kamailio does the same when it reads a folded
 * value). A hand-written scanner instead of the regex /[ \t]*\r?\n[ \t]+/g, which backtracks over
 * every run of blanks not followed by a line break (quadratic: 64 KB of spaces cost ~1.5 s). Each
 * byte is looked at a bounded number of times: LFs are found with indexOf, blanks after an LF are
 * skipped forward, and blanks before it are trimmed backwards only down to what was already copied.
 */
export function unfold(v: string): string {
  let lf = v.indexOf('\n');
  if (lf < 0) return v;
  const len = v.length;
  let out = '';
  let copied = 0;
  while (lf >= 0) {
    let after = lf + 1;
    while (after < len && (v.charCodeAt(after) === 32 || v.charCodeAt(after) === 9)) after++;
    if (after > lf + 1) {
      let before = lf;
      if (before > copied && v.charCodeAt(before - 1) === 13) before--;
      while (before > copied && (v.charCodeAt(before - 1) === 32 || v.charCodeAt(before - 1) === 9)) before--;
      out += v.slice(copied, before);
      out += ' ';
      copied = after;
    }
    lf = after < len ? v.indexOf('\n', after) : -1;
  }
  return copied === 0 ? v : out + v.slice(copied);
}

/** true when a latin1-decoded string holds a byte >= 0x80 */
export function hasNonAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return true;
  return false;
}

/** Parses 1*DIGIT (up to 10 digits); -1 when not digits or too long. */
export function parseUnsigned(s: string): number {
  const len = s.length;
  if (len === 0 || len > 10) return -1;
  let n = 0;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || (CHAR[c]! & DIGIT) === 0) return -1;
    n = n * 10 + (c - 48);
  }
  return n;
}

/** CSeq = 1*DIGIT LWS Method (RFC 3261 §20.16); the number must fit 32 bits (§8.1.1.5). */
export function parseCSeq(value: string): CSeq | null {
  let i = 0;
  const len = value.length;
  while (i < len && (CHAR[value.charCodeAt(i)]! & DIGIT) !== 0 && value.charCodeAt(i) < 128) i++;
  if (i === 0 || i > 10) return null;
  const seq = Number(value.slice(0, i));
  if (seq > 0xffffffff) return null;
  let m = i;
  while (m < len && (value.charCodeAt(m) === 32 || value.charCodeAt(m) === 9)) m++;
  if (m === i) return null;
  const method = value.slice(m);
  if (!isToken(method)) return null;
  return { seq, method };
}

/** Call-ID = word [ "@" word ] (RFC 3261 §20.8, §25.1). */
export function isValidCallId(value: string): boolean {
  if (value.length === 0) return false;
  let ats = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 64) {
      if (++ats > 1 || i === 0 || i === value.length - 1) return false;
    } else if (c > 255 || (CHAR[c]! & 1024 /* WORD */) === 0) {
      return false;
    }
  }
  return true;
}
