/**
 * dialog from a plugin: Kamailio's dialog module over the `dialog` import namespace (ABI 1.2,
 * host/modules/dialog/abi.ts, README "Functions for plugins").
 *
 *   // request_route, initial INVITE: track the call, at most 2 calls per caller
 *   if (dlg_manage() == -5) { sl_reply(503, "Service Unavailable"); return exit(); }
 *   set_dlg_profile("caller", fU);
 *   if (get_profile_size("caller", fU) > 2) { sl_reply(486, "Busy Here"); return exit(); }
 *   dlg_ctx_set("timeout_bye", 1);          // $dlg_ctx(timeout_bye) = 1
 *
 * Return codes are Kamailio's (1 true / done, -1 false / not found) or ABI statuses: -3 string
 * outside memory, -4 no message in this hook, -5 a limit (table full, max_vars, max profiles per
 * dialog), -6 UNIMPLEMENTED (no `modules.dialog` on this node), -7 internal.
 */
import { encodeArg, encodeArgs, argPtrA, argLenA, argPtrB, argLenB, outPtr, outCap, growOut, decodeOut } from "./buffer";

// @ts-ignore: decorator
@external("dialog", "dlg_manage")
declare function raw_dlg_manage(): i32;
// @ts-ignore: decorator
@external("dialog", "is_in_dlg")
declare function raw_is_in_dlg(): i32;
// @ts-ignore: decorator
@external("dialog", "set_dlg_profile")
declare function raw_set_dlg_profile(pp: usize, pl: i32, vp: usize, vl: i32): i32;
// @ts-ignore: decorator
@external("dialog", "unset_dlg_profile")
declare function raw_unset_dlg_profile(pp: usize, pl: i32, vp: usize, vl: i32): i32;
// @ts-ignore: decorator
@external("dialog", "is_in_profile")
declare function raw_is_in_profile(pp: usize, pl: i32, vp: usize, vl: i32): i32;
// @ts-ignore: decorator
@external("dialog", "get_profile_size")
declare function raw_get_profile_size(pp: usize, pl: i32, vp: usize, vl: i32): i32;
// @ts-ignore: decorator
@external("dialog", "dlg_setflag")
declare function raw_dlg_setflag(f: i32): i32;
// @ts-ignore: decorator
@external("dialog", "dlg_resetflag")
declare function raw_dlg_resetflag(f: i32): i32;
// @ts-ignore: decorator
@external("dialog", "dlg_isflagset")
declare function raw_dlg_isflagset(f: i32): i32;
// @ts-ignore: decorator
@external("dialog", "dlg_bye")
declare function raw_dlg_bye(side: i32): i32;
// @ts-ignore: decorator
@external("dialog", "dlg_set_timeout")
declare function raw_dlg_set_timeout(s: i32): i32;
// @ts-ignore: decorator
@external("dialog", "dlg_get")
declare function raw_dlg_get(np: usize, nl: i32, out: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("dialog", "dlg_var_get")
declare function raw_dlg_var_get(np: usize, nl: i32, out: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("dialog", "dlg_var_set")
declare function raw_dlg_var_set(np: usize, nl: i32, vp: usize, vl: i32): i32;
// @ts-ignore: decorator
@external("dialog", "dlg_ctx_get")
declare function raw_dlg_ctx_get(np: usize, nl: i32): i32;
// @ts-ignore: decorator
@external("dialog", "dlg_ctx_set")
declare function raw_dlg_ctx_set(np: usize, nl: i32, v: i32): i32;

/** dlg_bye sides. */
export const DLG_CALLER: i32 = 1;
export const DLG_CALLEE: i32 = 2;
export const DLG_ALL: i32 = 3;

/**
 * Kamailio `dlg_manage()`: an initial INVITE gets a dialog (bound to its transaction: 1xx makes it
 * early, 2xx confirmed, the ACK up, BYE or a timeout ends it); an in-dialog request is matched to
 * its dialog. 1 done, -1 not an INVITE / no such dialog, -5 the table is full (answer 503).
 */
export function dlg_manage(): i32 {
  return raw_dlg_manage();
}

/** true when the message belongs to a tracked dialog (Kamailio is_known_dlg()). */
export function is_in_dlg(): bool {
  return raw_is_in_dlg() == 1;
}

/** Kamailio is_known_dlg(). */
export function is_known_dlg(): bool {
  return raw_is_in_dlg() == 1;
}

/** a profile call with an optional value ("" = no value). */
function profileCall(name: string, value: string, kind: i32): i32 {
  encodeArgs(name, value);
  const vl = value.length == 0 ? 0 : argLenB;
  if (kind == 0) return raw_set_dlg_profile(argPtrA, argLenA, argPtrB, vl);
  if (kind == 1) return raw_unset_dlg_profile(argPtrA, argLenA, argPtrB, vl);
  if (kind == 2) return raw_is_in_profile(argPtrA, argLenA, argPtrB, vl);
  return raw_get_profile_size(argPtrA, argLenA, argPtrB, vl);
}

/** Kamailio set_dlg_profile(profile[, value]): 1, -1 no dialog / unknown profile, -5 too many profiles. */
export function set_dlg_profile(profile: string, value: string = ""): i32 {
  return profileCall(profile, value, 0);
}

/** Kamailio unset_dlg_profile(profile[, value]): 1, -1. */
export function unset_dlg_profile(profile: string, value: string = ""): i32 {
  return profileCall(profile, value, 1);
}

/** Kamailio is_in_profile(profile[, value]). */
export function is_in_profile(profile: string, value: string = ""): bool {
  return profileCall(profile, value, 2) == 1;
}

/** Kamailio get_profile_size(profile[, value], size): the node's count, -1 unknown profile. */
export function get_profile_size(profile: string, value: string = ""): i32 {
  return profileCall(profile, value, 3);
}

/** Kamailio dlg_setflag(flag 0-31). */
export function dlg_setflag(flag: i32): i32 {
  return raw_dlg_setflag(flag);
}

/** Kamailio dlg_resetflag(flag 0-31). */
export function dlg_resetflag(flag: i32): i32 {
  return raw_dlg_resetflag(flag);
}

/** Kamailio dlg_isflagset(flag 0-31). */
export function dlg_isflagset(flag: i32): bool {
  return raw_dlg_isflagset(flag) == 1;
}

/** Kamailio dlg_bye(side): DLG_CALLER, DLG_CALLEE or DLG_ALL; 1 sent (the dialog ends), -1 no confirmed dialog. */
export function dlg_bye(side: i32): i32 {
  return raw_dlg_bye(side);
}

/** Kamailio dlg_set_timeout(seconds) for the current dialog: 1, -1. */
export function dlg_set_timeout(seconds: i32): i32 {
  return raw_dlg_set_timeout(seconds);
}

function readOut(name: string, kind: i32): string | null {
  encodeArg(name);
  let n = kind == 0 ? raw_dlg_get(argPtrA, argLenA, outPtr, outCap) : raw_dlg_var_get(argPtrA, argLenA, outPtr, outCap);
  if (n > outCap) {
    growOut(n);
    encodeArg(name);
    n = kind == 0 ? raw_dlg_get(argPtrA, argLenA, outPtr, outCap) : raw_dlg_var_get(argPtrA, argLenA, outPtr, outCap);
  }
  return n < 0 ? null : decodeOut(n);
}

/** `$dlg(name)`: h_id, h_entry, state, callid, from_uri, to_uri, from_tag, to_tag, start_ts, init_ts, lifetime, timeout ... */
export function dlg(name: string): string | null {
  return readOut(name, 0);
}

/** `$dlg_var(name)`, null when unset or no dialog. */
export function dlg_var(name: string): string | null {
  return readOut(name, 1);
}

/** `$dlg_var(name) = value`: 1, -1 no dialog, -5 too many variables / value over 512 bytes. */
export function dlg_var_set(name: string, value: string): i32 {
  encodeArgs(name, value);
  return raw_dlg_var_set(argPtrA, argLenA, argPtrB, argLenB);
}

/** `$dlg_var(name) = $null`. */
export function dlg_var_unset(name: string): i32 {
  encodeArg(name);
  return raw_dlg_var_set(argPtrA, argLenA, 0, -1);
}

/** `$dlg_ctx(name)`: timeout_bye, timeout, flags, on, set, state; -1 unknown / no dialog. */
export function dlg_ctx_get(name: string): i32 {
  encodeArg(name);
  return raw_dlg_ctx_get(argPtrA, argLenA);
}

/** `$dlg_ctx(name) = value` for timeout_bye, timeout (s), flags: 1, -1. */
export function dlg_ctx_set(name: string, value: i32): i32 {
  encodeArg(name);
  return raw_dlg_ctx_set(argPtrA, argLenA, value);
}
