/**
 * Test plugin: the dialog imports one by one. Initial INVITE: dlg_manage(), set_dlg_profile
 * ("caller", $fU) and ("trunk"), $dlg_var(k) = $hdr(X-Var), dlg_setflag(3), then record_route and
 * t_relay to the R-URI (no registrar). In-dialog requests: loose_route + t_relay, with the dialog's
 * view added as X-Dlg-* headers (what the callee receives): is_in_dlg, $dlg(state), $dlg(h_id),
 * $dlg(from_tag), $dlg_var(k), dlg_isflagset(3), is_in_profile, get_profile_size, $dlg_ctx(timeout_bye),
 * and the same through pv_get ($dlg(h_id), $dlg_var(k), $dlg(to_tag)).
 * An in-dialog INFO with `X-Do: unset` unsets the trunk profile, `X-Do: bye` calls dlg_bye(3) and
 * answers 200 itself. Every reply of the INVITE carries X-Dlg-Reply: is_in_dlg() (onreply_route).
 */
import {
  onRequest, onReply, Context, is_method, has_totag, sl_reply, pv, exit, drop, append_hf,
  t_relay, t_on_reply, t_reply, record_route, loose_route,
  dlg_manage, is_in_dlg, set_dlg_profile, unset_dlg_profile, is_in_profile, get_profile_size,
  dlg_setflag, dlg_isflagset, dlg_bye, dlg, dlg_var, dlg_var_set, dlg_ctx_get, dlg_ctx_set, DLG_ALL,
} from "../../../../../../sdk/assembly";

function s(v: string | null): string {
  return v === null ? "<null>" : v;
}

onRequest((ctx: Context): i32 => {
  if (is_method("REGISTER") || is_method("OPTIONS")) {
    sl_reply(200, "OK");
    return exit();
  }
  if (has_totag()) {
    const fU = s(pv("$fU"));
    const action = pv("$hdr(X-Do)");
    if (is_method("INFO") && action == "bye") {
      const r = dlg_bye(DLG_ALL);
      t_reply(r == 1 ? 200 : 500, r == 1 ? "OK" : "No Dialog");
      return exit();
    }
    if (is_method("INFO") && action == "unset") unset_dlg_profile("trunk");
    if (!is_method("ACK")) {
      append_hf("X-Dlg-In: " + (is_in_dlg() ? "1" : "0") + " state=" + s(dlg("state")) + " h_id=" + s(dlg("h_id")) + " ftag=" + s(dlg("from_tag")));
      append_hf("X-Dlg-Var: " + s(dlg_var("k")) + " flag3=" + (dlg_isflagset(3) ? "1" : "0") + " bye=" + dlg_ctx_get("timeout_bye").toString());
      append_hf("X-Dlg-Pv: " + s(pv("$dlg(h_id)")) + " " + s(pv("$dlg_var(k)")) + " " + s(pv("$dlg(to_tag)")));
      append_hf("X-Dlg-Prof: caller=" + (is_in_profile("caller", fU) ? "1" : "0") + " trunk=" + (is_in_profile("trunk") ? "1" : "0") + " size=" + get_profile_size("trunk").toString());
    }
    if (loose_route() > 0 && t_relay() > 0) return exit();
    if (is_method("ACK")) return drop();
    sl_reply(404, "Not here");
    return exit();
  }
  if (is_method("ACK")) return drop();
  if (is_method("INVITE")) {
    const m = dlg_manage();
    if (m != 1) {
      sl_reply(m == -5 ? 503 : 500, "dlg_manage " + m.toString());
      return exit();
    }
    set_dlg_profile("caller", s(pv("$fU")));
    set_dlg_profile("trunk");
    const v = pv("$hdr(X-Var)");
    if (v !== null) dlg_var_set("k", v);
    dlg_setflag(3);
    dlg_ctx_set("timeout_bye", 1);
    record_route();
    t_on_reply(1);
  }
  if (t_relay() > 0) return exit();
  sl_reply(500, "relay failed");
  return exit();
});

onReply((ctx: Context, route: i32, code: i32): i32 => {
  append_hf("X-Dlg-Reply: " + (is_in_dlg() ? "1" : "0"));
  return exit();
});
