/**
 * dialog-acc: the request_route of bench/kamailio/kam-proxy-dialog-acc.cfg, function for function, for
 * bench/side-by-side.sh proxy-dialog-acc (issue #14: the stateful proxy with dialog + acc loaded on both
 * sides). It is plugins/lb's route without the failure_route (the Kamailio twin has none) plus
 * dlg_manage() on every initial INVITE.
 *
 *   request_route {
 *     if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
 *     if (has_totag()) {
 *       if (loose_route()) { if (is_method("BYE")) setflag(FLT_ACC); t_relay(); exit; }
 *       if (is_method("ACK")) { if (t_check_trans()) t_relay(); exit; }
 *       sl_send_reply("404", "Not here"); exit;
 *     }
 *     if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
 *     t_check_trans();
 *     if (is_method("INVITE")) { dlg_manage(); setflag(FLT_ACC); setflag(FLT_ACCMISSED); }
 *     if (is_method("INVITE|SUBSCRIBE")) record_route();
 *     if (!ds_select_dst("1", "4")) { sl_send_reply("503", "No destination"); exit; }
 *     t_relay(); exit;
 *   }
 *
 * The acc flags have no plugin call here: siphon's acc accounts dialogs from the dialog module's
 * events, and `modules.acc.account_dialogs: 1` (bench/siphon-dialog-acc.yaml) is the equivalent of
 * setting acc_flag and acc_missed_flag on every INVITE and acc_flag on its BYE (host/modules/acc
 * README, "Records"). tm absorbs retransmissions before the route runs (t_check_trans is implicit),
 * and answers a CANCEL of a known INVITE itself.
 */
import {
  onRequest, Context,
  is_method, has_totag, mf_process_maxfwd_header,
  sl_reply, exit, drop,
  t_relay, record_route, loose_route,
  ds_select_dst, dlg_manage,
} from "../../../../sdk/assembly";

const DISPATCH_SET: i32 = 1;
const ALG_ROUND_ROBIN: i32 = 4;
const MAX_FORWARDS_LIMIT: i32 = 10;

onRequest((ctx: Context): i32 => {
  // RFC 3261 §16.3 step 3
  if (mf_process_maxfwd_header(MAX_FORWARDS_LIMIT) < 0) {
    if (is_method("ACK")) return drop();
    sl_reply(483, "Too Many Hops");
    return exit();
  }

  // in-dialog requests follow the Record-Route set (RFC 3261 §16.12); the dialog module matched
  // them before this route (ACK confirms, BYE ends the dialog and makes acc's BYE record)
  if (has_totag()) {
    if (loose_route() > 0) {
      if (t_relay() < 0 && !is_method("ACK")) sl_reply(500, "Server Internal Error");
      return exit();
    }
    if (is_method("ACK")) {
      // an ACK for a negative reply never reaches here (tm absorbs it); a stray one is dropped
      return drop();
    }
    sl_reply(404, "Not here");
    return exit();
  }

  // an ACK without To-tag acknowledges a non-2xx reply hop by hop (RFC 3261 §17.1.1.3)
  if (is_method("ACK")) return drop();

  // a CANCEL of a known INVITE never reaches the plugin (tm answers it, RFC 3261 §9.2, §16.10)
  if (is_method("CANCEL")) {
    if (t_relay() < 0) sl_reply(481, "Call/Transaction Does Not Exist");
    return exit();
  }

  if (is_method("INVITE")) {
    // Kamailio dlg_manage(): the call becomes a dialog bound to the transaction t_relay creates
    if (dlg_manage() == -5) {
      sl_reply(503, "Service Unavailable"); // max_dialogs reached
      return exit();
    }
  }
  if (is_method("INVITE") || is_method("SUBSCRIBE")) record_route();

  if (ds_select_dst(DISPATCH_SET, ALG_ROUND_ROBIN) < 0) {
    sl_reply(503, "No destination");
    return exit();
  }
  if (t_relay() < 0) sl_reply(500, "Server Internal Error");
  return exit();
});
