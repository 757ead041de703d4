/**
 * Test plugin: the rtpengine imports on a stateful relay to the R-URI.
 * INVITE: rtpengine_offer($hdr(X-Rtp-Flags)) (rtpengine_manage when X-Rtp-Mode is "manage"), its
 * return code added as `X-Rtp-Rc`, t_on_reply(1), t_relay(). BYE: rtpengine_delete (or manage),
 * relayed. Other in-dialog requests (ACK): relayed. onreply_route 1: 18x/2xx → rtpengine_answer
 * (or manage), >= 300 → rtpengine_delete; the reply carries `X-Rtp-Rc` with the code.
 */
import {
  onRequest, onReply, Context, Action, is_method, has_totag, pv, append_hf, exit, drop, sl_reply,
  t_relay, t_on_reply, rtpengine_offer, rtpengine_answer, rtpengine_manage, rtpengine_delete,
} from "../../../../../../sdk/assembly";

function flags(): string {
  const f = pv("$hdr(X-Rtp-Flags)");
  return f === null ? "" : f;
}

function manage(): bool {
  const m = pv("$hdr(X-Rtp-Mode)");
  return m !== null && m == "manage";
}

onRequest((ctx: Context): i32 => {
  let rc: i32 = 0;
  if (is_method("INVITE")) {
    rc = manage() ? rtpengine_manage(flags()) : rtpengine_offer(flags());
    t_on_reply(1);
  } else if (is_method("BYE")) {
    rc = manage() ? rtpengine_manage(flags()) : rtpengine_delete(flags());
  } else if (is_method("ACK")) {
    if (manage()) rc = rtpengine_manage(flags());
  }
  if (rc != 0) append_hf("X-Rtp-Rc: " + rc.toString() + "\r\n");
  if (t_relay() > 0) return exit();
  if (is_method("ACK")) return drop();
  sl_reply(500, "Cannot Relay");
  return exit();
});

onReply((ctx: Context, route: i32, code: i32): i32 => {
  let rc: i32 = 0;
  if (code >= 300) rc = manage() ? rtpengine_manage(flags()) : rtpengine_delete(flags());
  else if (code >= 180) rc = manage() ? rtpengine_manage(flags()) : rtpengine_answer(flags());
  if (rc != 0) append_hf("X-Rtp-Rc: " + rc.toString() + "\r\n");
  return Action.CONTINUE;
});
