/**
 * default: siphon's reference routing, in the spirit of the request_route of Kamailio's default
 * kamailio.cfg (REQINIT → CANCEL → WITHINDLG → REGISTRAR → LOCATION → RELAY, failure_route MANAGE_FAILURE):
 * a registrar and stateful proxy with record-routing.
 *
 * Without `modules.registrar`, save()/lookup() answer -6: REGISTER gets 501 and initial requests for a
 * user of ours 404. With `modules.secfilter` configured, REQINIT also runs the secfilter checks (block at
 * the end of this file; `routing.config.scanner_action: reply|drop`); without it those calls answer -6
 * and REQINIT drops (or refuses) the well-known scanners by User-Agent itself, as kamailio.cfg does.
 * With `modules.pike`, REQINIT drops flooding sources (kamailio.cfg WITH_ANTIFLOOD).
 *
 * Each function below shows the kamailio.cfg block it mirrors. A route function returns an Action
 * when it finished the request, or PASS to let request_route go on (Kamailio: the block did not `exit`).
 */
import {
  onRequest, onFailure, Context, Field, Scope,
  is_method, has_totag, has_ruri_user, is_myself_ruri, mf_process_maxfwd_header,
  sl_reply, msg_get, var_get, xlog, xnotice, L_NOTICE, L_INFO, exit, drop,
  t_relay, t_on_failure, t_reply, t_is_canceled, record_route, loose_route,
  save, lookup,
} from "../../../sdk/assembly";
// pike REQINIT block (antiflood(), after reqinit())
import { pike_check_req } from "../../../sdk/assembly";
// secfilter REQINIT block (see the end of this file)
import {
  Status, L_ALERT, cfg_read,
  secf_check_ip, secf_check_ua, secf_check_sqli_all, secf_check_from_hdr, secf_check_to_hdr, secf_check_contact_hdr,
} from "../../../sdk/assembly";

/** The route block did not finish the request: request_route goes on. */
const PASS: i32 = -1;

/** Max-Forwards value added to requests that carry none (kamailio.cfg uses 10). */
const MAX_FORWARDS_LIMIT: i32 = 10;

/** failure_route ids (Kamailio route names). */
const MANAGE_FAILURE: i32 = 1;

/** The usrloc table (Kamailio's `location` domain). */
const LOCATION_TABLE = "location";

/** secfilter block: `routing.config.scanner_action` (reply = 403, drop), read once (-1 = not read yet). */
const SCANNER_REPLY: i32 = 0;
const SCANNER_DROP: i32 = 1;
let scannerActionValue: i32 = -1;

/** Built-in scanner check (no secfilter): lower-case fragments of scanner User-Agents. */
const SCANNERS: string[] = [
  "friendly-scanner", "friendly-request", "sipvicious", "sipcli", "sip-scan", "sundayddr",
  "vaxsipuseragent", "vaxipuseragent", "sivus",
];

/** Only the first bytes of a User-Agent are looked at (the names above sit at its start). */
const SCANNER_UA_PREFIX: i32 = 128;


/*
 * request_route {
 *   route(REQINIT);
 *   if (is_method("CANCEL")) { if (t_check_trans()) route(RELAY); exit; }
 *   route(WITHINDLG);
 *   t_check_trans();                       # retransmissions: absorbed by the host's transaction layer
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

  verdict = cancel();
  if (verdict != PASS) return verdict;

  verdict = withindlg();
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
 * route[REQINIT] {
 *   # secfilter: blacklisted source dropped; a whitelisted (trusted) one skips the next checks
 *   #!ifdef WITH_ANTIFLOOD ... pike_check_req() ... #!endif        (antiflood() below)
 *   if ($ua =~ "friendly-scanner|sipcli|VaxSIPUserAgent") exit;   (scanner checks below)
 *   if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
 *   if (is_method("OPTIONS") && uri == myself && $rU == $null) { sl_send_reply("200", "Keepalive"); exit; }
 *   if (!sanity_check("17895", "7")) { xlog("Malformed SIP request from $si:$sp\n"); exit; }
 * }
 */
