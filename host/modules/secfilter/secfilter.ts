/**
 * The security filter (Kamailio secfilter): black/white lists of user agents, countries, domains, IPs,
 * users/display names, a destination blacklist, and the SQL-injection heuristic. All state lives in
 * the SecFilter object; rules are an immutable RuleSet snapshot swapped on reload (Kamailio's double
 * buffer), so checks never wait for or observe a half-built set.
 *
 * Return codes (Kamailio): positive = whitelisted (2, 3 domain, 4 display name), 1 = not found,
 * negative = blacklisted (-2, -3 domain, -4 display name), -1 = error. Whitelists are always
 * consulted before blacklists. Matching is case-insensitive prefix: the rule must be a prefix of the
 * value (reference kamailio.md §1.4).
 *
 * Deliberate fixes of upstream bugs:
 *  - #3694: action 2 rows with type != 0 go to the destination list (see RuleSet.fromRules).
 *  - master's secf_check_domain_*_hdr looks the whitelist up in the *user* list; here the domain list.
 *  - #4700: a display name identical to the URI user (ignoring case) shadowed the user: the hit was
 *    reported as a name hit (+-4, *-Name counter). Here such a display name is not checked on its own,
 *    so the user check reports it (+-2, *-User counter).
 */
import type { Logger } from 'pino';
import { SiphonError } from '../../errors/registry.js';
import type { NameAddr, SipMessage } from '../../sip/types.js';
import { parseHeaderParts, partsFromNameAddr, type HeaderParts } from './header-parts.js';
import type { PrefixIndex } from './prefix-index.js';
import { MAX_RULE_LENGTH, RuleSet, type ListKind, type RuleLoadWarning } from './rules.js';
import type { RuleSource } from './source.js';
import { looksLikeSqlInjection } from './sqli.js';
import { Counter, HeaderKind, SecFilterStats } from './stats.js';
import type { RuleType, SecfilterRule } from './table.js';

export { HeaderKind } from './stats.js';

export interface SecFilterOptions {
  /** 1 (default): secf_check_dst needs an equal number; 0: a stored number is a prefix of the dialled one. */
  dstExactMatch?: boolean;
  /** minimum seconds between two reloads (default 5, 0 = no limit). */
  reloadDelta?: number;
  /** where reload() reads rules from; without one reload() fails. */
  source?: RuleSource;
  log?: Logger;
  /** clock in ms (tests). */
  now?: () => number;
}

/** A header to check: its text, a parsed NameAddr, already split parts, or nothing (header absent). */
export type HeaderInput = string | NameAddr | HeaderParts | null | undefined;

export interface SqliFields {
  ua?: string;
  from?: HeaderParts | null;
  to?: HeaderParts | null;
  contact?: HeaderParts | null;
}

/**
 * A change of the in-memory lists or counters, as plain data (it crosses threads: with core.workers
 * shard 0 broadcasts it and worker shards apply it, index.ts "Shards").
 */
export type RuleChange =
  | { op: 'add'; kind: ListKind | 'destination'; type: RuleType; value: string }
  | { op: 'del'; kind: ListKind | 'destination'; type: RuleType; prefix: string }
  | { op: 'set'; rules: SecfilterRule[] }
  | { op: 'reset_stats' };

export interface ReloadResult {
  rules: number;
  warnings: RuleLoadWarning[];
}

function equalsIgnoreCase(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x >= 65 && x <= 90) x += 32;
    if (y >= 65 && y <= 90) y += 32;
    if (x !== y) return false;
  }
  return true;
}

const NAME_HIT = 1;
const USER_HIT = 2;

/** which of display name and user the first matching rule of `index` hits (the name on the same rule); 0 none. */
function nameOrUser(index: PrefixIndex, name: string | undefined, user: string): number {
  const n = name === undefined ? -1 : index.firstMatchOf(name);
  const u = index.firstMatchOf(user);
  if (n >= 0 && (u < 0 || n <= u)) return NAME_HIT;
  return u >= 0 ? USER_HIT : 0;
}

/** the parts of a header input; undefined = header absent, null = unparsable. */
function toParts(h: HeaderInput): HeaderParts | null | undefined {
  if (h === undefined || h === null) return undefined;
  if (typeof h === 'string') return parseHeaderParts(h);
  if ('uri' in h && typeof (h as NameAddr).uri === 'string') return partsFromNameAddr(h as NameAddr);
  return h as HeaderParts;
}

/** the header a SipMessage carries for a check: From and To from the eager parse, Contact's first value. */
export function headerPartsOf(msg: SipMessage, kind: HeaderKind): HeaderParts | null | undefined {
  if (kind === HeaderKind.FROM) return msg.from ? partsFromNameAddr(msg.from) : undefined;
  if (kind === HeaderKind.TO) return msg.to ? partsFromNameAddr(msg.to) : undefined;
  const contact = msg.header('contact');
  return contact === undefined ? undefined : parseHeaderParts(contact);
}

