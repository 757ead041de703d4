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
