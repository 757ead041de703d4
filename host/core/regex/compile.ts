/**
 * A linear-time regular expression engine for message text, part 1: parsing a POSIX extended
 * regular expression (the subset Kamailio configs use with textops/textopsx: literals, `.`, bracket
 * expressions with ranges and `[:class:]`, `*` `+` `?` `{m}` `{m,}` `{m,n}`, `|`, groups, `^`, `$`,
 * plus the `\d \w \s` escapes people write) and compiling it to a program for the Pike VM in vm.ts.
 *
 * Why not RegExp: V8's engine backtracks, so a plugin's `(a*)*b` against a 64 KB header would stall
 * the node for minutes. This program is run by a VM that keeps at most one thread per instruction,
 * so matching costs O(text length × program length) whatever the pattern (Thompson 1968, Pike's
 * submatch extension as described by Russ Cox, "Regular Expression Matching: the Virtual Machine
 * Approach", 2009). Back-references *inside* a pattern (`(a)\1`) are not regular and are refused.
 *
 * Bounds (refused with a RegexError, never run): pattern length MAX_PATTERN, repetition counts up to
 * MAX_REPEAT (POSIX RE_DUP_MAX is 255), MAX_GROUPS capture groups, MAX_PROGRAM instructions after
 * `{m,n}` is expanded.
 */

/** longest pattern accepted (characters). */
export const MAX_PATTERN = 1024;
/** largest `{m,n}` bound (POSIX RE_DUP_MAX = 255; Kamailio passes patterns to glibc regcomp). */
export const MAX_REPEAT = 255;
/** most capture groups (\1..\9 are addressable in replacements; the others still group). */
export const MAX_GROUPS = 32;
/** most VM instructions: bounds the per-position work and the thread lists. */
export const MAX_PROGRAM = 4096;

export class RegexError extends Error {
  constructor(message: string, readonly at: number) {
    super(`${message} at offset ${at}`);
    this.name = 'RegexError';
  }
}

/** A set of UTF-16 code units: a bitmap for 0-255 and ranges above. */
export class CharSet {
  readonly low = new Uint32Array(8);
  readonly high: number[] = [];
  negated = false;

  addRange(a: number, b: number): void {
    for (let c = a; c <= Math.min(b, 255); c++) this.low[c >>> 5]! |= 1 << (c & 31);
    if (b > 255) this.high.push(Math.max(a, 256), b);
  }

  has(c: number): boolean {
    let r: boolean;
    if (c < 256) {
      r = (this.low[c >>> 5]! & (1 << (c & 31))) !== 0;
    } else {
      r = false;
      const h = this.high;
      for (let i = 0; i < h.length; i += 2) if (c >= h[i]! && c <= h[i + 1]!) { r = true; break; }
    }
    return r !== this.negated;
  }

  /** adds the other case of every ASCII letter in the set (REG_ICASE). */
  foldCase(): void {
    for (let c = 65; c <= 90; c++) {
      const lo = c + 32;
      const inU = (this.low[c >>> 5]! & (1 << (c & 31))) !== 0;
      const inL = (this.low[lo >>> 5]! & (1 << (lo & 31))) !== 0;
      if (inU || inL) {
        this.low[c >>> 5]! |= 1 << (c & 31);
        this.low[lo >>> 5]! |= 1 << (lo & 31);
      }
    }
  }
}

// ---- instructions ------------------------------------------------------------------------------

export const enum Op {
  Char = 0, // x = code unit
  Any = 1, // any code unit; not '\n' in newline mode
  Set = 2, // set = CharSet
  Split = 3, // try x first, then y
  Jmp = 4, // x
  Save = 5, // x = capture slot
  Bol = 6,
  Eol = 7,
  Match = 8,
}

export interface Inst {
  op: Op;
  x: number;
  y: number;
  set: CharSet | null;
}

export interface CompileOptions {
  /** REG_ICASE: ASCII letters match either case. */
  icase?: boolean;
  /**
   * REG_NEWLINE with SIP's CRLF line ends: `.` and `[^...]` match neither '\n' nor '\r' (POSIX:
   * not '\n'; SIP and SDP lines end with CRLF, so `.*$` stops before the CR); `^` matches after
   * '\n', `$` before "\n" or "\r\n". Off: `^`/`$` match only at the ends of the text.
   */
  newline?: boolean;
}