export class SecFilter {
  readonly stats = new SecFilterStats();
  readonly dstExactMatch: boolean;
  readonly reloadDelta: number;
  private current: RuleSet = RuleSet.EMPTY;
  private lastReloadAt = Number.NEGATIVE_INFINITY;
  private reloading = false;
  private readonly now: () => number;
  private changed: ((c: RuleChange) => void) | null = null;

  constructor(private readonly opts: SecFilterOptions = {}) {
    this.dstExactMatch = opts.dstExactMatch ?? true;
    // Kamailio: a negative reload_delta is reset to 5
    this.reloadDelta = opts.reloadDelta === undefined || opts.reloadDelta < 0 ? 5 : opts.reloadDelta;
    this.now = opts.now ?? Date.now;
  }

  /** the active snapshot. */
  get rules(): RuleSet {
    return this.current;
  }

  get source(): RuleSource | undefined {
    return this.opts.source;
  }

  /** told of every change of the lists or counters made here (shard 0 broadcasts them). */
  onChange(listener: ((c: RuleChange) => void) | null): void {
    this.changed = listener;
  }

  /** applies a change made elsewhere (a worker shard applies shard 0's); not reported to onChange. */
  apply(c: RuleChange): void {
    if (c.op === 'add') this.current = this.current.withRule(c.kind, c.type, c.value);
    else if (c.op === 'del') this.current = this.current.withoutPrefix(c.kind, c.type, c.prefix).set;
    else if (c.op === 'set') this.current = RuleSet.fromRules(c.rules);
    else this.stats.reset();
  }

  /** secfilter.stats_reset. */
  resetStats(): void {
    this.stats.reset();
    this.changed?.({ op: 'reset_stats' });
  }

  /** swaps in a snapshot (tests, embedders). */
  setRules(rules: RuleSet): void {
    this.current = rules;
  }

  /** the first load at start: not rate-limited; failure is fatal to the caller (Kamailio refuses to start). */
  async load(): Promise<ReloadResult> {
    return this.loadFromSource();
  }

  /**
   * secfilter.reload: reads the source into a new snapshot and swaps it in. Refused (E7003) while
   * another reload runs or within reload_delta seconds of the previous attempt. On failure (E7002)
   * the previous rules stay active. Rules added over RPC are dropped, as in Kamailio.
   */
  async reload(): Promise<ReloadResult> {
    const t = this.now();
    if (this.reloading || (this.reloadDelta > 0 && t - this.lastReloadAt < this.reloadDelta * 1000)) {
      throw new SiphonError('SECF_RELOAD_TOO_SOON', 'ongoing reload');
    }
    this.lastReloadAt = t;
    return this.loadFromSource();
  }

  private async loadFromSource(): Promise<ReloadResult> {
    const source = this.opts.source;
    if (!source) throw new SiphonError('SECF_RELOAD', 'no rule source configured');
    this.reloading = true;
    try {
      const warnings: RuleLoadWarning[] = [];
      let next: RuleSet;
      try {
        next = RuleSet.fromRules(await source.load(), warnings);
      } catch (e) {
        const reason = e instanceof Error ? e.message : String(e);
        this.opts.log?.error({ err: e, source: source.description }, 'secfilter: loading rules failed; previous rules stay active');
        throw new SiphonError('SECF_RELOAD', `cannot load rules from ${source.description}: ${reason}`, { cause: e });
      }
      for (const w of warnings) this.opts.log?.warn({ rule: w.rule }, `secfilter: ${w.message}`);
      this.current = next;
      this.changed?.({ op: 'set', rules: next.toRules() });
      this.opts.log?.info({ rules: next.size, source: source.description }, 'secfilter: rules loaded');
      return { rules: next.size, warnings };
    } finally {
      this.reloading = false;
    }
  }

  /** appends a rule in memory only (secfilter.add_bl/add_wl/add_dst); gone after the next reload. */
  addRule(kind: ListKind | 'destination', type: RuleType, value: string): void {
    if (value.length === 0) throw new SiphonError('SECF_BAD_RULE', 'empty value would match everything');
    if (value.length > MAX_RULE_LENGTH) throw new SiphonError('SECF_BAD_RULE', `value longer than ${MAX_RULE_LENGTH} characters`);
    this.current = this.current.withRule(kind, type, value);
    this.changed?.({ op: 'add', kind, type, value });
  }

