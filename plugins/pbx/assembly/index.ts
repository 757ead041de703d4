/**
 * pbx: a small PBX on siphon, in the spirit of kamailio.cfg: phones REGISTER their extension
 * (sip:101@pbx), calls to an extension reach its registered contacts (record-routed, stateful),
 * and a call that is busy (486) or not answered (408 / 480) is forwarded through failure_route to
 * the extension configured for it:
 *
 *   routing:
 *     plugin: pbx
 *     config:
 *       forward: { "101": "102" }     # busy / no answer on 101 → 102
 *       no_answer_ms: 20000           # optional fr_inv_timer for calls to extensions (ms)
 *       max_calls: 2                  # optional: concurrent calls per caller ($fU), needs
 *                                     # modules.dialog with profiles_with_value: caller (486 past it)
 *       call_timeout: 3600            # optional: seconds a call lasts at most, then BYE to both sides
 *
 * With `modules.dialog` every call is a dialog (dlg_manage): `kamcmd dlg.list` shows the calls up,
 * and a full dialog table answers 503.
 * With `modules.htable` and a table `dnd`, an extension whose item is set is in "do not disturb":
 * `kamcmd htable.seti dnd 101 1` makes calls to 101 get 486 at once, `kamcmd htable.delete dnd 101`
 * ends it (kamailio.cfg style: `if ($sht(dnd=>$rU) != $null)`). Without the module nothing changes.
 * Every reply of a call carries `X-PBX-Build: <PBX_BUILD>` (onreply_route) and failure_route logs
 * the build too, so one can see which plugin version handled a transaction across hot swaps (a
 * transaction keeps the version that created it).
 *
 * Without `modules.registrar` REGISTER gets 501 and calls 404 (save/lookup answer -6).
 */
import {
  onRequest, onFailure, onReply, Context, Scope,
  is_method, has_totag, has_ruri_user, is_myself_ruri, mf_process_maxfwd_header,
  sl_reply, pv, var_get, var_set, seturi, append_hf, xlog, L_INFO, L_NOTICE, exit, drop, cfg_read,
  t_relay, t_on_failure, t_on_reply, t_reply, t_is_canceled, t_set_timeouts, record_route, loose_route,
  save, lookup, Status,
  dlg_manage, set_dlg_profile, get_profile_size, dlg_ctx_set, dlg_set_timeout,
  sht_get,
} from "../../../sdk/assembly";

/** Build label shown in X-PBX-Build and the failure_route log (the hot-swap test rewrites it). */
const PBX_BUILD = "pbx-1";

const PASS: i32 = -1;
const LOCATION_TABLE = "location";
/** route ids (Kamailio route names). */
const FORWARD_ON_FAILURE: i32 = 1;
const MANAGE_REPLY: i32 = 1;

/** plugin config, read once per instance. */
let configJson: string | null = null;
let noAnswerMs: i32 = -1;
let maxCalls: i32 = -1;
let callTimeout: i32 = -1;
/** the htable of "do not disturb" extensions (modules.htable). */
const DND_TABLE = "dnd";
/** the dialog profile max_calls counts in (modules.dialog profiles_with_value). */
const CALLER_PROFILE = "caller";

/*
 * request_route {
 *   route(REQINIT); route(WITHINDLG);
 *   if (is_method("CANCEL")) { if (t_check_trans()) route(RELAY); exit; }   # host matches CANCELs
 *   route(REGISTRAR);
 *   if ($rU == $null) { sl_send_reply("484", "Address Incomplete"); exit; }
 *   record_route();
 *   $avp(oexten) = $rU;
 *   route(LOCATION);
 *   route(RELAY);
 * }
 */
