/**
 * Bencode (the BitTorrent encoding rtpengine's ng protocol carries its dictionaries in): byte
 * strings `<len>:<bytes>`, integers `i<n>e`, lists `l...e`, dictionaries `d<key><value>...e`.
 *
 * The decoder reads what an rtpengine instance (or anything that can reach the ng socket) sent us, so
 * it is bounded: one pass over the input (linear), at most MAX_DEPTH nested containers, at most
 * MAX_ITEMS values in all, integers of at most 15 digits; anything else is a BencodeError.
 * Strings decode as UTF-8 text (SDP and the ng keys are text).
 */

export type BValue = string | number | BValue[] | BDict;
export interface BDict {
  [key: string]: BValue;
}

/** nested lists/dictionaries the decoder follows at most. */
export const MAX_DEPTH = 32;
/** values one message may hold at most (an ng answer has a few dozen; `list` a few per call). */
export const MAX_ITEMS = 100_000;

export class BencodeError extends Error {}

/** Encodes a value; integers must be safe integers. Dictionary keys are written in sorted order (the spec's rule). */
export function bencode(value: BValue): Buffer {
  const parts: Buffer[] = [];
  encodeInto(value, parts, 0);
  return Buffer.concat(parts);
}

function encodeInto(v: BValue, out: Buffer[], depth: number): void {
  if (depth > MAX_DEPTH) throw new BencodeError('bencode: nested too deep');
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    out.push(Buffer.from(`${b.length}:`, 'latin1'), b);
  } else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new BencodeError('bencode: not an integer');
    out.push(Buffer.from(`i${v}e`, 'latin1'));
  } else if (Array.isArray(v)) {
    out.push(Buffer.from('l', 'latin1'));
    for (const x of v) encodeInto(x, out, depth + 1);
    out.push(Buffer.from('e', 'latin1'));
  } else {
    out.push(Buffer.from('d', 'latin1'));
    for (const k of Object.keys(v).sort()) {
      const x = v[k];
      if (x === undefined) continue;
      encodeInto(k, out, depth + 1);
      encodeInto(x, out, depth + 1);
    }
    out.push(Buffer.from('e', 'latin1'));
  }
}

const C_0 = 0x30;
const C_9 = 0x39;
const C_COLON = 0x3a;
const C_MINUS = 0x2d;
const C_I = 0x69;
const C_L = 0x6c;
const C_D = 0x64;
const C_E = 0x65;

/**
 * Decodes one value starting at `start` that must end exactly at the end of `buf`. Iterative (an
 * explicit stack), so hostile nesting cannot exhaust the JS stack.
 */
export function bdecode(buf: Buffer, start = 0): BValue {
  let pos = start;
  let items = 0;
  type Frame = { list: BValue[] } | { dict: BDict; key: string | null };
  const stack: Frame[] = [];
  let result: BValue | undefined;

  const fail = (why: string): never => {
    throw new BencodeError(`bencode: ${why} at byte ${pos - start}`);
  };
  const readNumber = (end: number): number => {
    // digits up to `end` (':' for lengths, 'e' for integers); at most 15 digits (safe integers)
    const from = pos;
    let neg = false;
    if (buf[pos] === C_MINUS) {
      neg = true;
      pos++;
    }
    let n = 0;
    let digits = 0;
    while (pos < buf.length && buf[pos] !== end) {
      const c = buf[pos]!;
      if (c < C_0 || c > C_9) fail('bad digit');
      if (++digits > 15) fail('number too long');
      n = n * 10 + (c - C_0);
      pos++;
    }
    if (pos >= buf.length) fail('truncated number');
    if (digits === 0) fail('empty number');
    if (digits > 1 && buf[neg ? from + 1 : from] === C_0) fail('leading zero');
    pos++; // the terminator
    return neg ? -n : n;
  };
  const put = (v: BValue, isKey: boolean): void => {
    if (++items > MAX_ITEMS) fail('too many values');
    const top = stack[stack.length - 1];
    if (top === undefined) {
      result = v;
      return;
    }
    if ('list' in top) {
      top.list.push(v);
    } else if (top.key === null) {
      if (!isKey) fail('dictionary key must be a string');
      top.key = v as string;
    } else {
      // '__proto__' and friends: stored as own data properties, never through the prototype
      Object.defineProperty(top.dict, top.key, { value: v, enumerable: true, writable: true, configurable: true });
      top.key = null;
    }
  };

  while (result === undefined) {
    if (pos >= buf.length) fail('truncated');
    const c = buf[pos]!;
    if (c >= C_0 && c <= C_9) {
      const len = readNumber(C_COLON);
      if (len > buf.length - pos) fail('string past the end');
      const s = buf.toString('utf8', pos, pos + len);
      pos += len;
      put(s, true);
    } else if (c === C_I) {
      pos++;
      put(readNumber(C_E), false);
    } else if (c === C_L || c === C_D) {
      pos++;
      if (stack.length >= MAX_DEPTH) fail('nested too deep');
      if (++items > MAX_ITEMS) fail('too many values');
      stack.push(c === C_L ? { list: [] } : { dict: Object.create(null) as BDict, key: null });
    } else if (c === C_E) {
      pos++;
      const top = stack.pop();
      if (top === undefined) fail('unexpected end');
      if ('dict' in top! && top.key !== null) fail('dictionary key without value');
      items--; // counted when opened
      put('list' in top! ? top.list : top!.dict, false);
    } else {
      fail('unexpected byte');
    }
  }
  if (pos !== buf.length) fail('trailing bytes');
  return result;
}

/** a dictionary value, or null. */
export function asDict(v: BValue | undefined): BDict | null {
  return v !== undefined && typeof v === 'object' && !Array.isArray(v) ? v : null;
}
