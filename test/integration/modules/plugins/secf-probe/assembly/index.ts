/**
 * Test plugin: calls the secfilter SDK wrappers and answers 200 with their return codes in
 * X-Secf-* headers (403 when the destination check blocks $rU), so a test observes exactly what a
 * plugin sees.
 */
import {
  onRequest, Context, is_method, sl_reply, append_to_reply, pv, exit, drop,
  secf_check_dst, secf_check_ua, secf_check_ip, secf_check_from_hdr, secf_check_to_hdr, secf_check_contact_hdr,
  secf_check_sqli_all, secf_check_sqli_hdr, secf_sqli_hdr, secf_check_country,
  secf_check_username_from_hdr, secf_check_name_from_hdr, secf_check_domain_from_hdr,
} from "../../../../../../sdk/assembly";

onRequest((ctx: Context): i32 => {
  if (is_method("ACK")) return drop();
  const user = pv("$rU");
  const dst = secf_check_dst(user !== null ? user : "");
  append_to_reply("X-Secf-Dst: " + dst.toString());
  append_to_reply("X-Secf-Ip: " + secf_check_ip().toString());
  append_to_reply("X-Secf-Ua: " + secf_check_ua().toString());
  append_to_reply("X-Secf-From: " + secf_check_from_hdr().toString());
  append_to_reply("X-Secf-To: " + secf_check_to_hdr().toString());
  append_to_reply("X-Secf-Contact: " + secf_check_contact_hdr().toString());
  append_to_reply("X-Secf-From-Parts: " + secf_check_username_from_hdr().toString() + " " +
    secf_check_name_from_hdr().toString() + " " + secf_check_domain_from_hdr().toString());
  append_to_reply("X-Secf-Sqli-All: " + secf_check_sqli_all().toString());
  const subject = pv("$hdr(Subject)");
  append_to_reply("X-Secf-Sqli-Subject: " + secf_check_sqli_hdr(subject !== null ? subject : "").toString() + " " +
    secf_sqli_hdr(subject !== null ? subject : "").toString());
  const cc = pv("$hdr(X-Country)");
  append_to_reply("X-Secf-Country: " + secf_check_country(cc !== null ? cc : "").toString());
  if (dst == -2) sl_reply(403, "Forbidden - Destination");
  else sl_reply(200, "OK");
  return exit();
});
