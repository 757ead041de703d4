/**
 * The TCP connections' framer: CRLF keepalives handled here (RFC 5626 §4.4.1: a CRLFCRLF "ping"
 * is answered with a CRLF "pong"; stray CRLFs between messages are skipped, RFC 3261 §7.5), the
 * rest delegated to the SIP layer's Content-Length framing (host/sip/framing.ts, RFC 3261 §18.3).
 */
import { DEFAULT_MAX_HEADER_BYTES, frameStream, type StreamNeed } from '../sip/framing.js';
import type { Frame } from './framing.js';

const INCOMPLETE: Frame = { kind: 'incomplete' };
/** reused by every call (one event loop, never re-entered) */
const NEED: StreamNeed = { total: 0 };

export function sipStreamFramer(buf: Buffer, offset: number): Frame {
  let i = offset;
  const len = buf.length;
  while (i < len && (buf[i] === 13 || buf[i] === 10)) i++;
  if (i > offset) {
    const n = i - offset;
    // fewer than 4 CRLF bytes at the end of what we have: maybe half a ping, wait for the rest
    if (i === len && n < 4) return INCOMPLETE;
    return { kind: 'keepalive', end: i, pong: n >= 4 };
  }
  const f = frameStream(buf, offset, DEFAULT_MAX_HEADER_BYTES, NEED);
  if ('length' in f) return { kind: 'message', start: offset, end: offset + f.length };
  if ('need' in f) return NEED.total > 0 ? { kind: 'incomplete', need: NEED.total } : INCOMPLETE;
  return { kind: 'error', reason: f.error };
}
