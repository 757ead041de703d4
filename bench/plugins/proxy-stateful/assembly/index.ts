/**
 * proxy-stateful: the request_route of ../shared/bench/kamailio/kam-proxy-stateful.cfg, line for line,
 * so an overload run compares like with like. plugins/lb (the side-by-side default) adds Kamailio's
 * dispatcher-example failure_route, which marks a gateway inactive after one timed-out INVITE: with the
 * bench's `ds_ping_interval: 0` nothing revives it, and past the limit every later call then gets 503
 * from an empty set (bench/RESULTS.md, "Overload at 150 % of siphon's own maximum"). Kamailio's bench
 * config has no failure_route; neither has this plugin.
 *
 *   request_route {
 *     if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
 *     if (has_totag()) {
 *       if (loose_route()) { if (!t_relay()) sl_reply_error(); exit; }
 *       if (is_method("ACK")) { if (t_check_trans()) t_relay(); exit; }
 *       sl_send_reply("404", "Not here"); exit;
 *     }
 *     if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
 *     t_check_trans();
 *     if (is_method("INVITE|SUBSCRIBE")) record_route();
 *     if (!ds_select_dst("1", "4")) { sl_send_reply("503", "No destination"); exit; }
 *     if (!t_relay()) sl_reply_error();
 *     exit;
 *   }
 *
 * t_check_trans() has no call here: siphon's transaction layer absorbs retransmissions and matches
 * CANCELs and ACKs of its transactions before the plugin runs (what t_check_trans() does in the cfg).
 */
import {
  onRequest, Context, is_method, has_totag, mf_process_maxfwd_header, sl_reply, exit, drop,
  t_relay, record_route, loose_route, ds_select_dst,
} from "../../../../sdk/assembly";

const DISPATCH_SET: i32 = 1;
const ALG_ROUND_ROBIN: i32 = 4;

onRequest((ctx: Context): i32 => {
  if (mf_process_maxfwd_header(10) < 0) {
    if (is_method("ACK")) return drop();
    sl_reply(483, "Too Many Hops");
    return exit();
  }
  if (has_totag()) {
    if (loose_route() > 0) {
      if (t_relay() < 0 && !is_method("ACK")) sl_reply(500, "Server Internal Error");
      return exit();
    }
    // an ACK of a transaction never reaches the plugin; a stray one is dropped
    if (is_method("ACK")) return drop();
    sl_reply(404, "Not here");
    return exit();
  }
  if (is_method("CANCEL")) {
    t_relay();
    return exit();
  }
  if (is_method("INVITE") || is_method("SUBSCRIBE")) record_route();
  if (ds_select_dst(DISPATCH_SET, ALG_ROUND_ROBIN) < 0) {
    sl_reply(503, "No destination");
    return exit();
  }
  if (t_relay() < 0) sl_reply(500, "Server Internal Error");
  return exit();
});
