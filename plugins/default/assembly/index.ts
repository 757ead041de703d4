/**
 * default: siphon's reference routing, in the spirit of the request_route of Kamailio's default
 * kamailio.cfg (REQINIT → WITHINDLG → REGISTRAR → LOCATION → RELAY), cut down to what the server can
 * do today: there are no dialogs, no registrar and no relaying yet, so in-dialog requests get 404,
 * REGISTER gets 501, and other initial requests get 404 (R-URI with a user) or 501.
 *
 * With `modules.secfilter` configured, REQINIT also runs the secfilter checks (block at the end of
 * this file; `routing.config.scanner_action: reply|drop`); without it those calls answer -6 and pass.
 *
 * Each function below shows the kamailio.cfg block it mirrors. A route function returns an Action
 * when it finished the request, or PASS to let request_route go on (Kamailio: the block did not `exit`).
 */
import {
  onRequest, Context, Field,
  is_method, has_totag, has_ruri_user, is_myself_ruri, mf_process_maxfwd_header,
  sl_reply, msg_get, xlog, xnotice, L_NOTICE, exit, drop,
} from "../../../sdk/assembly";
// secfilter REQINIT block (see the end of this file)
import {
  Status, L_ALERT, cfg_read,
  secf_check_ip, secf_check_ua, secf_check_sqli_all, secf_check_from_hdr, secf_check_to_hdr, secf_check_contact_hdr,
} from "../../../sdk/assembly";

/** The route block did not finish the request: request_route goes on. */
const PASS: i32 = -1;

/** Max-Forwards value added to requests that carry none (kamailio.cfg uses 10). */
const MAX_FORWARDS_LIMIT: i32 = 10;

/** secfilter block: `routing.config.scanner_action` (reply = 403, drop), read once (-1 = not read yet). */
const SCANNER_REPLY: i32 = 0;
const SCANNER_DROP: i32 = 1;
let scannerActionValue: i32 = -1;

/*
 * request_route {
 *   route(REQINIT);
 *   if (is_method("CANCEL")) { if (t_check_trans()) route(RELAY); exit; }
 *   route(WITHINDLG);
 *   route(REGISTRAR);
 *   if ($rU == $null) { sl_send_reply("501", "Not Implemented"); exit; }
 *   sl_send_reply("404", "Not Found");   # until LOCATION / RELAY exist
 *   exit;
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
  // no location service or relay yet: nobody is reachable here
  sl_reply(404, "Not Found");
  return exit();
});

/*
 * route[REQINIT] {
 *   if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
 *   if (is_method("OPTIONS") && uri == myself && $rU == $null) { sl_send_reply("200", "Keepalive"); exit; }
 *   if (!sanity_check("17895", "7")) { xlog("Malformed SIP request from $si:$sp\n"); exit; }
 * }
 */
function reqinit(): i32 {
  // secfilter checks first, as in the secfilter module's example REQINIT (block at the end of this file)
  const filtered = secfilterReqinit();
  if (filtered != PASS) return filtered;

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
 * There are no transactions yet, so no CANCEL can match one: RFC 3261 §9.2 answers 481.
 */
function cancel(): i32 {
  if (!is_method("CANCEL")) return PASS;
  sl_reply(481, "Call/Transaction Does Not Exist");
  return exit();
}

/*
 * route[WITHINDLG] {
 *   if (!has_totag()) return;
 *   if (loose_route()) { ... route(RELAY); exit; }
 *   if (is_method("ACK")) { if (t_check_trans()) { route(RELAY); exit; } else exit; }
 *   sl_send_reply("404", "Not here");
 *   exit;
 * }
 * No dialogs and no Record-Route yet: every in-dialog request is unknown here.
 */
function withindlg(): i32 {
  if (!has_totag()) return PASS;
  if (is_method("ACK")) return drop();
  sl_reply(404, "Not here");
  return exit();
}

/*
 * route[REGISTRAR] {
 *   if (!is_method("REGISTER")) return;
 *   if (!save("location")) sl_reply_error();
 *   exit;
 * }
 * Until the registrar module lands.
 */
function registrar(): i32 {
  if (!is_method("REGISTER")) return PASS;
  sl_reply(501, "Not Implemented");
  return exit();
}

// =============================================================================================
// REQINIT security filter (secfilter module). Runs only when `modules.secfilter` is configured:
// without the module every secf_* call answers -6 UNIMPLEMENTED and this block passes.
// Plugin config (`routing.config`): scanner_action: reply (default, 403) | drop.
// =============================================================================================

/*
 * route[REQINIT] {                       # the secfilter additions, kamailio.cfg style
 *   $var(ip) = secf_check_ip();
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
  const ip = secf_check_ip();
  if (ip == Status.UNIMPLEMENTED || ip == Status.NOT_ALLOWED) return PASS; // no secfilter module here
  if (ip == -2) {
    xlog(L_ALERT, "secfilter: blacklisted source $si:$sp dropped ($rm $ru)\n");
    return drop();
  }
  if (ip == 2) return PASS; // a whitelisted address skips the other filters

  if (secf_check_ua() == -2) {
    if (scannerAction() == SCANNER_DROP) {
      xlog(L_NOTICE, "secfilter: scanner $ua from $si:$sp dropped\n");
      return drop();
    }
    return secfilterRefuse("Forbidden - Scanner", "secfilter: scanner $ua from $si:$sp refused\n");
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
