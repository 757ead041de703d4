/**
 * Test plugin: the htable operations of test/integration/htable/kamailio/semantics.cfg, verb by verb
 * (the R-URI user), answered 200 with the result in X-R, so the same requests can be sent to Kamailio
 * and to siphon and the answers compared. Table "a" has initval=5 on both.
 */
import { onRequest, Context, is_method, sl_reply, append_to_reply, pv, exit, drop, sht_inc, sht_dec, sht_get, sht_seti, sht_sets, sht_count_name, sht_count_value } from "../../../../../../sdk/assembly";

onRequest((ctx: Context): i32 => {
  if (is_method("ACK")) return drop();
  const v = pv("$rU");
  const verb = v !== null ? v : "";
  let r = "";
  if (verb == "inc") r = sht_inc("a", "k").toString();
  else if (verb == "getmiss") {
    const g = sht_get("a", "missing");
    r = g !== null ? g : "<null>";
  } else if (verb == "max") {
    sht_seti("a", "m", 2147483647);
    r = sht_inc("a", "m").toString();
  } else if (verb == "str") {
    sht_sets("a", "s", "abc");
    r = sht_inc("a", "s").toString();
  } else if (verb == "dec") r = sht_dec("a", "d").toString();
  else if (verb == "cnt") {
    sht_seti("a", "x1", 1);
    sht_sets("a", "x2", "v");
    r = sht_count_name("a", "re", "^x").toString() + " " + sht_count_value("a", "re", "^v").toString();
  } else if (verb == "get") {
    const g = sht_get("a", "k");
    r = g !== null ? g : "<null>";
  }
  append_to_reply("X-R: " + r);
  sl_reply(200, "OK");
  return exit();
});
