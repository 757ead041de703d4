/**
 * Header parameters, shared by name-addr headers and Via (RFC 3261 §25.1):
 *
 *   *( SEMI generic-param )      SEMI = SWS ";" SWS      EQUAL = SWS "=" SWS
 *   generic-param = token [ EQUAL gen-value ]     gen-value = token / host / quoted-string
 *
 * Names are lower-cased; values are kept as written (a quoted-string keeps its quotes, so it can be
 * written back unchanged).
 */
import { CHAR, TOKEN } from './chars.js';
import { lowerAscii } from './uri.js';

export function isWs(c: number): boolean {
  return c === 32 || c === 9 || c === 13 || c === 10;
}

export function skipWs(s: string, i: number, end: number): number {
  while (i < end && isWs(s.charCodeAt(i))) i++;
  return i;
}

/** Index just after the closing quote of the quoted-string opening at s[i], or -1 when unterminated. */
export function skipQuoted(s: string, i: number, end: number): number {
  for (let k = i + 1; k < end; k++) {
    const c = s.charCodeAt(k);
    if (c === 92 /* \ */) k++;
    else if (c === 34 /* " */) return k + 1;
  }
  return -1;
}

/** host / IPv6reference characters allowed in a gen-value besides token chars. */
function isValueChar(c: number): boolean {
  return (c < 256 && (CHAR[c]! & TOKEN) !== 0) || c === 58 /* : */ || c === 91 /* [ */ || c === 93 /* ] */;
}

export const PARAMS_BAD = -1;

/**
 * Parameter names nearly every message carries (Via branch/rport/received, From/To tag, Route lr,
 * URI transport ...), written in lower case: recognised in place, so the parser neither slices
 * nor lower-cases them and later lookups compare interned strings.
 */
const COMMON_PARAMS = ['tag', 'branch', 'rport', 'received', 'lr', 'transport', 'maddr', 'ttl', 'user', 'expires', 'q', 'ob'];

/** COMMON_PARAMS indexes by name length */
const COMMON_BY_LENGTH: number[][] = [];
for (let k = 0; k < COMMON_PARAMS.length; k++) (COMMON_BY_LENGTH[COMMON_PARAMS[k]!.length] ??= []).push(k);

function commonParamName(s: string, from: number, to: number): string | undefined {
  const candidates = COMMON_BY_LENGTH[to - from];
  if (candidates === undefined) return undefined;
  const first = s.charCodeAt(from);
  for (let k = 0; k < candidates.length; k++) {
    const name = COMMON_PARAMS[candidates[k]!]!;
    // first char compared before the native compare
    if (name.charCodeAt(0) === first && s.startsWith(name, from)) return name;
  }
  return undefined;
}

/**
 * Parses parameters starting at s[i] (which should be at SWS before ';' or at `end`) up to `end`.
 * Appends to `out`; returns `end` on success or PARAMS_BAD on a syntax error. With `lenient`, empty
 * parameters (";;") are skipped instead of failing — used to salvage a Via for an error reply.
 */
export function parseParams(
  s: string, i: number, end: number, out: Array<[string, string | null]>, lenient: boolean,
): number {
  for (;;) {
    i = skipWs(s, i, end);
    if (i >= end) return end;
    if (s.charCodeAt(i) !== 59 /* ; */) return PARAMS_BAD;
    i = skipWs(s, i + 1, end);
    const nameStart = i;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c > 255 || (CHAR[c]! & TOKEN) === 0) break;
      i++;
    }
    if (i === nameStart) {
      if (lenient) continue;
      return PARAMS_BAD;
    }
    const name = commonParamName(s, nameStart, i) ?? lowerAscii(s.slice(nameStart, i));
    const afterName = skipWs(s, i, end);
    if (afterName < end && s.charCodeAt(afterName) === 61 /* = */) {
      i = skipWs(s, afterName + 1, end);
      const valueStart = i;
      if (i < end && s.charCodeAt(i) === 34 /* " */) {
        const q = skipQuoted(s, i, end);
        if (q < 0) return PARAMS_BAD;
        i = q;
      } else {
        while (i < end && isValueChar(s.charCodeAt(i))) i++;
      }
      if (i === valueStart) {
        if (!lenient) return PARAMS_BAD;
        out.push([name, '']);
        continue;
      }
      out.push([name, s.slice(valueStart, i)]);
    } else {
      out.push([name, null]);
      i = afterName;
    }
  }
}

/** Value of the first parameter called `name` (lower-case), undefined when absent. */
export function paramValue(params: ReadonlyArray<[string, string | null]>, name: string): string | null | undefined {
  for (let i = 0; i < params.length; i++) {
    if (params[i]![0] === name) return params[i]![1];
  }
  return undefined;
}
