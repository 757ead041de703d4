/**
 * Oracle plugin for registrar/usrloc: the equivalent of test/oracle/kamailio/registrar.cfg.
 *
 *   if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
 *   if (is_method("OPTIONS") && uri == myself && $rU == $null) { sl_send_reply("200", "Keepalive"); exit; }
 *   if (is_method("OPTIONS") && $rU == "probe") { $du = NEXT_HOP; t_relay(); exit; }
 *   if (is_method("REGISTER")) { save(TABLE); exit; }          # TABLE: own, or "location" when shared
 *   lookup(TABLE); -2 → 405, other < 0 → 404; t_relay()
 *
 * The own table is routing.config.table ("location_s"); "X-Oracle-Table: shared" selects "location",
 * which Kamailio uses too.
 */
import { onRequest, Context, is_method, sl_reply, exit, setdsturi, t_relay, cfg_read, pv, hdr_get, save, lookup } from "../../../../../sdk/assembly";
import { configString } from "../../../../../plugins/default/assembly/common";
import { reqinit } from "../../reqinit";

let nextHop: string | null = null;
let ownTable: string | null = null;

function table(): string {
  const h = hdr_get("X-Oracle-Table");
  if (h !== null && h == "shared") return "location";
  if (ownTable === null) ownTable = configString(cfg_read(), "table");
  const t = ownTable;
  return t === null ? "location_s" : t;
}

function relayTo(hop: string | null): i32 {
  if ((hop !== null && setdsturi(hop) < 0) || t_relay() < 0) sl_reply(500, "Server Internal Error");
  return exit();
}

onRequest((ctx: Context): i32 => {
  if (reqinit()) return exit();
  if (nextHop === null) nextHop = configString(cfg_read(), "next_hop");
  const ru = pv("$rU");
  if (is_method("OPTIONS") && ru !== null && ru == "probe") return relayTo(nextHop);
  if (is_method("REGISTER")) {
    // save() answers the REGISTER itself (200 with the bindings, 400, 423, 503, 500)
    save(table());
    return exit();
  }
  const rc = lookup(table());
  if (rc == -2) {
    sl_reply(405, "Method Not Allowed");
    return exit();
  }
  if (rc < 0) {
    sl_reply(404, "Not Found");
    return exit();
  }
  return relayTo(null);
});
