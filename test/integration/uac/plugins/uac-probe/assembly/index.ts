/**
 * Test plugin: uac, rr parameters, message flags and AVPs (test/integration/uac).
 *
 * In-dialog requests: loose_route() (the host restores From / To from the Route's vsf / vst), then
 * `X-Dir: <is_direction downstream?>` and `X-Probe: <check_route_param("probe=1")>` are appended and
 * the request relayed. Initial requests, by X-Mode:
 *   norr     uac_replace_from without record_route(): 403 "uac=<rc>"
 *   sl       record_route(), uac_replace_from(), then a stateless 486 "sl uac=<rc>"
 *   avp      pushes $avp(n) until refused: 200 "avp=<count> rc=<last rc> x=<xavp field>"
 *   (other)  record_route(); add_rr_param(";probe=1"); uac_replace_from(X-From-Display, X-From-Uri)
 *            and, with X-To-Uri, uac_replace_to("", X-To-Uri); setflag(3), $avp(a) = 1 then 2,
 *            $xavp(x=>k) = v; t_on_reply(1), t_on_failure(2), t_relay().
 * onreply_route logs "probe reply mf=$mf a=$avp(a) n=$cnt($avp(a)) x=$xavp(x=>k)"; failure_route
 * answers 500 "f=<isflagset(3)> a=<$avp(a)> a1=<$(avp(a)[1])> n=<count> x=<xavp>".
 */
import {
  onRequest, onReply, onFailure, Context, pv, sl_reply, exit, has_totag, append_hf, xlog, L_INFO,
  record_route, loose_route, t_relay, t_on_reply, t_on_failure, t_reply,
  add_rr_param, check_route_param, is_direction,
  uac_replace_from, uac_replace_to,
  setflag, isflagset, avp_set, avp_get, avp_get_index, avp_count, xavp_add, xavp_get,
} from "../../../../../../sdk/assembly";

function hdr(name: string): string {
  const v = pv("$hdr(" + name + ")");
  return v === null ? "" : v;
}

onRequest((ctx: Context): i32 => {
  if (has_totag()) {
    loose_route();
    append_hf("X-Dir: " + (is_direction("downstream") ? "downstream" : is_direction("upstream") ? "upstream" : "unknown"));
    append_hf("X-Probe: " + (check_route_param("probe=1") ? "yes" : "no"));
    t_relay();
    return exit();
  }
  const mode = hdr("X-Mode");
  if (mode == "norr") {
    sl_reply(403, "uac=" + uac_replace_from("", "sip:anon@anon.invalid").toString());
    return exit();
  }
  if (mode == "sl") {
    record_route();
    const rc = uac_replace_from("Anon", "sip:anon@anon.invalid");
    sl_reply(486, "sl uac=" + rc.toString());
    return exit();
  }
  if (mode == "avp") {
    let n = 0;
    let rc = 0;
    const big = "v".repeat(300);
    while (n < 1000) {
      rc = avp_set("n", big);
      if (rc < 0) break;
      n++;
    }
    const x = xavp_add("x", "k", "v");
    sl_reply(200, "avp=" + n.toString() + " rc=" + rc.toString() + " x=" + x.toString() + " cnt=" + avp_count("n").toString());
    return exit();
  }
  record_route();
  add_rr_param(";probe=1");
  const fu = hdr("X-From-Uri");
  if (fu.length > 0 && uac_replace_from(hdr("X-From-Display"), fu) < 0) {
    sl_reply(500, "replace failed");
    return exit();
  }
  const tu = hdr("X-To-Uri");
  if (tu.length > 0 && uac_replace_to("", tu) < 0) {
    sl_reply(500, "replace to failed");
    return exit();
  }
  setflag(3);
  avp_set("a", "1");
  avp_set("a", "2");
  xavp_add("x", "k", "v");
  t_on_reply(1);
  t_on_failure(2);
  t_relay();
  return exit();
});

onReply((ctx: Context, route: i32, code: i32): i32 => {
  xlog(L_INFO, "probe reply mf=$mf a=$avp(a) n=$cnt($avp(a)) x=$xavp(x=>k)");
  return exit();
});

onFailure((ctx: Context, route: i32): i32 => {
  const a = avp_get("a");
  const a1 = avp_get_index("a", 1);
  const x = xavp_get("x", "k");
  t_reply(500, "f=" + (isflagset(3) ? "1" : "0") + " a=" + (a === null ? "null" : a!) + " a1=" + (a1 === null ? "null" : a1!) +
    " n=" + avp_count("a").toString() + " x=" + (x === null ? "null" : x!));
  return exit();
});
