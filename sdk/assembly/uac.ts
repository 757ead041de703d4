/**
 * uac from a plugin (ABI 1.3, namespace `uac`; Kamailio uac's `uac_replace_from(display, uri)` and
 * `uac_replace_to(display, uri)` with restore mode auto, host/modules/uac/README.md): the From / To
 * of an initial request replaced, the original kept (sealed) in our Record-Route, replies upstream
 * and the dialog's later requests restored by the host. Call record_route() first.
 *
 *   import { record_route, uac_replace_from, t_relay, exit } from "../../../sdk/assembly";
 *   record_route();
 *   if (uac_replace_from("Anonymous", "sip:anonymous@anonymous.invalid") < 0) { ... }
 *
 * Return codes: 1 replaced; -1 refused (in-dialog request, no From tag, no record_route() before in
 * restore mode auto, a URI that does not parse); -2 bad argument; -3 string outside memory; -4 not in
 * request_route; -5 URI over 512 or display over 128 bytes; -6 UNIMPLEMENTED (no `modules.uac`).
 */
import { encodeArgs, argPtrA, argLenA, argPtrB, argLenB } from "./buffer";

// @ts-ignore: decorator
@external("uac", "uac_replace_from")
declare function raw_uac_replace_from(dp: usize, dl: i32, up: usize, ul: i32): i32;
// @ts-ignore: decorator
@external("uac", "uac_replace_to")
declare function raw_uac_replace_to(dp: usize, dl: i32, up: usize, ul: i32): i32;

/** Kamailio `uac_replace_from(display, uri)`: display "" removes it; uri "" keeps the URI. */
export function uac_replace_from(display: string, uri: string): i32 {
  encodeArgs(display, uri);
  return raw_uac_replace_from(argPtrA, argLenA, argPtrB, argLenB);
}

/** Kamailio `uac_replace_from(uri)`: the URI only, the display name kept. */
export function uac_replace_from_uri(uri: string): i32 {
  encodeArgs("", uri);
  return raw_uac_replace_from(argPtrA, -1, argPtrB, argLenB);
}

/** Kamailio `uac_replace_to(display, uri)`: display "" removes it; uri "" keeps the URI. */
export function uac_replace_to(display: string, uri: string): i32 {
  encodeArgs(display, uri);
  return raw_uac_replace_to(argPtrA, argLenA, argPtrB, argLenB);
}

/** Kamailio `uac_replace_to(uri)`: the URI only, the display name kept. */
export function uac_replace_to_uri(uri: string): i32 {
  encodeArgs("", uri);
  return raw_uac_replace_to(argPtrA, -1, argPtrB, argLenB);
}