export interface Program {
  readonly insts: readonly Inst[];
  /** capture slots: 2 × (groups + 1). */
  readonly slots: number;
  readonly groups: number;
  readonly newline: boolean;
  readonly source: string;
}

// ---- parser (recursive descent over the ERE grammar) -------------------------------------------

type Node =
  | { t: 'char'; c: number }
  | { t: 'any' }
  | { t: 'set'; set: CharSet }
  | { t: 'bol' }
  | { t: 'eol' }
  | { t: 'empty' }
  | { t: 'cat'; xs: Node[] }
  | { t: 'alt'; xs: Node[] }
  | { t: 'group'; n: number; x: Node } // n = -1: non-capturing
  | { t: 'rep'; x: Node; min: number; max: number }; // max -1 = unbounded

const POSIX_CLASSES: Readonly<Record<string, ReadonlyArray<readonly [number, number]>>> = {
  alpha: [[65, 90], [97, 122]],
  digit: [[48, 57]],
  alnum: [[48, 57], [65, 90], [97, 122]],
  upper: [[65, 90]],
  lower: [[97, 122]],
  space: [[9, 13], [32, 32]],
  blank: [[9, 9], [32, 32]],
  xdigit: [[48, 57], [65, 70], [97, 102]],
  punct: [[33, 47], [58, 64], [91, 96], [123, 126]],
  print: [[32, 126]],
  graph: [[33, 126]],
  cntrl: [[0, 31], [127, 127]],
};

class Parser {
  private i = 0;
  groups = 0;

  constructor(private readonly s: string) {}

  parse(): Node {
    const n = this.alt();
    if (this.i < this.s.length) throw new RegexError(`unmatched ')'`, this.i);
    return n;
  }

  private alt(): Node {
    const xs = [this.cat()];
    while (this.s.charCodeAt(this.i) === 124 /* | */) {
      this.i++;
      xs.push(this.cat());
    }
    return xs.length === 1 ? xs[0]! : { t: 'alt', xs };
  }

  private cat(): Node {
    const xs: Node[] = [];
    const s = this.s;
    while (this.i < s.length) {
      const c = s.charCodeAt(this.i);
      if (c === 124 || c === 41) break; // | )
      let atom = this.atom();
      atom = this.quantifiers(atom);
      xs.push(atom);
    }
    return xs.length === 0 ? { t: 'empty' } : xs.length === 1 ? xs[0]! : { t: 'cat', xs };
  }

