/**
 * plugins/default, route[REQINIT]: what runs before anything else on a request (kamailio.cfg's
 * REQINIT with WITH_ANTIFLOOD, plus the secfilter checks): blacklisted sources and scanners, floods,
 * Max-Forwards, keepalive OPTIONS, and the sanity checks the host parser does not already enforce.
 */
import {
  Field, is_method, has_ruri_user, is_myself_ruri, mf_process_maxfwd_header,
  sl_reply, msg_get, xlog, xnotice, L_NOTICE, exit, drop,
  pike_check_req,
  Status, L_ALERT, cfg_read,
  secf_check_ip, secf_check_ua, secf_check_sqli_all, secf_check_from_hdr, secf_check_to_hdr, secf_check_contact_hdr,
} from "../../../sdk/assembly";
import { PASS, configString } from "./common";

/** Max-Forwards value added to requests that carry none (kamailio.cfg uses 10). */
const MAX_FORWARDS_LIMIT: i32 = 10;

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
 * route[REQINIT] {
 *   # secfilter: blacklisted source dropped; a whitelisted (trusted) one skips the next checks
 *   #!ifdef WITH_ANTIFLOOD ... pike_check_req() ... #!endif        (antiflood() below)
 *   if ($ua =~ "friendly-scanner|sipcli|VaxSIPUserAgent") exit;   (scanner checks below)
 *   if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
 *   if (is_method("OPTIONS") && uri == myself && $rU == $null) { sl_send_reply("200", "Keepalive"); exit; }
 *   if (!sanity_check("17895", "7")) { xlog("Malformed SIP request from $si:$sp\n"); exit; }
 * }
 */
export function reqinit(): i32 {
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
