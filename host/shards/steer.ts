/**
 * Which shard a message belongs to: a hash of its Call-ID (RFC 3261 §8.1.1.4, §20.8), read from the
 * raw bytes before any parsing. Every message of a call carries the same Call-ID (the request, its
 * retransmissions, CANCEL, ACK, the responses, the dialog's later requests), so transaction and
 * dialog matching stay inside one shard.
 *
 * The scan is linear in the header bytes and allocates nothing: it walks line starts until the
 * empty line, compares `Call-ID` / compact `i` case-insensitively, and hashes the value (FNV-1a over
 * the bytes between the colon's following whitespace and the end of the line, trailing whitespace
 * excluded). A message without a readable Call-ID goes to shard 0, whose parser answers it (400) or
 * drops it as the single-shard path does.
 */

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
/** "call-id" in lower case. */
const CALL_ID = [0x63, 0x61, 0x6c, 0x6c, 0x2d, 0x69, 0x64];

/** FNV-1a (32-bit) of buf[start, end). */
export function fnv1a(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= buf[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** where the value of the header whose name ends at `i` starts (after optional whitespace and the colon), or -1. */
function valueStart(buf: Uint8Array, i: number, end: number): number {
  while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
  if (i >= end || buf[i] !== COLON) return -1;
  i++;
  while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
  return i;
}

/** the shard of a message: `fnv1a(Call-ID) % count`; 0 without a Call-ID header or with one shard. */
export function shardOf(buf: Uint8Array, count: number): number {
  if (count <= 1) return 0;
  const end = buf.length;
  // header lines start after the first LF (the start line never holds a Call-ID)
  let line = buf.indexOf(LF) + 1;
  while (line > 0 && line < end) {
    const c = buf[line]!;
    if (c === CR || c === LF) return 0; // the empty line: no Call-ID in the headers
    let v = -1;
    const lc = c | 0x20;
    if (lc === 0x69) {
      v = valueStart(buf, line + 1, end); // compact form `i`
    } else if (lc === 0x63 && line + 7 <= end) {
      let k = 1;
      while (k < 7 && (buf[line + k]! | 0x20) === CALL_ID[k]) k++;
      if (k === 7) v = valueStart(buf, line + 7, end);
    }
    if (v >= 0) {
      let e = buf.indexOf(LF, v);
      if (e < 0) e = end;
      while (e > v && (buf[e - 1] === CR || buf[e - 1] === SP || buf[e - 1] === HTAB)) e--;
      if (e === v) return 0;
      return fnv1a(buf, v, e) % count;
    }
    line = buf.indexOf(LF, line) + 1;
  }
  return 0;
}

/** the shard of a Call-ID value (what shardOf computes from a message carrying it). */
export function shardOfCallId(callId: string, count: number): number {
  if (count <= 1) return 0;
  const b = Buffer.from(callId, 'utf8');
  return fnv1a(b, 0, b.length) % count;
}
