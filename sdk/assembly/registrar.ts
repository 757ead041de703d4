/**
 * registrar from a plugin: Kamailio registrar's `save`, `lookup`, `registered` and `unregister` over
 * the `registrar` import namespace (host/modules/registrar/abi.ts, README "Functions for plugins").
 *
 *   if (is_method("REGISTER")) {                     // route[REGISTRAR]
 *     if (save("location") == -6) sl_reply(501, "Not Implemented");
 *     return exit();                                 // save() already answered the REGISTER
 *   }
 *   const r = lookup("location");                    // route[LOCATION]
 *   if (r == -1 || r == -3) { sl_reply(404, "Not Found"); return exit(); }
 *   if (r == -2) { sl_reply(405, "Method Not Allowed"); return exit(); }
 *
 * Return codes are Kamailio's (see each function). Host statuses every function may return besides:
 *   -3 string outside guest memory (for lookup also Kamailio's "error"), -4 not in a message hook,
 *   -6 UNIMPLEMENTED: the registrar module is not configured on this node (`modules.registrar`
 *      absent), or the table is in db_mode 3 and the host did not prefetch the message,
 *   -7 internal (logged by the host).
 */
import { encodeArg, encodeArgs, argPtrA, argLenA, argPtrB, argLenB } from "./buffer";
import { current } from "./hooks";

// ---- raw imports, namespace `registrar` ---------------------------------------------------------

// @ts-ignore: decorator
@external("registrar", "save")
declare function raw_save(tp: usize, tl: i32, flags: i32): i32;
// @ts-ignore: decorator
@external("registrar", "lookup")
declare function raw_lookup(tp: usize, tl: i32): i32;
// @ts-ignore: decorator
@external("registrar", "lookup_uri")
declare function raw_lookup_uri(tp: usize, tl: i32, up: usize, ul: i32): i32;
// @ts-ignore: decorator
@external("registrar", "registered")
declare function raw_registered(tp: usize, tl: i32): i32;
// @ts-ignore: decorator
@external("registrar", "registered_uri")
declare function raw_registered_uri(tp: usize, tl: i32, up: usize, ul: i32): i32;
// @ts-ignore: decorator
@external("registrar", "unregister")
declare function raw_unregister(tp: usize, tl: i32, up: usize, ul: i32): i32;
// @ts-ignore: decorator
@external("registrar", "unregister_ruid")
declare function raw_unregister_ruid(tp: usize, tl: i32, up: usize, ul: i32, rp: usize, rl: i32): i32;

// ---- save flags (Kamailio registrar save() flags) -----------------------------------------------

/** 0x01: keep the binding in memory only (no DB write). */
export const SAVE_MEMORY_ONLY: i32 = 0x01;
/** 0x02: do not send the reply (the plugin replies itself). */
export const SAVE_NO_REPLY: i32 = 0x02;
/** 0x04: one contact per AOR (the last Contact of this REGISTER replaces the others). */
export const SAVE_SINGLE_CONTACT: i32 = 0x04;
/** 0x08: no randomisation of the expires value (default_expires_range). */
export const SAVE_NO_EXPIRES_RANGE: i32 = 0x08;
/** 0x10 (with 0x02): queue the Contact lines of the would-be 200 for the plugin's own reply. */
export const SAVE_PREPARE_REPLY_HEADERS: i32 = 0x10;

// ---- functions ----------------------------------------------------------------------------------

/**
 * Kamailio `save(table[, flags])` (RFC 3261 §10.3): stores the Contacts of the REGISTER under the To
 * AOR and answers it (200 with every binding, 400, 423 Interval Too Brief, 503 too many contacts),
 * unless `SAVE_NO_REPLY`. Returns 1 inserted, 2 updated, 3 deleted, 4 query / unchanged, -1 error
 * (the error reply was sent), -2 too many contacts (503 sent); -6 no registrar on this node.
 * When it answered, `exit()` returns Action.REPLIED.
 */
export function save(table: string, flags: i32 = 0): i32 {
  encodeArg(table);
  const r = raw_save(argPtrA, argLenA, flags);
  // Kamailio's save() replies itself, on success and on -1/-2 (sl_reply_error not needed)
  if ((flags & SAVE_NO_REPLY) == 0 && ((r >= 1 && r <= 4) || r == -1 || r == -2)) current.replied = true;
  return r;
}

/**
 * Kamailio `lookup(table)`: the contacts of the R-URI's AOR; the best becomes the R-URI (its
 * received/Path the `$du`), the others branches for t_relay(). 1 found, -1 no valid contact,
 * -2 contacts exist but none allows the method (method_filtering; answer 405), -3 error / unknown table.
 */
export function lookup(table: string): i32 {
  encodeArg(table);
  return raw_lookup(argPtrA, argLenA);
}

/** Kamailio `lookup(table, uri)`: as lookup(), for the AOR of `uri` (the R-URI is still rewritten). */
export function lookup_uri(table: string, uri: string): i32 {
  encodeArgs(table, uri);
  return raw_lookup_uri(argPtrA, argLenA, argPtrB, argLenB);
}

/** Kamailio `registered(table)`: 1 when the R-URI's AOR has a valid contact, -1 when not. */
export function registered(table: string): i32 {
  encodeArg(table);
  return raw_registered(argPtrA, argLenA);
}

/** Kamailio `registered(table, uri)`: same for the AOR of `uri`. */
export function registered_uri(table: string, uri: string): i32 {
  encodeArgs(table, uri);
  return raw_registered_uri(argPtrA, argLenA, argPtrB, argLenB);
}

/** Kamailio `unregister(table, uri)`: removes every contact of the AOR of `uri`. 1 removed, -1 none. */
export function unregister(table: string, uri: string): i32 {
  encodeArgs(table, uri);
  return raw_unregister(argPtrA, argLenA, argPtrB, argLenB);
}

/** Kamailio `unregister(table, uri, ruid)`: removes the one contact with that ruid. 1 removed, -1 none. */
export function unregister_ruid(table: string, uri: string, ruid: string): i32 {
  // the uri and the ruid travel back to back in the second argument buffer
  encodeArgs(table, uri + ruid);
  const uriLen = String.UTF8.byteLength(uri);
  return raw_unregister_ruid(argPtrA, argLenA, argPtrB, uriLen, argPtrB + <usize>uriLen, argLenB - uriLen);
}
