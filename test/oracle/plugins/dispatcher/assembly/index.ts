/**
 * Oracle plugin for dispatcher: the equivalent of test/oracle/kamailio/dispatcher.cfg.
 *
 *   if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
 *   if (is_method("OPTIONS") && uri == myself && $rU == $null) { sl_send_reply("200", "Keepalive"); exit; }
 *   if (is_method("ACK")) { if (t_check_trans()) t_relay(); exit; }   # tm absorbs hop-by-hop ACKs
 *   if ($rU == "probe") { $du = NEXT_HOP; t_relay(); exit; }
 *   if (!ds_select_dst($hdr(X-DS-Set), $hdr(X-DS-Alg), $hdr(X-DS-Limit))) { sl_send_reply("503", "No destination"); exit; }
 *   t_on_failure("DS_NEXT"); t_relay();
 *
 *   failure_route[DS_NEXT] {
 *     if (t_is_canceled()) exit;
 *     if (t_check_status("5[0-9][0-9]")) {
 *       if (is_present_hf("X-DS-Mark")) ds_mark_dst("ip");
 *       if (ds_next_dst()) { t_on_failure("DS_NEXT"); t_relay(); exit; }
 *     }
 *   }
 */
import {
  onRequest, onFailure, Context, is_method, has_ruri_user, is_myself_ruri, sl_reply, exit, drop,
  setdsturi, t_relay, t_on_failure, t_is_canceled, t_reply_code, cfg_read, pv, hdr_get, is_present_hf,
  ds_select_dst, ds_next_dst, ds_mark_dst, mf_process_maxfwd_header,
} from "../../../../../sdk/assembly";
import { configString } from "../../../../../plugins/default/assembly/common";

const DS_NEXT: i32 = 1;
let nextHop: string | null = null;

/** Kamailio's {s.int}: leading digits (an optional '-'), 0 when absent or not a number. */
function hdrInt(name: string): i32 {
  const v = hdr_get(name);
  if (v === null) return 0;
  let i = 0;
  let neg = false;
  if (v.length > 0 && v.charCodeAt(0) == 0x2d) { neg = true; i = 1; }
  let n: i32 = 0;
  for (; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    n = n * 10 + (c - 0x30);
  }
  return neg ? -n : n;
}

onRequest((ctx: Context): i32 => {
  if (mf_process_maxfwd_header(10) < 0 && !is_method("ACK")) {
    sl_reply(483, "Too Many Hops");
    return exit();
  }
  if (is_method("OPTIONS") && !has_ruri_user() && is_myself_ruri()) {
    sl_reply(200, "Keepalive");
    return exit();
  }
  // hop-by-hop ACKs of non-2xx finals are absorbed by tm before the route (Kamailio t_check_trans)
  if (is_method("ACK")) return drop();
  const user = pv("$rU");
  if (user !== null && user == "probe") {
    if (nextHop === null) nextHop = configString(cfg_read(), "next_hop");
    const hop = nextHop;
    if (hop === null || setdsturi(hop) < 0 || t_relay() < 0) sl_reply(500, "Server Internal Error");
    return exit();
  }
  if (ds_select_dst(hdrInt("X-DS-Set"), hdrInt("X-DS-Alg"), hdrInt("X-DS-Limit")) < 0) {
    sl_reply(503, "No destination");
    return exit();
  }
  t_on_failure(DS_NEXT);
  if (t_relay() < 0) sl_reply(500, "Server Internal Error");
  return exit();
});

onFailure((ctx: Context, route: i32): i32 => {
  if (route != DS_NEXT || t_is_canceled()) return exit();
  const code = t_reply_code();
  if (code >= 500 && code < 600) {
    if (is_present_hf("X-DS-Mark")) ds_mark_dst("ip");
    if (ds_next_dst() > 0) {
      t_on_failure(DS_NEXT);
      t_relay();
      return exit();
    }
  }
  return exit();
});
