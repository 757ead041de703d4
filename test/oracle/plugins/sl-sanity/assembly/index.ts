/**
 * Oracle plugin for sl/sanity: the equivalent of test/oracle/kamailio/sl-sanity.cfg. siphon runs the
 * sanity checks in the host before request_route (host/core/sanity.ts, the parser), so the route only
 * keeps what kamailio.cfg's REQINIT does besides sanity_check(), then relays to the next hop.
 *
 *   if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
 *   if (is_method("OPTIONS") && uri == myself && $rU == $null) { sl_send_reply("200", "Keepalive"); exit; }
 *   $du = NEXT_HOP; if (!t_relay()) sl_reply_error();
 */
import { onRequest, Context, sl_reply, exit, setdsturi, t_relay, cfg_read } from "../../../../../sdk/assembly";
import { configString } from "../../../../../plugins/default/assembly/common";
import { reqinit } from "../../reqinit";

let nextHop: string | null = null;

onRequest((ctx: Context): i32 => {
  if (reqinit()) return exit();
  if (nextHop === null) nextHop = configString(cfg_read(), "next_hop");
  const hop = nextHop;
  if (hop === null || setdsturi(hop) < 0 || t_relay() < 0) {
    sl_reply(500, "Server Internal Error");
  }
  return exit();
});
