/**
 * Raw host imports of siphon plugin ABI v1, namespace `sip` (docs/abi/v1.md, "Imports").
 *
 * Nothing here allocates or converts: every string crosses as UTF-8 bytes, inputs as (ptr, len) and
 * outputs into a guest-owned buffer (out, cap) with the snprintf rule (the return value is the full
 * length; the guest retries with a bigger buffer when it exceeds cap). Negative returns are the ABI
 * status codes (see `Status` in ./types). Plugins should use the idiomatic wrappers in ./index instead.
 *
 * The line above each import says which hooks may call it (the capability matrix of the spec).
 */

// ---- message fields -------------------------------------------------------------------------

/** Copies message field `field` (see `Field`) into (out, cap). request_route. */
// @ts-ignore: decorator
@external("sip", "msg_get")
export declare function msg_get(field: i32, out: usize, cap: i32): i32;

/** Writes a writable field (RURI, RURI_USER, RURI_HOST, RURI_PORT, DST_URI). request_route. */
// @ts-ignore: decorator
@external("sip", "msg_set")
export declare function msg_set(field: i32, ptr: usize, len: i32): i32;

// ---- headers --------------------------------------------------------------------------------

/** Number of values of a header (case-insensitive, compact forms accepted). request_route. */
// @ts-ignore: decorator
@external("sip", "hdr_count")
export declare function hdr_count(np: usize, nl: i32): i32;

/** Value #idx of a header (negative idx counts from the end). request_route. */
// @ts-ignore: decorator
@external("sip", "hdr_get")
export declare function hdr_get(np: usize, nl: i32, idx: i32, out: usize, cap: i32): i32;

/** Adds a header; where 0 = append after the last, 1 = first. request_route. */
// @ts-ignore: decorator
@external("sip", "hdr_add")
export declare function hdr_add(np: usize, nl: i32, vp: usize, vl: i32, where: i32): i32;

/** Removes value #idx of a header, or all of them when idx = -1. request_route. */
// @ts-ignore: decorator
@external("sip", "hdr_remove")
export declare function hdr_remove(np: usize, nl: i32, idx: i32): i32;

// ---- pseudo-variables -----------------------------------------------------------------------

/** Evaluates a Kamailio pseudo-variable by name ($rU, $hdr(X), $var(x) ...). request_route. */
// @ts-ignore: decorator
@external("sip", "pv_get")
export declare function pv_get(np: usize, nl: i32, out: usize, cap: i32): i32;

/** Assigns a writable pseudo-variable ($ru $rU $rd $rp $du $var(x)). request_route. */
// @ts-ignore: decorator
@external("sip", "pv_set")
export declare function pv_set(np: usize, nl: i32, vp: usize, vl: i32): i32;

// ---- replies --------------------------------------------------------------------------------

/** Stateless reply (Kamailio sl_send_reply): 1 sent, -1 failed. request_route only. */
// @ts-ignore: decorator
@external("sip", "sl_reply")
export declare function sl_reply(code: i32, rp: usize, rl: i32): i32;

/** Adds a full header line (no CRLF) to the next reply of this message (append_to_reply). request_route. */
// @ts-ignore: decorator
@external("sip", "reply_hdr_add")
export declare function reply_hdr_add(ptr: usize, len: i32): i32;

// ---- logging --------------------------------------------------------------------------------

/** Logs a format string after host-side pseudo-variable expansion (Kamailio xlog). Any hook. */
// @ts-ignore: decorator
@external("sip", "xlog")
export declare function xlog(level: i32, fp: usize, fl: i32): i32;

/** Logs the text as is. Any hook, plugin_init included. */
// @ts-ignore: decorator
@external("sip", "log")
export declare function log(level: i32, ptr: usize, len: i32): i32;

/** 1 when a message of that level would be printed, else 0. Any hook. */
// @ts-ignore: decorator
@external("sip", "log_enabled")
export declare function log_enabled(level: i32): i32;

// ---- host-side variables --------------------------------------------------------------------

/** Reads a host-side variable of `scope` (0 MSG, 2 GLOBAL). MSG: request_route; GLOBAL: any hook. */
// @ts-ignore: decorator
@external("sip", "var_get")
export declare function var_get(scope: i32, np: usize, nl: i32, out: usize, cap: i32): i32;

/** Sets a host-side variable; vl = -1 deletes it. Same hooks as var_get. */
// @ts-ignore: decorator
@external("sip", "var_set")
export declare function var_set(scope: i32, np: usize, nl: i32, vp: usize, vl: i32): i32;

// ---- config and misc ------------------------------------------------------------------------

/** The plugin's config (JSON) from byte offset `off`; returns the total length. Any hook. */
// @ts-ignore: decorator
@external("sip", "cfg_read")
export declare function cfg_read(off: i32, out: usize, cap: i32): i32;

