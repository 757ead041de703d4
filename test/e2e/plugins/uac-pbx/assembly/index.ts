/**
 * e2e test plugin (test/e2e/baresip-uac.test.ts): a registrar and record-routing proxy whose calls
 * hide the caller, as a kamailio.cfg would with
 *
 *   if (is_method("INVITE") && !has_totag()) { record_route(); uac_replace_from("Anonymous", "sip:anonymous@anonymous.invalid"); }
 *
 * REGISTER → save("location"); in-dialog → loose_route() + t_relay() (the host restores From / To
 * from the Record-Route's vsf); initial INVITE → lookup("location"), record_route(),
 * uac_replace_from(), t_relay(); anything else 200 (OPTIONS) or 404.
 */
import {
  onRequest, Context, is_method, has_totag, sl_reply, exit, drop, mf_process_maxfwd_header,
  record_route, loose_route, t_relay, save, lookup, uac_replace_from,
} from "../../../../../sdk/assembly";

onRequest((ctx: Context): i32 => {
  if (mf_process_maxfwd_header(10) < 0) {
    sl_reply(483, "Too Many Hops");
    return exit();
  }
  if (has_totag()) {
    if (loose_route() > 0) {
      t_relay();
      return exit();
    }
    if (is_method("ACK")) return drop();
    sl_reply(404, "Not here");
    return exit();
  }
  if (is_method("REGISTER")) {
    if (save("location") < 0) sl_reply(500, "save failed");
    return exit();
  }
  if (is_method("CANCEL")) {
    t_relay();
    return exit();
  }
  if (!is_method("INVITE")) {
    sl_reply(is_method("OPTIONS") ? 200 : 404, is_method("OPTIONS") ? "OK" : "Not Found");
    return exit();
  }
  if (lookup("location") < 0) {
    sl_reply(404, "Not Found");
    return exit();
  }
  record_route();
  if (uac_replace_from("Anonymous", "sip:anonymous@anonymous.invalid") < 0) {
    sl_reply(500, "uac_replace_from failed");
    return exit();
  }
  t_relay();
  return exit();
});
