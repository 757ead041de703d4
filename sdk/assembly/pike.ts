/**
 * pike from a plugin: Kamailio pike's flood detection over the `pike` import namespace
 * (host/modules/pike/abi.ts, README "Functions for plugins").
 *
 *   import { pike_check_req, drop } from "../../../sdk/assembly";
 *   const flood = pike_check_req();
 *   if (flood == -1 || flood == -2) return drop();   // kamailio.cfg WITH_ANTIFLOOD
 *
 * Return codes (Kamailio):
 *    1  the source is not blocked (also when the host could not track it: Kamailio answers true on
 *       internal errors, so a full table never blocks anyone);
 *   -1  the source is blocked (detected earlier): kamailio.cfg drops it silently;
 *   -2  this request made the source cross the limit (first detection): log it, then drop.
 * Host statuses, never verdicts: -4 NOT_ALLOWED (no message in this hook), -3 string outside memory,
 * -6 UNIMPLEMENTED (no `modules.pike` on this node). Test a verdict with `== -1 || == -2`, not `< 0`.
 */
import { encodeArg, argPtrA, argLenA } from "./buffer";

// @ts-ignore: decorator
@external("pike", "pike_check_req")
declare function raw_pike_check_req(): i32;
// @ts-ignore: decorator
@external("pike", "pike_check_ip")
declare function raw_pike_check_ip(p: usize, l: i32): i32;

/**
 * Counts this request against its source address `$si`: 1, -1 blocked, -2 newly blocked. The server's
 * own addresses answer 1 and are not counted (kamailio.cfg runs pike only `if (src_ip != myself)`).
 */
export function pike_check_req(): i32 {
  return raw_pike_check_req();
}

/** Counts one request against the given IPv4/IPv6 address: 1, -1 blocked (or not an address), -2 newly blocked. */
export function pike_check_ip(ip: string): i32 {
  encodeArg(ip);
  return raw_pike_check_ip(argPtrA, argLenA);
}