  private quantifiers(atom: Node): Node {
    const s = this.s;
    for (;;) {
      const c = s.charCodeAt(this.i);
      let min: number;
      let max: number;
      if (c === 42) { min = 0; max = -1; this.i++; } // *
      else if (c === 43) { min = 1; max = -1; this.i++; } // +
      else if (c === 63) { min = 0; max = 1; this.i++; } // ?
      else if (c === 123 && /^\{\d/.test(s.slice(this.i, this.i + 2))) [min, max] = this.bounds();
      else return atom;
      if (atom.t === 'bol' || atom.t === 'eol' || atom.t === 'empty') throw new RegexError('repetition of nothing', this.i - 1);
      // a lazy `?` after a quantifier (Perl) is not ERE: refused rather than misread
      if (s.charCodeAt(this.i) === 63 && c !== 63) throw new RegexError('lazy quantifiers are not supported', this.i);
      atom = { t: 'rep', x: atom, min, max };
    }
  }

  private bounds(): [number, number] {
    const m = /^\{(\d{1,4})(,(\d{0,4}))?\}/.exec(this.s.slice(this.i, this.i + 12));
    if (m === null) throw new RegexError('bad repetition bound', this.i);
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3]);
    if (min > MAX_REPEAT || max > MAX_REPEAT) throw new RegexError(`repetition bound above ${MAX_REPEAT}`, this.i);
    if (max !== -1 && max < min) throw new RegexError('repetition bounds out of order', this.i);
    this.i += m[0].length;
    return [min, max];
  }

  private atom(): Node {
    const s = this.s;
    const at = this.i;
    const c = s.charCodeAt(this.i++);
    switch (c) {
      case 40: { // (
        let n = -1;
        if (s.startsWith('?:', this.i)) this.i += 2;
        else if (s.charCodeAt(this.i) === 63) throw new RegexError('unsupported group syntax', this.i);
        else {
          n = ++this.groups;
          if (n > MAX_GROUPS) throw new RegexError(`more than ${MAX_GROUPS} groups`, at);
        }
        const x = this.alt();
        if (s.charCodeAt(this.i) !== 41) throw new RegexError(`unmatched '('`, at);
        this.i++;
        return { t: 'group', n, x };
      }
      case 46: return { t: 'any' }; // .
      case 94: return { t: 'bol' }; // ^
      case 36: return { t: 'eol' }; // $
      case 91: return { t: 'set', set: this.bracket() }; // [
      case 42: case 43: case 63: throw new RegexError('repetition of nothing', at);
      case 92: return this.escape(at);
      default: return { t: 'char', c };
    }
  }

  private escape(at: number): Node {
    const s = this.s;
    if (this.i >= s.length) throw new RegexError('trailing backslash', at);
    const c = s.charCodeAt(this.i++);
    const cls = (ranges: ReadonlyArray<readonly [number, number]>, neg: boolean): Node => {
      const set = new CharSet();
      for (const [a, b] of ranges) set.addRange(a, b);
      set.negated = neg;
      return { t: 'set', set };
    };
    switch (c) {
      case 100: return cls(POSIX_CLASSES.digit!, false); // \d
      case 68: return cls(POSIX_CLASSES.digit!, true); // \D
      case 119: return cls([...POSIX_CLASSES.alnum!, [95, 95]], false); // \w
      case 87: return cls([...POSIX_CLASSES.alnum!, [95, 95]], true); // \W
      case 115: return cls(POSIX_CLASSES.space!, false); // \s
      case 83: return cls(POSIX_CLASSES.space!, true); // \S
      case 110: return { t: 'char', c: 10 }; // \n
      case 114: return { t: 'char', c: 13 }; // \r
      case 116: return { t: 'char', c: 9 }; // \t
      default:
        if (c >= 49 && c <= 57) throw new RegexError('back-references in a pattern are not supported (not regular)', at);
        if ((c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57)) {
          throw new RegexError(`unknown escape \\${String.fromCharCode(c)}`, at);
        }
        return { t: 'char', c }; // \. \* \\ \/ ...
    }
  }

  /** a bracket expression after its '[' (POSIX: `]` first is literal, `-` first or last is literal). */
  private bracket(): CharSet {
    const s = this.s;
    const start = this.i - 1;
    const set = new CharSet();
    if (s.charCodeAt(this.i) === 94) { set.negated = true; this.i++; }
    let first = true;
    for (;;) {
      if (this.i >= s.length) throw new RegexError(`unmatched '['`, start);
      let c = s.charCodeAt(this.i);
      if (c === 93 && !first) { this.i++; return set; }
      first = false;
      if (c === 91 && s.charCodeAt(this.i + 1) === 58) { // [:name:]
        const end = s.indexOf(':]', this.i + 2);
        const name = end < 0 ? '' : s.slice(this.i + 2, end);
        const ranges = POSIX_CLASSES[name];
        if (ranges === undefined) throw new RegexError(`unknown character class [:${name.slice(0, 16)}:]`, this.i);
        for (const [a, b] of ranges) set.addRange(a, b);
        this.i = end + 2;
        continue;
      }
      if (c === 92 && this.i + 1 < s.length) { // an escape inside brackets (not POSIX, but \] and \\ are what people mean)
        c = s.charCodeAt(++this.i);
        c = c === 110 ? 10 : c === 114 ? 13 : c === 116 ? 9 : c;
      }
      this.i++;
      let hi = c;
      if (s.charCodeAt(this.i) === 45 && this.i + 1 < s.length && s.charCodeAt(this.i + 1) !== 93) { // a-z
        hi = s.charCodeAt(this.i + 1);
        this.i += 2;
        if (hi < c) throw new RegexError('character range out of order', this.i - 3);
      }
      set.addRange(c, hi);
    }
  }
}

// ---- code generation ---------------------------------------------------------------------------

