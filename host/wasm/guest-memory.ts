/**
 * Access to one instance's linear memory from host functions (docs/abi/v1.md "Strings").
 *
 * The memory is created by the host and imported by the plugin as `env.memory`. We keep one
 * `Buffer` view over `memory.buffer`; when the guest grows its memory the old ArrayBuffer is
 * detached (its byteLength becomes 0), which is the cheap signal to refresh the view
 * (wasm-host.md §3.2: re-reading `memory.buffer` per call costs ~30 ns, the length check ~0).
 *
 * Strings cross as UTF-8 through Buffer's native `utf8Slice`/`utf8Write` (or the latin1 variants for
 * header names, which are tokens, RFC 3261 §25.1) — no TextEncoder/TextDecoder on the hot path.
 * Every (ptr, len) is bound-checked; a bad one yields INVALID_MEMORY (-3), never an exception.
 */

/** Host function status codes (docs/abi/v1.md "Status codes"). */
export const enum Status {
  OK = 0,
  NOT_FOUND = -1,
  BAD_ARGUMENT = -2,
  INVALID_MEMORY = -3,
  NOT_ALLOWED = -4,
  LIMIT = -5,
  UNIMPLEMENTED = -6,
  INTERNAL = -7,
}

/** Node's undocumented-but-stable Buffer fast paths (present since Node 0.x, used by Buffer.toString). */
interface FastBuffer extends Buffer {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
  ucs2Slice(start: number, end: number): string;
  utf8Write(value: string, offset: number, length: number): number;
  latin1Write(value: string, offset: number, length: number): number;
}

/** tokens up to this length are interned (see readToken). */
const TOKEN_INTERN_MAX_LEN = 64;
const TOKEN_INTERN_MAX_ENTRIES = 1024;
/** strings up to this length are written by a JS loop when ASCII (see writeUtf8). */
const SHORT_STRING_MAX = 64;

export class GuestMemory {
  private view: FastBuffer;
  /** FNV-1a hash of a token's bytes → the string last decoded from them. */
  private readonly tokens = new Map<number, string>();

  constructor(readonly memory: WebAssembly.Memory) {
    this.view = Buffer.from(memory.buffer) as FastBuffer;
  }

  /**
   * the current view, refreshed after memory.grow detached the previous one. `length` is used
   * because it is a cheap own-field read (~6 ns) where the byteLength getter costs ~20 ns.
   */
  bytes(): FastBuffer {
    let v = this.view;
    if (v.length === 0) {
      v = this.view = Buffer.from(this.memory.buffer) as FastBuffer;
    }
    return v;
  }

  /** true when [ptr, ptr+len) lies inside memory (ptr and len taken as unsigned i32). */
  inBounds(ptr: number, len: number): boolean {
    return len >= 0 && ptr >= 0 && ptr + len <= this.bytes().length;
  }

  /** UTF-8 text at (ptr, len), or null when out of bounds / negative. */
  readUtf8(ptr: number, len: number): string | null {
    const v = this.bytes();
    if (ptr < 0 || len < 0 || ptr + len > v.length) return null;
    return len === 0 ? '' : v.utf8Slice(ptr, ptr + len);
  }

  /**
   * Header names and other tokens (RFC 3261 §25.1 token: ASCII), decoded latin1. A plugin asks for
   * the same few names on every message, so short tokens are interned: hash the bytes, compare with
   * the cached string, and return it without allocating (~55 ns instead of ~95 ns per name); the
   * message layer then also sees the same string object each time.
   */
  readToken(ptr: number, len: number): string | null {
    const v = this.bytes();
    if (ptr < 0 || len < 0 || ptr + len > v.length) return null;
    if (len === 0) return '';
    if (len > TOKEN_INTERN_MAX_LEN) return v.latin1Slice(ptr, ptr + len);
    let h = 0x811c9dc5;
    for (let i = 0; i < len; i++) h = Math.imul(h ^ v[ptr + i], 0x01000193);
    const cached = this.tokens.get(h);
    if (cached !== undefined && cached.length === len) {
      let same = true;
      for (let i = 0; i < len; i++) {
        if (cached.charCodeAt(i) !== v[ptr + i]) {
          same = false;
          break;
        }
      }
      if (same) return cached;
    }
    const s = v.latin1Slice(ptr, ptr + len);
    if (this.tokens.size >= TOKEN_INTERN_MAX_ENTRIES) this.tokens.clear();
    this.tokens.set(h, s);
    return s;
  }

  /**
   * snprintf-style output: writes min(n, cap) bytes of `value` at `out` and returns the full UTF-8
   * length n, so the guest retries with a bigger buffer when n > cap. -3 when (out, cap) is outside
   * memory. When the value is cut, the cut never splits a UTF-8 sequence.
   */
  writeUtf8(out: number, cap: number, value: string): number {
    const v = this.bytes();
    if (out < 0 || cap < 0 || out + cap > v.length) return Status.INVALID_MEMORY;
    const len = value.length;
    if (len <= SHORT_STRING_MAX) {
      // short ASCII values (most header values): a JS copy beats the native call's fixed cost
      const lim = len < cap ? len : cap;
      let i = 0;
      for (; i < len; i++) {
        const c = value.charCodeAt(i);
        if (c > 0x7f) break;
        if (i < lim) v[out + i] = c;
      }
      if (i === len) return len;
    }
    const n = Buffer.byteLength(value, 'utf8');
    if (cap > 0 && n > 0) {
      // same byte count as characters ⇔ pure ASCII, where latin1Write is exact and faster
      if (n === value.length) v.latin1Write(value, out, n < cap ? n : cap);
      else v.utf8Write(value, out, n < cap ? n : cap);
    }
    return n;
  }

  /** raw bytes of `src` from offset `from`, same convention as writeUtf8: returns the length from `from`. */
  writeBytes(out: number, cap: number, src: Uint8Array, from: number): number {
    const v = this.bytes();
    if (out < 0 || cap < 0 || out + cap > v.length) return Status.INVALID_MEMORY;
    const avail = from < src.length ? src.length - from : 0;
    const n = avail < cap ? avail : cap;
    if (n > 0) v.set(src.subarray(from, from + n), out);
    return avail;
  }

  /**
   * An AssemblyScript string (UTF-16LE, byte length as u32 at ptr-4), as env.abort passes them,
   * cut at maxChars. Returns null for ptr 0 or anything out of bounds.
   */
  readAsString(ptr: number, maxChars: number): string | null {
    const v = this.bytes();
    if (ptr < 4 || ptr > v.length) return null;
    const len = v.readUInt32LE(ptr - 4);
    if (ptr + len > v.length) return null;
    // at most maxChars characters: the text is logged, and the guest chose the length
    const n = len < maxChars * 2 ? len & ~1 : maxChars * 2;
    return v.ucs2Slice(ptr, ptr + n);
  }
}
