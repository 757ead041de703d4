/**
 * default: siphon's reference routing, in the spirit of the request_route of Kamailio's default
 * kamailio.cfg with WITH_AUTH and WITH_NAT (REQINIT → NATDETECT → CANCEL → WITHINDLG → AUTH → REGISTRAR →
 * LOCATION → RELAY, onreply_route MANAGE_REPLY, failure_route MANAGE_FAILURE): a registrar and stateful
 * proxy with record-routing that authenticates its users (auth.ts) and fixes NATed ones (nat.ts).
 *
 * Without `modules.registrar`, save()/lookup() answer -6: REGISTER gets 501 and initial requests for a
 * user of ours 404. With `modules.secfilter` configured, REQINIT also runs the secfilter checks (block at
 * the end of this file; `routing.config.scanner_action: reply|drop`); without it those calls answer -6
 * and REQINIT drops (or refuses) the well-known scanners by User-Agent itself, as kamailio.cfg does.
 * With `modules.pike`, REQINIT drops flooding sources (kamailio.cfg WITH_ANTIFLOOD). REQINIT is in
 * reqinit.ts. `routing.config` switches: `auth` (auth.ts), `nat` (nat.ts), `rtpengine` (media.ts), `scanner_action`.
 *
 * Each function below shows the kamailio.cfg block it mirrors. A route function returns an Action
 * when it finished the request, or PASS to let request_route go on (Kamailio: the block did not `exit`).
 */
import {
  onRequest, onFailure, onReply, Context, Scope, Action,
  is_method, has_totag, has_ruri_user, is_myself_ruri,
  sl_reply, var_get, xlog, L_INFO, exit, drop, Status,
  t_relay, t_on_failure, t_on_reply, t_reply, t_is_canceled, record_route, loose_route,
  save, lookup,
} from "../../../sdk/assembly";
import { PASS, configOn } from "./common";
import { reqinit } from "./reqinit";
import { auth } from "./auth";
import { natdetect, natRegister, dlguri, natReply } from "./nat";
import { mediaRequest, mediaReply, mediaFailure, REPLY_RTP_TO_WS, REPLY_RTP_TO_UDP, FAILURE_RTP } from "./media";

/** failure_route / onreply_route ids (Kamailio route names). */
const MANAGE_FAILURE: i32 = 1;
const MANAGE_REPLY: i32 = 2;

/** The usrloc table (Kamailio's `location` domain). */
const LOCATION_TABLE = "location";

/** `routing.config.log_calls` (default on): one info line per new call and per BYE; -1 = not read yet. */
let logCallsValue: i32 = -1;


/*
 * request_route {
 *   route(REQINIT);
 *   route(NATDETECT);                      # nat.ts (WITH_NAT)
 *   if (is_method("CANCEL")) { if (t_check_trans()) route(RELAY); exit; }
 *   route(WITHINDLG);
 *   t_check_trans();                       # retransmissions: absorbed by the host's transaction layer
 *   route(AUTH);                           # auth.ts (WITH_AUTH)
 *   remove_hf("Route");
 *   if (is_method("INVITE|SUBSCRIBE")) record_route();
 *   route(REGISTRAR);
 *   if ($rU == $null) { sl_send_reply("484", "Address Incomplete"); exit; }   # siphon: 501
 *   route(LOCATION);
 *   route(RELAY);
 * }
 */
onRequest((ctx: Context): i32 => {
  let verdict = reqinit();
  if (verdict != PASS) return verdict;

  natdetect();

  verdict = cancel();
  if (verdict != PASS) return verdict;

  verdict = withindlg();
  if (verdict != PASS) return verdict;

  verdict = auth();
  if (verdict != PASS) return verdict;

  verdict = registrar();
  if (verdict != PASS) return verdict;

  // an initial ACK (no To-tag) acknowledges nothing we sent: RFC 3261 §17.2.1 (never answered)
  if (is_method("ACK")) return drop();

  if (!has_ruri_user()) {
    sl_reply(501, "Not Implemented");
    return exit();
  }

  // RFC 3261 §16.6 step 4 / Kamailio rr: stay on the path of the dialog so BYE and re-INVITE come back
  if (is_method("INVITE") || is_method("SUBSCRIBE")) record_route();

  verdict = location();
  if (verdict != PASS) return verdict;

  return relayRoute();
});

