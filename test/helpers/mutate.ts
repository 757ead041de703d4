/**
 * A seeded mutator of SIP messages for fuzz tests (in-process and over the socket).
 *
 *   const rng = mulberry32(42);
 *   const bad = mutate(seedMessage, rng);
 *
 * Same seed, same sequence: a failing case is reproduced from its seed and iteration number. The
 * mutations aim at what breaks SIP parsers: bit flips, truncations, splices of two places, inserted
 * CR/LF/CRLF/colon/quote/angle/comma/semicolon/NUL bytes, duplicated or dropped header lines, folded
 * lines, overlong digit runs, and random bytes.
 */

/** mulberry32: a tiny, fast 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INSERTS = ['\r\n', '\r', '\n', ':', '"', '<', '>', ',', ';', '\0', ' ', '\t', '\r\n ', '\r\n\r\n', '%', '%0', '@', '[', ']', '=', '\\'].map((s) => Buffer.from(s));
const TOKENS = ['SIP/2.0', 'Via: ', 'Content-Length: ', 'l: ', 'CSeq: ', 'To: ', 'From: ', 'Call-ID: ', '99999999999999999999', '-1', 'sip:', 'tel:', 'branch=', ';rport', '[::1]', '\xff\xfe'].map((s) => Buffer.from(s, 'latin1'));

function int(rng: () => number, n: number): number {
  return Math.floor(rng() * n);
}

/** Byte offsets where lines start (after each LF). */
function lineStarts(buf: Buffer): number[] {
  const out = [0];
  for (let i = 0; i < buf.length; i++) if (buf[i] === 10 && i + 1 < buf.length) out.push(i + 1);
  return out;
}

function lineAt(buf: Buffer, rng: () => number): [number, number] {
  const starts = lineStarts(buf);
  const k = int(rng, starts.length);
  const s = starts[k]!;
  const e = k + 1 < starts.length ? starts[k + 1]! : buf.length;
  return [s, e];
}

/** One mutation of `buf`, chosen by `rng`; never returns `buf` itself. */
export function mutateOnce(buf: Buffer, rng: () => number): Buffer {
  const len = buf.length;
  const pos = len === 0 ? 0 : int(rng, len);
  switch (int(rng, 11)) {
    case 0: { // bit flips
      const out = Buffer.from(buf);
      const flips = 1 + int(rng, 4);
      for (let i = 0; i < flips && len > 0; i++) out[int(rng, len)]! ^= 1 << int(rng, 8);
      return out;
    }
    case 1: // truncation
      return Buffer.from(buf.subarray(0, pos));
    case 2: { // splice: bytes from one place copied over another place
      const from = int(rng, len + 1);
      const n = int(rng, 64);
      return Buffer.concat([buf.subarray(0, pos), buf.subarray(from, from + n), buf.subarray(pos + int(rng, 16))]);
    }
    case 3: { // insert a structural character
      const ins = INSERTS[int(rng, INSERTS.length)]!;
      return Buffer.concat([buf.subarray(0, pos), ins, buf.subarray(pos)]);
    }
    case 4: { // duplicate a header line
      const [s, e] = lineAt(buf, rng);
      const at = lineStarts(buf)[int(rng, lineStarts(buf).length)]!;
      return Buffer.concat([buf.subarray(0, at), buf.subarray(s, e), buf.subarray(at)]);
    }
    case 5: { // delete a line
      const [s, e] = lineAt(buf, rng);
      return Buffer.concat([buf.subarray(0, s), buf.subarray(e)]);
    }
    case 6: { // delete a byte range
      return Buffer.concat([buf.subarray(0, pos), buf.subarray(pos + 1 + int(rng, 32))]);
    }
    case 7: { // insert a SIP-ish token
      const tok = TOKENS[int(rng, TOKENS.length)]!;
      return Buffer.concat([buf.subarray(0, pos), tok, buf.subarray(pos)]);
    }
    case 8: { // random bytes
      const n = 1 + int(rng, 16);
      const junk = Buffer.alloc(n);
      for (let i = 0; i < n; i++) junk[i] = int(rng, 256);
      return Buffer.concat([buf.subarray(0, pos), junk, buf.subarray(pos)]);
    }
    case 9: { // fold a line: turn a space into CRLF SP
      const sp = buf.indexOf(32, pos);
      if (sp < 0) return Buffer.concat([buf, Buffer.from('\r\n ')]);
      return Buffer.concat([buf.subarray(0, sp), Buffer.from('\r\n '), buf.subarray(sp + 1)]);
    }
    default: { // replace a digit run by a huge or negative number
      let d = pos;
      while (d < len && (buf[d]! < 48 || buf[d]! > 57)) d++;
      let e = d;
      while (e < len && buf[e]! >= 48 && buf[e]! <= 57) e++;
      const repl = Buffer.from(rng() < 0.5 ? '4294967296' : rng() < 0.5 ? '-1' : '0000000000000000000001');
      return Buffer.concat([buf.subarray(0, d), repl, buf.subarray(e)]);
    }
  }
}

/** One to four stacked mutations of `buf`. */
export function mutate(buf: Buffer, rng: () => number): Buffer {
  let out = mutateOnce(buf, rng);
  const more = int(rng, 4);
  for (let i = 0; i < more; i++) out = mutateOnce(out, rng);
  return out;
}
