/**
 * dispatcher from a plugin: Kamailio dispatcher's `ds_*` functions over the `dispatcher` import
 * namespace (host/modules/dispatcher/abi.ts, README "Functions for plugins").
 *
 *   import { ds_select_dst, relay, sl_reply, exit } from "../../../sdk/assembly";
 *   if (ds_select_dst(1, 4) < 0) { sl_reply(404, "No destination"); return exit(); }
 *   return relay();                                   // to the $du just chosen
 *
 * Return codes are Kamailio's: 1 true / done, -1 false / nothing usable. Host statuses:
 *   -2 bad argument, -3 string outside guest memory, -4 not in request_route, -7 internal;
 *   -6 UNIMPLEMENTED: the dispatcher module is not configured on this node (`modules.dispatcher`
 *      absent). The predicates (`ds_is_from_list` ...) therefore return codes, not `bool`:
 *      test them with `> 0`.
 *
 * Algorithms (`alg`): 0 Call-ID hash, 1 From URI, 2 To URI, 3 R-URI, 4 round robin, 5 auth username,
 * 6 random, 7 hash_pvar, 8 serial (priority order), 9 weight, 10 call load, 11 relative weight,
 * 12 parallel, 13 latency, 14 / 15 priority variants, 64 round robin with overload control.
 */
import { encodeArg, encodeArgs, argPtrA, argLenA, argPtrB, argLenB, outPtr, outCap, growOut, decodeOut } from "./buffer";

// ---- raw imports, namespace `dispatcher` --------------------------------------------------------

