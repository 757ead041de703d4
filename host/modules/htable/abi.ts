/**
 * Plugin imports, namespace `htable` (Kamailio htable's $sht family and sht_* functions; README
 * "Functions for plugins", docs/abi/v1.md "Module namespace `htable`"). Strings are (ptr, len); the
 * table name comes first in every call.
 *
 * Statuses: -1 absent (no such key, iterator at its end), -2 bad argument (no such table, an op or
 * pattern outside the safe matcher, an integer operation on a string value), -3 string outside guest
 * memory, -5 limit (table full: max_entries / max_bytes; key or value too long; too many iterators).
 * The integer functions (sht_get_int, sht_inc) answer the value itself (0 on failure) and keep their
 * status for `sht_status()` (0 ok, else one of the above): every import stays `-> i32`, so a node
 * without the module links them all to its -6 stubs (sht_status() then answers -6 too).
 *
 * Gas (besides the 20 of every import call and the reads/writes of strings): 2 per call; the match
 * functions also 1 per item in the table + 1 per 8 characters of its keys and values, charged before
 * the scan (the most it can compare).
 */
import type { MessageContext } from '../../core/context.js';
import type { ModulePvs } from '../../core/pv.js';
import type { HostCallApi, ImportProvider } from '../../wasm/types.js';
import type { Htable } from './htable.js';
import { compileMatcher } from './match.js';
import type { HtItem, HtTable } from './table.js';

type Fn = (...args: never[]) => number;

const NOT_FOUND = -1;
const BAD_ARGUMENT = -2;
const INVALID_MEMORY = -3;
const LIMIT = -5;
const GAS_BASE = 2;
/** longest table or iterator name read (config names are at most 64). */
const MAX_NAME = 64;
/** iterators open at once per message (Kamailio: 4 per process). */
export const MAX_ITERATORS = 4;


interface Iter {
  readonly table: HtTable;
  readonly items: Iterator<HtItem>;
  cur: HtItem | null;
}

export class HtableImports implements ImportProvider {
  readonly namespace = 'htable';

  /**
   * `$sht(table=>key)` in `sip.pv_get` and xlog formats (Kamailio htable's pv): the item as text, the
   * table's initval when absent, null (printed `<null>`) when neither or no such table. A key longer
   * than the table's max_key_length is no key of it: answered null before any lookup. Paid by the
   * caller's charge (pv_get: the name and the value written; xlog: the format and one line).
   */
  readonly pv: ModulePvs;

  constructor(private readonly ht: Htable) {
    this.pv = {
      sht: (t: string, k: string): string | null => {
        const tab = ht.table(t);
        if (tab === undefined || k.length > tab.bounds.max_key_length) return null;
        const it = ht.get(t, k);
        const v = it ? it.value : (ht.specs.get(t)?.initval ?? null);
        return v === null || v === undefined ? null : String(v);
      },
    };
  }

