/**
 * Test plugin: editing messages (ABI 1.3, namespaces textops and sdpops).
 * - INVITE: G729 removed from the SDP, a=sendrecv → a=sendonly, a=ice-* lines dropped, the
 *   User-Agent's comment cut, X-Internal-* headers removed, the R-URI user's +1 → 001; the return
 *   codes go out in X-Edit-Rc; relayed to the R-URI.
 * - MESSAGE: answered 200 with a text/plain body naming the codes of search_body / search_hf
 *   (by t_reply when it has an X-Stateful header, else by sl_reply).
 * - OPTIONS: searches the body with the pattern in X-Pattern (the pathological-pattern test), and
 *   answers 200 with the result as its reason.
 */
import {
  onRequest, Context, is_method, sl_reply, pv, exit, relay, drop, append_hf, t_reply,
  has_body, subst_body, subst_hf, subst_user, remove_hf_re, search_body, search_hf, set_reply_body, get_body,
  sdp_remove_codecs_by_name, sdp_remove_line_by_prefix, sdp_with_media, sdp_get_line_startswith,
} from "../../../../../../sdk/assembly";

onRequest((ctx: Context): i32 => {
  if (is_method("INVITE")) {
    let rc = "";
    rc += has_body("application/sdp").toString() + ",";
    rc += sdp_with_media("audio").toString() + ",";
    rc += sdp_remove_codecs_by_name("G729").toString() + ",";
    rc += subst_body("/^a=sendrecv$/a=sendonly/s").toString() + ",";
    rc += sdp_remove_line_by_prefix("a=ice-").toString() + ",";
    rc += subst_hf("User-Agent", "/ \\(.*\\)$//", "f").toString() + ",";
    rc += remove_hf_re("^X-Internal-").toString() + ",";
    rc += subst_user("/^\\+1/001/").toString();
    const c = sdp_get_line_startswith("c=");
    append_hf("X-Edit-Rc: " + rc);
    append_hf("X-Edit-C: " + (c === null ? "none" : c!));
    return relay();
  }
  if (is_method("MESSAGE")) {
    const b = get_body();
    const text = "search_body=" + search_body("^hello").toString() + " search_hf=" + search_hf("Subject", "urgent").toString() +
      " len=" + (b === null ? "0" : b!.length.toString());
    set_reply_body(text, "text/plain");
    // X-Stateful: the body goes into tm's reply (t_reply) instead of sl's
    if (pv("$hdr(X-Stateful)") !== null) {
      t_reply(200, "Stateful");
      return drop();
    }
    sl_reply(200, "OK");
    return exit();
  }
  if (is_method("OPTIONS")) {
    const p = pv("$hdr(X-Pattern)");
    const r = search_body(p === null ? "" : p!);
    sl_reply(200, "search=" + r.toString());
    return exit();
  }
  sl_reply(501, "Not Implemented");
  return exit();
});
