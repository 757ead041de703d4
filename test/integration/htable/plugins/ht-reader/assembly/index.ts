/**
 * Test plugin: the "next version" deployed over ht-probe by a hot swap. It only reads: every request
 * is answered 200 with the caller's count (X-Ht-Count, from the items ht-probe's version wrote) and
 * X-Ht-Version: 2.
 */
import { onRequest, Context, is_method, sl_reply, append_to_reply, pv, exit, drop, sht_get_int, sht_status } from "../../../../../../sdk/assembly";

onRequest((ctx: Context): i32 => {
  if (is_method("ACK")) return drop();
  const fu = pv("$fU");
  const n = sht_get_int("calls", fu !== null ? fu : "");
  append_to_reply("X-Ht-Count: " + n.toString() + " " + sht_status().toString());
  append_to_reply("X-Ht-Version: 2");
  sl_reply(200, "OK");
  return exit();
});
