/**
 * The start every oracle route shares with its kamailio.cfg (no plugin of its own: no assembly/index.ts):
 *
 *   if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
 *   if (is_method("OPTIONS") && uri == myself && $rU == $null) { sl_send_reply("200", "Keepalive"); exit; }
 *
 * true when it answered (the route then returns exit()); maxfwd's -1 (value 0) and -2 (unparsable)
 * are both false in kamailio.cfg's `if (!...)`.
 */
import { is_method, has_ruri_user, is_myself_ruri, sl_reply, mf_process_maxfwd_header } from "../../../../sdk/assembly";

export function oracleReqinitAnswered(): bool {
  if (mf_process_maxfwd_header(10) < 0) {
    sl_reply(483, "Too Many Hops");
    return true;
  }
  if (is_method("OPTIONS") && !has_ruri_user() && is_myself_ruri()) {
    sl_reply(200, "Keepalive");
    return true;
  }
  return false;
}
