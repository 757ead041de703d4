/**
 * A linear-time regular expression engine, part 2: the Pike VM running a compiled Program
 * (compile.ts) over a string. All threads advance in lock-step over the text, at most one thread per
 * instruction per position (a later thread reaching an instruction already taken is dropped: it can
 * only repeat what the earlier, higher-priority thread does), so a search costs at most
 * (text length + 1) × program length steps, whatever the pattern: `(a*)*b` on 100 KB of `a` is
 * linear. Threads carry their capture slots; slots are copied only when a Save changes them.
 *
 * Match semantics: leftmost, and among matches starting there the one a backtracking engine would
 * find first (greedy quantifiers, alternatives in order: Perl's rule). POSIX regexec (Kamailio)
 * picks the leftmost-longest; the two differ only when an earlier alternative is a prefix of a later
 * one (`a|ab` on "ab": "a" here, "ab" in POSIX).
 *
 * Cost: `meter` is called with the number of steps run, every METER_CHUNK steps and once at the
 * end for the rest, so a short search pays for what it did (not a whole chunk); a meter that throws
 * (gas exhausted) stops the search there: at most METER_CHUNK steps run past an exhausted budget.
 */
import { CharSet, Op, type Program } from './compile.js';

/** steps paid for at once; the VM never runs more than one chunk past what its meter accepted. */
export const METER_CHUNK = 1024;

export type Meter = (steps: number) => void;

/** capture offsets: [start0, end0, start1, end1, ...]; -1 for a group that did not take part. */
export type Captures = number[];

interface ThreadList {
  pcs: Int32Array;
  caps: Array<Captures | null>;
  n: number;
}

function newList(size: number): ThreadList {
  return { pcs: new Int32Array(size), caps: new Array<Captures | null>(size).fill(null), n: 0 };
}

/** Per-program scratch space (reused by every search with that program; searches do not nest). */
class Scratch {
  readonly clist: ThreadList;
  readonly nlist: ThreadList;
  /** stamp per instruction: the position + 1 at which it was last added. */
  readonly seen: Int32Array;
  readonly stackPc: Int32Array;
  readonly stackCaps: Array<Captures | null>;

  constructor(size: number) {
    this.clist = newList(size);
    this.nlist = newList(size);
    this.seen = new Int32Array(size);
    // every pc is pushed at most once per closure (seen is set on pop, a push per Split edge): 2 × size
    this.stackPc = new Int32Array(2 * size + 2);
    this.stackCaps = new Array<Captures | null>(2 * size + 2).fill(null);
  }
}

const scratchOf = new WeakMap<Program, Scratch>();

function isBol(text: string, pos: number, newline: boolean): boolean {
  return pos === 0 || (newline && text.charCodeAt(pos - 1) === 10);
}

function isEol(text: string, pos: number, newline: boolean): boolean {
  if (pos === text.length) return true;
  if (!newline) return false;
  const c = text.charCodeAt(pos);
  return c === 10 || (c === 13 && text.charCodeAt(pos + 1) === 10);
}

/**
 * The first match of `prog` in `text` at or after `from` (leftmost), as capture offsets, or null
 * (`captures` false: every slot -1, only whether it matched; no slot copies).
 * `^` matches at `from` only when it is the start of the text (or of a line in newline mode), as
 * regexec's REG_NOTBOL for a global substitution's later matches.
 */
