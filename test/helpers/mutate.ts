/**
 * A seeded mutator of SIP messages for fuzz tests (in-process and over the socket).
 *
 *   const rng = mulberry32(42);
 *   const bad = mutate(seedMessage, rng);
 *
 * Same seed, same sequence: a failing case is reproduced from its seed and iteration number. The
 * mutations aim at what breaks SIP parsers: bit flips, truncations, splices of two places, inserted
 * CR/LF/CRLF/colon/quote/angle/comma/semicolon/NUL bytes, duplicated or dropped header lines, folded
 * lines, overlong digit runs, and random bytes. mutateStructured() adds what an attacker sends on
 * purpose: long runs, deep nesting, huge counts, duplicated routing headers, boundary Content-Lengths,
 * compact forms (issue 10).
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

// ---- structure-aware mutations ---------------------------------------------------------------------
//
// What a hostile peer sends on purpose rather than by accident: long runs of the characters the
// grammar gives meaning to, deep nesting, huge counts (Vias, parameters, list elements, header
// fields) around the server's limits, duplicated routing headers, Content-Lengths at the boundaries,
// and compact or oddly cased header names. Messages stay under MAX_STRUCTURED bytes (one datagram).

/** the largest message mutateStructured() returns (fits a UDP datagram and the 65,535-byte limit) */
export const MAX_STRUCTURED = 65_000;

const RUN_UNITS = [' ', '\t', '\r\n ', '\r\n\t', '"', '\\', '\\"', ';', ',', '<', '>', '<>', '(', '[', '%', '=', ';a', ';a=b', ',<sip:x>', '@', ':', ' ;', '; ', 'a'];
const NESTS: Array<[string, string]> = [['<', '>'], ['"<', '>"'], ['(', ')'], ['[', ']'], ['<"', '">'], ['"\\', '"'], ['<sip:a@b;x=', '>']];
const COMPACT: Record<string, string[]> = {
  via: ['v', 'V', 'VIA', 'vIa'],
  from: ['f', 'F', 'FROM'],
  to: ['t', 'T', 'tO'],
  'call-id': ['i', 'I', 'CALL-ID', 'call-ID'],
  'content-length': ['l', 'L', 'CONTENT-LENGTH'],
  contact: ['m', 'M', 'CONTACT'],
  cseq: ['CSEQ', 'cseq'],
  'max-forwards': ['MAX-FORWARDS', 'max-forwards'],
  route: ['ROUTE', 'route'],
  'record-route': ['RECORD-ROUTE', 'record-route'],
};
const ROUTING = ['via', 'from', 'to', 'call-id', 'cseq', 'content-length', 'max-forwards', 'contact', 'route', 'record-route', 'path', 'expires'];
const CONTENT_LENGTHS = (body: number): string[] => ['0', String(Math.max(0, body - 1)), String(body), String(body + 1), '65535', '65536', '4294967295', '4294967296', '000000000000', '', ' 5 ', '-0', '1e3', '0x10'];
const HUGE_HEADERS = ['Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKhuge', 'Route: <sip:192.0.2.1;lr>', 'Record-Route: <sip:192.0.2.1;lr>', 'Contact: <sip:a@192.0.2.1>', 'Path: <sip:192.0.2.1;lr>', 'X-H: v'];

/**
 * A run length or count: log-uniform from 1 to 1,024, and three times in a hundred log-uniform up to 60,000
 * (the size limit): long enough to expose super-linear work, rare enough to keep a million cheap.
 */
function runLength(rng: () => number): number {
  return Math.min(60_000, Math.floor(2 ** (rng() * (rng() < 0.03 ? 16 : 10))));
}

/** a count of copies: log-uniform from 1 to 64, and three times in a hundred up to `max` */
function count(rng: () => number, max: number): number {
  return rng() < 0.03 ? Math.floor(max ** rng()) : Math.floor(2 ** (rng() * 6));
}

function repeat(unit: string, n: number): string {
  return unit.repeat(Math.max(1, Math.ceil(n / unit.length))).slice(0, Math.max(n, 1));
}

interface Lines {
  start: string;
  fields: string[];
  body: string;
}

function split(buf: Buffer): Lines {
  const s = buf.toString('latin1');
  let end = s.indexOf('\r\n\r\n');
  const body = end < 0 ? '' : s.slice(end + 4);
  if (end < 0) end = s.length;
  const lines = s.slice(0, end).split('\r\n');
  return { start: lines[0] ?? '', fields: lines.slice(1), body };
}

function join(m: Lines): Buffer {
  return Buffer.from(`${[m.start, ...m.fields].join('\r\n')}\r\n\r\n${m.body}`, 'latin1');
}

function nameOf(field: string): string {
  const c = field.indexOf(':');
  return c < 0 ? '' : field.slice(0, c).trim().toLowerCase();
}

/** index of a field whose (long or compact) name is `key`, else a random field; -1 when none */
function fieldIndex(m: Lines, rng: () => number, key?: string): number {
  if (m.fields.length === 0) return -1;
  if (key !== undefined) {
    const short = COMPACT[key]?.[0];
    for (let i = 0; i < m.fields.length; i++) {
      const n = nameOf(m.fields[i]!);
      if (n === key || (short !== undefined && n === short)) return i;
    }
  }
  return int(rng, m.fields.length);
}

