/**
 * Oracle plugin for auth/auth_db: the equivalent of test/oracle/kamailio/auth-db.cfg.
 *
 *   REQINIT; the probe to the next hop;
 *   if (!is_method("ACK|CANCEL")) {
 *     if (!auth_check("$fd", "subscriber", "1")) {
 *       -8 → 403; -1 → 500; else append_to_reply("X-Auth-Rc: <rc>"); auth_challenge("$fd", "1");
 *     }
 *     consume_credentials();
 *   }
 *   REGISTER → 200; others → t_relay to routing.config.next_hop
 */
import { onRequest, Context, is_method, sl_reply, exit, setdsturi, t_relay, cfg_read, pv, append_to_reply } from "../../../../../sdk/assembly";
import { auth_check, auth_challenge, consume_credentials, AUTH_OK, AUTH_USER_MISMATCH, AUTH_ERROR, CHALLENGE_QOP_AUTH, AUTH_CHECK_ID } from "../../../../../sdk/assembly";
import { configString } from "../../../../../plugins/default/assembly/common";
import { reqinit } from "../../reqinit";

let nextHop: string | null = null;

function relay(): i32 {
  if (nextHop === null) nextHop = configString(cfg_read(), "next_hop");
  const hop = nextHop;
  if (hop === null || setdsturi(hop) < 0 || t_relay() < 0) sl_reply(500, "Server Internal Error");
  return exit();
}

onRequest((ctx: Context): i32 => {
  if (reqinit()) return exit();
  const ru = pv("$rU");
  if (is_method("OPTIONS") && ru !== null && ru == "probe") return relay();
  if (!is_method("ACK") && !is_method("CANCEL")) {
    const fd = pv("$fd");
    const realm = fd === null ? "" : fd;
    const rc = auth_check(realm, "subscriber", AUTH_CHECK_ID);
    if (rc != AUTH_OK) {
      if (rc == AUTH_USER_MISMATCH) {
        sl_reply(403, "Forbidden");
        return exit();
      }
      if (rc == AUTH_ERROR) {
        sl_reply(500, "Server Internal Error");
        return exit();
      }
      append_to_reply("X-Auth-Rc: " + rc.toString() + "\r\n");
      if (auth_challenge(realm, CHALLENGE_QOP_AUTH) != 1) sl_reply(500, "Server Internal Error");
      return exit();
    }
    consume_credentials();
  }
  if (is_method("REGISTER")) {
    sl_reply(200, "OK");
    return exit();
  }
  return relay();
});
