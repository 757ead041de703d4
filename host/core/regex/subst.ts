/**
 * sed-like substitution expressions, as Kamailio's subst family takes them (core re.c's
 * subst_parser, in my own words): `/re/replacement/flags`, any delimiter (the first character; an
 * escaped delimiter is a literal one), flags `i` (REG_ICASE), `g` (every match, not only the first)
 * and `s` (REG_NEWLINE: `.` stops at '\n', `^`/`$` match at line ends). The replacement may hold
 * `\0` (the whole match) and `\1`..`\9` (groups; a group that did not take part is empty), `\\`,
 * `\n`, `\r`, `\t`. Pseudo-variables in the replacement are not expanded (a plugin builds its
 * replacement text itself).
 *
 * Results are bounded: a replacement that would make the text longer than `maxOut` stops with
 * SubstError('too long') and the text is left as it was.
 */
import { compile, RegexError, type Program } from './compile.js';
import { exec, type Meter } from './vm.js';

export interface SubstExpr {
  prog: Program;
  /** the replacement as literal pieces and group numbers. */
  parts: Array<string | number>;
  global: boolean;
}

/** Parses `/re/repl/flags`; throws RegexError for a malformed expression or pattern. */
export function parseSubst(expr: string): SubstExpr {
  if (expr.length < 3) throw new RegexError('substitution too short (want /re/repl/flags)', 0);
  const d = expr.charCodeAt(0);
  if (d === 92 || d === 32) throw new RegexError('bad delimiter', 0);
  const fields: string[] = [];
  let cur = '';
  let i = 1;
  for (; i < expr.length && fields.length < 2; i++) {
    const c = expr.charCodeAt(i);
    if (c === 92 && i + 1 < expr.length) {
      // an escaped delimiter is the delimiter itself; other escapes are kept for the next stage
      if (expr.charCodeAt(i + 1) === d) cur += expr[++i];
      else cur += expr[i]! + expr[++i]!;
    } else if (c === d) {
      fields.push(cur);
      cur = '';
    } else {
      cur += expr[i];
    }
  }
  if (fields.length < 2) throw new RegexError('unterminated substitution (want /re/repl/flags)', expr.length);
  const flags = expr.slice(i);
  let icase = false;
  let global = false;
  let newline = false;
  for (const f of flags) {
    if (f === 'i') icase = true;
    else if (f === 'g') global = true;
    else if (f === 's') newline = true;
    else throw new RegexError(`unknown flag '${f.slice(0, 1)}'`, i);
  }
  const prog = compile(fields[0]!, { icase, newline });
  return { prog, parts: parseReplacement(fields[1]!, prog.groups), global };
}

function parseReplacement(r: string, groups: number): Array<string | number> {
  const parts: Array<string | number> = [];
  let lit = '';
  for (let i = 0; i < r.length; i++) {
    const c = r[i]!;
    if (c !== '\\' || i + 1 >= r.length) {
      lit += c;
      continue;
    }
    const n = r[++i]!;
    if (n >= '0' && n <= '9') {
      const g = n.charCodeAt(0) - 48;
      if (g > groups) throw new RegexError(`replacement refers to group ${g}, the pattern has ${groups}`, i);
      if (lit.length > 0) parts.push(lit);
      lit = '';
      parts.push(g);
    } else {
      lit += n === 'n' ? '\n' : n === 'r' ? '\r' : n === 't' ? '\t' : n;
    }
  }
  if (lit.length > 0) parts.push(lit);
  return parts;
}

export class SubstTooLong extends Error {
  constructor(readonly max: number) {
    super(`substitution result longer than ${max}`);
    this.name = 'SubstTooLong';
  }
}

/**
 * Applies `e` to `text`: the new text, or null when nothing matched. An empty match advances one
 * character (so `x*` with `g` terminates). Throws SubstTooLong past `maxOut` characters.
 */
export function substitute(e: SubstExpr, text: string, maxOut: number, meter?: Meter): string | null {
  let out = '';
  let last = 0;
  let from = 0;
  let count = 0;
  while (from <= text.length) {
    const m = exec(e.prog, text, from, meter);
    if (m === null) break;
    count++;
    const s = m[0]!;
    const end = m[1]!;
    out += text.slice(last, s);
    for (const p of e.parts) {
      if (typeof p === 'string') out += p;
      else if (m[2 * p]! >= 0) out += text.slice(m[2 * p]!, m[2 * p + 1]!);
    }
    if (out.length > maxOut) throw new SubstTooLong(maxOut);
    last = end;
    if (!e.global) break;
    if (end === s) {
      // an empty match: copy one character and search after it
      if (end < text.length) out += text[end];
      last = end + 1;
      from = end + 1;
    } else {
      from = end;
    }
  }
  if (count === 0) return null;
  out += text.slice(Math.min(last, text.length));
  if (out.length > maxOut) throw new SubstTooLong(maxOut);
  return out;
}
