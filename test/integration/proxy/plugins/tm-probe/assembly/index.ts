/**
 * tm-probe: drives the tm/rr imports and hooks for test/integration/proxy/plugin-hooks.test.ts.
 * Its config is {"tag": "..."}: every header it adds carries the tag, so the tests can tell which
 * plugin version (instance) ran a hook.
 */
import {
  onRequest, onBranch, onReply, onFailure, Context, Action,
  t_relay, t_on_branch, t_on_reply, t_on_failure, t_reply, t_is_canceled, t_branch_index,
  record_route, loose_route, forward, has_totag, is_method, seturi, append_hf, hdr_get, cfg_read, sl_reply, exit,
} from "../../../../../../sdk/assembly";

function tag(): string {
  const cfg = cfg_read();
  const at = cfg.indexOf("\"tag\":\"");
  if (at < 0) return "none";
  const start = at + 7;
  return cfg.substring(start, cfg.indexOf("\"", start));
}

onRequest((ctx: Context): i32 => {
  if (has_totag()) {
    loose_route();
    if (is_method("ACK")) {
      forward();
      return exit();
    }
    t_relay();
    return exit();
  }
  if (is_method("INVITE")) record_route();
  t_on_branch(3);
  t_on_reply(1);
  t_on_failure(2);
  if (t_relay() < 0) sl_reply(500, "relay failed");
  return exit();
});

onBranch((ctx: Context, route: i32, branch: i32): i32 => {
  append_hf("X-Branch: " + route.toString() + " " + branch.toString() + " " + tag());
  return Action.CONTINUE;
});

onReply((ctx: Context, route: i32, code: i32): i32 => {
  append_hf("X-Reply: " + route.toString() + " " + code.toString() + " " + t_branch_index().toString() + " " + tag());
  return Action.CONTINUE;
});

onFailure((ctx: Context, route: i32): i32 => {
  if (t_is_canceled()) return exit();
  const alt = hdr_get("X-Alternate");
  if (alt !== null) {
    seturi(alt);
    // not re-armed: a failure of the alternate goes upstream as the best response
    t_relay();
    return exit();
  }
  t_reply(480, "No Alternate " + route.toString() + " " + tag());
  return exit();
});
