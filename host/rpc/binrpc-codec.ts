/**
 * BINRPC, the binary protocol of Kamailio's ctl module and kamcmd (wire facts: reference kamailio.md §3.2,
 * Kamailio src/modules/ctl/binrpc.h). Everything is big-endian.
 *
 * Packet header:
 *   byte 0   0xA1 (magic 0xA, version 1)
 *   byte 1   type << 4 | (LL - 1) << 2 | (CL - 1)       type: 0 request, 1 reply, 3 fault
 *   LL bytes body length, CL bytes cookie (the client's id, echoed in the reply)
 *
 * Body: records. Tag byte = S (bit 7) | size (bits 6..4) | type (bits 3..0).
 *   S = 0: `size` is the value length; S = 1: `size` is the length of a length field that follows.
 *   Types: 0 int (minimal bytes, 0 has no bytes), 1 string (NUL-terminated, the length counts the NUL),
 *   2 double (a 64-bit fixed-point int = value * 1000), 3 struct, 4 array, 5 struct member name (AVP,
 *   followed by its value), 6 bytes. Struct/array start: tag with size 0; end: S = 1 with size 0.
 *
 * Mapping to RpcValue, the way Kamailio's ctl module builds replies:
 *   - a method's result array is sent as several top-level records (Kamailio's repeated rpc->add), an object
 *     as a struct, an array nested in the result as a BINRPC array;
 *   - an array that is a struct member is sent as a struct of unnamed values (ctl does the same for `[` in
 *     struct_add, because kamcmd's parser refuses arrays inside structs);
 *   - integers in the int32 range are ints, other numbers doubles; booleans ints 0/1; null "<null string>".
 * Decoding reverses this: a struct whose members are all unnamed comes back as an array.
 */
import { SiphonError } from '../errors/registry.js';
import type { RpcValue } from './types.js';

export const BINRPC_MAGIC_VERSION = 0xa1;

export const enum BinrpcType {
  REQUEST = 0,
  REPLY = 1,
  FAULT = 3,
}

const T_INT = 0;
const T_STR = 1;
const T_DOUBLE = 2;
const T_STRUCT = 3;
const T_ARRAY = 4;
const T_AVP = 5;
const T_BYTES = 6;

/** what ctl substitutes for a NULL string. */
const NULL_STRING = '<null string>';

export interface BinrpcHeader {
  type: BinrpcType;
  bodyLength: number;
  cookie: number;
  /** bytes taken by the header itself (2..10). */
  headerLength: number;
}

/**
 * Parses a packet header at `offset`. Returns null when more bytes are needed; throws RPC_PROTOCOL on a
 * bad magic or packet type (the stream cannot be resynchronised then).
 */
export function parseHeader(buf: Uint8Array, offset = 0): BinrpcHeader | null {
  if (buf.length - offset < 2) return null;
  if (buf[offset] !== BINRPC_MAGIC_VERSION) {
    throw new SiphonError('RPC_PROTOCOL', `bad magic/version byte 0x${buf[offset]!.toString(16)}`);
  }
  const b1 = buf[offset + 1]!;
  const type = b1 >> 4;
  if (type !== BinrpcType.REQUEST && type !== BinrpcType.REPLY && type !== BinrpcType.FAULT) {
    throw new SiphonError('RPC_PROTOCOL', `unknown packet type ${type}`);
  }
  const lenLen = ((b1 >> 2) & 3) + 1;
  const cookieLen = (b1 & 3) + 1;
  const headerLength = 2 + lenLen + cookieLen;
  if (buf.length - offset < headerLength) return null;
  let p = offset + 2;
  let bodyLength = 0;
  for (let i = 0; i < lenLen; i++) bodyLength = bodyLength * 256 + buf[p++]!;
  let cookie = 0;
  for (let i = 0; i < cookieLen; i++) cookie = cookie * 256 + buf[p++]!;
  return { type: type as BinrpcType, bodyLength, cookie, headerLength };
}

/** bytes needed for a non-negative int (0 for 0), as binrpc_get_int_len does. */
function minimalUintBytes(u: number): number {
  if (u === 0) return 0;
  if (u < 0x100) return 1;
  if (u < 0x10000) return 2;
  if (u < 0x1000000) return 3;
  return 4;
}

/**
 * Serialises packets. One writer is reused by a listener: its scratch buffer grows to the largest
 * packet seen, and every packet is returned as its own exact-size Buffer (safe to hand to socket.write).
 */