onRequest((ctx: Context): i32 => {
  // route[REQINIT]: RFC 3261 §16.3 step 3 Max-Forwards, keepalive OPTIONS to the PBX itself
  const mf = mf_process_maxfwd_header(10);
  if (mf == -1) {
    if (is_method("ACK")) return drop();
    sl_reply(483, "Too Many Hops");
    return exit();
  }
  if (is_method("OPTIONS") && !has_ruri_user() && is_myself_ruri()) {
    sl_reply(200, "OK");
    return exit();
  }

  // route[WITHINDLG]: follow the Route set our Record-Route created (RFC 3261 §16.12)
  if (has_totag()) {
    if (loose_route() > 0) return relayRoute(false);
    if (is_method("ACK")) return drop(); // ACK of a non-2xx was absorbed by the transaction layer
    sl_reply(404, "Not here");
    return exit();
  }

  // a CANCEL the transaction layer did not match (RFC 3261 §9.2)
  if (is_method("CANCEL")) {
    sl_reply(481, "Call/Transaction Does Not Exist");
    return exit();
  }
  if (is_method("ACK")) return drop();

  // route[REGISTRAR]: save() answers the REGISTER (200 / 400 / 423 / 503)
  if (is_method("REGISTER")) {
    if (save(LOCATION_TABLE) == Status.UNIMPLEMENTED) sl_reply(501, "Not Implemented");
    return exit();
  }

  if (!has_ruri_user()) {
    sl_reply(484, "Address Incomplete");
    return exit();
  }
  if (!is_myself_ruri()) {
    sl_reply(403, "Not relaying");
    return exit();
  }

  if (is_method("INVITE")) {
    // do not disturb, set per extension over RPC (htable `dnd`; -6 without modules.htable reads as unset)
    const dialled = pv("$rU");
    const dnd = dialled !== null ? sht_get(DND_TABLE, dialled) : null;
    if (dnd !== null && dnd != "0") {
      sl_reply(486, "Busy Here - Do Not Disturb");
      return exit();
    }
    const limited = trackCall();
    if (limited != 0) return limited;
    record_route();
    // $avp(oexten) = $rU: the dialled extension, for failure_route after lookup rewrote the R-URI
    const exten = pv("$rU");
    if (exten !== null) var_set("oexten", exten, Scope.MSG);
  }
  const r = lookup(LOCATION_TABLE);
  if (r == -2) return reply(405, "Method Not Allowed");
  if (r < 0) {
    // not registered: forward unconditionally when configured (Kamailio: route(FORWARD) before 404)
    if (is_method("INVITE") && forwardTo(pv("$rU")) > 0) return relayRoute(true);
    return reply(404, "Not Found");
  }
  return relayRoute(true);
});

/*
 * route[RELAY] {
 *   if (is_method("INVITE")) { t_on_reply("MANAGE_REPLY"); t_on_failure("FORWARD_ON_FAILURE"); }
 *   if (!t_relay()) sl_reply_error();
 *   exit;
 * }
 */
function relayRoute(initial: bool): i32 {
  if (is_method("INVITE")) {
    t_on_reply(MANAGE_REPLY);
    if (initial) {
      t_on_failure(FORWARD_ON_FAILURE);
      const ms = noAnswerTimeout();
      if (ms > 0) t_set_timeouts(0, ms);
    }
  }
  if (t_relay() > 0) return exit();
  if (is_method("ACK")) return drop();
  sl_reply(500, "Server Internal Error - Cannot Relay");
  return exit();
}

/*
 * onreply_route[MANAGE_REPLY] {
 *   append_hf("X-PBX-Build: pbx-1\r\n");
 * }
 */
onReply((ctx: Context, route: i32, code: i32): i32 => {
  if (route == MANAGE_REPLY) append_hf("X-PBX-Build: " + PBX_BUILD);
  return exit();
});

/*
 * failure_route[FORWARD_ON_FAILURE] {
 *   if (t_is_canceled()) exit;
 *   if (t_check_status("486|408|480")) {           # busy, no answer, unavailable
 *     $var(fw) = forward target of $avp(oexten);
 *     if ($var(fw) != $null) {
 *       $ru = "sip:" + $var(fw) + "@" + $rd;
 *       if (lookup("location")) { t_on_reply("MANAGE_REPLY"); t_relay(); exit; }
 *     }
 *   }
 *   if (t_check_status("408|5[0-9][0-9]")) t_reply("480", "Temporarily Unavailable");
 * }
 */
onFailure((ctx: Context, route: i32): i32 => {
  if (route != FORWARD_ON_FAILURE) return exit();
  if (t_is_canceled()) return exit();
  const code = replyCode();
  xlog(L_NOTICE, "pbx " + PBX_BUILD + " failure_route: $ci got " + code.toString() + "\n");
  if (code == 486 || code == 408 || code == 480) {
    const exten = var_get("oexten", Scope.MSG);
    if (exten !== null) {
      const target = forwardTarget(exten);
      if (target !== null) {
        const domain = pv("$td");
        seturi("sip:" + target + "@" + (domain !== null ? domain : "localhost"));
        if (lookup(LOCATION_TABLE) > 0) {
          xlog(L_INFO, "pbx " + PBX_BUILD + ": " + exten + " → " + target + " ($ru)\n");
          t_on_reply(MANAGE_REPLY);
          t_relay();
          return exit();
        }
      }
    }
  }
  if (code == 0 || code == 408 || (code >= 500 && code < 600)) t_reply(480, "Temporarily Unavailable");
  return exit();
});

