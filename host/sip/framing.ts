/**
 * Cutting a byte stream (TCP, TLS) into SIP messages (RFC 3261 §18.3): a message is its header
 * section up to the empty line, followed by exactly Content-Length body bytes. On a stream the
 * Content-Length header is mandatory; without it (or with an unusable one) the stream cannot be
 * framed and the connection has to be closed.
 *
 * Works on the bytes directly (no string decoding) and looks only at header names starting with
 * "c"/"l", so it costs one indexOf for the empty line plus a short scan of line starts.
 */

export type StreamFrame = { length: number } | { need: 'more' } | { error: string };

/** Filled by frameStream when it returns `need: 'more'` (the caller keeps one and reuses it). */
export interface StreamNeed {
  /**
   * bytes from `offset` the message needs once its header section is complete (header + Content-Length
   * body); 0 while the empty line has not arrived. Lets a transport wait for exactly that many bytes
   * instead of framing again on every segment (which would cost O(n²) on a peer sending byte by byte).
   */
  total: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = Buffer.from('content-length');

/** default cap on a header section still waiting for its empty line (matches the parser's size limit) */
export const DEFAULT_MAX_HEADER_BYTES = 65535;

/**
 * Frames the message starting at `offset`. `length` counts from `offset` and includes any CRLFs
 * in front of the start line (RFC 3261 §7.5 lets them precede a message; parseMessage skips them),
 * so the caller advances by `length`. A buffer holding only CRLFs yields `{ need: 'more' }`; the
 * transport decides what a lone CRLFCRLF keepalive means (RFC 5626 §4.4.1).
 */
export function frameStream(buf: Buffer, offset: number, maxHeaderBytes = DEFAULT_MAX_HEADER_BYTES, need?: StreamNeed): StreamFrame {
  const size = buf.length;
  if (need !== undefined) need.total = 0;
  let start = offset;
  while (start < size && (buf[start] === 13 || buf[start] === 10)) start++;
  if (start >= size) return { need: 'more' };
  const blank = buf.indexOf(CRLFCRLF, start);
  if (blank < 0) {
    if (size - start > maxHeaderBytes) return { error: `no end of headers within ${maxHeaderBytes} bytes` };
    return { need: 'more' };
  }
  if (blank - start > maxHeaderBytes) return { error: `header section larger than ${maxHeaderBytes} bytes` };
  const headEnd = blank + 2;
  let contentLength = -1;
  // walk the line starts of the header section (after the start line)
  let line = buf.indexOf(10, start) + 1;
  while (line > 0 && line < headEnd) {
    const next = buf.indexOf(10, line) + 1;
    const lineEnd = next > 0 && next <= headEnd ? next : headEnd;
    const c = buf[line]! | 0x20;
    if (c === 0x63 /* c */ || c === 0x6c /* l */) {
      const value = contentLengthValue(buf, line, lineEnd, headEnd);
      if (value === -2) return { error: 'malformed Content-Length' };
      if (value >= 0) {
        if (contentLength >= 0 && contentLength !== value) return { error: 'conflicting Content-Length values' };
        contentLength = value;
      }
    }
    line = lineEnd;
  }
  if (contentLength < 0) return { error: 'missing Content-Length (mandatory on stream transports, RFC 3261 §18.3)' };
  const total = blank + 4 + contentLength;
  if (total > size) {
    if (need !== undefined) need.total = total - offset;
    return { need: 'more' };
  }
  return { length: total - offset };
}

/**
 * If the line at [from, to) is a Content-Length (or compact "l") header, its value; -1 when the line
 * is another header; -2 when it is a Content-Length with a malformed value. The value may continue
 * on folded lines up to `headEnd`.
 */
function contentLengthValue(buf: Buffer, from: number, to: number, headEnd: number): number {
  let i = from;
  if ((buf[i]! | 0x20) === 0x6c && !isNameChar(buf[i + 1]!)) {
    i += 1;
  } else {
    if (to - from < CONTENT_LENGTH.length) return -1;
    for (let k = 0; k < CONTENT_LENGTH.length; k++) {
      if ((buf[from + k]! | 0x20) !== CONTENT_LENGTH[k]) return -1;
    }
    i = from + CONTENT_LENGTH.length;
  }
  while (i < headEnd && (buf[i] === 32 || buf[i] === 9)) i++;
  if (buf[i] !== 58 /* : */) return -1;
  i++;
  while (i < headEnd && (buf[i] === 32 || buf[i] === 9 || buf[i] === 13 || buf[i] === 10)) i++;
  const digitsStart = i;
  let n = 0;
  while (i < headEnd && buf[i]! >= 48 && buf[i]! <= 57) {
    n = n * 10 + (buf[i]! - 48);
    i++;
    if (i - digitsStart > 10) return -2;
  }
  if (i === digitsStart) return -2;
  while (i < headEnd && (buf[i] === 32 || buf[i] === 9)) i++;
  if (buf[i] !== 13 && buf[i] !== 10) return -2;
  return n;
}

function isNameChar(c: number): boolean {
  return c !== 58 && c !== 32 && c !== 9;
}