export class BinrpcWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialSize = 4096) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  /** a reply carrying `values` as top-level records (a method result: see mapResult). */
  reply(cookie: number, values: readonly RpcValue[]): Buffer {
    this.pos = 0;
    for (const v of values) this.value(v, false);
    return this.finish(BinrpcType.REPLY, cookie);
  }

  fault(cookie: number, code: number, message: string): Buffer {
    this.pos = 0;
    this.int(code);
    this.str(T_STR, message);
    return this.finish(BinrpcType.FAULT, cookie);
  }

  request(cookie: number, method: string, params: readonly RpcValue[]): Buffer {
    this.pos = 0;
    this.str(T_STR, method);
    for (const v of params) this.value(v, false);
    return this.finish(BinrpcType.REQUEST, cookie);
  }

  private finish(type: BinrpcType, cookie: number): Buffer {
    const bodyLength = this.pos;
    const lenLen = Math.max(1, minimalUintBytes(bodyLength));
    const c = cookie >>> 0;
    const cookieLen = Math.max(1, minimalUintBytes(c));
    const out = Buffer.allocUnsafe(2 + lenLen + cookieLen + bodyLength);
    out[0] = BINRPC_MAGIC_VERSION;
    out[1] = (type << 4) | ((lenLen - 1) << 2) | (cookieLen - 1);
    let p = 2;
    for (let i = lenLen - 1; i >= 0; i--) out[p++] = Math.floor(bodyLength / 2 ** (8 * i)) & 0xff;
    for (let i = cookieLen - 1; i >= 0; i--) out[p++] = (c >>> (8 * i)) & 0xff;
    this.buf.copy(out, p, 0, bodyLength);
    return out;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /**
   * Writes one value. `inStruct` is true for values nested in a struct (members and the elements of an
   * array sent as a struct): there arrays become structs of unnamed values, as ctl does.
   */
  private value(v: RpcValue, inStruct: boolean): void {
    switch (typeof v) {
      case 'string':
        this.str(T_STR, v);
        return;
      case 'number':
        if (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) this.int(v);
        else this.double(v);
        return;
      case 'boolean':
        this.int(v ? 1 : 0);
        return;
    }
    if (v === null) {
      this.str(T_STR, NULL_STRING);
      return;
    }
    if (Array.isArray(v)) {
      const open = inStruct ? T_STRUCT : T_ARRAY;
      this.tag(open, false);
      for (const e of v) this.value(e, inStruct);
      this.tag(open, true);
      return;
    }
    this.tag(T_STRUCT, false);
    for (const key of Object.keys(v)) {
      this.str(T_AVP, key);
      const member = v[key]!;
      if (Array.isArray(member)) {
        this.tag(T_STRUCT, false);
        for (const e of member) this.value(e, true);
        this.tag(T_STRUCT, true);
      } else {
        this.value(member, true);
      }
    }
    this.tag(T_STRUCT, true);
  }

  private tag(type: number, end: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = (end ? 0x80 : 0) | type;
  }

  private int(i: number): void {
    const u = i >>> 0;
    const size = minimalUintBytes(u);
    this.ensure(1 + size);
    this.buf[this.pos++] = (size << 4) | T_INT;
    for (let k = size - 1; k >= 0; k--) this.buf[this.pos++] = (u >>> (8 * k)) & 0xff;
  }

  /** doubles travel as a fixed-point int64 of value * 1000 (binrpc_add_double_type). */
  private double(f: number): void {
    let fixed: bigint;
    const scaled = Math.trunc(f * 1000);
    if (!Number.isFinite(scaled)) fixed = scaled > 0 ? 0x7fffffffffffffffn : -0x8000000000000000n;
    else fixed = BigInt.asUintN(64, BigInt(scaled));
    let size = 8;
    while (size > 0 && (fixed >> BigInt(8 * (size - 1))) === 0n) size--;
    this.ensure(1 + size);
    // size 8 sets bit 7, which readers ignore for doubles (they never carry an external length)
    this.buf[this.pos++] = (size << 4) | T_DOUBLE;
    for (let k = size - 1; k >= 0; k--) this.buf[this.pos++] = Number((fixed >> BigInt(8 * k)) & 0xffn);
  }

  private str(type: number, s: string): void {
    const byteLen = Buffer.byteLength(s);
    const total = type === T_BYTES ? byteLen : byteLen + 1;
    this.ensure(1 + 4 + total);
    if (total < 8) {
      this.buf[this.pos++] = (total << 4) | type;
    } else {
      const lenSize = minimalUintBytes(total);
      this.buf[this.pos++] = ((8 | lenSize) << 4) | type;
      for (let k = lenSize - 1; k >= 0; k--) this.buf[this.pos++] = (total >>> (8 * k)) & 0xff;
    }
    this.pos += this.buf.write(s, this.pos, 'utf8');
    if (type !== T_BYTES) this.buf[this.pos++] = 0;
  }
}

/**
 * The records a method result is sent as: an array result becomes that many top-level records (as
 * Kamailio methods that call rpc->add repeatedly, e.g. system.listMethods); anything else one record.
 * An undefined/empty result is an empty reply.
 */
export function resultRecords(result: RpcValue | undefined): readonly RpcValue[] {
  if (result === undefined) return [];
  return Array.isArray(result) ? result : [result];
}

