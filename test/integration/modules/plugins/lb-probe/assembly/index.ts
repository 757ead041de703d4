/**
 * Test plugin: plugins/lb's selection (ds_select_dst(1, 4)), answered 200 with the chosen $du and
 * the failover list in X-Ds-* headers instead of relaying. `X-Next: yes` in the request also runs
 * ds_mark_dst("ip") + ds_next_dst() (the failure_route steps) and reports the new $du.
 */
import {
  onRequest, Context, is_method, sl_reply, append_to_reply, pv, hdr_get, exit, drop,
  ds_select_dst, ds_next_dst, ds_mark_dst, ds_is_from_list, ds_list_exists, ds_dst_count, ds_current_set, ds_current_uri,
} from "../../../../../../sdk/assembly";

onRequest((ctx: Context): i32 => {
  if (is_method("ACK")) return drop();
  const r = ds_select_dst(1, 4);
  append_to_reply("X-Ds-Select: " + r.toString());
  const du = pv("$du");
  append_to_reply("X-Ds-Du: " + (du !== null ? du : "<null>"));
  append_to_reply("X-Ds-Count: " + ds_dst_count().toString() + " set=" + ds_current_set().toString());
  const cur = ds_current_uri();
  append_to_reply("X-Ds-Current: " + (cur !== null ? cur : "<null>"));
  append_to_reply("X-Ds-Exists: " + ds_list_exists(1).toString() + " " + ds_list_exists(9).toString());
  append_to_reply("X-Ds-From-List: " + ds_is_from_list().toString() + " " + ds_is_from_list(1).toString());
  const next = hdr_get("X-Next");
  if (next !== null && next == "yes") {
    append_to_reply("X-Ds-Mark: " + ds_mark_dst("ip").toString());
    append_to_reply("X-Ds-Next: " + ds_next_dst().toString());
    const du2 = pv("$du");
    append_to_reply("X-Ds-Du2: " + (du2 !== null ? du2 : "<null>"));
  }
  sl_reply(200, "OK");
  return exit();
});
