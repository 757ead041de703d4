/**
 * htable from a plugin: Kamailio htable's `$sht(table=>key)` family and `sht_*` functions (KEMI
 * `KSR.htable.*` names) over the `htable` import namespace (host/modules/htable/abi.ts, README
 * "Functions for plugins"). Tables are defined in `modules.htable.tables`; their items belong to the
 * node, so they survive a plugin reload and are seen by every version and every shard.
 *
 *   import { sht_inc, sht_dec, sht_get_int, sl_reply, exit } from "../../../sdk/assembly";
 *   if (sht_inc("calls", user) > 10) { sht_dec("calls", user); sl_reply(486, "Busy Here"); return exit(); }
 *
 * Return codes: 1 done; -1 absent ($null); -2 bad argument (no such table, an op or pattern outside
 * the safe matcher, an integer operation on a string item); -3 string outside memory; -5 limit (table
 * full, key or value too long, too many iterators); -6 UNIMPLEMENTED (no `modules.htable` on this node).
 * Functions answering an integer (sht_get_int, sht_inc ...) answer 0 on failure and keep their status
 * for `sht_status()` (one more host call, made only when asked).
 *
 * Match ops (sht_rm_name, sht_has_name ...): "eq", "ne", "sw" (starts with), "ew" (ends with),
 * "in" (contains), "re" (only `^literal`, `literal$`, `.*literal.*` forms: no backtracking regex).
 */
import { encodeArg, encodeArgs, encodeArgs3, argPtrA, argLenA, argPtrB, argLenB, argPtrC, argLenC, outPtr, outCap, growOut, decodeOut } from "./buffer";

