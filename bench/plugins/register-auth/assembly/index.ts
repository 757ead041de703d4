/**
 * register-auth: the request_route of bench/kamailio/kam-register-auth.cfg, function for function, so
 * bench/register-auth.sh compares like with like (the reference route plugins/default does more).
 *
 *   request_route {
 *     if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
 *     if (is_method("OPTIONS")) { sl_send_reply("200", "OK"); exit; }
 *     if (is_method("ACK")) exit;
 *     if (!is_method("REGISTER")) { sl_send_reply("404", "Not here"); exit; }
 *     if (!auth_check("$fd", "subscriber", "1")) { auth_challenge("$fd", "1"); exit; }
 *     if (!save("location")) sl_reply_error();
 *     exit;
 *   }
 *
 * One difference on purpose: auth_check answering -1 (the subscriber lookup failed: database down) is
 * 500, not a challenge; Kamailio challenges then (auth_check < 0), which a UA answers in vain.
 */
import {
  onRequest, Context, is_method, sl_reply, exit, drop, mf_process_maxfwd_header, save, pv,
  auth_check, auth_challenge, AUTH_CHECK_ID, CHALLENGE_QOP_AUTH,
} from "../../../../sdk/assembly";

const SUBSCRIBER = "subscriber";
const LOCATION = "location";

onRequest((ctx: Context): i32 => {
  if (mf_process_maxfwd_header(10) < 0) {
    if (is_method("ACK")) return drop();
    sl_reply(483, "Too Many Hops");
    return exit();
  }
  if (is_method("OPTIONS")) {
    sl_reply(200, "OK");
    return exit();
  }
  if (is_method("ACK")) return drop();
  if (!is_method("REGISTER")) {
    sl_reply(404, "Not here");
    return exit();
  }
  const from = pv("$fd");
  const realm = from == null ? "" : from;
  const rc = auth_check(realm, SUBSCRIBER, AUTH_CHECK_ID);
  if (rc != 1) {
    if (rc == -1) {
      sl_reply(500, "Server Internal Error");
      return exit();
    }
    auth_challenge(realm, CHALLENGE_QOP_AUTH);
    return exit();
  }
  // save() replies itself (200 with the bindings, or the error reply: Kamailio's save + sl_reply_error)
  if (save(LOCATION) < 0 && !ctx.replied) sl_reply(500, "Server Internal Error");
  return exit();
});