/*
 * dlg_manage();                                   # modules.dialog: the call is a dialog
 * set_dlg_profile("caller", "$fU");
 * get_profile_size("caller", "$fU", "$var(n)");
 * if ($var(n) > MAX_CALLS) { sl_send_reply("486", "Busy Here"); exit; }
 * $dlg_ctx(timeout_bye) = 1; dlg_set_timeout(CALL_TIMEOUT);
 *
 * Returns 0 to go on, or the route's result when the call was refused. Without modules.dialog
 * dlg_manage() answers -6 and nothing is limited.
 */
function trackCall(): i32 {
  const m = dlg_manage();
  if (m == Status.LIMIT) {
    sl_reply(503, "Service Unavailable");
    return exit();
  }
  if (m != 1) return 0;
  const limit = intConfig("max_calls", 0);
  if (limit > 0) {
    const user = pv("$fU");
    if (user !== null) {
      set_dlg_profile(CALLER_PROFILE, user);
      // the new call counts itself: more than max_calls means this one is one too many
      if (get_profile_size(CALLER_PROFILE, user) > limit) {
        xlog(L_NOTICE, "pbx " + PBX_BUILD + ": $fU has " + limit.toString() + " calls up, refusing $ci\n");
        sl_reply(486, "Busy Here");
        return exit();
      }
    }
  }
  const timeout = intConfig("call_timeout", 1);
  if (timeout > 0) {
    dlg_ctx_set("timeout_bye", 1);
    dlg_set_timeout(timeout);
  }
  return 0;
}

/** when the dialled extension is not registered: rewrites the R-URI to its forward target's contact. */
function forwardTo(exten: string | null): i32 {
  if (exten === null) return -1;
  const target = forwardTarget(exten);
  if (target === null) return -1;
  const domain = pv("$rd");
  seturi("sip:" + target + "@" + (domain !== null ? domain : "localhost"));
  return lookup(LOCATION_TABLE);
}

function reply(code: i32, reason: string): i32 {
  if (t_reply(code, reason) < 0) sl_reply(code, reason);
  return exit();
}

/** Kamailio $T_reply_code (host MSG variable T_reply_code in failure_route); 0 = none. */
function replyCode(): i32 {
  const v = var_get("T_reply_code", Scope.MSG);
  return v === null ? 0 : I32.parseInt(v);
}

function config(): string {
  let c = configJson;
  if (c === null) {
    c = cfg_read();
    configJson = c;
  }
  return c;
}

/** `routing.config.no_answer_ms`, 0 when absent. */
function noAnswerTimeout(): i32 {
  if (noAnswerMs < 0) noAnswerMs = configInt("no_answer_ms");
  return noAnswerMs;
}

/** `routing.config.max_calls` (which 0) / `call_timeout` (which 1), read once; 0 when absent. */
function intConfig(key: string, which: i32): i32 {
  if (which == 0) {
    if (maxCalls < 0) maxCalls = configInt(key);
    return maxCalls;
  }
  if (callTimeout < 0) callTimeout = configInt(key);
  return callTimeout;
}

/** a non-negative integer of the plugin config, 0 when absent. */
function configInt(key: string): i32 {
  const json = config();
  const p = valueStart(json, key, 0, json.length);
  let v: i32 = 0;
  if (p >= 0) {
    let i = p;
    while (i < json.length && json.charCodeAt(i) >= 0x30 && json.charCodeAt(i) <= 0x39 && v < 100000000) {
      v = v * 10 + (json.charCodeAt(i) - 0x30);
      i++;
    }
  }
  return v;
}

/** `routing.config.forward[exten]` (a string), null when not configured. */
function forwardTarget(exten: string): string | null {
  const json = config();
  const obj = valueStart(json, "forward", 0, json.length);
  if (obj < 0 || json.charCodeAt(obj) != 0x7b /* { */) return null;
  const end = json.indexOf("}", obj);
  if (end < 0) return null;
  const p = valueStart(json, exten, obj + 1, end);
  if (p < 0 || json.charCodeAt(p) != 0x22 /* " */) return null;
  const close = json.indexOf("\"", p + 1);
  return close < 0 || close > end ? null : json.substring(p + 1, close);
}

/** Index of the value of `"key":` inside json[from, to), -1 when absent. Flat JSON only. */
function valueStart(json: string, key: string, from: i32, to: i32): i32 {
  const quoted = "\"" + key + "\"";
  let p = json.indexOf(quoted, from);
  if (p < 0 || p >= to) return -1;
  p += quoted.length;
  while (p < to && isSpace(json.charCodeAt(p))) p++;
  if (p >= to || json.charCodeAt(p) != 0x3a /* : */) return -1;
  p++;
  while (p < to && isSpace(json.charCodeAt(p))) p++;
  return p < to ? p : -1;
}

function isSpace(c: i32): bool {
  return c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d;
}