class Emitter {
  readonly out: Inst[] = [];

  constructor(private readonly opts: Required<CompileOptions>) {}

  private emit(op: Op, x = 0, y = 0, set: CharSet | null = null): number {
    if (this.out.length >= MAX_PROGRAM) throw new RegexError(`pattern compiles to more than ${MAX_PROGRAM} instructions`, 0);
    this.out.push({ op, x, y, set });
    return this.out.length - 1;
  }

  gen(n: Node): void {
    switch (n.t) {
      case 'char': {
        const c = n.c;
        const lower = c | 32;
        if (this.opts.icase && lower >= 97 && lower <= 122) {
          const set = new CharSet();
          set.addRange(lower, lower);
          set.addRange(lower - 32, lower - 32);
          this.emit(Op.Set, 0, 0, set);
        } else {
          this.emit(Op.Char, c);
        }
        return;
      }
      case 'any': this.emit(Op.Any); return;
      case 'set': {
        if (this.opts.icase) n.set.foldCase();
        // REG_NEWLINE: a non-matching list never matches a line end (POSIX regcomp: '\n'; SIP: CRLF)
        if (this.opts.newline && n.set.negated) { n.set.addRange(10, 10); n.set.addRange(13, 13); }
        this.emit(Op.Set, 0, 0, n.set);
        return;
      }
      case 'bol': this.emit(Op.Bol); return;
      case 'eol': this.emit(Op.Eol); return;
      case 'empty': return;
      case 'cat': for (const x of n.xs) this.gen(x); return;
      case 'alt': {
        // split L1, next; L1: x0; jmp end; next: split ... ; last alternative without a split
        const jumps: number[] = [];
        for (let k = 0; k < n.xs.length; k++) {
          if (k < n.xs.length - 1) {
            const sp = this.emit(Op.Split);
            this.out[sp]!.x = this.out.length;
            this.gen(n.xs[k]!);
            jumps.push(this.emit(Op.Jmp));
            this.out[sp]!.y = this.out.length;
          } else {
            this.gen(n.xs[k]!);
          }
        }
        for (const j of jumps) this.out[j]!.x = this.out.length;
        return;
      }
      case 'group':
        if (n.n < 0) { this.gen(n.x); return; }
        this.emit(Op.Save, 2 * n.n);
        this.gen(n.x);
        this.emit(Op.Save, 2 * n.n + 1);
        return;
      case 'rep': this.rep(n.x, n.min, n.max); return;
    }
  }

  /** x{min,max}: min copies, then (max - min) optional copies nested, or a star when unbounded. */
  private rep(x: Node, min: number, max: number): void {
    for (let k = 0; k < min; k++) this.gen(x);
    if (max === -1) {
      // L: split body, end; body: x; jmp L   (greedy)
      const sp = this.emit(Op.Split);
      this.out[sp]!.x = this.out.length;
      this.gen(x);
      this.emit(Op.Jmp, sp);
      this.out[sp]!.y = this.out.length;
      return;
    }
    const splits: number[] = [];
    for (let k = min; k < max; k++) {
      const sp = this.emit(Op.Split);
      this.out[sp]!.x = this.out.length;
      splits.push(sp);
      this.gen(x);
    }
    for (const sp of splits) this.out[sp]!.y = this.out.length;
  }
}

/** Parses and compiles `pattern`; throws RegexError naming the offset of the first defect. */
export function compile(pattern: string, options: CompileOptions = {}): Program {
  if (pattern.length > MAX_PATTERN) throw new RegexError(`pattern longer than ${MAX_PATTERN} characters`, MAX_PATTERN);
  const opts = { icase: options.icase === true, newline: options.newline === true };
  const p = new Parser(pattern);
  const ast = p.parse();
  const e = new Emitter(opts);
  // the whole match is group 0: save 0, the pattern, save 1, match
  e.out.push({ op: Op.Save, x: 0, y: 0, set: null });
  e.gen(ast);
  e.out.push({ op: Op.Save, x: 1, y: 0, set: null }, { op: Op.Match, x: 0, y: 0, set: null });
  return { insts: e.out, slots: 2 * (p.groups + 1), groups: p.groups, newline: opts.newline, source: pattern };
}
