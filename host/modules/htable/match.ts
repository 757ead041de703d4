/**
 * The matcher of sht_rm_name / sht_rm_value / sht_has_name / $shtcn / $shtcv: linear in the text,
 * never a backtracking regular expression on keys or values a peer may have chosen.
 *
 * Kamailio's ops (htable.c): `re` (POSIX regex), `sw` (starts with), `eq`, `ne`. siphon adds `ew`
 * (ends with) and `in` (contains) and accepts for `re` only the patterns that reduce to those: an
 * optional `^`, an optional leading `.*`, literal text (`\` escapes a metacharacter), an optional
 * trailing `.*`, an optional `$`. `^alice:` is `sw`, `@example\.com$` is `ew`, `.*` matches everything;
 * a pattern with any other metacharacter (`[`, `(`, `|`, `+`, `?`, `{`, an inner `.` or `*`) is
 * refused (-2), so a match costs at most one pass over each item.
 */

/** ABI op codes (docs/abi/v1.md "Module namespace `htable`"). */
export const enum MatchOp {
  EQ = 0,
  NE = 1,
  SW = 2,
  EW = 3,
  IN = 4,
  RE = 5,
}

export const OP_NAMES: Readonly<Record<string, MatchOp>> = { eq: MatchOp.EQ, ne: MatchOp.NE, sw: MatchOp.SW, ew: MatchOp.EW, in: MatchOp.IN, re: MatchOp.RE };

export type Matcher = (text: string) => boolean;

const META = new Set(['.', '[', ']', '(', ')', '*', '+', '?', '{', '}', '|', '^', '$']);

/** `re` patterns of the supported subset → an equivalent linear op; null when outside it. */
export function reduceRegex(re: string): { op: MatchOp; text: string } | null {
  let s = re;
  let start = false;
  let end = false;
  if (s.startsWith('^')) {
    start = true;
    s = s.slice(1);
  }
  if (s.startsWith('.*')) {
    start = false;
    s = s.slice(2);
  }
  // a trailing `$` that is not escaped (count the backslashes before it)
  if (s.endsWith('$')) {
    let bs = 0;
    for (let i = s.length - 2; i >= 0 && s[i] === '\\'; i--) bs++;
    if (bs % 2 === 0) {
      end = true;
      s = s.slice(0, -1);
    }
  }
  if (s.endsWith('.*') && !s.endsWith('\\.*')) {
    end = false;
    s = s.slice(0, -2);
  }
  let lit = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\') {
      if (i + 1 >= s.length) return null;
      lit += s[++i];
    } else if (META.has(c)) return null;
    else lit += c;
  }
  if (start && end) return { op: MatchOp.EQ, text: lit };
  if (start) return { op: MatchOp.SW, text: lit };
  if (end) return { op: MatchOp.EW, text: lit };
  return { op: MatchOp.IN, text: lit };
}

/** A matcher for op and pattern; null for an unknown op or a `re` outside the subset. */
export function compileMatcher(op: number, pattern: string): Matcher | null {
  let o = op;
  let p = pattern;
  if (o === MatchOp.RE) {
    const r = reduceRegex(pattern);
    if (r === null) return null;
    o = r.op;
    p = r.text;
  }
  switch (o) {
    case MatchOp.EQ:
      return (t) => t === p;
    case MatchOp.NE:
      return (t) => t !== p;
    case MatchOp.SW:
      return (t) => t.startsWith(p);
    case MatchOp.EW:
      return (t) => t.endsWith(p);
    case MatchOp.IN:
      return p === '' ? () => true : (t) => t.includes(p);
    default:
      return null;
  }
}