const END = Symbol('end');
type Item = { name: string | null; value: RpcValue } | typeof END;

/**
 * Deepest struct/array nesting a request may use. kamcmd and Kamailio's RPC methods nest two or three
 * levels; a body of nothing but "open array" bytes would otherwise recurse once per byte.
 */
export const MAX_NESTING = 32;

/** Reads the records of one packet body. */
class BodyReader {
  private p: number;
  private depth = 0;

  constructor(
    private readonly body: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    this.p = start;
  }

  atEnd(): boolean {
    return this.p >= this.end;
  }

  private bad(what: string): never {
    throw new SiphonError('RPC_PROTOCOL', `${what} at body offset ${this.p}`);
  }

  private uint(len: number): number {
    if (this.p + len > this.end) this.bad('truncated record');
    let u = 0;
    for (let i = 0; i < len; i++) u = u * 256 + this.body[this.p++]!;
    return u;
  }

  private text(len: number, nulTerminated: boolean): string {
    if (this.p + len > this.end) this.bad('truncated string');
    const stop = nulTerminated && len > 0 ? this.p + len - 1 : this.p + len;
    const s = Buffer.from(this.body.buffer, this.body.byteOffset + this.p, stop - this.p).toString('utf8');
    this.p += len;
    return s;
  }

  /** one record; struct/array ends come back as END. `inStruct` allows member names. */
  item(inStruct: boolean): Item {
    if (this.p >= this.end) this.bad('unexpected end of body');
    const tag = this.body[this.p++]!;
    const type = tag & 0x0f;
    let len = tag >> 4;
    let endMark = false;
    if (type !== T_DOUBLE && len & 8) {
      endMark = true;
      len = this.uint(len & 7);
    }
    switch (type) {
      case T_INT: {
        const u = this.uint(len);
        return { name: null, value: len <= 4 ? u | 0 : u };
      }
      case T_STR:
        return { name: null, value: this.text(len, true) };
      case T_BYTES:
        return { name: null, value: this.text(len, false) };
      case T_DOUBLE: {
        if (this.p + len > this.end) this.bad('truncated double');
        let v = 0n;
        for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(this.body[this.p++]!);
        return { name: null, value: Number(BigInt.asIntN(64, v)) / 1000 };
      }
      case T_STRUCT:
        if (endMark) return END;
        return { name: null, value: this.struct() };
      case T_ARRAY:
        if (endMark) return END;
        return { name: null, value: this.array() };
      case T_AVP: {
        if (!inStruct) this.bad('struct member outside a struct');
        const name = this.text(len, true);
        const member = this.item(false);
        if (member === END) this.bad('struct member without a value');
        return { name, value: member.value };
      }
      default:
        return this.bad(`unknown record type ${type}`);
    }
  }

  private nest(): void {
    if (++this.depth > MAX_NESTING) this.bad(`struct/array nesting deeper than ${MAX_NESTING}`);
  }

  private struct(): RpcValue {
    this.nest();
    const names: (string | null)[] = [];
    const values: RpcValue[] = [];
    for (;;) {
      const it = this.item(true);
      if (it === END) break;
      names.push(it.name);
      values.push(it.value);
    }
    this.depth--;
    if (values.length > 0 && names.every((n) => n === null)) return values;
    const obj: { [key: string]: RpcValue } = {};
    for (let i = 0; i < values.length; i++) obj[names[i] ?? String(i)] = values[i]!;
    return obj;
  }

  private array(): RpcValue[] {
    this.nest();
    const out: RpcValue[] = [];
    for (;;) {
      const it = this.item(false);
      if (it === END) break;
      out.push(it.value);
    }
    this.depth--;
    return out;
  }
}

/** Decodes the top-level records of a body (`body[start..end)`). Throws RPC_PROTOCOL when malformed. */
export function decodeBody(body: Uint8Array, start = 0, end = body.length): RpcValue[] {
  const r = new BodyReader(body, start, end);
  const out: RpcValue[] = [];
  while (!r.atEnd()) {
    const it = r.item(false);
    if (it === END) throw new SiphonError('RPC_PROTOCOL', 'unbalanced struct/array end');
    out.push(it.value);
  }
  return out;
}

export interface DecodedPacket {
  header: BinrpcHeader;
  /** request: [method, ...params]; reply: values; fault: [code, message]. */
  values: RpcValue[];
  /** total bytes of the packet (header + body). */
  length: number;
}

/** Decodes one whole packet at `offset`, or returns null when more bytes are needed. */
export function decodePacket(buf: Uint8Array, offset = 0): DecodedPacket | null {
  const header = parseHeader(buf, offset);
  if (!header) return null;
  const start = offset + header.headerLength;
  const end = start + header.bodyLength;
  if (buf.length < end) return null;
  return { header, values: decodeBody(buf, start, end), length: header.headerLength + header.bodyLength };
}
