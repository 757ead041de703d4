/**
 * Destination sets: the loaded, indexed form of the list file / table (Kamailio ds_set_t/ds_list_t).
 *
 * A `DispatcherSets` snapshot is built completely (parse, DNS, ordering, weight tables) before it is
 * published; a reload builds a new one and swaps it atomically, so a failed reload leaves the
 * running one untouched. Its structure (sets, destination order, configuration) never changes after
 * construction; the per-destination state and the per-set rotation counters are runtime state
 * living inside it (like Kamailio's shared-memory list).
 */
import { lookup } from 'node:dns/promises';
import { SiphonError } from '../../errors/registry.js';
import { Destination, type DestinationSpec, isIpLiteral, isSkipped, parseAttrs, parseDestinationUri } from './destination.js';

/** One set: destinations ordered by priority (highest first) and the selection counters. */
export class DestinationSet {
  readonly id: number;
  readonly dests: readonly Destination[];
  /** alg 14: non-zero when every destination has this same priority > 0 (round-robin), else serial. */
  readonly rrserial: number;
  /**
   * Round-robin position (alg 4, 5 without credentials, 64; where alg 13 starts). Kamailio keeps it
   * in shared memory, one per set for all processes; with core.workers every shard uses shard 0's
   * cell of a SharedArrayBuffer (shards.ts), read and written as plainly as Kamailio's (no lock).
   */
  private rotation: Int32Array = new Int32Array(1);
  get last(): number {
    return this.rotation[0]!;
  }
  set last(v: number) {
    this.rotation[0] = v;
  }
  /** shard 0: moves the position into `cell` (shared with the worker shards), keeping its value. */
  shareRotation(cell: Int32Array): void {
    cell[0] = this.rotation[0]!;
    this.rotation = cell;
  }
  /** a worker shard: uses shard 0's cell for the position. */
  useRotation(cell: Int32Array): void {
    this.rotation = cell;
  }
  /** alg 9 table and cursor. */
  readonly wlist = new Uint32Array(100);
  wlast = 0;
  /** alg 11 table and cursor. */
  readonly rwlist = new Uint32Array(100);
  rwlast = 0;
  /** alg 15 table and cursor. */
  readonly pwlist = new Uint32Array(100);
  pwlast = 0;

  constructor(id: number, dests: Destination[], rrserial: number) {
    this.id = id;
    this.dests = dests;
    this.rrserial = rrserial;
    this.initWeights();
    this.initRelativeWeights();
    this.initPriorityWeights();
  }

  /**
   * alg 9 (Kamailio dp_init_weights): each destination gets `weight` of the 100 slots in index
   * order (beyond 100 ignored), unfilled slots go to the last one, then the table is shuffled.
   * Needs a weight on the first destination, else the table stays all-zero.
   */
  initWeights(): void {
    if (this.dests.length === 0 || this.dests[0]!.attrs.weight === 0) return;
    let t = 0;
    outer: for (let j = 0; j < this.dests.length; j++) {
      for (let k = 0; k < this.dests[j]!.attrs.weight; k++) {
        if (t >= 100) break outer;
        this.wlist[t++] = j;
      }
    }
    for (; t < 100; t++) this.wlist[t] = this.dests.length - 1;
    shuffle100(this.wlist);
  }

  /**
   * alg 11 (dp_init_relative_weights): slices of `rweight*100/sum` (truncated) for usable
   * destinations, remainder to the last filled one, shuffled. Rebuilt on every usable/unusable
   * change. Needs at least two destinations.
   */
  initRelativeWeights(): void {
    const n = this.dests.length;
    if (n < 2) return;
    let sum = 0;
    for (const d of this.dests) if (!isSkipped(d.flags)) sum += d.rweight;
    if (sum === 0) return;
    let t = 0;
    for (let j = 0; j < n; j++) {
      const d = this.dests[j]!;
      if (isSkipped(d.flags)) continue;
      const slice = Math.trunc((d.rweight * 100) / sum);
      for (let k = 0; k < slice && t < 100; k++) this.rwlist[t++] = j;
    }
    const lastInsert = t > 0 ? this.rwlist[t - 1]! : n - 1;
    for (let j = t; j < 100; j++) this.rwlist[j] = lastInsert;
    shuffle100(this.rwlist);
  }

