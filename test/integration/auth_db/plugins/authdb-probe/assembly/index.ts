/**
 * authdb-probe: the routing plugin of the auth_db node tests. REGISTER: auth_check("", "subscriber", 1);
 * other requests: proxy_authorize("", "subscriber"). The answer carries the code in X-Auth-Rc:
 *   1 → 200, -1 → 500 (fail closed), -8 → 403, anything else → auth_challenge (401 / 407, qop=auth).
 * ACKs are dropped.
 */
import { onRequest, Context, is_method, sl_reply, append_to_reply, exit, drop, auth_check, proxy_authorize, auth_challenge } from "../../../../../../sdk/assembly";

onRequest((ctx: Context): i32 => {
  if (is_method("ACK")) return drop();
  const rc = is_method("REGISTER") ? auth_check("", "subscriber", 1) : proxy_authorize("", "subscriber");
  append_to_reply("X-Auth-Rc: " + rc.toString());
  if (rc == 1) {
    sl_reply(200, "OK");
    return exit();
  }
  if (rc == -1) {
    sl_reply(500, "Server Internal Error");
    return exit();
  }
  if (rc == -8) {
    sl_reply(403, "Forbidden");
    return exit();
  }
  auth_challenge("", 1);
  return exit();
});
