/**
 * lb: a stateful load balancer in the shape of the example config of Kamailio's dispatcher module
 * (`route[DISPATCH]` with `ds_select_dst("1", "4")` and `failure_route[RTF_DISPATCH]`): new INVITEs
 * (and other out-of-dialog requests) are spread round robin over dispatcher set 1, record-routed
 * and relayed statefully; when a gateway answers 5xx or does not answer at all (local 408), it is
 * marked inactive + probing and the call goes to the next gateway of the failover list. OPTIONS
 * keepalives addressed to the balancer are answered 200 like plugins/default.
 *
 * Needs `modules.dispatcher` with a set 1 and `flags: 2` (Kamailio's failover bit: ds_select_dst
 * keeps the other targets for ds_next_dst); keepalives (`ds_ping_interval`) bring a marked gateway
 * back after `ds_inactive_threshold` answers. See README.md and config/lb.yaml.
 *
 * Without the module every ds_* function answers -6 and requests get 503.
 */
import {
  onRequest, onFailure, Context,
  is_method, has_totag, has_ruri_user, is_myself_ruri, mf_process_maxfwd_header,
  sl_reply, xlog, L_NOTICE, L_INFO, L_WARN, exit, drop,
  t_relay, t_on_failure, t_is_canceled, t_reply_code, t_reply, record_route, loose_route,
  ds_select_dst, ds_next_dst, ds_mark_dst,
} from "../../../sdk/assembly";

/** the dispatcher set this plugin balances over, and Kamailio's algorithm 4 (round robin). */
const DISPATCH_SET: i32 = 1;
const ALG_ROUND_ROBIN: i32 = 4;
/** Max-Forwards added to requests that carry none (kamailio.cfg uses 10). */
const MAX_FORWARDS_LIMIT: i32 = 10;
/** route id standing for Kamailio's failure_route[RTF_DISPATCH]. */
const RTF_DISPATCH: i32 = 1;

/*
 * request_route {
 *   if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
 *   if (is_method("OPTIONS") && uri == myself && $rU == $null) { sl_send_reply("200", "Keepalive"); exit; }
 *   if (has_totag()) { if (loose_route()) { t_relay(); exit; } ...; exit; }
 *   if (is_method("CANCEL")) { t_relay(); exit; }      # tm matched it to its INVITE already
 *   if (is_method("INVITE|SUBSCRIBE")) record_route();
 *   route(DISPATCH);
 * }
 */
onRequest((ctx: Context): i32 => {
  // RFC 3261 §16.3 step 3
  const mf = mf_process_maxfwd_header(MAX_FORWARDS_LIMIT);
  if (mf == -1 || mf < -1) {
    if (is_method("ACK")) return drop();
    if (mf == -1) sl_reply(483, "Too Many Hops");
    else sl_reply(400, "Bad Request - Max-Forwards");
    return exit();
  }

  // keepalive OPTIONS addressed to the balancer itself
  if (is_method("OPTIONS") && !has_ruri_user() && is_myself_ruri()) {
    sl_reply(200, "OK");
    return exit();
  }

  // in-dialog requests follow the Record-Route set (RFC 3261 §16.12); without our Route they go
  // to the R-URI (the remote target, §12.2): the destination chosen for the INVITE is not consulted
  if (has_totag()) {
    loose_route();
    if (t_relay() < 0 && !is_method("ACK")) sl_reply(404, "Not here");
    return exit();
  }

  // an ACK without To-tag acknowledges a non-2xx reply hop by hop (RFC 3261 §17.1.1.3): tm absorbs
  // the ones of its transactions; a stray one is dropped
  if (is_method("ACK")) return drop();

  // a CANCEL of a known INVITE never reaches the plugin (tm answers it and cancels the branches,
  // RFC 3261 §9.2, §16.10); one that matches nothing is relayed statelessly onwards like Kamailio
  if (is_method("CANCEL")) {
    if (t_relay() < 0) sl_reply(481, "Call/Transaction Does Not Exist");
    return exit();
  }

  if (is_method("INVITE") || is_method("SUBSCRIBE")) record_route();
  return dispatch();
});

/*
 * route[DISPATCH] {                     # Kamailio's example answers 404 "No destination"; siphon
 *                                        # answers 503 (RFC 3261 §21.5.4: no usable server right now)
 *   if (!ds_select_dst("1", "4")) { send_reply("503", "No destination"); exit; }
 *   t_on_failure("RTF_DISPATCH");
 *   t_relay();
 * }
 */
function dispatch(): i32 {
  const r = ds_select_dst(DISPATCH_SET, ALG_ROUND_ROBIN);
  if (r < 0) {
    // -1: no set 1 or no usable destination; -6: no dispatcher module on this node
    xlog(L_NOTICE, "lb: no destination in set 1 for $rm $ru from $si:$sp\n");
    sl_reply(503, "Service Unavailable");
    return exit();
  }
  xlog(L_INFO, "lb: $rm $ru via <$du>\n");
  t_on_failure(RTF_DISPATCH);
  if (t_relay() < 0) sl_reply(500, "Server Internal Error");
  return exit();
}

/*
 * failure_route[RTF_DISPATCH] {
 *   if (t_is_canceled()) exit;
 *   if (t_check_status("5[0-9][0-9]") || (t_branch_timeout() && !t_branch_replied())) {
 *     ds_mark_dst("ip");                 # inactive + probing: keepalives bring it back
 *     if (ds_next_dst()) { t_on_failure("RTF_DISPATCH"); t_relay(); exit; }
 *     t_reply("503", "No more destinations")
 *   }
 * }
 *
 * The failover list ds_select_dst built lives with the request context the transaction keeps, so
 * every round of this route sees the targets still left for this call only.
 */
onFailure((ctx: Context, route: i32): i32 => {
  if (route != RTF_DISPATCH) return exit();
  if (t_is_canceled()) return exit();
  const code = t_reply_code();
  // 5xx from the gateway, or no final reply at all (tm's local 408): the gateway is in trouble;
  // 4xx/6xx are the callee's answer and go upstream unchanged
  if (!(code == 408 || (code >= 500 && code < 600))) return exit();
  xlog(L_WARN, "lb: <$du> failed for $rm $ru: marking it inactive and trying the next one\n");
  ds_mark_dst("ip");
  if (ds_next_dst() > 0) {
    xlog(L_INFO, "lb: failover of $rm $ru to <$du>\n");
    t_on_failure(RTF_DISPATCH);
    if (t_relay() > 0) return exit();
  }
  t_reply(503, "Service Unavailable");
  return exit();
});
