/**
 * Handler registration: a plugin registers plain functions at top level
 *
 *   onRequest((ctx: Context): Action => { ... return Action.CONTINUE; });
 *
 * and the SDK's entry points (./exports.ts, compiled into every plugin by the build) call them.
 * Handlers must not capture local variables (AssemblyScript has no closures); module-level state is fine.
 */
import { Action } from "./types";

/** The message a hook runs for. One instance is reused for every call: keep no reference to it. */
export class Context {
  /** The host's context handle for this message (the `ctx` argument of the hook). */
  id: i32 = 0;
  /** True once sl_reply() succeeded in this hook; exit() turns it into Action.REPLIED. */
  replied: bool = false;
}

/** Handler of `request_route`: returns an Action (or the value of exit() / drop()). */
export type RequestHandler = (ctx: Context) => i32;
/** Handler of `plugin_init`: receives the config JSON; 0 accepts the plugin, anything else refuses it. */
export type InitHandler = (config: string) => i32;

let requestHandler: RequestHandler | null = null;
let initHandler: InitHandler | null = null;

/** The reused Context of the hook being run. */
export const current: Context = new Context();

/** Per-hook caches reset by beginHook() (see index.ts: the method is read once per message). */
export let hookSerial: u32 = 0;

/** Registers the request_route handler (Kamailio `request_route { ... }`). A second call replaces the first. */
export function onRequest(handler: RequestHandler): void {
  requestHandler = handler;
}

/** Registers the plugin_init handler, run once per loaded version before any message. */
export function onInit(handler: InitHandler): void {
  initHandler = handler;
}

/** @internal Called by exports.ts before each hook. */
export function beginHook(ctx: i32): void {
  current.id = ctx;
  current.replied = false;
  hookSerial++;
}

/** @internal request_route dispatch; no handler registered means "continue". */
export function runRequest(ctx: i32): i32 {
  beginHook(ctx);
  const handler = requestHandler;
  if (handler === null) return Action.CONTINUE;
  return handler(current);
}

/** @internal plugin_init dispatch; no handler registered accepts the plugin. */
export function runInit(config: string): i32 {
  const handler = initHandler;
  if (handler === null) return 0;
  return handler(config);
}

/** @internal true when plugin_init must read the config (only when a handler wants it). */
export function hasInitHandler(): bool {
  return initHandler !== null;
}

// ---- tm hooks (ABI 1.1) ---------------------------------------------------------------------------

/** Handler of `branch_route`: `route` is the id given to t_on_branch(); DROP discards the branch. */
export type BranchHandler = (ctx: Context, route: i32, branch: i32) => i32;
/** Handler of `onreply_route`: `code` is the reply status; DROP stops forwarding a provisional. */
export type ReplyHandler = (ctx: Context, route: i32, code: i32) => i32;
/** Handler of `failure_route`: may t_relay() again (serial forking) or t_reply(). */
export type FailureHandler = (ctx: Context, route: i32) => i32;

let branchHandler: BranchHandler | null = null;
let replyHandler: ReplyHandler | null = null;
let failureHandler: FailureHandler | null = null;

/** Registers the branch_route handler (Kamailio `branch_route[name]`, armed with t_on_branch). */
export function onBranch(handler: BranchHandler): void {
  branchHandler = handler;
}

/** Registers the onreply_route handler (Kamailio `onreply_route[name]`, armed with t_on_reply). */
export function onReply(handler: ReplyHandler): void {
  replyHandler = handler;
}

/** Registers the failure_route handler (Kamailio `failure_route[name]`, armed with t_on_failure). */
export function onFailure(handler: FailureHandler): void {
  failureHandler = handler;
}

/** @internal branch_route dispatch; no handler means "continue" (the branch is sent). */
export function runBranch(ctx: i32, route: i32, branch: i32): i32 {
  beginHook(ctx);
  const handler = branchHandler;
  if (handler === null) return Action.CONTINUE;
  return handler(current, route, branch);
}

/** @internal onreply_route dispatch. */
export function runReply(ctx: i32, route: i32, code: i32): i32 {
  beginHook(ctx);
  const handler = replyHandler;
  if (handler === null) return Action.CONTINUE;
  return handler(current, route, code);
}

/** @internal failure_route dispatch. */
export function runFailure(ctx: i32, route: i32): i32 {
  beginHook(ctx);
  const handler = failureHandler;
  if (handler === null) return Action.CONTINUE;
  return handler(current, route);
}
