/**
 * Rule sets: immutable snapshots of the black/white lists (Kamailio secfilter keeps one linked list per
 * list kind x data type; here each is an entry array for listing plus a PrefixIndex for matching).
 * Reloads and RPC edits build a new snapshot and swap it in, so a check always sees one consistent set.
 */
import { SiphonError } from '../../errors/registry.js';
import { PrefixIndex } from './prefix-index.js';
import { ACTION_BLACKLIST, ACTION_DESTINATION, ACTION_WHITELIST, RULE_TYPES, type RuleType, type SecfilterRule } from './table.js';

/**
 * Longest rule value: Kamailio's secfilter `data` column is VARCHAR(64). Also what keeps the prefix
 * index build (one level per character) shallow.
 */
export const MAX_RULE_LENGTH = 64;

export class RuleList {
  static readonly EMPTY = new RuleList([]);
  readonly index: PrefixIndex;

  /** entries in insertion order (what secfilter.print lists). */
  constructor(readonly entries: readonly string[]) {
    this.index = entries.length === 0 ? PrefixIndex.EMPTY : new PrefixIndex(entries);
  }

  with(value: string): RuleList {
    return new RuleList([...this.entries, value]);
  }

  /**
   * Kamailio 6.1 del_bl/del_wl/del_dst: removes every entry whose text starts with `prefix`
   * (case-sensitive strncmp over the given length). Returns the new list and how many went.
   */
  withoutPrefix(prefix: string): { list: RuleList; removed: number } {
    const kept = this.entries.filter((e) => !e.startsWith(prefix));
    const removed = this.entries.length - kept.length;
    return { list: removed === 0 ? this : new RuleList(kept), removed };
  }
}

export type ListKind = 'blacklist' | 'whitelist';
type Lists = Readonly<Record<RuleType, RuleList>>;

function emptyLists(): Record<RuleType, RuleList> {
  return { ua: RuleList.EMPTY, country: RuleList.EMPTY, domain: RuleList.EMPTY, ip: RuleList.EMPTY, user: RuleList.EMPTY };
}

export interface RuleLoadWarning {
  rule: SecfilterRule;
  message: string;
}

export class RuleSet {
  static readonly EMPTY = new RuleSet(emptyLists(), emptyLists(), RuleList.EMPTY);

  constructor(
    readonly blacklist: Lists,
    readonly whitelist: Lists,
    /** destination blacklist (action 2, numbers). */
    readonly destinations: RuleList,
  ) {}

  /** total number of entries. */
  get size(): number {
    let n = this.destinations.entries.length;
    for (const t of RULE_TYPES) n += this.blacklist[t].entries.length + this.whitelist[t].entries.length;
    return n;
  }

  /**
   * Builds a snapshot from table rows (Kamailio secf_load_db). Differences from Kamailio, on purpose:
   *  - action 2 always means the destination blacklist; Kamailio files action 2 with type 1..4 into the
   *    ordinary blacklist of that type (issue #3694). Such rows load as destinations with a warning.
   *  - empty `data` would match every value (prefix of length 0); such rows are skipped with a warning.
   * An action outside 0..2 or a type outside 0..4 fails the whole load (E7001), as in Kamailio.
   */
  static fromRules(rules: Iterable<SecfilterRule>, warnings?: RuleLoadWarning[]): RuleSet {
    const bl: Record<RuleType, string[]> = { ua: [], country: [], domain: [], ip: [], user: [] };
    const wl: Record<RuleType, string[]> = { ua: [], country: [], domain: [], ip: [], user: [] };
    const dst: string[] = [];
    for (const rule of rules) {
      const { action, type } = rule;
      const data = rule.data == null ? '' : String(rule.data);
      if (!Number.isInteger(action) || action < 0 || action > 2) {
        throw new SiphonError('SECF_BAD_RULE', `action ${String(action)} is not 0 (blacklist), 1 (whitelist) or 2 (destination) for data "${data}"`);
      }
      if (!Number.isInteger(type) || type < 0 || type > 4) {
        throw new SiphonError('SECF_BAD_RULE', `type ${String(type)} is not 0..4 (ua, country, domain, ip, user) for data "${data}"`);
      }
      if (data.length === 0) {
        warnings?.push({ rule, message: 'empty data would match everything; rule skipped' });
        continue;
      }
      if (data.length > MAX_RULE_LENGTH) {
        warnings?.push({ rule, message: `data longer than ${MAX_RULE_LENGTH} characters (VARCHAR(64) in Kamailio's table); rule skipped` });
        continue;
      }
      if (action === ACTION_DESTINATION) {
        if (type !== 0) warnings?.push({ rule, message: `action 2 with type ${type}: loaded as a destination (type ignored; Kamailio issue #3694)` });
        dst.push(data);
      } else {
        (action === ACTION_BLACKLIST ? bl : wl)[RULE_TYPES[type]!].push(data);
      }
    }
    const toLists = (m: Record<RuleType, string[]>): Record<RuleType, RuleList> => {
      const out = emptyLists();
      for (const t of RULE_TYPES) if (m[t].length > 0) out[t] = new RuleList(m[t]);
      return out;
    };
    return new RuleSet(toLists(bl), toLists(wl), dst.length ? new RuleList(dst) : RuleList.EMPTY);
  }

  /** the rules of the snapshot as table rows (for saving and comparing). */
  toRules(): SecfilterRule[] {
    const out: SecfilterRule[] = [];
    for (const [action, lists] of [
      [ACTION_BLACKLIST, this.blacklist],
      [ACTION_WHITELIST, this.whitelist],
    ] as const) {
      RULE_TYPES.forEach((t, type) => {
        for (const data of lists[t].entries) out.push({ action, type, data });
      });
    }
    for (const data of this.destinations.entries) out.push({ action: ACTION_DESTINATION, type: 0, data });
    return out;
  }

  withRule(kind: ListKind | 'destination', type: RuleType, value: string): RuleSet {
    if (kind === 'destination') return new RuleSet(this.blacklist, this.whitelist, this.destinations.with(value));
    const lists = { ...this[kind], [type]: this[kind][type].with(value) };
    return kind === 'blacklist' ? new RuleSet(lists, this.whitelist, this.destinations) : new RuleSet(this.blacklist, lists, this.destinations);
  }

  withoutPrefix(kind: ListKind | 'destination', type: RuleType, prefix: string): { set: RuleSet; removed: number } {
    if (kind === 'destination') {
      const r = this.destinations.withoutPrefix(prefix);
      return { set: r.removed ? new RuleSet(this.blacklist, this.whitelist, r.list) : this, removed: r.removed };
    }
    const r = this[kind][type].withoutPrefix(prefix);
    if (r.removed === 0) return { set: this, removed: 0 };
    const lists = { ...this[kind], [type]: r.list };
    const set = kind === 'blacklist' ? new RuleSet(lists, this.whitelist, this.destinations) : new RuleSet(this.blacklist, lists, this.destinations);
    return { set, removed: r.removed };
  }
}
