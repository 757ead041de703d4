/**
 * auth_db from a plugin: Kamailio auth_db's `www_authorize`, `proxy_authorize` and `auth_check` over
 * the `auth_db` import namespace (host/modules/auth_db/abi.ts, README "Functions for plugins"). The
 * subscriber rows come from the table named here (one of `modules.auth_db.tables`); the digest checks,
 * nonces and challenges are the `auth` module's.
 *
 *   if (is_method("REGISTER")) {                                  // kamailio.cfg route[AUTH]
 *     const rc = auth_check(pv("$td"), "subscriber", AUTH_CHECK_ID);
 *     if (rc != 1) {
 *       if (rc == -1) { sl_reply(500, "Server Internal Error"); return exit(); }   // fail closed
 *       // auth_challenge(...) from the auth namespace, then exit
 *     }
 *   }
 *
 * Return codes (Kamailio auth_cfg_result_t):
 *    1  AUTH_OK                  credentials valid (ACK and CANCEL: nothing to check)
 *   -1  AUTH_ERROR               error: the subscriber lookup failed (database down), the table was not
 *                                loaded, malformed credentials, no auth module; also every host-side
 *                                failure (string outside memory, no message): answer 500, never let it pass
 *   -2  AUTH_INVALID_PASSWORD    wrong password
 *   -3  AUTH_USER_UNKNOWN        no such subscriber
 *   -4  AUTH_STALE_NONCE         the nonce expired: challenge again (stale=true)
 *   -5  AUTH_NO_CREDENTIALS      no credentials for this realm: challenge
 *   -6  AUTH_NONCE_REUSED        replayed nonce; also UNIMPLEMENTED when `modules.auth_db` is absent
 *   -8  AUTH_USER_MISMATCH       auth_check: the From/To user is not the authenticated user
 * Test success with `== 1`, never `> 0` or `!= -1`. The AUTH_* names of these codes come with the auth
 * namespace's SDK file (challenges, has_credentials, consume_credentials).
 */
import { encodeArgs, argPtrA, argLenA, argPtrB, argLenB } from "./buffer";

// @ts-ignore: decorator
@external("auth_db", "www_authorize")
declare function raw_www_authorize(rp: usize, rl: i32, tp: usize, tl: i32): i32;
// @ts-ignore: decorator
@external("auth_db", "proxy_authorize")
declare function raw_proxy_authorize(rp: usize, rl: i32, tp: usize, tl: i32): i32;
// @ts-ignore: decorator
@external("auth_db", "auth_check")
declare function raw_auth_check(rp: usize, rl: i32, tp: usize, tl: i32, flags: i32): i32;

/** auth_check flag 1: the authenticated user must be the To user (REGISTER, PUBLISH) or the From user. */
export const AUTH_CHECK_ID: i32 = 1;
/** auth_check flag 2 (with 1): skip that check for INVITE, BYE, PRACK, UPDATE, MESSAGE (anonymous callers). */
export const AUTH_CHECK_SKIP_FWD: i32 = 2;

/**
 * Checks the Authorization header for `realm` ("" = the To domain for REGISTER, else the From domain)
 * against the subscriber in `table`. Kamailio www_authorize / www_authenticate.
 */
export function www_authorize(realm: string, table: string): i32 {
  encodeArgs(realm, table);
  return raw_www_authorize(argPtrA, argLenA, argPtrB, argLenB);
}

/** Same for the Proxy-Authorization header (after a 407). Kamailio proxy_authorize / proxy_authenticate. */
export function proxy_authorize(realm: string, table: string): i32 {
  encodeArgs(realm, table);
  return raw_proxy_authorize(argPtrA, argLenA, argPtrB, argLenB);
}

/**
 * www_authorize for REGISTER, proxy_authorize otherwise; with AUTH_CHECK_ID the authenticated user
 * must own the request (-8 otherwise). Kamailio auth_check(realm, table, flags).
 */
export function auth_check(realm: string, table: string, flags: i32): i32 {
  encodeArgs(realm, table);
  return raw_auth_check(argPtrA, argLenA, argPtrB, argLenB, flags);
}