function reqinit(): i32 {
  // secfilter's source lists first: kamailio.cfg says to exclude trusted peers from pike
  const ip = secf_check_ip();
  if (ip == -2) {
    xlog(L_ALERT, "secfilter: blacklisted source $si:$sp dropped ($rm $ru)\n");
    return drop();
  }
  if (ip != 2) {
    const flood = antiflood();
    if (flood != PASS) return flood;
    // secfilter's lists, then the built-in scanner list (a UA secfilter whitelists skips it)
    const filtered = ip == Status.UNIMPLEMENTED || ip == Status.NOT_ALLOWED ? scannerReqinit() : secfilterReqinit();
    if (filtered != PASS) return filtered;
  }

  // RFC 3261 §16.3 step 3: a request whose Max-Forwards is 0 is answered 483, never forwarded
  const mf = mf_process_maxfwd_header(MAX_FORWARDS_LIMIT);
  if (mf == -1) {
    if (is_method("ACK")) return drop(); // Kamailio's sl never replies to an ACK
    sl_reply(483, "Too Many Hops");
    return exit();
  }
  if (mf < -1) {
    // unparsable Max-Forwards (maxfwd returns -2): sanity_check's 400 for a bad header
    if (is_method("ACK")) return drop();
    xlog(L_NOTICE, "Malformed Max-Forwards in $rm from $si:$sp\n");
    sl_reply(400, "Bad Request - Max-Forwards");
    return exit();
  }

  // keepalive OPTIONS addressed to the server itself (RFC 3261 §11.2: 200 with capabilities)
  if (is_method("OPTIONS") && !has_ruri_user() && is_myself_ruri()) {
    sl_reply(200, "OK");
    return exit();
  }

  return sanity();
}

/*
 * A subset of sanity_check("17895", "7"), the checks the host parser does not already enforce:
 *   - R-URI scheme is sip, sips or tel (sanity 2 "ruri scheme", answered 416, RFC 3261 §8.2.2.1);
 *   - CSeq method equals the request method (sanity 128 "cseq method", answered 400, RFC 3261 §8.1.1.7).
 */
function sanity(): i32 {
  const scheme = msg_get(Field.RURI_SCHEME);
  if (scheme !== null && scheme.length > 0) {
    const s = scheme.toLowerCase();
    if (s != "sip" && s != "sips" && s != "tel") {
      if (is_method("ACK")) return drop();
      xnotice("Unsupported R-URI scheme in $rm from $si:$sp\n");
      sl_reply(416, "Unsupported URI Scheme");
      return exit();
    }
  }
  const method = msg_get(Field.METHOD);
  const cseqMethod = msg_get(Field.CSEQ_METHOD);
  if (method !== null && cseqMethod !== null && method != cseqMethod) {
    if (is_method("ACK")) return drop();
    xnotice("Malformed SIP request from $si:$sp: CSeq method differs from $rm\n");
    sl_reply(400, "Bad Request - CSeq method mismatch");
    return exit();
  }
  return PASS;
}

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
    // tm forwards an ACK statelessly)
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
 *   if (isflagset(FLT_NATS)) { setbflag(FLB_NATB); }
 *   if (!save("location")) { sl_reply_error(); }
 *   exit;
 * }
 * save() answers the REGISTER itself (200 with the bindings, 400, 423 Interval Too Brief, 503);
 * -6 means no registrar module on this node.
 */
function registrar(): i32 {
  if (!is_method("REGISTER")) return PASS;
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
 *   if (is_method("INVITE|SUBSCRIBE|UPDATE")) { if (!t_is_set("onreply_route")) t_on_reply("MANAGE_REPLY"); }
 *   if (is_method("INVITE")) { if (!t_is_set("failure_route")) t_on_failure("MANAGE_FAILURE"); }
 *   if (!t_relay()) { sl_reply_error(); }
 *   exit;
 * }
 */
