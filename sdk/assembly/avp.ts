/**
 * Per-transaction message flags and AVPs (ABI 1.3, over pseudo-variables: no import of their own).
 * Kamailio keeps both in the transaction: what request_route sets, branch_route, onreply_route and
 * failure_route of the same transaction read (host/core/avp.ts).
 *
 *   setflag(FLT_ACC);                        // Kamailio setflag(1)
 *   avp_set("caller", "alice");              // $avp(caller) = "alice"
 *   // ... in failure_route: if (isflagset(FLT_ACC)) xlog(L_INFO, "caller $avp(caller)");
 *
 * Bounds: 256 values (AVP values + XAVP fields) and 65,536 characters of names + values per
 * transaction; a set past them returns -5 and changes nothing. Values are text (integers in decimal).
 */
import { pv, pv_set } from "./index";

function mflags(): u32 {
  const v = pv("$mf");
  return v === null ? 0 : <u32>U64.parseInt(v);
}

/** Kamailio `setflag(flag)`: message flag 0-31, kept in the transaction. 1 ok, -1 bad flag or refused. */
export function setflag(flag: i32): i32 {
  if (flag < 0 || flag > 31) return -1;
  return pv_set("$mf", (mflags() | (<u32>1 << <u32>flag)).toString()) >= 0 ? 1 : -1;
}

/** Kamailio `resetflag(flag)`. 1 ok, -1 bad flag or refused. */
export function resetflag(flag: i32): i32 {
  if (flag < 0 || flag > 31) return -1;
  return pv_set("$mf", (mflags() & ~(<u32>1 << <u32>flag)).toString()) >= 0 ? 1 : -1;
}

/** Kamailio `isflagset(flag)`: true when message flag 0-31 is set. */
export function isflagset(flag: i32): bool {
  if (flag < 0 || flag > 31) return false;
  return (mflags() & (<u32>1 << <u32>flag)) != 0;
}

/** `$avp(name)`: the value set last; null when none. */
export function avp_get(name: string): string | null {
  return pv("$avp(" + name + ")");
}

/** `$(avp(name)[index])`: 0 is the value set last. */
export function avp_get_index(name: string, index: i32): string | null {
  return pv("$(avp(" + name + ")[" + index.toString() + "])");
}

/** `$avp(name) = value`: pushed on top (older values stay at higher indexes). 1 ok, -5 store full. */
export function avp_set(name: string, value: string): i32 {
  return pv_set("$avp(" + name + ")", value);
}

/** `$avp(name) = n` (stored in decimal). */
export function avp_seti(name: string, value: i32): i32 {
  return avp_set(name, value.toString());
}

/** `$avp(name)` as an integer; `dflt` when absent or not a number. */
export function avp_get_int(name: string, dflt: i32): i32 {
  const v = avp_get(name);
  if (v === null || v.length == 0) return dflt;
  const n = I32.parseInt(v);
  return isNaN(<f64>n) ? dflt : n;
}

/** `$(avp(name)[*]) = $null`: every value of `name` removed. */
export function avp_delete(name: string): i32 {
  return pv_set("$(avp(" + name + ")[*])", "");
}

/** `$cnt($avp(name))`: how many values `name` holds. */
export function avp_count(name: string): i32 {
  const v = pv("$cnt($avp(" + name + "))");
  return v === null ? 0 : I32.parseInt(v);
}

/** `$xavp(name=>key)`: the field of the top item; null when absent. */
export function xavp_get(name: string, key: string): string | null {
  return pv("$xavp(" + name + "=>" + key + ")");
}

/** `$xavp(name[index]=>key)`: 0 is the item added last. */
export function xavp_get_index(name: string, index: i32, key: string): string | null {
  return pv("$xavp(" + name + "[" + index.toString() + "]=>" + key + ")");
}

/** `$xavp(name=>key) = value`: a new item on top holding key. 1 ok, -5 store full. */
export function xavp_add(name: string, key: string, value: string): i32 {
  return pv_set("$xavp(" + name + "=>" + key + ")", value);
}

/** `$xavp(name[0]=>key) = value`: key set in the top item (a new item when there is none). */
export function xavp_set(name: string, key: string, value: string): i32 {
  return pv_set("$xavp(" + name + "[0]=>" + key + ")", value);
}

/** `$cnt($xavp(name))`: the items stacked under `name`. */
export function xavp_count(name: string): i32 {
  const v = pv("$cnt($xavp(" + name + "))");
  return v === null ? 0 : I32.parseInt(v);
}