  functions(api: HostCallApi): Record<string, Fn> {
    const ht = this.ht;
    /** iterators of the message being routed (gone with it); those opened outside a message. */
    const byMsg = new WeakMap<MessageContext, Map<string, Iter>>();
    const noMsg = new Map<string, Iter>();
    const iterators = (): Map<string, Iter> => {
      const ctx = api.current();
      if (ctx === null) return noMsg;
      let m = byMsg.get(ctx);
      if (m === undefined) byMsg.set(ctx, (m = new Map()));
      return m;
    };

    /** the table named at (p, l): the HtTable, or a status. */
    const tableAt = (p: number, l: number): HtTable | number => {
      api.charge(GAS_BASE);
      if (l <= 0 || l > MAX_NAME) return BAD_ARGUMENT;
      const name = api.readString(p, l);
      if (name === null) return INVALID_MEMORY;
      return ht.table(name) ?? BAD_ARGUMENT;
    };
    /** the key at (p, l) of `tab`: a string, or a status (too long for the table: `tooLong`). */
    const keyAt = (tab: HtTable, p: number, l: number, tooLong: number): string | number => {
      if (l < 0) return BAD_ARGUMENT;
      // a key longer than the table allows in characters is longer in bytes too: refused unread
      if (l > tab.bounds.max_key_length * 3) return tooLong;
      const k = api.readString(p, l);
      if (k === null) return INVALID_MEMORY;
      return k.length > tab.bounds.max_key_length ? tooLong : k;
    };
    const initval = (tab: HtTable): number | null => ht.specs.get(tab.name)?.initval ?? null;
    const scanGas = (tab: HtTable): void => api.charge(tab.size + Math.ceil(tab.bytes / 8));
    /** the status of the last integer-valued call (sht_status); the value answered on failure is 0. */
    let lastStatus = 0;
    const ok = (v: number): number => ((lastStatus = 0), v);
    const fail = (s: number): number => ((lastStatus = s), 0);
    const refusal = (r: unknown): number => (r === undefined ? BAD_ARGUMENT : typeof r === 'string' ? (r === 'str' ? BAD_ARGUMENT : LIMIT) : 1);

    const matchFn =
      (field: 'name' | 'value', remove: boolean) =>
      (tp: number, tl: number, op: number, mp: number, ml: number): number => {
        const tab = tableAt(tp, tl);
        if (typeof tab === 'number') return tab;
        if (ml < 0) return BAD_ARGUMENT;
        // a pattern is bounded by routing.limits.value_max_bytes (longer reads as outside memory, -3)
        const pattern = api.readString(mp, ml);
        if (pattern === null) return INVALID_MEMORY;
        const m = compileMatcher(op, pattern);
        if (m === null) return BAD_ARGUMENT;
        scanGas(tab);
        return (remove ? ht.removeMatching(tab.name, field, m, op, pattern) : ht.countMatching(tab.name, field, m)) ?? BAD_ARGUMENT;
      };

    return {
      /** $sht(t=>k) as text (an integer in decimal); initval when absent and set; -1 absent. */
      sht_get: ((tp: number, tl: number, kp: number, kl: number, out: number, cap: number): number => {
        const tab = tableAt(tp, tl);
        if (typeof tab === 'number') return tab;
        const k = keyAt(tab, kp, kl, NOT_FOUND);
        if (typeof k === 'number') return k;
        const it = ht.get(tab.name, k);
        const v = it ? it.value : initval(tab);
        if (v === null || v === undefined) return NOT_FOUND;
        return api.writeString(out, cap, typeof v === 'number' ? String(v) : v);
      }) as Fn,
      /** $sht(t=>k) as an integer (a string value that is a decimal int32 reads as it); 0 and sht_status() -1 absent, -2 a string. */
      sht_get_int: ((tp: number, tl: number, kp: number, kl: number): number => {
        const tab = tableAt(tp, tl);
        if (typeof tab === 'number') return fail(tab);
        const k = keyAt(tab, kp, kl, NOT_FOUND);
        if (typeof k === 'number') return fail(k);
        const it = ht.get(tab.name, k);
        const v = it ? it.value : initval(tab);
        if (v === null || v === undefined) return fail(NOT_FOUND);
        if (typeof v === 'number') return ok(v);
        if (!/^[-+]?\d{1,10}$/.test(v)) return fail(BAD_ARGUMENT);
        const n = Number(v);
        return (n | 0) === n ? ok(n) : fail(BAD_ARGUMENT);
      }) as Fn,
      /** $sht(t=>k) = "v": 1; -5 over a bound. */
      sht_sets: ((tp: number, tl: number, kp: number, kl: number, vp: number, vl: number): number => {
        const tab = tableAt(tp, tl);
        if (typeof tab === 'number') return tab;
        const k = keyAt(tab, kp, kl, LIMIT);
        if (typeof k === 'number') return k;
        if (vl < 0) return BAD_ARGUMENT;
        if (vl > tab.bounds.max_value_length * 3) return LIMIT;
        const v = api.readString(vp, vl);
        if (v === null) return INVALID_MEMORY;
        return refusal(ht.set(tab.name, k, v));
      }) as Fn,
      /** $sht(t=>k) = n: 1; -5 over a bound. */
      sht_seti: ((tp: number, tl: number, kp: number, kl: number, v: number): number => {
        const tab = tableAt(tp, tl);
        if (typeof tab === 'number') return tab;
        const k = keyAt(tab, kp, kl, LIMIT);
        if (typeof k === 'number') return k;
        return refusal(ht.set(tab.name, k, v | 0));
      }) as Fn,
      /** $shtinc / $shtdec / sht_inc_by: the new value; 0 and sht_status() -2 the item holds a string, -5 over a bound. */
      sht_inc: ((tp: number, tl: number, kp: number, kl: number, d: number): number => {
        const tab = tableAt(tp, tl);
        if (typeof tab === 'number') return fail(tab);
        const k = keyAt(tab, kp, kl, LIMIT);
        if (typeof k === 'number') return fail(k);
        const r = ht.inc(tab.name, k, d | 0);
        return typeof r === 'number' ? ok(r) : fail(refusal(r));
      }) as Fn,
      /** the status of the last sht_get_int / sht_inc of this instance: 0 ok, else -1, -2, -3, -5. */
      sht_status: (() => {
        api.charge(GAS_BASE);
        return lastStatus;
      }) as Fn,
      /** sht_rm(t, k): 1 (removed or absent, as Kamailio); -2 no such table. */
      sht_rm: ((tp: number, tl: number, kp: number, kl: number): number => {
        const tab = tableAt(tp, tl);
        if (typeof tab === 'number') return tab;
        const k = keyAt(tab, kp, kl, NOT_FOUND);
        if (k === NOT_FOUND) return 1; // longer than any stored key
        if (typeof k === 'number') return k;
        ht.remove(tab.name, k);
        return 1;
      }) as Fn,
      /** $shtex(t=>k): seconds left (0: never expires); -1 absent. */
      sht_getex: ((tp: number, tl: number, kp: number, kl: number): number => {
        const tab = tableAt(tp, tl);
        if (typeof tab === 'number') return tab;
        const k = keyAt(tab, kp, kl, NOT_FOUND);
        if (typeof k === 'number') return k;
        const it = ht.get(tab.name, k);
        if (it === null || it === undefined) return NOT_FOUND;
        return it.expires === 0 ? 0 : Math.max(1, Math.ceil((it.expires - ht.now()) / 1000));
      }) as Fn,
      /** $shtex(t=>k) = s: 1; -1 absent; -2 s < 0. */
      sht_setex: ((tp: number, tl: number, kp: number, kl: number, s: number): number => {
        const tab = tableAt(tp, tl);
        if (typeof tab === 'number') return tab;
        if (s < 0) return BAD_ARGUMENT;
        const k = keyAt(tab, kp, kl, NOT_FOUND);
        if (typeof k === 'number') return k;
        return ht.setExpire(tab.name, k, s) ? 1 : NOT_FOUND;
      }) as Fn,
      /** sht_rm_name(t, op, pattern) / sht_rm_name_re: how many items were removed. */
      sht_rm_name: matchFn('name', true) as Fn,
      /** sht_rm_value(t, op, pattern) / sht_rm_value_re: how many items were removed. */
      sht_rm_value: matchFn('value', true) as Fn,
      /** $shtcn(t=>pattern) / sht_has_name: how many live items' names match. */
      sht_match_name: matchFn('name', false) as Fn,
      /** $shtcv(t=>pattern) / sht_has_str_value: how many live items' values match. */
      sht_match_value: matchFn('value', false) as Fn,
      /** sht_reset(t): 1. */
      sht_reset: ((tp: number, tl: number): number => {
        const tab = tableAt(tp, tl);
        if (typeof tab === 'number') return tab;
        api.charge(tab.size);
        ht.reset(tab.name);
        return 1;
      }) as Fn,
      /** sht_iterator_start(iname, t): 1; -5 MAX_ITERATORS open (an iterator of the same name is restarted). */
      sht_iterator_start: ((ip: number, il: number, tp: number, tl: number): number => {
        const tab = tableAt(tp, tl);
        if (typeof tab === 'number') return tab;
        if (il <= 0 || il > MAX_NAME) return BAD_ARGUMENT;
        const name = api.readString(ip, il);
        if (name === null) return INVALID_MEMORY;
        const its = iterators();
        if (!its.has(name) && its.size >= MAX_ITERATORS) return LIMIT;
        its.set(name, { table: tab, items: tab.live(ht.now()), cur: null });
        return 1;
      }) as Fn,
      /** sht_iterator_next(iname): 1 moved to the next item; -1 no more items (or no such iterator). */
      sht_iterator_next: ((ip: number, il: number): number => {
        const it = iterAt(api, iterators, ip, il);
        if (typeof it === 'number') return it;
        const n = it.items.next();
        it.cur = n.done === true ? null : n.value;
        return it.cur === null ? NOT_FOUND : 1;
      }) as Fn,
      /** $shtitkey(iname): the current item's key; -1 none. */
      sht_iterator_key: ((ip: number, il: number, out: number, cap: number): number => {
        const it = iterAt(api, iterators, ip, il);
        if (typeof it === 'number') return it;
        return it.cur === null ? NOT_FOUND : api.writeString(out, cap, it.cur.key);
      }) as Fn,
      /** $shtitval(iname): the current item's value as text; -1 none. */
      sht_iterator_value: ((ip: number, il: number, out: number, cap: number): number => {
        const it = iterAt(api, iterators, ip, il);
        if (typeof it === 'number') return it;
        return it.cur === null ? NOT_FOUND : api.writeString(out, cap, String(it.cur.value));
      }) as Fn,
      /** sht_iterator_end(iname): 1; -1 no such iterator. */
      sht_iterator_end: ((ip: number, il: number): number => {
        api.charge(GAS_BASE);
        if (il <= 0 || il > MAX_NAME) return BAD_ARGUMENT;
        const name = api.readString(ip, il);
        if (name === null) return INVALID_MEMORY;
        return iterators().delete(name) ? 1 : NOT_FOUND;
      }) as Fn,
    };
  }
}

function iterAt(api: HostCallApi, iterators: () => Map<string, Iter>, ip: number, il: number): Iter | number {
  api.charge(GAS_BASE);
  if (il <= 0 || il > MAX_NAME) return BAD_ARGUMENT;
  const name = api.readString(ip, il);
  if (name === null) return INVALID_MEMORY;
  return iterators().get(name) ?? NOT_FOUND;
}
