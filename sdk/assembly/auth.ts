/**
 * auth from a plugin: Kamailio auth's challenges over the `auth` import namespace
 * (host/modules/auth/abi.ts, README "Functions for plugins"). The checks themselves are auth_db's
 * (`www_authorize`, `proxy_authorize`, `auth_check`); their return codes are the AUTH_* below.
 *
 *   import { auth_check, auth_challenge, consume_credentials, AUTH_STALE_NONCE, CHALLENGE_QOP_AUTH, exit } from "../../../sdk/assembly";
 *   const rc = auth_check("", "subscriber", 1);            // realm "": the To / From host
 *   if (rc < 0) {
 *     auth_challenge("", CHALLENGE_QOP_AUTH | (rc == AUTH_STALE_NONCE ? CHALLENGE_STALE : 0));
 *     return exit();
 *   }
 *   consume_credentials();                                 // do not pass them downstream
 *
 * Host statuses, never verdicts: -4 NOT_ALLOWED (no message / not request_route), -3 realm outside
 * memory or over 128 bytes, -6 UNIMPLEMENTED (no `modules.auth` on this node).
 */
import { encodeArg, argPtrA, argLenA } from "./buffer";
import { current } from "./hooks";

// ---- return codes of the authorize functions (Kamailio auth/api.h auth_cfg_result_t) --------------

/** the credentials are valid (also: ACK, CANCEL and PRACK, which are never challenged). */
export const AUTH_OK: i32 = 1;
/** malformed or forged credentials, a refused algorithm / qop, or a lookup error. */
export const AUTH_ERROR: i32 = -1;
/** wrong password. */
export const AUTH_INVALID_PASSWORD: i32 = -2;
/** no such subscriber. */
export const AUTH_USER_UNKNOWN: i32 = -3;
/** the nonce expired or was replayed with an old nc: challenge again with CHALLENGE_STALE. */
export const AUTH_STALE_NONCE: i32 = -4;
/** no credentials for this realm: challenge. */
export const AUTH_NO_CREDENTIALS: i32 = -5;
/** a one-time nonce used twice: challenge again. */
export const AUTH_NONCE_REUSED: i32 = -6;
/** the authenticated user is not the From (To for REGISTER) user (auth_check flag 1). */
export const AUTH_USER_MISMATCH: i32 = -8;

// ---- challenge flags (Kamailio www_challenge / proxy_challenge / auth_challenge) -----------------

/** qop="auth" in the challenge (recommended: enables the nonce-count replay check). */
export const CHALLENGE_QOP_AUTH: i32 = 1;
/** qop="auth-int" (the body is hashed into the response). */
export const CHALLENGE_QOP_AUTH_INT: i32 = 2;
/** no automatic "500 Internal Server Error" when the challenge cannot be built. */
export const CHALLENGE_NO_500: i32 = 4;
/** stale=true: the UA retries with the new nonce without asking its user (after AUTH_STALE_NONCE). */
export const CHALLENGE_STALE: i32 = 16;

// @ts-ignore: decorator
@external("auth", "www_challenge")
declare function raw_www_challenge(p: usize, l: i32, flags: i32): i32;
// @ts-ignore: decorator
@external("auth", "proxy_challenge")
declare function raw_proxy_challenge(p: usize, l: i32, flags: i32): i32;
// @ts-ignore: decorator
@external("auth", "auth_challenge")
declare function raw_auth_challenge(p: usize, l: i32, flags: i32): i32;
// @ts-ignore: decorator
@external("auth", "has_credentials")
declare function raw_has_credentials(p: usize, l: i32): i32;
// @ts-ignore: decorator
@external("auth", "consume_credentials")
declare function raw_consume_credentials(): i32;

function sent(r: i32): i32 {
  if (r == 1) current.replied = true;
  return r;
}

/**
 * Kamailio `www_challenge(realm, flags)`: answers 401 with a WWW-Authenticate per configured
 * algorithm (SHA-256 and MD5 by default). 1 sent (then `return exit();`), -2 not built (500 sent
 * unless CHALLENGE_NO_500), -3 not sent, -4 (Kamailio) neither the 500; host statuses above.
 */
export function www_challenge(realm: string, flags: i32): i32 {
  encodeArg(realm);
  return sent(raw_www_challenge(argPtrA, argLenA, flags));
}

/** Kamailio `proxy_challenge(realm, flags)`: the same with 407 and Proxy-Authenticate. */
export function proxy_challenge(realm: string, flags: i32): i32 {
  encodeArg(realm);
  return sent(raw_proxy_challenge(argPtrA, argLenA, flags));
}

/** Kamailio `auth_challenge(realm, flags)`: www_challenge for REGISTER, proxy_challenge otherwise. */
export function auth_challenge(realm: string, flags: i32): i32 {
  encodeArg(realm);
  return sent(raw_auth_challenge(argPtrA, argLenA, flags));
}

/** Kamailio `has_credentials(realm)`: true when an Authorization or Proxy-Authorization carries that realm. */
export function has_credentials(realm: string): bool {
  encodeArg(realm);
  return raw_has_credentials(argPtrA, argLenA) == 1;
}

/**
 * siphon: true when this node runs `modules.auth` (has_credentials answers -6 UNIMPLEMENTED without
 * it). Lets a route that authenticates "when the node can" tell a lab node from a broken one; the
 * answer does not change while the node runs, so a plugin may keep it.
 */
export function auth_loaded(): bool {
  encodeArg("");
  return raw_has_credentials(argPtrA, argLenA) != -6;
}

/**
 * Kamailio `consume_credentials()`: removes the credentials header the authorize function used, so it
 * is not relayed downstream. 1 removed, -1 none (call it after a successful authorize).
 */
export function consume_credentials(): i32 {
  return raw_consume_credentials();
}