// @ts-ignore: decorator
@external("htable", "sht_get")
declare function raw_sht_get(tp: usize, tl: i32, kp: usize, kl: i32, out: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_get_int")
declare function raw_sht_get_int(tp: usize, tl: i32, kp: usize, kl: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_sets")
declare function raw_sht_sets(tp: usize, tl: i32, kp: usize, kl: i32, vp: usize, vl: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_seti")
declare function raw_sht_seti(tp: usize, tl: i32, kp: usize, kl: i32, v: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_inc")
declare function raw_sht_inc(tp: usize, tl: i32, kp: usize, kl: i32, d: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_status")
declare function raw_sht_status(): i32;
// @ts-ignore: decorator
@external("htable", "sht_rm")
declare function raw_sht_rm(tp: usize, tl: i32, kp: usize, kl: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_getex")
declare function raw_sht_getex(tp: usize, tl: i32, kp: usize, kl: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_setex")
declare function raw_sht_setex(tp: usize, tl: i32, kp: usize, kl: i32, s: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_rm_name")
declare function raw_sht_rm_name(tp: usize, tl: i32, op: i32, mp: usize, ml: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_rm_value")
declare function raw_sht_rm_value(tp: usize, tl: i32, op: i32, mp: usize, ml: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_match_name")
declare function raw_sht_match_name(tp: usize, tl: i32, op: i32, mp: usize, ml: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_match_value")
declare function raw_sht_match_value(tp: usize, tl: i32, op: i32, mp: usize, ml: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_reset")
declare function raw_sht_reset(tp: usize, tl: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_iterator_start")
declare function raw_sht_iterator_start(ip: usize, il: i32, tp: usize, tl: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_iterator_next")
declare function raw_sht_iterator_next(ip: usize, il: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_iterator_key")
declare function raw_sht_iterator_key(ip: usize, il: i32, out: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_iterator_value")
declare function raw_sht_iterator_value(ip: usize, il: i32, out: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("htable", "sht_iterator_end")
declare function raw_sht_iterator_end(ip: usize, il: i32): i32;

/**
 * The status of the last integer-valued call (sht_get_int, sht_inc, sht_dec, sht_inc_by): 0 ok, else
 * -1 absent, -2 bad argument / a string item, -5 limit, -6 no `modules.htable` on this node (the value
 * those calls answered is then 0, or -6). One more host call: ask only when it matters.
 */
export function sht_status(): i32 {
  return raw_sht_status();
}

function opCode(op: string): i32 {
  if (op == "eq") return 0;
  if (op == "ne") return 1;
  if (op == "sw") return 2;
  if (op == "ew") return 3;
  if (op == "in") return 4;
  if (op == "re") return 5;
  return 99; // the host answers -2
}

/** `$sht(table=>key)` as text (integers in decimal); null when $null (the table's initval when it has one). */
export function sht_get(table: string, key: string): string | null {
  encodeArgs(table, key);
  let n = raw_sht_get(argPtrA, argLenA, argPtrB, argLenB, outPtr, outCap);
  if (n > outCap) {
    growOut(n);
    encodeArgs(table, key);
    n = raw_sht_get(argPtrA, argLenA, argPtrB, argLenB, outPtr, outCap);
  }
  return n < 0 ? null : decodeOut(n);
}

/** KEMI name of sht_get. */
export function sht_gets(table: string, key: string): string | null {
  return sht_get(table, key);
}

/** `$sht(table=>key)` as an integer: 0 when $null or a string that is not a number (then sht_status() is -1 / -2). */
export function sht_get_int(table: string, key: string): i32 {
  encodeArgs(table, key);
  return raw_sht_get_int(argPtrA, argLenA, argPtrB, argLenB);
}

/** KEMI `sht_is_null`: true when `$sht(table=>key)` is $null. */
export function sht_is_null(table: string, key: string): bool {
  encodeArgs(table, key);
  return raw_sht_get(argPtrA, argLenA, argPtrB, argLenB, outPtr, 0) == -1;
}

/** `$sht(table=>key) = "value"`: 1; -5 table full / too long. */
export function sht_sets(table: string, key: string, value: string): i32 {
  encodeArgs3(table, key, value);
  return raw_sht_sets(argPtrA, argLenA, argPtrB, argLenB, argPtrC, argLenC);
}

/** `$sht(table=>key) = value` (integer): 1; -5 table full / key too long. */
export function sht_seti(table: string, key: string, value: i32): i32 {
  encodeArgs(table, key);
  return raw_sht_seti(argPtrA, argLenA, argPtrB, argLenB, value);
}

/** `$shtinc(table=>key)`: adds 1 and returns the new value (a missing item starts from initval or 0). */
export function sht_inc(table: string, key: string): i32 {
  return sht_inc_by(table, key, 1);
}

/** `$shtdec(table=>key)`: subtracts 1 and returns the new value. */
export function sht_dec(table: string, key: string): i32 {
  return sht_inc_by(table, key, -1);
}

/** Adds `delta` (32-bit wrap-around) and returns the new value; sht_status() -2 when the item is a string. */
export function sht_inc_by(table: string, key: string, delta: i32): i32 {
  encodeArgs(table, key);
  return raw_sht_inc(argPtrA, argLenA, argPtrB, argLenB, delta);
}

/** `sht_rm(table, key)` / `$sht(table=>key) = $null`: 1. */
export function sht_rm(table: string, key: string): i32 {
  encodeArgs(table, key);
  return raw_sht_rm(argPtrA, argLenA, argPtrB, argLenB);
}

/** `$shtex(table=>key)`: seconds until the item expires, 0 never; -1 absent. */
export function sht_getex(table: string, key: string): i32 {
  encodeArgs(table, key);
  return raw_sht_getex(argPtrA, argLenA, argPtrB, argLenB);
}

/** `$shtex(table=>key) = secs` / KEMI `sht_setex`: the item expires `secs` from now (0 = never): 1; -1 absent. */
export function sht_setex(table: string, key: string, secs: i32): i32 {
  encodeArgs(table, key);
  return raw_sht_setex(argPtrA, argLenA, argPtrB, argLenB, secs);
}

/** `sht_rm_name(table, op, value)`: removes the items whose name matches; how many (negative: error). */
export function sht_rm_name(table: string, op: string, value: string): i32 {
  encodeArgs(table, value);
  return raw_sht_rm_name(argPtrA, argLenA, opCode(op), argPtrB, argLenB);
}

/** `sht_rm_value(table, op, value)`: removes the items whose value matches; how many. */
export function sht_rm_value(table: string, op: string, value: string): i32 {
  encodeArgs(table, value);
  return raw_sht_rm_value(argPtrA, argLenA, opCode(op), argPtrB, argLenB);
}

/** `sht_rm_name_re(table=>re)` with the safe subset (`^abc`, `abc$`, `abc`, `.*`): how many removed. */
export function sht_rm_name_re(table: string, re: string): i32 {
  return sht_rm_name(table, "re", re);
}

/** `sht_rm_value_re(table=>re)` with the safe subset: how many removed. */
export function sht_rm_value_re(table: string, re: string): i32 {
  return sht_rm_value(table, "re", re);
}

/** `$shtcn(table=>re)` with any op: how many live items' names match. */
export function sht_count_name(table: string, op: string, value: string): i32 {
  encodeArgs(table, value);
  return raw_sht_match_name(argPtrA, argLenA, opCode(op), argPtrB, argLenB);
}

/** `$shtcv(table=>re)` with any op: how many live items' values match. */
export function sht_count_value(table: string, op: string, value: string): i32 {
  encodeArgs(table, value);
  return raw_sht_match_value(argPtrA, argLenA, opCode(op), argPtrB, argLenB);
}

/** `sht_has_name(table, op, value)`: 1 an item's name matches, -1 none (other negatives: errors). */
export function sht_has_name(table: string, op: string, value: string): i32 {
  const n = sht_count_name(table, op, value);
  return n > 0 ? 1 : n == 0 ? -1 : n;
}

/** `sht_has_str_value(table, op, value)`: 1 an item's value matches, -1 none. */
export function sht_has_str_value(table: string, op: string, value: string): i32 {
  const n = sht_count_value(table, op, value);
  return n > 0 ? 1 : n == 0 ? -1 : n;
}

/** `sht_reset(table)`: empties the table: 1. */
export function sht_reset(table: string): i32 {
  encodeArg(table);
  return raw_sht_reset(argPtrA, argLenA);
}

/** `sht_iterator_start(iname, table)`: 1; -5 four iterators already open in this message. */
export function sht_iterator_start(iname: string, table: string): i32 {
  encodeArgs(iname, table);
  return raw_sht_iterator_start(argPtrA, argLenA, argPtrB, argLenB);
}

/** `sht_iterator_next(iname)`: true when it moved to another item. */
export function sht_iterator_next(iname: string): bool {
  encodeArg(iname);
  return raw_sht_iterator_next(argPtrA, argLenA) > 0;
}

/** `$shtitkey(iname)`: the current item's key; null when none. */
export function sht_iterator_key(iname: string): string | null {
  encodeArg(iname);
  let n = raw_sht_iterator_key(argPtrA, argLenA, outPtr, outCap);
  if (n > outCap) {
    growOut(n);
    encodeArg(iname);
    n = raw_sht_iterator_key(argPtrA, argLenA, outPtr, outCap);
  }
  return n < 0 ? null : decodeOut(n);
}

/** `$shtitval(iname)`: the current item's value as text; null when none. */
export function sht_iterator_value(iname: string): string | null {
  encodeArg(iname);
  let n = raw_sht_iterator_value(argPtrA, argLenA, outPtr, outCap);
  if (n > outCap) {
    growOut(n);
    encodeArg(iname);
    n = raw_sht_iterator_value(argPtrA, argLenA, outPtr, outCap);
  }
  return n < 0 ? null : decodeOut(n);
}

/** `sht_iterator_end(iname)`: 1; -1 no such iterator. */
export function sht_iterator_end(iname: string): i32 {
  encodeArg(iname);
  return raw_sht_iterator_end(argPtrA, argLenA);
}
