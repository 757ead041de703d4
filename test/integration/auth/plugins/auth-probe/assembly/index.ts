/**
 * Test plugin: kamailio.cfg's AUTH block over the SDK. auth_check (auth_db) on every request but
 * ACK; on failure auth_challenge (401 / 407, stale=true after -4), or with an X-Stateful header
 * auth_append_challenge + t_reply (a stateful challenge); on success 200 with the
 * authenticated user. Every reply carries the return code (X-Auth-Rc) so a test sees what the
 * plugin saw.
 */
import {
  onRequest, Context, is_method, sl_reply, append_to_reply, pv, exit, drop,
  auth_challenge, consume_credentials, has_credentials, AUTH_STALE_NONCE, CHALLENGE_QOP_AUTH, CHALLENGE_STALE,
  auth_append_challenge, BUILD_QOP_AUTH, BUILD_STALE, t_reply, is_present_hf, auth_check,
} from "../../../../../../sdk/assembly";

onRequest((ctx: Context): i32 => {
  if (is_method("ACK")) return drop();
  const rc = auth_check("", "subscriber", 1);
  append_to_reply("X-Auth-Rc: " + rc.toString());
  if (rc < 0 && is_present_hf("X-Stateful")) {
    // the stateful form: the challenge lines on the reply, sent by t_reply (retransmissions absorbed)
    const register = is_method("REGISTER");
    auth_append_challenge("", BUILD_QOP_AUTH | (rc == AUTH_STALE_NONCE ? BUILD_STALE : 0), !register);
    t_reply(register ? 401 : 407, "");
    return exit();
  }
  if (rc < 0) {
    auth_challenge("", CHALLENGE_QOP_AUTH | (rc == AUTH_STALE_NONCE ? CHALLENGE_STALE : 0));
    return exit();
  }
  const au = pv("$au");
  append_to_reply("X-Auth-User: " + (au !== null ? au : "") + " " + (has_credentials("example.com") ? "1" : "0"));
  append_to_reply("X-Consumed: " + consume_credentials().toString() + " " + (has_credentials("example.com") ? "1" : "0"));
  sl_reply(200, "OK");
  return exit();
});
