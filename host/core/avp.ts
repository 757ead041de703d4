/**
 * Per-transaction data a plugin keeps across the routes of one transaction: Kamailio's message
 * flags (`setflag`/`isflagset`, `$mf`, copied into the transaction so onreply_route and
 * failure_route see them) and its AVPs (`$avp(name)`, `$xavp(name=>key)`, attribute-value pairs
 * that live in the transaction and are freed with it).
 *
 * A request context creates its TxData on first use; when the request becomes a transaction the
 * proxy keeps the same object in its tm state (host/proxy/cell.ts) and hands it to the hook contexts
 * of branch_route and onreply_route, and failure_route runs on the request context itself. So every
 * route of the transaction reads and writes one store, dropped with the transaction.
 *
 * Bounds (Kamailio keeps AVPs in shared memory without a count limit, bounded only by `-m`): at most
 * AVP_MAX_ENTRIES values (AVP values + XAVP fields) and AVP_MAX_BYTES characters of names + values
 * per transaction; a set past either is refused (-5 LIMIT) and the store is unchanged.
 */

/** values (AVP values + XAVP fields) one transaction may hold. */
export const AVP_MAX_ENTRIES = 256;
/** characters of names + values one transaction may hold. */
export const AVP_MAX_BYTES = 65_536;
/** items one XAVP name may stack (Kamailio: unbounded, shm). */
const XAVP_MAX_ITEMS = 64;

export const AVP_OK = 0;
export const AVP_BAD = -2;
export const AVP_LIMIT = -5;

/** Kamailio's AVPs and XAVPs of one transaction, with its message flags. */
export class TxData {
  /** Kamailio message flags 0-31 (`$mf`, setflag/resetflag/isflagset). */
  mflags = 0;
  private avps: Map<string, string[]> | null = null;
  private xavps: Map<string, Array<Map<string, string>>> | null = null;
  private entries = 0;
  private bytes = 0;

  /** `$(avp(name)[index])`: index 0 is the value set last (Kamailio's AVP stack); null when absent. */
  avpGet(name: string, index = 0): string | null {
    const list = this.avps?.get(name);
    if (list === undefined || index < 0 || index >= list.length) return null;
    return list[list.length - 1 - index]!;
  }

  /** `$cnt($avp(name))`. */
  avpCount(name: string): number {
    return this.avps?.get(name)?.length ?? 0;
  }

  /** `$avp(name) = value`: a new value on top of the stack (older values stay, at higher indexes). */
  avpPush(name: string, value: string): number {
    if (!this.fits(1, name.length + value.length)) return AVP_LIMIT;
    const avps = (this.avps ??= new Map());
    let list = avps.get(name);
    if (list === undefined) avps.set(name, (list = []));
    list.push(value);
    this.entries++;
    this.bytes += name.length + value.length;
    return AVP_OK;
  }

  /** `$(avp(name)[*]) = value`: every value removed, then `value` alone ('' = Kamailio's `$null`: none). */
  avpReplaceAll(name: string, value: string): number {
    const list = this.avps?.get(name);
    if (list !== undefined) {
      for (const v of list) this.bytes -= name.length + v.length;
      this.entries -= list.length;
      this.avps!.delete(name);
    }
    return value === '' ? AVP_OK : this.avpPush(name, value);
  }

  /** `$xavp(name[index]=>key)`; null when absent. */
  xavpGet(name: string, index: number, key: string): string | null {
    const items = this.xavps?.get(name);
    if (items === undefined || index < 0 || index >= items.length) return null;
    return items[items.length - 1 - index]!.get(key) ?? null;
  }

  /** `$cnt($xavp(name))`: the items stacked under `name`. */
  xavpCount(name: string): number {
    return this.xavps?.get(name)?.length ?? 0;
  }

  /**
   * `$xavp(name=>key) = value` (`index` null): a new item on top holding key (Kamailio: assigning
   * to the root name adds an item); `$xavp(name[0]=>key) = value`: key set in the top item (a new
   * item when there is none).
   */
  xavpSet(name: string, index: number | null, key: string, value: string): number {
    const xavps = (this.xavps ??= new Map());
    let items = xavps.get(name);
    if (index !== null && index !== 0) return AVP_BAD;
    const top = index === 0 && items !== undefined && items.length > 0 ? items[items.length - 1]! : null;
    const old = top?.get(key);
    const cost = (old === undefined ? key.length + value.length + (top === null ? name.length : 0) : value.length - old.length);
    if (!this.fits(old === undefined ? 1 : 0, cost)) return AVP_LIMIT;
    if (top === null && (items?.length ?? 0) >= XAVP_MAX_ITEMS) return AVP_LIMIT;
    if (top !== null) {
      top.set(key, value);
    } else {
      if (items === undefined) xavps.set(name, (items = []));
      items.push(new Map([[key, value]]));
    }
    if (old === undefined) this.entries++;
    this.bytes += cost;
    return AVP_OK;
  }

  private fits(entries: number, bytes: number): boolean {
    return this.entries + entries <= AVP_MAX_ENTRIES && this.bytes + bytes <= AVP_MAX_BYTES;
  }
}

/** the `name`, optional `[index]` and `key` of an `$xavp(name[index]=>key)` argument; null when malformed. */
export function parseXavpArg(arg: string): { name: string; index: number | null; key: string } | null {
  const arrow = arg.indexOf('=>');
  if (arrow <= 0 || arrow + 2 >= arg.length) return null;
  let name = arg.slice(0, arrow).trim();
  const key = arg.slice(arrow + 2).trim();
  let index: number | null = null;
  if (name.endsWith(']')) {
    const open = name.indexOf('[');
    if (open <= 0) return null;
    const idx = name.slice(open + 1, -1);
    if (!/^[0-9]{1,4}$/.test(idx)) return null;
    index = Number(idx);
    name = name.slice(0, open);
  }
  return name === '' || key === '' ? null : { name, index, key };
}
