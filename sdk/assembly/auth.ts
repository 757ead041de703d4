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
import { encodeArg, argPtrA, argLenA, outPtr, outCap, growOut, decodeOut } from "./buffer";
import { current } from "./hooks";
import * as env from "./env";

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

// ---- build flags of auth_get_www_authenticate / auth_get_proxy_authenticate (Kamailio) -----------

/** qop="auth" in the built header. */
export const BUILD_QOP_AUTH: i32 = 4;
/** qop="auth-int" in the built header. */
export const BUILD_QOP_AUTH_INT: i32 = 8;
/** stale=true in the built header. */
export const BUILD_STALE: i32 = 16;

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
// @ts-ignore: decorator
@external("auth", "auth_get_www_authenticate")
declare function raw_get_www(p: usize, l: i32, flags: i32, out: usize, cap: i32): i32;
// @ts-ignore: decorator
@external("auth", "auth_get_proxy_authenticate")
declare function raw_get_proxy(p: usize, l: i32, flags: i32, out: usize, cap: i32): i32;

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

function getChallenge(realm: string, flags: i32, proxy: bool): string | null {
  encodeArg(realm);
  let n = proxy ? raw_get_proxy(argPtrA, argLenA, flags, outPtr, outCap) : raw_get_www(argPtrA, argLenA, flags, outPtr, outCap);
  if (n > outCap) {
    growOut(n);
    encodeArg(realm);
    n = proxy ? raw_get_proxy(argPtrA, argLenA, flags, outPtr, outCap) : raw_get_www(argPtrA, argLenA, flags, outPtr, outCap);
  }
  return n < 0 ? null : decodeOut(n);
}

/**
 * Kamailio `auth_get_www_authenticate(realm, flags, pvdest)`: the challenge header lines
 * ("WWW-Authenticate: Digest ...\r\n", one per configured algorithm, one nonce) without sending
 * anything; BUILD_* flags. null when the realm is unusable or the module is absent.
 */
export function auth_get_www_authenticate(realm: string, flags: i32): string | null {
  return getChallenge(realm, flags, false);
}

/** The same with Proxy-Authenticate lines (for a 407). */
export function auth_get_proxy_authenticate(realm: string, flags: i32): string | null {
  return getChallenge(realm, flags, true);
}

/**
 * Adds the challenge lines to the reply this request will get (Kamailio: auth_get_www_authenticate +
 * append_to_reply), so the plugin can answer statefully: `auth_append_challenge(realm, BUILD_QOP_AUTH,
 * false); t_reply(401, "Unauthorized");`. A transaction then absorbs UDP retransmissions of the
 * request (with nonce_count on, a retransmission would otherwise read as a replay). 1 ok, -1 failed.
 */
export function auth_append_challenge(realm: string, flags: i32, proxy: bool): i32 {
  const text = getChallenge(realm, flags, proxy);
  if (text === null) return -1;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\r\n", start);
    if (end < 0) end = text.length;
    if (end > start) {
      encodeArg(text.substring(start, end));
      if (env.reply_hdr_add(argPtrA, argLenA) <= 0) return -1;
    }
    start = end + 2;
  }
  return 1;
}
