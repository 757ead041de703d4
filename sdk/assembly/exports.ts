/**
 * The ABI entry points of siphon plugin ABI v1 (docs/abi/v1.md, "Exports").
 *
 * This file is an entry file of every plugin build (scripts/build-plugins.mjs compiles it together
 * with plugins/<name>/assembly/index.ts), so every plugin exports exactly these functions and a
 * plugin author cannot forget one. They dispatch to the handlers registered with onRequest()/onInit().
 */
import { ABI_MINOR } from "./types";
import { runInit, runRequest, hasInitHandler, runBranch, runReply, runFailure } from "./hooks";
import { readConfig } from "./index";

/** ABI marker: the host checks that it is exported and never calls it. */
export function sip_abi_v1(): void {}

/** The minor ABI version this plugin was built against. */
export function sip_abi_minor(): i32 {
  return ABI_MINOR;
}

/**
 * Runs once per loaded plugin version, after instantiation. 0 accepts the plugin; anything else
 * (or a trap) makes the host refuse it. `cfg_len` is the byte length of the config JSON.
 */
export function plugin_init(cfg_len: i32): i32 {
  if (!hasInitHandler()) return 0;
  return runInit(cfg_len > 0 ? readConfig() : "");
}

/** Called for every request that reaches routing; returns an Action. */
export function request_route(ctx: i32): i32 {
  return runRequest(ctx);
}

// ---- tm hooks (ABI 1.1): optional for the host, exported by every SDK plugin ----------------------

/** Runs for each outgoing branch armed with t_on_branch(route), before it is sent; returns an Action (DROP discards the branch). */
export function branch_route(ctx: i32, route: i32, branch: i32): i32 {
  return runBranch(ctx, route, branch);
}

/** Runs for every reply of a transaction armed with t_on_reply(route); returns an Action (DROP stops a provisional). */
export function onreply_route(ctx: i32, route: i32, code: i32): i32 {
  return runReply(ctx, route, code);
}

/** Runs when every branch of a transaction armed with t_on_failure(route) failed; returns an Action. */
export function failure_route(ctx: i32, route: i32): i32 {
  return runFailure(ctx, route);
}