/** Wall clock in ms since the epoch. Any hook. */
// @ts-ignore: decorator
@external("sip", "now_ms")
export declare function now_ms(): i64;

/** 32 random bits. Any hook. */
// @ts-ignore: decorator
@external("sip", "random_u32")
export declare function random_u32(): i32;

// ---- core checks (ABI v1.0 additions) -------------------------------------------------------

/** 1 when the URI's host (and port) is one of the server's own addresses, -1 when not (Kamailio is_myself). request_route. */
// @ts-ignore: decorator
@external("sip", "is_myself")
export declare function is_myself(ptr: usize, len: i32): i32;

/**
 * Kamailio maxfwd's mf_process_maxfwd_header(limit): 2 header absent and added with `limit`,
 * 1 decremented, -1 value was 0 (answer 483), -2 malformed. request_route.
 */
// @ts-ignore: decorator
@external("sip", "maxfwd_process")
export declare function maxfwd_process(limit: i32): i32;

// ---- namespace tm (ABI 1.1, docs/abi/v1.md "Namespaces tm and rr") ----------------------------

/** Stateful relay of the request (Kamailio t_relay), performed when the hook returns: 1 ok, -1 no destination. request_route, failure_route. */
// @ts-ignore: decorator
@external("tm", "t_relay")
export declare function t_relay(): i32;

/** Arms branch_route `route` for the branches of the next t_relay: 1. request_route, failure_route. */
// @ts-ignore: decorator
@external("tm", "t_on_branch")
export declare function t_on_branch(route: i32): i32;

/** Arms onreply_route `route` for the replies of the transaction: 1. request_route, failure_route. */
// @ts-ignore: decorator
@external("tm", "t_on_reply")
export declare function t_on_reply(route: i32): i32;

/** Arms failure_route `route`: 1. request_route, failure_route (re-arm). */
// @ts-ignore: decorator
@external("tm", "t_on_failure")
export declare function t_on_failure(route: i32): i32;

/** Stateful reply (Kamailio t_reply): 1 sent, -1 failed, -2 code out of range. request_route, failure_route. */
// @ts-ignore: decorator
@external("tm", "t_reply")
export declare function t_reply(code: i32, rp: usize, rl: i32): i32;

/** 1 when the transaction was CANCELed, -1 when not. tm hooks. */
// @ts-ignore: decorator
@external("tm", "t_is_canceled")
export declare function t_is_canceled(): i32;

/** The branch index in branch_route / onreply_route, -1 elsewhere. tm hooks. */
// @ts-ignore: decorator
@external("tm", "t_branch_index")
export declare function t_branch_index(): i32;

/** Kamailio $T_reply_code: best final status of the transaction (408 on timeout), 0 none. request_route, failure_route. */
// @ts-ignore: decorator
@external("tm", "t_reply_code")
export declare function t_reply_code(): i32;

/** Per-transaction fr_timer / fr_inv_timer in ms (0 keeps the default): 1. request_route, failure_route. */
// @ts-ignore: decorator
@external("tm", "t_set_timeouts")
export declare function t_set_timeouts(fr_ms: i32, fr_inv_ms: i32): i32;

/** Stateless relay to $du or the R-URI (Kamailio forward): 1 sent, -1 failed. request_route. */
// @ts-ignore: decorator
@external("tm", "forward")
export declare function forward(): i32;

// ---- namespace rr (ABI 1.1) ----------------------------------------------------------------------

/** Kamailio record_route(): 1 inserted, -1 failed. request_route, branch_route. */
// @ts-ignore: decorator
@external("rr", "record_route")
export declare function record_route(): i32;

/** Kamailio loose_route(): 1 routed, -1 no Route / only ours, -3 preloaded route. request_route. */
// @ts-ignore: decorator
@external("rr", "loose_route")
export declare function loose_route(): i32;

// ---- namespace rr, route parameters (ABI 1.3) -------------------------------------------------

/** Kamailio add_rr_param(";p=v"): parameters for our Record-Route URI. 1, -1 refused. request_route. */
// @ts-ignore: decorator
@external("rr", "add_rr_param")
export declare function add_rr_param(p: usize, l: i32): i32;

/** Kamailio check_route_param(re) after loose_route(): 1 match, -1 not, -2 pattern outside the linear subset. */
// @ts-ignore: decorator
@external("rr", "check_route_param")
export declare function check_route_param(p: usize, l: i32): i32;

/** Kamailio is_direction(): dir 0 downstream, 1 upstream; 1 holds, -1 not or unknown. request_route. */
// @ts-ignore: decorator
@external("rr", "is_direction")
export declare function is_direction(dir: i32): i32;
