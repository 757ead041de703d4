/**
 * Oracle plugin for secfilter: the equivalent of test/oracle/kamailio/secfilter.cfg. Every secf_check_*
 * function runs, its code is appended as an X-Secf-* header, and the request is relayed to the next hop.
 *
 *   if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
 *   if (is_method("OPTIONS") && uri == myself && $rU == $null) { sl_send_reply("200", "Keepalive"); exit; }
 *   secf_check_ip(); $var(ip) = $rc; ... secf_check_sqli_hdr($hdr(X-Sqli)); $var(sqli) = $rc;
 *   append_hf("X-Secf-IP: $var(ip)\r\n"); ...
 *   if (!is_present_hf("X-No-Sqli-All")) { secf_check_sqli_all(); append_hf("X-Secf-Sqli-All: $rc\r\n"); }
 *   $du = NEXT_HOP; if (!t_relay()) sl_reply_error();
 *
 * secf_check_sqli_all() returns 0 on a hit in Kamailio, and a 0 ends a kamailio.cfg route: the request
 * is neither answered nor relayed. The SDK reports that hit as -1 (sdk/assembly/secfilter.ts); the
 * plugin then ends its route the same way, without an answer.
 */
import {
  onRequest, Context, sl_reply, exit, drop, setdsturi, t_relay, cfg_read, pv, append_hf, is_present_hf,
  secf_check_ip, secf_check_ua, secf_check_from_hdr, secf_check_to_hdr, secf_check_contact_hdr,
  secf_check_country, secf_check_dst, secf_check_sqli_hdr, secf_check_sqli_all,
} from "../../../../../sdk/assembly";
import { configString } from "../../../../../plugins/default/assembly/common";
import { reqinit } from "../../reqinit";

let nextHop: string | null = null;

/** `$hdr(name)` as a string argument: the header's whole value ('' when absent). */
function hdrArg(name: string): string {
  const v = pv("$hdr(" + name + ")");
  return v === null ? "" : v;
}

function code(name: string, rc: i32): void {
  append_hf("X-Secf-" + name + ": " + rc.toString() + "\r\n");
}

onRequest((ctx: Context): i32 => {
  if (reqinit()) return exit();
  const ip = secf_check_ip();
  const ua = secf_check_ua();
  const from = secf_check_from_hdr();
  const to = secf_check_to_hdr();
  const contact = secf_check_contact_hdr();
  const country = secf_check_country(hdrArg("X-Country"));
  const dst = secf_check_dst(hdrArg("X-Dst"));
  const sqli = secf_check_sqli_hdr(hdrArg("X-Sqli"));
  code("IP", ip);
  code("UA", ua);
  code("From", from);
  code("To", to);
  code("Contact", contact);
  code("Country", country);
  code("Dst", dst);
  code("Sqli-Hdr", sqli);
  if (!is_present_hf("X-No-Sqli-All")) {
    const all = secf_check_sqli_all();
    // Kamailio's 0 (the SDK's -1) ends the route: no answer, nothing relayed
    if (all == -1) return drop();
    code("Sqli-All", all);
  }
  if (nextHop === null) nextHop = configString(cfg_read(), "next_hop");
  const hop = nextHop;
  if (hop === null || setdsturi(hop) < 0 || t_relay() < 0) {
    sl_reply(500, "Server Internal Error");
  }
  return exit();
});