  /** removes, in memory, every entry starting with `prefix` (secfilter.del_*); returns how many. */
  removeRules(kind: ListKind | 'destination', type: RuleType, prefix: string): number {
    const r = this.current.withoutPrefix(kind, type, prefix);
    this.current = r.set;
    if (r.removed > 0) this.changed?.({ op: 'del', kind, type, prefix });
    return r.removed;
  }

  // ---- single-value checks -------------------------------------------------------------------

  private checkValue(type: RuleType, value: string | null | undefined, slot: number): number {
    if (value === undefined || value === null) return 1;
    const rules = this.current;
    if (rules.whitelist[type].index.matchesPrefixOf(value)) {
      this.stats.hit(Counter.WHITELIST + slot);
      return 2;
    }
    if (rules.blacklist[type].index.matchesPrefixOf(value)) {
      this.stats.hit(slot);
      return -2;
    }
    return 1;
  }

  /** secf_check_ua: the User-Agent value; absent header gives 1. */
  checkUa(ua: string | null | undefined): number {
    return this.checkValue('ua', ua, Counter.UA);
  }

  /** secf_check_ip: the source address as text (IPv4-mapped IPv6 is checked as IPv4, as Kamailio's $si shows it). */
  checkIp(ip: string | null | undefined): number {
    if (ip && ip.length > 7 && ip.charCodeAt(0) === 0x3a && ip.startsWith('::ffff:') && ip.includes('.')) ip = ip.slice(7);
    return this.checkValue('ip', ip, Counter.IP);
  }

  /** secf_check_country(cc): the country code the caller resolved (e.g. GeoIP). */
  checkCountry(cc: string | null | undefined): number {
    return this.checkValue('country', cc, Counter.COUNTRY);
  }

  /** secf_check_dst(number): destination blacklist only; -2 blocked, 1 not found. */
  checkDst(number: string | null | undefined): number {
    if (number === undefined || number === null) return 1;
    const idx = this.current.destinations.index;
    if (this.dstExactMatch ? idx.matchesExactly(number) : idx.matchesPrefixOf(number)) {
      this.stats.hit(Counter.DESTINATION);
      return -2;
    }
    return 1;
  }

  // ---- header checks (From, To, Contact) -------------------------------------------------------

  /**
   * secf_check_{from,to,contact}_hdr. Order, first hit wins (kamailio.md §1.5): user whitelist
   * (display name -> 4, then URI user -> 2), user blacklist (name -> -4, user -> -2), domain whitelist
   * (3), domain blacklist (-3), else 1. Contact has no display-name check. A URI without user part
   * gives 1 without looking at the domain, as Kamailio does; a missing header gives 1, an unparsable one -1.
   */
  checkHeader(kind: HeaderKind, header: HeaderInput): number {
    const parts = toParts(header);
    if (parts === undefined) return 1;
    if (parts === null) return -1;
    const user = parts.user;
    if (user === undefined) return 1;
    const rules = this.current;
    // #4700 fix: a display name equal to the user is the user
    const name = kind !== HeaderKind.CONTACT && parts.name !== undefined && !equalsIgnoreCase(parts.name, user) ? parts.name : undefined;
    // Kamailio walks the user list rule by rule, testing the display name, then the user: the earlier
    // rule decides (a rule matching the name wins over a later one matching the user, and vice versa)
    const wl = nameOrUser(rules.whitelist.user.index, name, user);
    if (wl !== 0) {
      this.stats.hit(Counter.WHITELIST + (wl === NAME_HIT ? Counter.NAME : Counter.USER) + kind);
      return wl === NAME_HIT ? 4 : 2;
    }
    const bl = nameOrUser(rules.blacklist.user.index, name, user);
    if (bl !== 0) {
      this.stats.hit((bl === NAME_HIT ? Counter.NAME : Counter.USER) + kind);
      return bl === NAME_HIT ? -4 : -2;
    }
    const host = parts.host;
    if (host !== undefined) {
      if (rules.whitelist.domain.index.matchesPrefixOf(host)) {
        this.stats.hit(Counter.WHITELIST + Counter.DOMAIN + kind);
        return 3;
      }
      if (rules.blacklist.domain.index.matchesPrefixOf(host)) {
        this.stats.hit(Counter.DOMAIN + kind);
        return -3;
      }
    }
    return 1;
  }

  checkFromHdr(header: HeaderInput): number {
    return this.checkHeader(HeaderKind.FROM, header);
  }
  checkToHdr(header: HeaderInput): number {
    return this.checkHeader(HeaderKind.TO, header);
  }
  checkContactHdr(header: HeaderInput): number {
    return this.checkHeader(HeaderKind.CONTACT, header);
  }

