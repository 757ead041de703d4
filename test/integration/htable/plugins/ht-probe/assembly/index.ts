/**
 * Test plugin: per-user call limit with htable (kamailio.cfg style: `$shtinc(calls=>$fU)`, refuse past
 * the limit, `$shtdec` on BYE). INVITE from user U: count = sht_inc("calls", U); past LIMIT the
 * count is taken back and the call refused 486; BYE from U: sht_dec. Other methods run the htable
 * operation the R-URI user names ("get.KEY", "set.KEY.VALUE", "rm.KEY", "iter", "rmsw.PREFIX",
 * "ex.KEY.SECS"). Every reply says what the plugin saw in X-Ht headers.
 */
import {
  onRequest, Context, is_method, sl_reply, append_to_reply, pv, exit, drop,
  sht_inc, sht_dec, sht_get, sht_sets, sht_rm, sht_status, sht_iterator_start, sht_iterator_next,
  sht_iterator_key, sht_iterator_value, sht_iterator_end, sht_rm_name, sht_setex, sht_getex,
} from "../../../../../../sdk/assembly";

const LIMIT: i32 = 3;

onRequest((ctx: Context): i32 => {
  if (is_method("ACK")) return drop();
  const fu = pv("$fU");
  const user = fu !== null ? fu : "";
  if (is_method("INVITE")) {
    const n = sht_inc("calls", user);
    append_to_reply("X-Ht-Count: " + n.toString() + " " + sht_status().toString());
    if (n > LIMIT) {
      sht_dec("calls", user);
      sl_reply(486, "Busy Here");
      return exit();
    }
    sl_reply(200, "OK");
    return exit();
  }
  if (is_method("BYE")) {
    append_to_reply("X-Ht-Count: " + sht_dec("calls", user).toString());
    sl_reply(200, "OK");
    return exit();
  }
  const ru = pv("$rU");
  const op = ru !== null ? ru : "";
  const parts = op.split(".");
  const verb = parts[0];
  if (verb == "get" && parts.length == 2) {
    const v = sht_get("calls", parts[1]);
    append_to_reply("X-Ht-Value: " + (v !== null ? v : "<null>"));
  } else if (verb == "set" && parts.length == 3) {
    append_to_reply("X-Ht-Rc: " + sht_sets("calls", parts[1], parts[2]).toString());
  } else if (verb == "rm" && parts.length == 2) {
    append_to_reply("X-Ht-Rc: " + sht_rm("calls", parts[1]).toString());
  } else if (verb == "rmsw" && parts.length == 2) {
    append_to_reply("X-Ht-Rc: " + sht_rm_name("calls", "sw", parts[1]).toString());
  } else if (verb == "ex" && parts.length == 3) {
    const rc = sht_setex("calls", parts[1], I32.parseInt(parts[2]));
    append_to_reply("X-Ht-Rc: " + rc.toString() + " " + sht_getex("calls", parts[1]).toString());
  } else if (verb == "iter") {
    let items = "";
    sht_iterator_start("i1", "calls");
    let guard = 0;
    while (sht_iterator_next("i1") && guard < 100) {
      const k = sht_iterator_key("i1");
      const v = sht_iterator_value("i1");
      items += (items.length > 0 ? "," : "") + (k !== null ? k : "") + "=" + (v !== null ? v : "");
      guard++;
    }
    sht_iterator_end("i1");
    append_to_reply("X-Ht-Items: " + items);
  }
  append_to_reply("X-Ht-Version: 1");
  sl_reply(200, "OK");
  return exit();
});