  /**
   * alg 15 (dp_init_priority_weights): among usable destinations, only those with the lowest
   * priority value (SRV convention) share the 100 slots by `weight` (equally when none has one).
   */
  initPriorityWeights(): void {
    const n = this.dests.length;
    if (n === 0) return;
    let best = Number.POSITIVE_INFINITY;
    for (const d of this.dests) if (!isSkipped(d.flags) && d.priority < best) best = d.priority;
    if (best === Number.POSITIVE_INFINITY) {
      this.pwlist.fill(0);
      return;
    }
    let wsum = 0;
    let bpCount = 0;
    for (const d of this.dests) {
      if (isSkipped(d.flags) || d.priority !== best) continue;
      wsum += d.attrs.weight;
      bpCount++;
    }
    let t = 0;
    if (wsum === 0) {
      let count = 0;
      for (let j = 0; j < n && t < 100; j++) {
        const d = this.dests[j]!;
        if (isSkipped(d.flags) || d.priority !== best) continue;
        const slots = count === bpCount - 1 ? 100 - t : Math.trunc(100 / bpCount);
        for (let k = 0; k < slots && t < 100; k++) this.pwlist[t++] = j;
        count++;
      }
    } else {
      for (let j = 0; j < n; j++) {
        const d = this.dests[j]!;
        if (isSkipped(d.flags) || d.priority !== best) continue;
        const slots = Math.trunc((d.attrs.weight * 100) / wsum);
        for (let k = 0; k < slots && t < 100; k++) this.pwlist[t++] = j;
      }
      const lastBp = this.pwlist[t > 0 ? t - 1 : 0]!;
      for (; t < 100; t++) this.pwlist[t] = lastBp;
    }
    shuffle100(this.pwlist);
  }

  /** index of the destination with that URI (case-insensitive, as Kamailio compares), or -1. */
  indexOfUri(uri: string): number {
    const lc = uri.toLowerCase();
    for (let i = 0; i < this.dests.length; i++) if (this.dests[i]!.uri.toLowerCase() === lc) return i;
    return -1;
  }
}

function shuffle100(arr: Uint32Array): void {
  for (let j = 0; j < 100; j++) {
    const k = j + Math.floor(Math.random() * (100 - j));
    const t = arr[j]!;
    arr[j] = arr[k]!;
    arr[k] = t;
  }
}

/** An immutable collection of sets. */
export class DispatcherSets {
  private readonly byId: ReadonlyMap<number, DestinationSet>;
  /** sets in Kamailio's iteration order (post-order walk of its AVL tree keyed by set id). */
  readonly ordered: readonly DestinationSet[];
  readonly loadedAt: Date;
  /** destinations skipped because of a bad URI/attribute (ds_load_mode 0), with the reason. */
  readonly skipped: readonly string[];

  constructor(sets: DestinationSet[], skipped: string[] = []) {
    const m = new Map<number, DestinationSet>();
    for (const s of sets) m.set(s.id, s);
    this.byId = m;
    this.ordered = Object.freeze(avlPostOrder(sets.map((s) => s.id)).map((id) => m.get(id)!));
    this.skipped = Object.freeze(skipped);
    this.loadedAt = new Date();
    Object.freeze(this);
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: number): DestinationSet | undefined {
    return this.byId.get(id);
  }

  static empty(): DispatcherSets {
    return new DispatcherSets([]);
  }
}

export interface BuildOptions {
  /** `ds_load_mode`: 1 = a bad destination fails the whole load; 0 = skip it. */
  loadMode: number;
  /** `ds_attrs_none`. */
  attrsNone: boolean;
  /** `ds_dns_mode` bit 1: resolve names at load. */
  resolveAtLoad: boolean;
  /** previous snapshot, for `ds_retain_latency_stats`. */
  retainLatencyFrom?: DispatcherSets;
  /** resolver (tests may pass their own); defaults to dns.lookup of all addresses. */
  resolve?: (host: string) => Promise<string[]>;
}

async function defaultResolve(host: string): Promise<string[]> {
  const r = await lookup(host, { all: true });
  return r.map((a) => a.address);
}