// @ts-ignore: decorator
@external("dispatcher", "ds_select_dst")
declare function raw_ds_select_dst(set: i32, alg: i32, limit: i32): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_select_domain")
declare function raw_ds_select_domain(set: i32, alg: i32, limit: i32): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_select")
declare function raw_ds_select(set: i32, alg: i32, limit: i32): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_next_dst")
declare function raw_ds_next_dst(): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_next_domain")
declare function raw_ds_next_domain(): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_set_dst")
declare function raw_ds_set_dst(): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_set_domain")
declare function raw_ds_set_domain(): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_mark_dst")
declare function raw_ds_mark_dst(sp: usize, sl: i32): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_mark_addr")
declare function raw_ds_mark_addr(sp: usize, sl: i32, set: i32, up: usize, ul: i32): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_is_from_list")
declare function raw_ds_is_from_list(set: i32): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_is_from_list_mode")
declare function raw_ds_is_from_list_mode(set: i32, mode: i32): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_is_from_list_uri")
declare function raw_ds_is_from_list_uri(set: i32, mode: i32, up: usize, ul: i32): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_list_exists")
declare function raw_ds_list_exists(set: i32): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_is_active")
declare function raw_ds_is_active(set: i32): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_is_active_uri")
declare function raw_ds_is_active_uri(set: i32, up: usize, ul: i32): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_load_update")
declare function raw_ds_load_update(): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_load_unset")
declare function raw_ds_load_unset(): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_dst_count")
declare function raw_ds_dst_count(): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_current_set")
declare function raw_ds_current_set(): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_current_uri")
declare function raw_ds_current_uri(out: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("dispatcher", "ds_current_attrs")
declare function raw_ds_current_attrs(out: usize, cap: i32): i32;

// ---- selection ----------------------------------------------------------------------------------

/**
 * Kamailio `ds_select_dst(set, alg[, limit])`: picks a destination of `set` with algorithm `alg` and
 * sets `$du` to it (the R-URI is kept). `limit` caps the failover list (0 = every usable target).
 * 1 chosen, -1 no such set / nothing usable / `$du` already set with `force_dst=0`.
 */
export function ds_select_dst(set: i32, alg: i32, limit: i32 = 0): i32 {
  return raw_ds_select_dst(set, alg, limit);
}

/** Kamailio `ds_select_domain(set, alg[, limit])`: as ds_select_dst(), rewriting the R-URI host:port instead. */
export function ds_select_domain(set: i32, alg: i32, limit: i32 = 0): i32 {
  return raw_ds_select_domain(set, alg, limit);
}

/** Kamailio `ds_select(set, alg[, limit])`: only fills the failover list (neither $du nor the R-URI change). */
export function ds_select(set: i32, alg: i32, limit: i32 = 0): i32 {
  return raw_ds_select(set, alg, limit);
}

/**
 * Kamailio `ds_next_dst()`, for failure handling: applies the next target of the failover list to
 * `$du`. 1 done, -1 none left (or the module's `flags` lack bit 2, failover support).
 */
export function ds_next_dst(): i32 {
  return raw_ds_next_dst();
}

/** Kamailio `ds_next_domain()`: as ds_next_dst(), rewriting the R-URI host. */
export function ds_next_domain(): i32 {
  return raw_ds_next_domain();
}

/** Kamailio `ds_set_dst()`: re-applies the current target to `$du`. 1 / -1. */
export function ds_set_dst(): i32 {
  return raw_ds_set_dst();
}

/** Kamailio `ds_set_domain()`: re-applies the current target to the R-URI. 1 / -1. */
export function ds_set_domain(): i32 {
  return raw_ds_set_domain();
}

// ---- state --------------------------------------------------------------------------------------

/**
 * Kamailio `ds_mark_dst([state])`: sets the state of the current target (the one `$du` came from):
 * letters `a` active, `i` inactive, `t` trying, `d` disabled, plus `p` probing. Without a state:
 * `i` (and `p` in probing mode 1). 1 done, -1 no current target / failover off.
 */
export function ds_mark_dst(state: string = ""): i32 {
  if (state.length == 0) return raw_ds_mark_dst(0, 0);
  encodeArg(state);
  return raw_ds_mark_dst(argPtrA, argLenA);
}

/** Kamailio `ds_mark_addr(state, set, uri)` (dispatcher.set_state from a route): 1 / -1. */
export function ds_mark_addr(state: string, set: i32, uri: string): i32 {
  encodeArgs(state, uri);
  return raw_ds_mark_addr(argPtrA, argLenA, set, argPtrB, argLenB);
}

// ---- lookups ------------------------------------------------------------------------------------

/**
 * Kamailio `ds_is_from_list([set])`: 1 when the source IP and port of the request belong to a
 * destination of `set` (-1 = any set; the protocol is ignored), else -1.
 */
export function ds_is_from_list(set: i32 = -1): i32 {
  return raw_ds_is_from_list(set);
}

/** Kamailio `ds_is_from_list(set, mode)`: mode bits 1 no port, 2 no proto, 4 only usable, 8 socket, 16 best match. */
export function ds_is_from_list_mode(set: i32, mode: i32): i32 {
  return raw_ds_is_from_list_mode(set, mode);
}

/** Kamailio `ds_is_from_list(set, mode, uri)`: matches the address of `uri` instead of the source. */
export function ds_is_from_list_uri(set: i32, mode: i32, uri: string): i32 {
  encodeArg(uri);
  return raw_ds_is_from_list_uri(set, mode, argPtrA, argLenA);
}

/** Kamailio `ds_list_exists(set)`: 1 when the set is loaded, -1 otherwise. */
export function ds_list_exists(set: i32): i32 {
  return raw_ds_list_exists(set);
}

/** Kamailio `ds_is_active(set)`: 1 when the set has a usable target, -1 otherwise. */
export function ds_is_active(set: i32): i32 {
  return raw_ds_is_active(set);
}

/** Kamailio `ds_is_active(set, uri)`: 1 when that target of the set is usable, -1 otherwise. */
export function ds_is_active_uri(set: i32, uri: string): i32 {
  encodeArg(uri);
  return raw_ds_is_active_uri(set, argPtrA, argLenA);
}

// ---- call load (alg 10) -------------------------------------------------------------------------

/** Kamailio `ds_load_update()`: BYE/CANCEL release the call's load, a 2xx to INVITE confirms it. 1 / -1. */
export function ds_load_update(): i32 {
  return raw_ds_load_update();
}

/** Kamailio `ds_load_unset()`: releases this call's load. 1 / -1. */
export function ds_load_unset(): i32 {
  return raw_ds_load_unset();
}

// ---- the failover list --------------------------------------------------------------------------

/** Records left in the failover list, the current one included (Kamailio `$xavp(_dsdst_)` count). */
export function ds_dst_count(): i32 {
  return raw_ds_dst_count();
}

/** Set id of the current target, -1 when none. */
export function ds_current_set(): i32 {
  return raw_ds_current_set();
}

/** URI of the current target (Kamailio `$xavp(_dsdst_=>uri)`), null when none. */
export function ds_current_uri(): string | null {
  let n = raw_ds_current_uri(outPtr, outCap);
  if (n > outCap) {
    growOut(n);
    n = raw_ds_current_uri(outPtr, outCap);
  }
  return n < 0 ? null : decodeOut(n);
}

/** Attributes of the current target (Kamailio `$xavp(_dsdst_=>attrs)`), null when none. */
export function ds_current_attrs(): string | null {
  let n = raw_ds_current_attrs(outPtr, outCap);
  if (n > outCap) {
    growOut(n);
    n = raw_ds_current_attrs(outPtr, outCap);
  }
  return n < 0 ? null : decodeOut(n);
}