/*
 * if (is_method("CANCEL")) {
 *   if (t_check_trans()) route(RELAY);
 *   exit;
 * }
 * A CANCEL of a known INVITE never gets here: the host's transaction layer matches it (RFC 3261 §9.2),
 * answers 200, CANCELs the branches and sends 487 upstream. One that reaches request_route matched
 * nothing: for a R-URI of ours there is nothing to forward it to (481, RFC 3261 §9.2); any other is
 * relayed on (§16.10: a CANCEL without a response context is forwarded).
 */
function cancel(): i32 {
  if (!is_method("CANCEL")) return PASS;
  if (!is_myself_ruri() && t_relay() > 0) return exit();
  sl_reply(481, "Call/Transaction Does Not Exist");
  return exit();
}

/*
 * route[WITHINDLG] {
 *   if (!has_totag()) return;
 *   if (loose_route()) { if (is_method("BYE")) { setflag(FLT_ACC); } route(RELAY); exit; }
 *   if (is_method("ACK")) {
 *     if (t_check_trans()) { route(RELAY); exit; }   # ACK of a non-2xx: absorbed by the host
 *     else exit;                                     # ACK without matching transaction: drop
 *   }
 *   sl_send_reply("404", "Not here");
 *   exit;
 * }
 */
function withindlg(): i32 {
  if (!has_totag()) return PASS;
  if (loose_route() > 0) {
    // RFC 3261 §16.12: routed by the Route set our record_route() put there (ACK of a 2xx included:
    // tm forwards an ACK statelessly); a NATed UA's Contact carries our alias: route[DLGURI]
    dlguri();
    if (is_method("BYE") && logCalls()) xlog(L_INFO, "call $ci: BYE from $fu ($si:$sp)\n");
    return relayRoute();
  }
  // an in-dialog ACK without Route for us: the ACK of a non-2xx was already absorbed by the
  // transaction layer, so this one belongs to nothing we know (Kamailio: t_check_trans false → exit)
  if (is_method("ACK")) return drop();
  sl_reply(404, "Not here");
  return exit();
}

/*
 * route[REGISTRAR] {
 *   if (!is_method("REGISTER")) return;
 *   if (isflagset(FLT_NATS)) { setbflag(FLB_NATB); setbflag(FLB_NATSIPPING); }   # natRegister()
 *   if (!save("location")) { sl_reply_error(); }
 *   exit;
 * }
 * save() answers the REGISTER itself (200 with the bindings, 400, 423 Interval Too Brief, 503);
 * -6 means no registrar module on this node.
 */
function registrar(): i32 {
  if (!is_method("REGISTER")) return PASS;
  natRegister();
  const r = save(LOCATION_TABLE);
  if (r == Status.UNIMPLEMENTED) {
    sl_reply(501, "Not Implemented");
    return exit();
  }
  if (r < 0 && !currentReplied()) sl_reply(500, "Server Internal Error");
  return exit();
}

/*
 * route[LOCATION] {
 *   $avp(oexten) = $rU;
 *   if (!lookup("location")) {
 *     $var(rc) = $rc;
 *     t_newtran();
 *     switch ($var(rc)) {
 *       case -1: case -3: send_reply("404", "Not Found"); exit;
 *       case -2: send_reply("405", "Method Not Allowed"); exit;
 *     }
 *   }
 * }
 * Only for requests to one of our domains (uri == myself); others are relayed on as they are.
 */
function location(): i32 {
  if (!is_myself_ruri()) return PASS;
  const r = lookup(LOCATION_TABLE);
  if (r > 0) return PASS;
  if (r == -2) {
    t_or_sl_reply(405, "Method Not Allowed");
    return exit();
  }
  // -1 no contact, -3 error, -6 no registrar here: nobody to reach
  t_or_sl_reply(404, "Not Found");
  return exit();
}