  private granular(list: 'user' | 'domain', value: string | undefined, slot: number): number {
    if (value === undefined) return 1;
    const rules = this.current;
    if (rules.whitelist[list].index.matchesPrefixOf(value)) {
      this.stats.hit(Counter.WHITELIST + slot);
      return 2;
    }
    if (rules.blacklist[list].index.matchesPrefixOf(value)) {
      this.stats.hit(slot);
      return -2;
    }
    return 1;
  }

  /** secf_check_username_*_hdr: URI user only vs the user lists; 2 / 1 / -1 unparsable / -2. */
  checkUsernameHdr(kind: HeaderKind, header: HeaderInput): number {
    const parts = toParts(header);
    if (parts === undefined) return 1;
    if (parts === null) return -1;
    return this.granular('user', parts.user, Counter.USER + kind);
  }

  /** secf_check_name_*_hdr: display name only (Contact's too) vs the user lists. */
  checkNameHdr(kind: HeaderKind, header: HeaderInput): number {
    const parts = toParts(header);
    if (parts === undefined) return 1;
    if (parts === null) return -1;
    return this.granular('user', parts.name, Counter.NAME + kind);
  }

  /** secf_check_domain_*_hdr: URI host only vs the domain lists (whitelist fixed to the domain list). */
  checkDomainHdr(kind: HeaderKind, header: HeaderInput): number {
    const parts = toParts(header);
    if (parts === undefined) return 1;
    if (parts === null) return -1;
    return this.granular('domain', parts.host, Counter.DOMAIN + kind);
  }

  checkUsernameFromHdr(h: HeaderInput): number {
    return this.checkUsernameHdr(HeaderKind.FROM, h);
  }
  checkUsernameToHdr(h: HeaderInput): number {
    return this.checkUsernameHdr(HeaderKind.TO, h);
  }
  checkUsernameContactHdr(h: HeaderInput): number {
    return this.checkUsernameHdr(HeaderKind.CONTACT, h);
  }
  checkNameFromHdr(h: HeaderInput): number {
    return this.checkNameHdr(HeaderKind.FROM, h);
  }
  checkNameToHdr(h: HeaderInput): number {
    return this.checkNameHdr(HeaderKind.TO, h);
  }
  checkNameContactHdr(h: HeaderInput): number {
    return this.checkNameHdr(HeaderKind.CONTACT, h);
  }
  checkDomainFromHdr(h: HeaderInput): number {
    return this.checkDomainHdr(HeaderKind.FROM, h);
  }
  checkDomainToHdr(h: HeaderInput): number {
    return this.checkDomainHdr(HeaderKind.TO, h);
  }
  checkDomainContactHdr(h: HeaderInput): number {
    return this.checkDomainHdr(HeaderKind.CONTACT, h);
  }

  // ---- SQL injection -------------------------------------------------------------------------

  /** secf_check_sqli_hdr(value): 1 clean, -1 suspicious (strict set). */
  checkSqliHdr(value: string | null | undefined): number {
    if (value === undefined || value === null) return 1;
    if (looksLikeSqlInjection(value)) {
      this.stats.hit(Counter.SQL_INJECTION);
      return -1;
    }
    return 1;
  }

  /**
   * secf_check_sqli_all: UA, From name/user/host, To name/user/host, first Contact user/host.
   * Display names use the relaxed set, the rest the strict one. 1 clean, 0 suspicious (Kamailio's 0
   * stops its script; a plugin decides itself). Stops at the first offending field.
   */
  checkSqliAll(input: SipMessage | SqliFields): number {
    const f: SqliFields =
      'kind' in input && 'header' in input
        ? {
            ua: input.header('user-agent'),
            from: headerPartsOf(input, HeaderKind.FROM),
            to: headerPartsOf(input, HeaderKind.TO),
            contact: headerPartsOf(input, HeaderKind.CONTACT),
          }
        : (input as SqliFields);
    const bad = this.sqliField(f);
    if (bad !== null) {
      this.stats.hit(Counter.SQL_INJECTION);
      this.opts.log?.warn({ field: bad }, `secfilter: possible SQL injection in ${bad}`);
      return 0;
    }
    return 1;
  }

  private sqliField(f: SqliFields): string | null {
    if (f.ua !== undefined && looksLikeSqlInjection(f.ua)) return 'User-Agent';
    const hdrs: Array<[string, HeaderParts | null | undefined, boolean]> = [
      ['From', f.from, true],
      ['To', f.to, true],
      ['Contact', f.contact, false],
    ];
    for (const [label, p, withName] of hdrs) {
      if (!p) continue;
      if (withName && p.name !== undefined && looksLikeSqlInjection(p.name, true)) return `${label} display name`;
      if (p.user !== undefined && looksLikeSqlInjection(p.user)) return `${label} user`;
      if (p.host !== undefined && looksLikeSqlInjection(p.host)) return `${label} host`;
    }
    return null;
  }
}
