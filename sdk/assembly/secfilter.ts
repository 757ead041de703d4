/**
 * secfilter from a plugin: Kamailio secfilter's `secf_*` functions over the `secfilter` import
 * namespace (host/modules/secfilter/abi.ts, README "Functions for plugins").
 *
 *   import { secf_check_ip, secf_check_ua, drop } from "../../../sdk/assembly";
 *   if (secf_check_ip() == -2) return drop();        // blacklisted source address
 *
 * Every function returns Kamailio's code, to be compared with `==` or `< 0`:
 *   positive = whitelisted (2; 3 domain; 4 display name), 1 = not listed,
 *   -2 blacklisted (-3 domain, -4 display name), -1 error (malformed header, no message).
 * Two statuses come from the host rather than from secfilter:
 *   -4 NOT_ALLOWED: called outside request_route;
 *   -6 UNIMPLEMENTED: the secfilter module is not configured on this node (`modules.secfilter`
 *      absent) — every function answers -6, so test a check with `== -2`, not with `< 0`, or
 *      look at `secf_check_ip()` first (see plugins/default REQINIT).
 *
 * Difference from Kamailio: `secf_check_sqli_all()` returns 0 on a hit in Kamailio, which ends the
 * route of a native kamailio.cfg. Here it returns -1 on a hit (1 when clean), so the route goes on
 * and the plugin decides (`if (secf_check_sqli_all() == -1) { sl_reply(403, ...) }`).
 */
import { encodeArg, argPtrA, argLenA } from "./buffer";

// ---- raw imports, namespace `secfilter` ---------------------------------------------------------

// @ts-ignore: decorator
@external("secfilter", "check_ip")
declare function raw_check_ip(): i32;
// @ts-ignore: decorator
@external("secfilter", "check_ua")
declare function raw_check_ua(): i32;
// @ts-ignore: decorator
@external("secfilter", "check_country")
declare function raw_check_country(p: usize, l: i32): i32;
// @ts-ignore: decorator
@external("secfilter", "check_dst")
declare function raw_check_dst(p: usize, l: i32): i32;
// @ts-ignore: decorator
@external("secfilter", "check_from_hdr")
declare function raw_check_from_hdr(): i32;
// @ts-ignore: decorator
@external("secfilter", "check_to_hdr")
declare function raw_check_to_hdr(): i32;
// @ts-ignore: decorator
@external("secfilter", "check_contact_hdr")
declare function raw_check_contact_hdr(): i32;
// @ts-ignore: decorator
@external("secfilter", "check_sqli_hdr")
declare function raw_check_sqli_hdr(p: usize, l: i32): i32;
// @ts-ignore: decorator
@external("secfilter", "check_sqli_all")
declare function raw_check_sqli_all(): i32;
// @ts-ignore: decorator
@external("secfilter", "check_username_from_hdr")
declare function raw_check_username_from_hdr(): i32;
// @ts-ignore: decorator
@external("secfilter", "check_username_to_hdr")
declare function raw_check_username_to_hdr(): i32;
// @ts-ignore: decorator
@external("secfilter", "check_username_contact_hdr")
declare function raw_check_username_contact_hdr(): i32;
// @ts-ignore: decorator
@external("secfilter", "check_name_from_hdr")
declare function raw_check_name_from_hdr(): i32;
// @ts-ignore: decorator
@external("secfilter", "check_name_to_hdr")
declare function raw_check_name_to_hdr(): i32;
// @ts-ignore: decorator
@external("secfilter", "check_name_contact_hdr")
declare function raw_check_name_contact_hdr(): i32;
// @ts-ignore: decorator
@external("secfilter", "check_domain_from_hdr")
declare function raw_check_domain_from_hdr(): i32;
// @ts-ignore: decorator
@external("secfilter", "check_domain_to_hdr")
declare function raw_check_domain_to_hdr(): i32;
// @ts-ignore: decorator
@external("secfilter", "check_domain_contact_hdr")
declare function raw_check_domain_contact_hdr(): i32;

