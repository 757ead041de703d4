/**
 * core-probe: the routing plugin of the server-core integration tests. The Request-URI user picks
 * the behaviour, so one plugin covers every pipeline path:
 *   trap    → traps (unreachable)            → the host answers 500
 *   spin    → loops forever                   → gas runs out, the host answers 500
 *   busy    → sl_reply 486                    (a stateless non-2xx: its ACK must be absorbed)
 *   relay   → returns RELAY                   → 501 (no forwarding in this version)
 *   silent  → returns CONTINUE, no reply      → dropped
 *   hdr     → append_to_reply X-Probe + 200
 *   other   → 200 OK
 * Every ACK that reaches the plugin is logged ("probe saw ACK <Call-ID>") and dropped.
 */
import { onRequest, Context, is_method, sl_reply, append_to_reply, xinfo, exit, drop, relay, pv } from "../../../../../sdk/assembly";

onRequest((ctx: Context): i32 => {
  if (is_method("ACK")) {
    xinfo("probe saw ACK $ci");
    return drop();
  }
  const user = pv("$rU");
  if (user != null) {
    if (user == "trap") unreachable();
    if (user == "spin") {
      // never terminates on its own; only the injected gas metering stops it
      let x: i32 = 1;
      while (x != 0) x = (x * 1103515245 + 12345) | 1;
    }
    if (user == "busy") {
      sl_reply(486, "Busy Here");
      return exit();
    }
    if (user == "relay") return relay();
    if (user == "silent") return 0;
    if (user == "hdr") append_to_reply("X-Probe: yes");
  }
  sl_reply(200, "OK");
  return exit();
});