/**
 * Builds a snapshot from specs: parses URIs and attributes, resolves names, orders each set by
 * priority (highest first; equal priorities end up in reverse list order, exactly as Kamailio's
 * insert-then-reindex does — verified on 5.6.3) and computes the weight tables.
 */
export async function buildSets(specs: readonly DestinationSpec[], opts: BuildOptions): Promise<DispatcherSets> {
  const resolve = opts.resolve ?? defaultResolve;
  const grouped = new Map<number, Destination[]>();
  const rrserial = new Map<number, number>();
  const skipped: string[] = [];
  for (const spec of specs) {
    let dest: Destination;
    try {
      const address = parseDestinationUri(spec.uri, spec.where);
      const attrs = parseAttrs(spec.attrs, opts.attrsNone);
      let ips: string[] = [];
      const host = address.host.startsWith('[') ? address.host.slice(1, -1) : address.host;
      if ((spec.flags & 16) === 0) {
        if (isIpLiteral(address.host)) ips = [host];
        else if (opts.resolveAtLoad) {
          try {
            ips = await resolve(host);
          } catch (e) {
            throw new SiphonError('DS_DESTINATION', `could not resolve ${host} (missing flag 16?)`, { where: spec.where, cause: e });
          }
        }
      }
      dest = new Destination(spec, address, ips, attrs);
      if (opts.retainLatencyFrom) {
        const prev = opts.retainLatencyFrom.get(spec.setid);
        const i = prev ? prev.indexOfUri(dest.uri) : -1;
        if (prev && i >= 0) dest.latency.copyFrom(prev.dests[i]!.latency);
      }
    } catch (e) {
      if (opts.loadMode === 1) throw e;
      skipped.push((e as Error).message);
      continue;
    }
    let list = grouped.get(spec.setid);
    if (!list) {
      list = [];
      grouped.set(spec.setid, list);
      rrserial.set(spec.setid, spec.priority > 0 ? spec.priority : 0);
    } else {
      const rr = rrserial.get(spec.setid)!;
      if (rr > 0 && rr !== spec.priority) rrserial.set(spec.setid, 0);
    }
    list.push(dest);
  }
  const sets: DestinationSet[] = [];
  for (const [id, list] of grouped) {
    // reverse of load order, then stable sort by priority, highest first
    const ordered = list.reverse().sort((a, b) => b.priority - a.priority);
    sets.push(new DestinationSet(id, ordered, rrserial.get(id)!));
  }
  return new DispatcherSets(sets, skipped);
}

// ---- Kamailio keeps sets in an AVL tree and walks it post-order (left, right, node) -------------

interface AvlNode {
  id: number;
  h: number;
  l: AvlNode | null;
  r: AvlNode | null;
}

const height = (n: AvlNode | null): number => (n ? n.h : 0);
const fix = (n: AvlNode): AvlNode => {
  n.h = 1 + Math.max(height(n.l), height(n.r));
  return n;
};
function rotR(n: AvlNode): AvlNode {
  const l = n.l!;
  n.l = l.r;
  l.r = fix(n);
  return fix(l);
}
function rotL(n: AvlNode): AvlNode {
  const r = n.r!;
  n.r = r.l;
  r.l = fix(n);
  return fix(r);
}
function insert(n: AvlNode | null, id: number): AvlNode {
  if (!n) return { id, h: 1, l: null, r: null };
  if (id === n.id) return n;
  if (id < n.id) n.l = insert(n.l, id);
  else n.r = insert(n.r, id);
  fix(n);
  const bal = height(n.l) - height(n.r);
  if (bal > 1) {
    if (id > n.l!.id) n.l = rotL(n.l!);
    return rotR(n);
  }
  if (bal < -1) {
    if (id < n.r!.id) n.r = rotR(n.r!);
    return rotL(n);
  }
  return n;
}

/** Set ids in the order Kamailio lists/pings/matches them, given their first-seen order. */
export function avlPostOrder(ids: readonly number[]): number[] {
  let root: AvlNode | null = null;
  for (const id of ids) root = insert(root, id);
  const out: number[] = [];
  const walk = (n: AvlNode | null): void => {
    if (!n) return;
    walk(n.l);
    walk(n.r);
    out.push(n.id);
  };
  walk(root);
  return out;
}
