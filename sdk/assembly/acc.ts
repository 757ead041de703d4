/**
 * acc from a plugin (ABI 1.2, namespace `acc`; Kamailio acc's KEMI `acc_log_request(comment)` and
 * `acc_db_request(comment, table)`, host/modules/acc/README.md "Functions for plugins"): a record of
 * the request being routed, made now. The comment gives code and reason ("403 Forbidden").
 *
 *   import { acc_db_request, sl_reply, exit } from "../../../sdk/assembly";
 *   acc_db_request("403 Forbidden", "missed_calls"); sl_reply(403, "Forbidden"); return exit();
 *
 * Return codes: 1 recorded; -2 table not the module's acc / missed_calls table (or db_enable 0);
 * -3 string outside memory; -4 no request in this hook; -5 write queue full or comment over 256 bytes;
 * -6 UNIMPLEMENTED (no `modules.acc` on this node).
 */
import { encodeArg, encodeArgs, argPtrA, argLenA, argPtrB, argLenB } from "./buffer";

// @ts-ignore: decorator
@external("acc", "acc_log_request")
declare function raw_acc_log_request(cp: usize, cl: i32): i32;
// @ts-ignore: decorator
@external("acc", "acc_db_request")
declare function raw_acc_db_request(cp: usize, cl: i32, tp: usize, tl: i32): i32;

/** Kamailio `acc_log_request(comment)`: the request as a JSON log line `{"acc": {...}}`. */
export function acc_log_request(comment: string): i32 {
  encodeArg(comment);
  return raw_acc_log_request(argPtrA, argLenA);
}

/** Kamailio `acc_db_request(comment, table)`: the request as a row of `table` ("acc" or "missed_calls"). */
export function acc_db_request(comment: string, table: string): i32 {
  encodeArgs(comment, table);
  return raw_acc_db_request(argPtrA, argLenA, argPtrB, argLenB);
}
