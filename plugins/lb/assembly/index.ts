/**
 * lb: a load balancer in the shape of the example config of Kamailio's dispatcher module
 * (`route[DISPATCH]` with `ds_select_dst("1", "4")`): out-of-dialog requests are spread round robin
 * over the destinations of dispatcher set 1 and relayed; OPTIONS keepalives addressed to the server
 * are answered 200 like plugins/default.
 *
 * Needs `modules.dispatcher` in the config (list_file or db_url) with a set 1:
 *
 *   modules:
 *     dispatcher:
 *       list_file: config/dispatcher.list     # "1 sip:10.0.0.11:5060" / "1 sip:10.0.0.12:5060"
 *       flags: 2                              # keep failover targets for ds_next_dst()
 *   routing:
 *     plugin: lb
 *
 * Without the module every ds_* function answers -6 and requests get 503.
 *
 * Failover (Kamailio's `failure_route[RTF_DISPATCH]`): once the transaction layer calls a failure
 * route for a relayed INVITE that got 408 or a 5xx (or no reply at all), the route
 *
 *   if (t_is_canceled()) exit;
 *   if (t_check_status("500") || (t_branch_timeout() && !t_branch_replied())) {
 *     ds_mark_dst("ip");                     # destination inactive + probing (keepalives revive it)
 *     if (ds_next_dst()) { t_on_failure("RTF_DISPATCH"); t_relay(); exit; }
 *   }
 *
 * maps to ds_mark_dst("ip") and ds_next_dst() of this SDK (`flags: 2` keeps the failover list the
 * selection below builds), then a new relay. It is left out here until failure routes are
 * available to plugins; the keepalives (`ds_ping_interval`) already take dead destinations out of
 * the rotation.
 */
import {
  onRequest, Context,
  is_method, has_totag, has_ruri_user, is_myself_ruri, mf_process_maxfwd_header,
  sl_reply, xlog, L_NOTICE, L_INFO, exit, drop, relay,
  ds_select_dst,
} from "../../../sdk/assembly";

/** the dispatcher set this plugin balances over, and Kamailio's algorithm 4 (round robin). */
const DISPATCH_SET: i32 = 1;
const ALG_ROUND_ROBIN: i32 = 4;
/** Max-Forwards added to requests that carry none (kamailio.cfg uses 10). */
const MAX_FORWARDS_LIMIT: i32 = 10;

/*
 * request_route {
 *   if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
 *   if (is_method("OPTIONS") && uri == myself && $rU == $null) { sl_send_reply("200", "Keepalive"); exit; }
 *   if (has_totag()) { route(WITHINDLG); exit; }
 *   if (is_method("ACK")) exit;             # hop-by-hop ACK of a stateless reply: nothing to do
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

  // in-dialog requests follow the R-URI (the remote target learnt from Contact, RFC 3261 §12.2):
  // the destination chosen for the initial INVITE is not consulted again
  if (has_totag()) return relay();

  // an ACK without To-tag acknowledges a non-2xx reply hop by hop (RFC 3261 §17.1.1.3): absorbed
  if (is_method("ACK")) return drop();

  // a CANCEL must reach the destination of its INVITE: the transaction layer matches it to the
  // INVITE transaction (RFC 3261 §9.2, §16.10) and sends it on the same branches
  if (is_method("CANCEL")) return relay();

  return dispatch();
});

/*
 * route[DISPATCH] {                     # Kamailio's example answers 404 "No destination"; siphon
 *                                        # answers 503 (RFC 3261 §21.5.4: no usable server right now)
 *   if (!ds_select_dst("1", "4")) { send_reply("404", "No destination"); exit; }
 *   xdbg("--- SCRIPT: going to <$ru> via <$du>\n");
 *   t_on_failure("RTF_DISPATCH");
 *   route(RELAY);
 * }
 */
function dispatch(): i32 {
  const r = ds_select_dst(DISPATCH_SET, ALG_ROUND_ROBIN);
  if (r < 0) {
    // -1: no set 1 or no usable destination; -6: no dispatcher module on this node
    xlog(L_NOTICE, "lb: no destination in set 1 for $rm $ru from $si:$sp\n");
    if (is_method("ACK")) return drop();
    sl_reply(503, "Service Unavailable");
    return exit();
  }
  xlog(L_INFO, "lb: $rm $ru via <$du>\n");
  return relay();
}
