/**
 * An immutable, case-insensitive prefix index: "is one of the stored entries a prefix of this value?"
 * (Kamailio secfilter compares `strncasecmp(value, entry, len(entry))` against every entry of a linked
 * list; here one walk down a trie answers it in O(length of the value), whatever the rule count.)
 *
 * The trie is frozen into one flat Int32Array of edges (compressed-sparse-row layout): a node's
 * children are a run of edges sorted by label and found by binary search (the root's ASCII children
 * by direct lookup); each edge carries where its target's children are and whether an entry ends
 * there, so a step touches only the edge array. A lookup allocates nothing. Case folding is ASCII-only, as strncasecmp in the C locale.
 */

/** ASCII lower-casing of one UTF-16 code unit. */
function fold(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

function foldString(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

export class PrefixIndex {
  /**
   * Edge triples [label, first edge of the target's children, (target's child count << 1) | terminal],
   * each node's outgoing edges contiguous and sorted by label. `terminal` = an entry ends at the target.
   */
  private readonly edges: Int32Array;
  private readonly rootFirst: number;
  private readonly rootCount: number;
  /** direct lookup of the root's edges for ASCII labels: edge index, or -1. */
  private readonly root = new Int32Array(128).fill(-1);
  /** true when the empty string is an entry (it would match every value). */
  private readonly rootTerminal: boolean;
  /** per edge: the position in `entries` of the first entry ending at its target, or -1 (firstMatchOf). */
  private readonly ordinals: Int32Array;
  /** position of the first empty entry, or -1. */
  private readonly rootOrdinal: number;
  /** number of distinct (case-folded) entries. */
  readonly size: number;

  static readonly EMPTY = new PrefixIndex([]);

  constructor(entries: readonly string[]) {
    // the first position of each folded entry: Kamailio scans a list in order and the first hit wins
    const firstAt = new Map<string, number>();
    entries.forEach((e, i) => {
      const k = foldString(e);
      if (!firstAt.has(k)) firstAt.set(k, i);
    });
    const keys = [...firstAt.keys()].sort();
    this.size = keys.length;
    this.rootTerminal = keys.length > 0 && keys[0] === '';
    this.rootOrdinal = this.rootTerminal ? firstAt.get('')! : -1;
    const edges: number[] = [];
    const ordinals: number[] = [];

    // Lays out the children of the node shared by keys[lo..hi) (common prefix of length `depth`) and
    // returns [first edge, count]. Sorted input means each child's keys are a contiguous run, so no
    // intermediate tree is needed; a node's edges are reserved before its subtrees are laid out.
    const build = (lo: number, hi: number, depth: number): [number, number] => {
      if (lo < hi && keys[lo]!.length === depth) lo++; // keys are unique and sorted: only the first ends here
      const groups: Array<[number, number, number]> = [];
      let i = lo;
      while (i < hi) {
        const c = keys[i]!.charCodeAt(depth);
        let j = i + 1;
        while (j < hi && keys[j]!.charCodeAt(depth) === c) j++;
        groups.push([c, i, j]);
        i = j;
      }
      const base = edges.length / 3;
      for (const [c] of groups) edges.push(c, 0, 0);
      for (let g = 0; g < groups.length; g++) {
        const [, a, b] = groups[g]!;
        const terminal = keys[a]!.length === depth + 1 ? 1 : 0;
        ordinals[base + g] = terminal ? firstAt.get(keys[a]!)! : -1;
        const [first, count] = build(a, b, depth + 1);
        edges[3 * (base + g) + 1] = first;
        edges[3 * (base + g) + 2] = (count << 1) | terminal;
      }
      return [base, groups.length];
    };
    [this.rootFirst, this.rootCount] = build(0, keys.length, 0);
    this.edges = Int32Array.from(edges);
    this.ordinals = Int32Array.from(ordinals);
    for (let e = this.rootFirst; e < this.rootFirst + this.rootCount; e++) {
      const label = this.edges[3 * e]!;
      if (label < 128) this.root[label] = e;
    }
  }

  /** index of the edge labelled `c` among edges first..first+count-1, or -1. */
  private find(first: number, count: number, c: number): number {
    const edges = this.edges;
    let lo = first;
    let hi = first + count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const l = edges[3 * mid]!;
      if (l === c) return mid;
      if (l < c) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  private rootEdge(c: number): number {
    return c < 128 ? this.root[c]! : this.find(this.rootFirst, this.rootCount, c);
  }

  /** true when some entry is a case-insensitive prefix of `value` (an entry longer than the value never matches). */
  matchesPrefixOf(value: string): boolean {
    if (this.size === 0 || value.length === 0) return this.rootTerminal;
    if (this.rootTerminal) return true;
    const edges = this.edges;
    let e = this.rootEdge(fold(value.charCodeAt(0)));
    for (let i = 1; ; i++) {
      if (e < 0) return false;
      const info = edges[3 * e + 2]!;
      if (info & 1) return true;
      if (i >= value.length) return false;
      e = this.find(edges[3 * e + 1]!, info >> 1, fold(value.charCodeAt(i)));
    }
  }

  /**
   * The position (in the constructor's `entries`) of the first entry that is a case-insensitive prefix
   * of `value`, or -1: which rule a linear scan in list order would hit first. Kamailio's
   * secf_check_{from,to,contact}_hdr tests each rule against the display name, then the user, so the
   * earlier of the two rules decides between a name and a user hit.
   */
  firstMatchOf(value: string): number {
    if (this.size === 0) return -1;
    let best = this.rootOrdinal;
    if (value.length === 0) return best;
    const edges = this.edges;
    let e = this.rootEdge(fold(value.charCodeAt(0)));
    for (let i = 1; e >= 0; i++) {
      const o = this.ordinals[e]!;
      if (o >= 0 && (best < 0 || o < best)) best = o;
      if (i >= value.length) break;
      e = this.find(edges[3 * e + 1]!, edges[3 * e + 2]! >> 1, fold(value.charCodeAt(i)));
    }
    return best;
  }

  /** true when some entry equals `value`, ignoring ASCII case. */
  matchesExactly(value: string): boolean {
    if (this.size === 0 || value.length === 0) return this.size > 0 && this.rootTerminal;
    const edges = this.edges;
    let e = this.rootEdge(fold(value.charCodeAt(0)));
    for (let i = 1; i < value.length; i++) {
      if (e < 0) return false;
      e = this.find(edges[3 * e + 1]!, edges[3 * e + 2]! >> 1, fold(value.charCodeAt(i)));
    }
    return e >= 0 && (edges[3 * e + 2]! & 1) === 1;
  }
}