// ---- wrappers -----------------------------------------------------------------------------------

/** Source address `$si` against the IP lists: 2 whitelisted, 1 not listed, -2 blacklisted, -1 error. */
export function secf_check_ip(): i32 {
  return raw_check_ip();
}

/** `User-Agent` against the user-agent lists (no header: 1): 2, 1, -2, -1. */
export function secf_check_ua(): i32 {
  return raw_check_ua();
}

/** A country code (e.g. from GeoIP) against the country lists: 2, 1, -2, -1. */
export function secf_check_country(cc: string): i32 {
  encodeArg(cc);
  return raw_check_country(argPtrA, argLenA);
}

/**
 * A dialled number against the destination blacklist (equality, or prefix when the module's
 * `dst_exact_match` is 0): 1 allowed, -2 blocked, -1 error.
 */
export function secf_check_dst(number: string): i32 {
  encodeArg(number);
  return raw_check_dst(argPtrA, argLenA);
}

/**
 * From: display name, URI user, URI host against the user and domain lists. 4 name / 3 domain /
 * 2 user whitelisted, 1 not listed, -1 malformed, -2 user / -3 domain / -4 name blacklisted.
 */
export function secf_check_from_hdr(): i32 {
  return raw_check_from_hdr();
}

/** To: as secf_check_from_hdr(). */
export function secf_check_to_hdr(): i32 {
  return raw_check_to_hdr();
}

/** First Contact: URI user and host (no display name): 3, 2, 1, -1, -2, -3. */
export function secf_check_contact_hdr(): i32 {
  return raw_check_contact_hdr();
}

/** A value (usually a header you read) against the strict SQL-injection set: 1 clean, -1 suspicious. */
export function secf_check_sqli_hdr(value: string): i32 {
  encodeArg(value);
  return raw_check_sqli_hdr(argPtrA, argLenA);
}

/** KEMI spelling of secf_check_sqli_hdr(). */
export function secf_sqli_hdr(value: string): i32 {
  return secf_check_sqli_hdr(value);
}

/**
 * User-Agent, From/To display name, user and host, first Contact user and host against the
 * SQL-injection heuristic. 1 clean, **-1 suspicious** (Kamailio returns 0 and so ends the route;
 * here the plugin decides), -4 / -6 host statuses as for every function of this file.
 */
export function secf_check_sqli_all(): i32 {
  const r = raw_check_sqli_all();
  return r == 0 ? -1 : r;
}

/** URI user of From only, user lists: 2, 1, -1, -2. */
export function secf_check_username_from_hdr(): i32 { return raw_check_username_from_hdr(); }
/** URI user of To only, user lists: 2, 1, -1, -2. */
export function secf_check_username_to_hdr(): i32 { return raw_check_username_to_hdr(); }
/** URI user of the first Contact only, user lists: 2, 1, -1, -2. */
export function secf_check_username_contact_hdr(): i32 { return raw_check_username_contact_hdr(); }
/** Display name of From only, user lists: 2, 1, -1, -2. */
export function secf_check_name_from_hdr(): i32 { return raw_check_name_from_hdr(); }
/** Display name of To only, user lists: 2, 1, -1, -2. */
export function secf_check_name_to_hdr(): i32 { return raw_check_name_to_hdr(); }
/** Display name of the first Contact only, user lists: 2, 1, -1, -2. */
export function secf_check_name_contact_hdr(): i32 { return raw_check_name_contact_hdr(); }
/** URI host of From only, domain lists: 2, 1, -1, -2. */
export function secf_check_domain_from_hdr(): i32 { return raw_check_domain_from_hdr(); }
/** URI host of To only, domain lists: 2, 1, -1, -2. */
export function secf_check_domain_to_hdr(): i32 { return raw_check_domain_to_hdr(); }
/** URI host of the first Contact only, domain lists: 2, 1, -1, -2. */
export function secf_check_domain_contact_hdr(): i32 { return raw_check_domain_contact_hdr(); }