/** inserts `text` into field i after its colon (at a random place in the value) */
function insertInValue(m: Lines, i: number, text: string, rng: () => number): void {
  const f = m.fields[i]!;
  const colon = f.indexOf(':');
  const at = colon < 0 ? int(rng, f.length + 1) : colon + 1 + int(rng, f.length - colon);
  m.fields[i] = f.slice(0, at) + text + f.slice(at);
}

/** One structure-aware mutation of `buf`, chosen by `rng` (at most MAX_STRUCTURED bytes). */
export function mutateStructuredOnce(buf: Buffer, rng: () => number): Buffer {
  const m = split(buf);
  const target = rng() < 0.7 ? ROUTING[int(rng, ROUTING.length)] : undefined;
  switch (int(rng, 9)) {
    case 0: { // a long run of one structural unit inside a header value
      const i = fieldIndex(m, rng, target);
      if (i < 0) break;
      insertInValue(m, i, repeat(RUN_UNITS[int(rng, RUN_UNITS.length)]!, runLength(rng)), rng);
      break;
    }
    case 1: { // deep nesting
      const i = fieldIndex(m, rng, target);
      if (i < 0) break;
      const [open, close] = NESTS[int(rng, NESTS.length)]!;
      const depth = count(rng, 15_000);
      const closeAll = rng() < 0.5;
      insertInValue(m, i, open.repeat(depth) + (closeAll ? close.repeat(depth) : ''), rng);
      break;
    }
    case 2: { // many copies of a routing header field (around max_headers)
      const i = fieldIndex(m, rng, rng() < 0.5 ? 'via' : target);
      if (i < 0) break;
      const n = count(rng, 400);
      const copies = new Array<string>(n).fill(m.fields[i]!);
      m.fields.splice(i, 0, ...copies);
      break;
    }
    case 3: { // many parameters on one value (Via, From, To, Contact, R-URI)
      const n = count(rng, 6000);
      const params = repeat(rng() < 0.5 ? ';p' : ';p=v', n * 3);
      if (rng() < 0.25) {
        const sp = m.start.indexOf(' ', m.start.indexOf(' ') + 1);
        m.start = sp < 0 ? m.start + params : m.start.slice(0, sp) + params + m.start.slice(sp);
      } else {
        const i = fieldIndex(m, rng, target);
        if (i >= 0) m.fields[i] += params;
      }
      break;
    }
    case 4: { // many list elements in one field, or many fields
      const line = HUGE_HEADERS[int(rng, HUGE_HEADERS.length)]!;
      const n = count(rng, 1500);
      if (rng() < 0.5) {
        const colon = line.indexOf(':');
        m.fields.push(line.slice(0, colon + 1) + new Array<string>(n).fill(line.slice(colon + 1)).join(','));
      } else {
        for (let k = 0; k < Math.min(n, 400); k++) m.fields.splice(int(rng, m.fields.length + 1), 0, line);
      }
      break;
    }
    case 5: { // a routing header duplicated (a second Call-ID, CSeq, From, To, Content-Length ...)
      const i = fieldIndex(m, rng, ROUTING[int(rng, 7)]);
      if (i < 0) break;
      const dup = rng() < 0.5 ? m.fields[i]! : `${m.fields[i]!.slice(0, m.fields[i]!.indexOf(':') + 1)} ${int(rng, 100)}`;
      m.fields.splice(int(rng, m.fields.length + 1), 0, dup);
      break;
    }
    case 6: { // Content-Length at the boundaries (and the body around it)
      const i = fieldIndex(m, rng, 'content-length');
      const values = CONTENT_LENGTHS(Buffer.byteLength(m.body, 'latin1'));
      const line = `${rng() < 0.5 ? 'Content-Length' : 'l'}: ${values[int(rng, values.length)]!}`;
      if (i >= 0 && nameOf(m.fields[i]!).startsWith('content-length') || (i >= 0 && nameOf(m.fields[i]!) === 'l')) m.fields[i] = line;
      else m.fields.push(line);
      if (rng() < 0.3) m.body += repeat('x', int(rng, 2000));
      break;
    }
    case 7: { // compact forms and odd casing of the names
      for (let i = 0; i < m.fields.length; i++) {
        const forms = COMPACT[nameOf(m.fields[i]!)];
        if (forms === undefined || rng() < 0.3) continue;
        const f = m.fields[i]!;
        m.fields[i] = forms[int(rng, forms.length)]! + f.slice(f.indexOf(':'));
      }
      break;
    }
    default: // one of the byte-level mutations on top of a structured one
      return cap(mutateOnce(mutateStructuredOnce(buf, rng), rng));
  }
  return cap(join(m));
}

function cap(b: Buffer): Buffer {
  return b.length <= MAX_STRUCTURED ? b : b.subarray(0, MAX_STRUCTURED);
}

/** One or two stacked structure-aware mutations of `buf`. */
export function mutateStructured(buf: Buffer, rng: () => number): Buffer {
  const out = mutateStructuredOnce(buf, rng);
  return rng() < 0.25 ? mutateStructuredOnce(out, rng) : out;
}
