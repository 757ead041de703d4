/**
 * What an edit of a SipMessageImpl may write (header names are tokens, values hold no CR/LF,
 * RFC 3261 §7.3.1; a Request-URI without whitespace or control characters) and the parser's
 * header-name check. Split out of message.ts.
 */
import { CHAR, TOKEN, isToken } from './chars.js';
import { SiphonError } from '../errors/registry.js';

export function badEdit(detail: string): SiphonError {
  return new SiphonError('SIP_BAD_EDIT', detail);
}

export function checkHeaderValue(name: string, value: string): void {
  if (!isToken(name)) throw badEdit(`header name ${JSON.stringify(name)} is not a token`);
  if (value.includes('\r') || value.includes('\n')) throw badEdit(`value of ${name} holds CR or LF`);
}

const BAD_URI_CHAR = /[\s\x00-\x1f\x7f]/;

/** what setRequestUri() accepts: a non-empty URI without whitespace or control characters. */
export function isValidRequestUri(uri: string): boolean {
  return uri.length > 0 && !BAD_URI_CHAR.test(uri);
}

export function checkRequestUri(uri: string): void {
  if (!isValidRequestUri(uri)) throw new SiphonError('SIP_BAD_URI', `Request-URI ${JSON.stringify(uri)} is empty or holds whitespace`);
}

/** Is `name` a syntactically valid header name (token)? Used by the parser's line scanner. */
export function isHeaderName(s: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if ((CHAR[c]! & TOKEN) === 0) return false;
  }
  return true;
}