/*
 * route[RELAY] {
 *   if (is_method("INVITE|BYE|SUBSCRIBE|UPDATE")) { if (!t_is_set("branch_route")) t_on_branch("MANAGE_BRANCH"); }
 *   if (is_method("INVITE|SUBSCRIBE|UPDATE")) { if (!t_is_set("onreply_route")) t_on_reply("MANAGE_REPLY"); }   # INVITE
 *   if (is_method("INVITE")) { if (!t_is_set("failure_route")) t_on_failure("MANAGE_FAILURE"); }
 *   if (!t_relay()) { sl_reply_error(); }
 *   exit;
 * }
 */
function relayRoute(): i32 {
  if (is_method("INVITE")) {
    if (!has_totag() && logCalls()) xlog(L_INFO, "call $ci: INVITE from $fu (auth user $au, $si:$sp) to $ru\n");
    t_on_failure(MANAGE_FAILURE);
    t_on_reply(MANAGE_REPLY);
  }
  // media.ts: rtpengine for calls with a WebSocket side (routing.config.rtpengine; off by default)
  mediaRequest();
  const r = t_relay();
  if (r > 0) return exit();
  if (is_method("ACK")) return drop();
  if (r == Status.UNIMPLEMENTED) {
    // no transaction layer on this host: nobody is reachable from here
    sl_reply(404, "Not Found");
    return exit();
  }
  sl_reply(500, "Server Internal Error - Cannot Relay");
  return exit();
}

/*
 * failure_route[MANAGE_FAILURE] {
 *   route(NATMANAGE);
 *   if (t_is_canceled()) exit;
 *   # every contact failed: no answer (408), server errors (5xx) → the user is not available
 *   if (t_check_status("408|5[0-9][0-9]") || $T_reply_code == 0) { t_reply("480", "Temporarily Unavailable"); exit; }
 * }
 * Other failures (486 Busy Here, 404, 603 ...) go upstream as the best response (RFC 3261 §16.7).
 */
onFailure((ctx: Context, route: i32): i32 => {
  if (route == FAILURE_RTP) mediaFailure();
  else if (route != MANAGE_FAILURE) return exit();
  if (t_is_canceled()) return exit();
  const code = replyCode();
  if (code == 0 || code == 408 || (code >= 500 && code < 600)) {
    xlog(L_INFO, "failure_route: $rm to $ru failed (" + code.toString() + "): 480\n");
    t_reply(480, "Temporarily Unavailable");
  }
  return exit();
});

/*
 * onreply_route[MANAGE_REPLY] {
 *   if (status =~ "[12][0-9][0-9]") route(NATMANAGE);
 * }
 * The reply is forwarded as it is, except a NATed callee's Contact gets our alias (nat.ts).
 */
onReply((ctx: Context, route: i32, code: i32): i32 => {
  if (route == MANAGE_REPLY) natReply(code);
  else if (route == REPLY_RTP_TO_WS || route == REPLY_RTP_TO_UDP) {
    natReply(code);
    mediaReply(route, code);
  }
  return Action.CONTINUE;
});

function logCalls(): bool {
  if (logCallsValue < 0) logCallsValue = configOn("log_calls") ? 1 : 0;
  return logCallsValue == 1;
}

/** Kamailio $T_reply_code in failure_route (the host sets it as the MSG variable T_reply_code); 0 = none. */
function replyCode(): i32 {
  const v = var_get("T_reply_code", Scope.MSG);
  return v === null ? 0 : I32.parseInt(v);
}

/** send_reply(): stateful when tm is there (absorbs retransmissions), stateless otherwise. */
function t_or_sl_reply(code: i32, reason: string): void {
  if (t_reply(code, reason) < 0) sl_reply(code, reason);
}

/** true when save() (or anything else) already answered this request. */
function currentReplied(): bool {
  return exit() == 2; // Action.REPLIED
}