function relayRoute(): i32 {
  if (is_method("INVITE")) t_on_failure(MANAGE_FAILURE);
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
  if (route != MANAGE_FAILURE) return exit();
  if (t_is_canceled()) return exit();
  const code = replyCode();
  if (code == 0 || code == 408 || (code >= 500 && code < 600)) {
    xlog(L_INFO, "failure_route: $rm to $ru failed (" + code.toString() + "): 480\n");
    t_reply(480, "Temporarily Unavailable");
  }
  return exit();
});

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

// =============================================================================================
// REQINIT security filter (secfilter module). Runs only when `modules.secfilter` is configured:
// without the module every secf_* call answers -6 UNIMPLEMENTED and this block passes.
// Plugin config (`routing.config`): scanner_action: reply (default, 403) | drop.
// =============================================================================================

/*
 * route[REQINIT] {                       # the secfilter additions, kamailio.cfg style
 *   $var(ip) = secf_check_ip();           # (in reqinit(), before antiflood())
 *   if ($var(ip) == -2) { xalert("blacklisted $si\n"); drop; }
 *   if ($var(ip) == 2) return;           # whitelisted source: trusted
 *   if (secf_check_ua() == -2) { sl_send_reply("403", "Forbidden"); exit; }   # or drop
 *   if (secf_check_sqli_all() ...) { sl_send_reply("403", "Forbidden"); exit; }
 *   if (secf_check_from_hdr() <= -2 || secf_check_to_hdr() <= -2 || secf_check_contact_hdr() <= -2)
 *     { sl_send_reply("403", "Forbidden"); exit; }
 * }
 * Scanners (friendly-scanner, sipvicious, sipcli ...) are secfilter user-agent blacklist rules
 * (`siphon secfilter add bl ua friendly-scanner`), so operators manage them without rebuilding.
 */
function secfilterReqinit(): i32 {
  // secf_check_ip() ran in reqinit(): blacklisted sources are dropped, whitelisted ones skip this block
  const ua = secf_check_ua();
  if (ua == -2) return refuseScanner();
  if (ua != 2) {
    const scanner = scannerReqinit();
    if (scanner != PASS) return scanner;
  }

  // secf_check_sqli_all() returns -1 on a hit (Kamailio 0, see sdk/assembly/secfilter.ts)
  if (secf_check_sqli_all() == -1) {
    return secfilterRefuse("Forbidden - SQL Injection", "secfilter: SQL injection attempt from $si:$sp ($ci)\n");
  }

  // -2 user, -3 domain, -4 display name blacklisted; -1 is a malformed header (left to sanity)
  let r = secf_check_from_hdr();
  if (r <= -2 && r >= -4) {
    xlog(L_NOTICE, "secfilter: From <$fu> blacklisted (" + r.toString() + ") from $si:$sp\n");
    return secfilterRefuse("Forbidden - From Blacklisted", "");
  }
  r = secf_check_to_hdr();
  if (r <= -2 && r >= -4) {
    xlog(L_NOTICE, "secfilter: To <$tu> blacklisted (" + r.toString() + ") from $si:$sp\n");
    return secfilterRefuse("Forbidden - To Blacklisted", "");
  }
  r = secf_check_contact_hdr();
  if (r <= -2 && r >= -3) {
    xlog(L_NOTICE, "secfilter: Contact <$ct> blacklisted (" + r.toString() + ") from $si:$sp\n");
    return secfilterRefuse("Forbidden - Contact Blacklisted", "");
  }
  return PASS;
}

/** A scanner by User-Agent: dropped, or 403 with `routing.config.scanner_action: reply`. */
function refuseScanner(): i32 {
  if (scannerAction() == SCANNER_DROP) {
    xlog(L_NOTICE, "scanner $ua from $si:$sp dropped\n");
    return drop();
  }
  return secfilterRefuse("Forbidden - Scanner", "scanner $ua from $si:$sp refused\n");
}

