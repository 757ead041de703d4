/**
 * nathelper from a plugin: Kamailio nathelper's NAT detection and fixing over the `nathelper` import
 * namespace (host/modules/nathelper/abi.ts, README "Functions for plugins"). kamailio.cfg WITH_NAT:
 *
 *   import { nat_uac_test, fix_nated_register, fix_nated_contact, force_rport, setbflag,
 *            NAT_CONTACT_PRIVATE, NAT_VIA_RECEIVED, NAT_VIA_PORT } from "../../../sdk/assembly";
 *   if (nat_uac_test(NAT_CONTACT_PRIVATE | NAT_VIA_RECEIVED | NAT_VIA_PORT) == 1) {   // route[NATDETECT]
 *     force_rport();
 *     if (is_method("REGISTER")) fix_nated_register(); else fix_nated_contact();
 *     setbflag(FLB_NATB);                            // save() stores it: keepalives select by it
 *   }
 *
 * Return codes are Kamailio's: 1 true / done, -1 false / error (handle_ruri_alias: 2 no alias).
 * Host statuses, never verdicts: -4 NOT_ALLOWED (no message in this hook), -3 string outside memory,
 * -6 UNIMPLEMENTED (no `modules.nathelper` on this node), -7 internal. Test with `== 1`, not `> 0`
 * alone when -6 must be told apart.
 */
import { encodeArg, argPtrA, argLenA } from "./buffer";

// @ts-ignore: decorator
@external("nathelper", "nat_uac_test")
declare function raw_nat_uac_test(flags: i32): i32;
// @ts-ignore: decorator
@external("nathelper", "fix_nated_contact")
declare function raw_fix_nated_contact(): i32;
// @ts-ignore: decorator
@external("nathelper", "fix_nated_register")
declare function raw_fix_nated_register(): i32;
// @ts-ignore: decorator
@external("nathelper", "add_rcv_param")
declare function raw_add_rcv_param(flag: i32): i32;
// @ts-ignore: decorator
@external("nathelper", "set_contact_alias")
declare function raw_set_contact_alias(trim: i32): i32;
// @ts-ignore: decorator
@external("nathelper", "add_contact_alias")
declare function raw_add_contact_alias(): i32;
// @ts-ignore: decorator
@external("nathelper", "handle_ruri_alias")
declare function raw_handle_ruri_alias(): i32;
// @ts-ignore: decorator
@external("nathelper", "force_rport")
declare function raw_force_rport(): i32;
// @ts-ignore: decorator
@external("nathelper", "fix_nated_sdp")
declare function raw_fix_nated_sdp(flags: i32, p: usize, l: i32): i32;
// @ts-ignore: decorator
@external("nathelper", "is_rfc1918")
declare function raw_is_rfc1918(p: usize, l: i32): i32;

// ---- nat_uac_test() flags (Kamailio's bits) ------------------------------------------------------

/** 1: the Contact URI host is a private (RFC 1918 / RFC 6598) address. */
export const NAT_CONTACT_PRIVATE: i32 = 1;
/** 2: the top Via host is not the source address ("received" test). */
export const NAT_VIA_RECEIVED: i32 = 2;
/** 4: the top Via host is a private address. */
export const NAT_VIA_PRIVATE: i32 = 4;
/** 8: an SDP connection address is private. */
export const NAT_SDP_PRIVATE: i32 = 8;
/** 16: the source port differs from the top Via port (5060 when absent). */
export const NAT_VIA_PORT: i32 = 16;
/** 32: the source address is private. */
export const NAT_SOURCE_PRIVATE: i32 = 32;
/** 64: WebSocket source (siphon has no WebSocket transport: never true). */
export const NAT_WEBSOCKET: i32 = 64;
/** 128: the Contact URI port differs from the source port (also true for many non-NATed gateways). */
export const NAT_CONTACT_PORT: i32 = 128;
/** 256: an SDP connection address differs from the source address. */
export const NAT_SDP_SOURCE: i32 = 256;

// ---- functions ------------------------------------------------------------------------------------

/** Kamailio nat_uac_test(flags): 1 when any test enabled in `flags` says NAT, -1 when none does. */
export function nat_uac_test(flags: i32): i32 {
  return raw_nat_uac_test(flags);
}

/** Kamailio fix_nated_contact(): the first Contact's host:port becomes the source address:port. 1, -1 (no readable Contact). */
export function fix_nated_contact(): i32 {
  return raw_fix_nated_contact();
}

/** Kamailio fix_nated_register(): save() will store the source as the contacts' `received` (lookup sends there). 1, -1. */
export function fix_nated_register(): i32 {
  return raw_fix_nated_register();
}

/**
 * Kamailio add_rcv_param([flag]): `received="sip:ip:port"` on every Contact (flag 0), or in every
 * Contact URI (flag 1, UDP only). The registrar honours the Contact parameter. 1, -1.
 */
export function add_rcv_param(flag: i32 = 0): i32 {
  return raw_add_rcv_param(flag);
}

/** Kamailio set_contact_alias([trim]): `;alias=ip~port~proto` of the source in the first Contact URI (an old alias is replaced). 1, -1. */
export function set_contact_alias(trim: i32 = 0): i32 {
  return raw_set_contact_alias(trim);
}

/** Kamailio add_contact_alias(): the alias only when the source differs from the Contact's host:port:transport. 1 added, 2 not needed, -1. */
export function add_contact_alias(): i32 {
  return raw_add_contact_alias();
}

/** Kamailio handle_ruri_alias(): the R-URI's `alias` parameter is removed and becomes $du. 1 done, 2 no alias, -1 unreadable alias. */
export function handle_ruri_alias(): i32 {
  return raw_handle_ruri_alias();
}

/** Kamailio force_rport(): replies go to the source port, as if the top Via had `rport` (RFC 3581). 1, -1. */
export function force_rport(): i32 {
  return raw_force_rport();
}

// ---- fix_nated_sdp() flags (Kamailio's) ----------------------------------------------------------

/** 0x01: add `a=direction:active`. */
export const SDP_DIRECTION_ACTIVE: i32 = 0x01;
/** 0x02: the `c=` (and `a=rtcp`) addresses become the source address (or the given one). */
export const SDP_MEDIA_IP: i32 = 0x02;
/** 0x04: add `a=nortpproxy:yes`. */
export const SDP_NORTPPROXY: i32 = 0x04;
/** 0x08: the `o=` address becomes the source address (or the given one). */
export const SDP_ORIGIN_IP: i32 = 0x08;

/**
 * Kamailio fix_nated_sdp(flags[, ip]): rewrites the SDP body for a UA behind NAT. 1 an address was
 * replaced, 2 none was, -1 no SDP body (or `ip` not an address). `ip` "" = the source address.
 */
export function fix_nated_sdp(flags: i32, ip: string = ""): i32 {
  if (ip.length == 0) return raw_fix_nated_sdp(flags, 0, 0);
  encodeArg(ip);
  return raw_fix_nated_sdp(flags, argPtrA, argLenA);
}

/** Kamailio is_rfc1918(ip): 1 when `ip` is a private or shared IPv4 address (RFC 1918, RFC 6598), -1 when not. */
export function is_rfc1918(ip: string): i32 {
  encodeArg(ip);
  return raw_is_rfc1918(argPtrA, argLenA);
}
