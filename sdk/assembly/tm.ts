/**
 * Transactions and record-routing for plugins (ABI 1.1, namespaces `tm` and `rr`), named after
 * Kamailio's tm and rr functions:
 *
 *   onRequest((ctx: Context): i32 => {
 *     if (has_totag()) {
 *       if (loose_route() > 0) { t_relay(); return exit(); }
 *       ...
 *     }
 *     record_route();
 *     t_on_failure(1);
 *     if (t_relay() < 0) sl_reply(500, "Server Error");
 *     return exit();
 *   });
 *   onFailure((ctx: Context, route: i32): i32 => {
 *     if (t_is_canceled()) return exit();
 *     seturi("sip:voicemail@10.0.0.9"); t_relay();
 *     return exit();
 *   });
 *
 * Route ids are plugin-chosen integers (>= 0) standing for Kamailio's route names; the handlers
 * registered with onBranch/onReply/onFailure receive the id and switch on it.
 * t_relay() is performed by the host when the hook returns (never in the middle of it).
 */
import * as env from "./env";
import { encodeArg, argPtrA, argLenA } from "./buffer";
import { current } from "./hooks";

export { onBranch, onReply, onFailure } from "./hooks";

/** Kamailio tm `t_relay()`: stateful relay to $du or the R-URI plus the branches. 1 ok, -1 no usable destination. */
export function t_relay(): i32 {
  return env.t_relay();
}

/** Kamailio `t_on_branch("name")`: the branch_route run for each branch of the next t_relay. 1 ok. */
export function t_on_branch(route: i32): i32 {
  return env.t_on_branch(route);
}

/** Kamailio `t_on_reply("name")`: the onreply_route run for every reply of the transaction. 1 ok. */
export function t_on_reply(route: i32): i32 {
  return env.t_on_reply(route);
}

/** Kamailio `t_on_failure("name")`: the failure_route run when every branch failed. 1 ok. */
export function t_on_failure(route: i32): i32 {
  return env.t_on_failure(route);
}

/**
 * Kamailio tm `t_reply(code, reason)`: a stateful reply (absorbs retransmissions). 1 sent, -1 failed.
 * After a successful final reply, `exit()` returns Action.REPLIED.
 */
export function t_reply(code: i32, reason: string): i32 {
  encodeArg(reason);
  const r = env.t_reply(code, argPtrA, argLenA);
  if (r > 0) {
    if (code >= 200) current.replied = true;
    return 1;
  }
  return -1;
}

/** Kamailio `t_is_canceled()`: true when the transaction was CANCELed by the caller. */
export function t_is_canceled(): bool {
  return env.t_is_canceled() > 0;
}

/**
 * Kamailio `$T_reply_code` (what `t_check_status()` tests): in failure_route the status of the best
 * failed branch — a local 408 when they timed out, 487 when canceled; 0 when there is none.
 */
export function t_reply_code(): i32 {
  return env.t_reply_code();
}

/** Kamailio `t_get_branch_index()` / `$T_branch_idx`: the branch being processed, -1 outside branch/reply routes. */
export function t_branch_index(): i32 {
  return env.t_branch_index();
}

/** Kamailio `t_set_fr(fr_inv, fr)`-like: per-transaction fr_timer / fr_inv_timer in ms; 0 keeps the default. */
export function t_set_timeouts(fr_ms: i32, fr_inv_ms: i32): i32 {
  return env.t_set_timeouts(fr_ms, fr_inv_ms);
}

/** Kamailio core `forward()`: stateless relay to $du or the R-URI. 1 sent, -1 failed. */
export function forward(): i32 {
  return env.forward();
}

/** Kamailio rr `record_route()`: this proxy stays on the path of the dialog. 1 ok, -1 failed. */
export function record_route(): i32 {
  return env.record_route();
}

/** Kamailio rr `loose_route()`: 1 routed by Route headers, -1 nothing to route, -3 preloaded route. */
export function loose_route(): i32 {
  return env.loose_route();
}

/**
 * Kamailio rr `add_rr_param(";p=v")` (ABI 1.3): parameters for our Record-Route URI, before or after
 * record_route(); the dialog's later requests bring them back in their Route. 1 ok, -1 refused
 * (not `;name[=value]` of URI characters, over 2,048 bytes in total, not a request).
 */
export function add_rr_param(param: string): i32 {
  encodeArg(param);
  return env.add_rr_param(argPtrA, argLenA);
}

/**
 * Kamailio rr `check_route_param(re)` (ABI 1.3), after loose_route(): true when the parameters of
 * our Route it consumed (`;lr;ftag=...;p=v`) match the POSIX ERE `re` (case-insensitive; run by the
 * host's linear engine). false when not, or when `re` does not compile (status -2).
 */
export function check_route_param(re: string): bool {
  encodeArg(re);
  return env.check_route_param(argPtrA, argLenA) > 0;
}

/**
 * Kamailio rr `is_direction("downstream" | "upstream")` (ABI 1.3), after loose_route(): downstream
 * when the request comes from the dialog's caller (its From tag is the Route's `ftag`). false for
 * another name or when unknown (no Route of ours, no ftag).
 */
export function is_direction(dir: string): bool {
  const d = dir == "downstream" ? 0 : dir == "upstream" ? 1 : -1;
  if (d < 0) return false;
  return env.is_direction(d) > 0;
}