/** 403 with `reason` (an ACK is never answered: dropped), after logging `logFmt` when not empty. */
function secfilterRefuse(reason: string, logFmt: string): i32 {
  if (logFmt.length > 0) xlog(L_NOTICE, logFmt);
  if (is_method("ACK")) return drop();
  sl_reply(403, reason);
  return exit();
}

function scannerAction(): i32 {
  if (scannerActionValue < 0) {
    const v = configString(cfg_read(), "scanner_action");
    scannerActionValue = v !== null && v.toLowerCase() == "drop" ? SCANNER_DROP : SCANNER_REPLY;
  }
  return scannerActionValue;
}

/**
 * The string value of a top-level `"key": "value"` member of the plugin config JSON, null when
 * absent or not a string. Enough for flat settings; escapes inside the value are not decoded.
 */
function configString(json: string, key: string): string | null {
  const quoted = "\"" + key + "\"";
  let p = json.indexOf(quoted);
  if (p < 0) return null;
  p += quoted.length;
  while (p < json.length && (json.charCodeAt(p) == 0x20 || json.charCodeAt(p) == 0x09 || json.charCodeAt(p) == 0x0a || json.charCodeAt(p) == 0x0d)) p++;
  if (p >= json.length || json.charCodeAt(p) != 0x3a /* : */) return null;
  p++;
  while (p < json.length && (json.charCodeAt(p) == 0x20 || json.charCodeAt(p) == 0x09 || json.charCodeAt(p) == 0x0a || json.charCodeAt(p) == 0x0d)) p++;
  if (p >= json.length || json.charCodeAt(p) != 0x22 /* " */) return null;
  const end = json.indexOf("\"", p + 1);
  return end < 0 ? null : json.substring(p + 1, end);
}

// =============================================================================================
// REQINIT built-in scanner list: the well-known scanners by User-Agent (kamailio.cfg's
// `if ($ua =~ "friendly-scanner|sipcli|VaxSIPUserAgent") exit;`, which needs no module). With
// secfilter the same names are also rules of its user-agent blacklist (config/siphon.yaml seeds a new
// table with them) and a user agent it whitelists is not checked here.
// =============================================================================================

function scannerReqinit(): i32 {
  const ua = msg_get(Field.USER_AGENT);
  if (ua === null || ua.length == 0) return PASS;
  const head = (ua.length > SCANNER_UA_PREFIX ? ua.substring(0, SCANNER_UA_PREFIX) : ua).toLowerCase();
  for (let i = 0; i < SCANNERS.length; i++) {
    if (head.includes(SCANNERS[i])) return refuseScanner();
  }
  return PASS;
}

// =============================================================================================
// REQINIT flood detection (pike module). Runs only when `modules.pike` is configured: without it
// pike_check_req() answers -6 and this block passes.
// =============================================================================================

/*
 * route[REQINIT] {                        # kamailio.cfg, WITH_ANTIFLOOD
 *   if (src_ip != myself) {
 *     if ($sht(ipban=>$si) != $null) exit;            # siphon: modules.pike.block_time
 *     if (!pike_check_req()) {
 *       xlog("L_ALERT", "ALERT: pike blocking $rm from $fu (IP:$si:$sp)\n");
 *       $sht(ipban=>$si) = 1;
 *       exit;
 *     }
 *   }
 * }
 * pike_check_req(): 1 fine, -1 blocked earlier (dropped silently), -2 blocked by this request (logged).
 */
function antiflood(): i32 {
  // the `src_ip != myself` test is the host's: pike_check_req() answers 1 for our own addresses
  const r = pike_check_req();
  if (r == -2) {
    xlog(L_ALERT, "ALERT: pike blocking $rm from $fu (IP:$si:$sp)\n");
    return drop();
  }
  if (r == -1) return drop();
  return PASS; // 1, or -6 without modules.pike
}