export function exec(prog: Program, text: string, from = 0, meter?: Meter, captures = true): Captures | null {
  const insts = prog.insts;
  const size = insts.length;
  let sc = scratchOf.get(prog);
  if (sc === undefined) {
    sc = new Scratch(size);
    scratchOf.set(prog, sc);
  }
  const { seen, stackPc, stackCaps } = sc;
  seen.fill(0);
  let clist = sc.clist;
  let nlist = sc.nlist;
  clist.n = 0;
  nlist.n = 0;
  const newline = prog.newline;
  const len = text.length;
  let matched: Captures | null = null;
  let paid = 0;
  let steps = 0;

  // adds the thread (pc, caps) and everything reachable from it without consuming text, in priority order
  const add = (list: ThreadList, pc0: number, caps0: Captures, pos: number): void => {
    let sp = 0;
    stackPc[sp] = pc0;
    stackCaps[sp++] = caps0;
    const stamp = pos + 1;
    while (sp > 0) {
      const pc = stackPc[--sp]!;
      const caps = stackCaps[sp]!;
      stackCaps[sp] = null;
      if (seen[pc] === stamp) continue;
      seen[pc] = stamp;
      if (++steps - paid >= METER_CHUNK) {
        paid += METER_CHUNK;
        if (meter !== undefined) meter(METER_CHUNK);
      }
      const inst = insts[pc]!;
      switch (inst.op) {
        case Op.Jmp:
          stackPc[sp] = inst.x;
          stackCaps[sp++] = caps;
          break;
        case Op.Split:
          // y pushed first so x is explored (entirely) first: x has priority
          stackPc[sp] = inst.y;
          stackCaps[sp++] = caps;
          stackPc[sp] = inst.x;
          stackCaps[sp++] = caps;
          break;
        case Op.Save: {
          let c = caps;
          if (captures) {
            c = caps.slice();
            c[inst.x] = pos;
          }
          stackPc[sp] = pc + 1;
          stackCaps[sp++] = c;
          break;
        }
        case Op.Bol:
          if (isBol(text, pos, newline)) {
            stackPc[sp] = pc + 1;
            stackCaps[sp++] = caps;
          }
          break;
        case Op.Eol:
          if (isEol(text, pos, newline)) {
            stackPc[sp] = pc + 1;
            stackCaps[sp++] = caps;
          }
          break;
        default:
          // Char, Any, Set, Match: wait in the list for the next step
          list.pcs[list.n] = pc;
          list.caps[list.n++] = caps;
      }
    }
  };

  const empty: Captures = new Array<number>(prog.slots).fill(-1);
  const first = firstOf(prog);
  // `^...`: a match can only start at the start of the text (or of a line in newline mode)
  const anchored = insts[1]!.op === Op.Bol;
  for (let pos = from; ; pos++) {
    if (matched === null && clist.n === 0) {
      // no thread alive: skip to the next position a match can start at. Not counted as steps: the
      // caller pays for scanning the text by its length (a character test per position).
      if (anchored) {
        if (!newline && pos > 0) break;
        while (pos < len && !isBol(text, pos, newline)) pos++;
      }
      if (first !== null) while (pos < len && !first.has(text.charCodeAt(pos))) pos++;
    }
    // a new thread starting here, lowest priority, while no match was found (leftmost)
    if (matched === null) add(clist, 0, empty, pos);
    // no thread left: done once a match was found (or the text ended); else try the next start
    if (clist.n === 0 && (matched !== null || pos >= len)) break;
    const c = pos < len ? text.charCodeAt(pos) : -1;
    for (let i = 0; i < clist.n; i++) {
      const pc = clist.pcs[i]!;
      const caps = clist.caps[i]!;
      clist.caps[i] = null;
      const inst = insts[pc]!;
      let ok = false;
      switch (inst.op) {
        case Op.Match:
          matched = caps;
          // lower-priority threads are cut: this match wins over everything after it
          for (let j = i + 1; j < clist.n; j++) clist.caps[j] = null;
          i = clist.n;
          continue;
        case Op.Char: ok = c === inst.x; break;
        case Op.Any: ok = c >= 0 && !(newline && (c === 10 || c === 13)); break;
        case Op.Set: ok = c >= 0 && inst.set!.has(c); break;
      }
      if (ok) add(nlist, pc + 1, caps, pos + 1);
    }
    if (pos >= len) break;
    const t = clist;
    clist = nlist;
    nlist = t;
    nlist.n = 0;
  }
  clist.n = 0;
  nlist.n = 0;
  if (meter !== undefined && steps > paid) meter(steps - paid);
  return matched;
}

const firstSets = new WeakMap<Program, CharSet | null>();

/**
 * The characters a match of `prog` can start with, or null when it can start with anything or
 * match the empty string (then every position is tried). Anchors are looked through.
 */
function firstOf(prog: Program): CharSet | null {
  const hit = firstSets.get(prog);
  if (hit !== undefined) return hit;
  const insts = prog.insts;
  const set = new CharSet();
  const seen = new Uint8Array(insts.length);
  const stack = [0];
  let any = false;
  while (stack.length > 0 && !any) {
    const pc = stack.pop()!;
    if (seen[pc] === 1) continue;
    seen[pc] = 1;
    const inst = insts[pc]!;
    switch (inst.op) {
      case Op.Jmp: stack.push(inst.x); break;
      case Op.Split: stack.push(inst.x, inst.y); break;
      case Op.Save: case Op.Bol: case Op.Eol: stack.push(pc + 1); break;
      case Op.Char: set.addRange(inst.x, inst.x); break;
      case Op.Set:
        if (inst.set!.negated || inst.set!.high.length > 0) any = true;
        else for (let w = 0; w < 8; w++) set.low[w]! |= inst.set!.low[w]!;
        break;
      default: any = true; // Any, Match (the empty string matches)
    }
  }
  const r = any ? null : set;
  firstSets.set(prog, r);
  return r;
}

/** true when `prog` matches somewhere in `text` (no capture slots are kept: cheaper than exec). */
export function test(prog: Program, text: string, meter?: Meter): boolean {
  return exec(prog, text, 0, meter, false) !== null;
}
