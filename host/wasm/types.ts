/**
 * The contract between the message pipeline and the Wasm plugin runtime.
 */
import type { Action, MessageContext } from '../core/context.js';

export interface PluginLimits {
  /** maximum linear memory in 64 KiB pages (default 256 = 16 MiB). */
  memoryMaxPages: number;
  /** gas budget per hook call (default 2,000,000 units). */
  gasPerHook: number;
  /** gas budget for plugin_init. */
  gasInit: number;
  /** wall-clock bound of one hook call in ms, enforced by the watchdog independently of gas (default 100). */
  hookTimeoutMs: number;
  /** wall-clock bound of instantiation (start function + plugin_init) in ms (default 1000). */
  initTimeoutMs: number;
  // ---- sandbox limits (routing.limits; docs/abi/v1.md "Limits"; host/wasm/budget.ts) ----
  /** load: largest module file (bytes; routing.max_module_bytes, the same bound plugin.load applies). */
  moduleMaxBytes: number;
  /** load: most functions (defined + imported). */
  functionsMax: number;
  /** load: most tables, and most elements per table (table maximums are rewritten to this). */
  tablesMax: number;
  tableMaxElements: number;
  /** load: most bytes in the data section. */
  dataMaxBytes: number;
  /** load: most globals. */
  globalsMax: number;
  /** load: the metering child is killed past this (ms). */
  meteringTimeoutMs: number;
  /** run: host memory budgets (budget.ts HostBudgets). */
  nameMaxBytes: number;
  valueMaxBytes: number;
  globalVarsMax: number;
  globalVarsMaxBytes: number;
  msgVarsMax: number;
  msgVarsMaxBytes: number;
  msgEditMaxBytes: number;
  logLineMaxBytes: number;
  logLinesMax: number;
}

export interface PluginInfo {
  name: string;
  version: string;
  sha256: string;
  path: string;
  loadedAt: Date;
  /** the capabilities this version runs with (declared and granted; host/wasm/capabilities.ts). (additive) */
  capabilities?: readonly string[];
}

export interface PluginStats {
  calls: number;
  traps: number;
  gasExhausted: number;
  aborts: number;
  instanceRebuilds: number;
  gasUsedTotal: number;
  /** hook calls the wall-clock guard stopped (routing.hook_timeout_ms). */
  timeouts: number;
}

/** One loaded plugin version with its live instance. Never throws from a hook call. */
export interface LoadedPlugin {
  readonly info: PluginInfo;
  readonly stats: PluginStats;
  /**
   * Runs `request_route(ctx)`. On a trap, abort or exhausted gas: logs (plugin name@version, hook,
   * Call-ID), counts, replaces the instance from the compiled module, and returns Action.ERROR.
   */
  requestRoute(ctx: MessageContext): Action;
  /**
   * tm hooks (ABI 1.1, additive; optional so other LoadedPlugin implementations stay valid). Each
   * runs the plugin's export of the same name when it has one (else CONTINUE), with the failure
   * policy of request_route (Action.ERROR on a trap, abort or exhausted gas).
   */
  branchRoute?(ctx: MessageContext, route: number, branch: number): Action;
  onReplyRoute?(ctx: MessageContext, route: number, code: number): Action;
  failureRoute?(ctx: MessageContext, route: number): Action;
  /** releases the instance. */
  close(): void;
}

/**
 * What a host import implementation may use. Modules (secfilter, dispatcher, tm, registrar) add
 * their own import namespace by handing the runtime an ImportProvider; the runtime links it for
 * every plugin that imports from that namespace.
 */
export interface HostCallApi {
  /** the context of the hook being run, or null (e.g. during plugin_init). */
  current(): MessageContext | null;
  /** the hook being run ('request_route', 'plugin_init', ...), for capability checks. */
  hook(): string;
  /** reads UTF-8 (ptr, len) from guest memory; null when out of bounds. */
  readString(ptr: number, len: number): string | null;
  /** writes `value` into the guest buffer (out, cap) snprintf-style; returns the full byte length, or -3 when out of bounds. */
  writeString(out: number, cap: number, value: string): number;
  /** charges extra gas for host work proportional to its size. */
  charge(units: number): void;
  /**
   * reserves `bytes` of the running message's edit budget (routing.limits.msg_edit_max_bytes, shared
   * with sip.hdr_add & co); false when over it (the refusal is logged once, E4041) or outside a
   * message. Optional: APIs without it set no budget. (additive, textops)
   */
  spendEdit?(bytes: number): boolean;
}

export interface ImportProvider {
  /** the Wasm import namespace, e.g. 'secfilter'. */
  namespace: string;
  /** the functions of that namespace; they must never throw (return a negative status instead). */
  functions(api: HostCallApi): Record<string, (...args: never[]) => number | bigint | void>;
  /**
   * pseudo-variables the module serves to `sip.pv_get` and `sip.xlog` (`$sht` from htable,
   * host/core/pv.ts ModulePvs); must never throw. (additive, htable)
   */
  readonly pv?: import('../core/pv.js').ModulePvs;
}

// ---- additions by the runtime (additive) --------------------------------------------------------

/** Defaults applied to the limits a caller leaves out (docs/abi/v1.md "Module shape"). */
export const DEFAULT_PLUGIN_LIMITS: Readonly<PluginLimits> = {
  memoryMaxPages: 256,
  gasPerHook: 2_000_000,
  gasInit: 10_000_000,
  hookTimeoutMs: 100,
  initTimeoutMs: 1000,
  moduleMaxBytes: 8 * 1024 * 1024,
  functionsMax: 10_000,
  tablesMax: 4,
  tableMaxElements: 10_000,
  dataMaxBytes: 1024 * 1024,
  globalsMax: 1000,
  meteringTimeoutMs: 60_000,
  nameMaxBytes: 256,
  valueMaxBytes: 64 * 1024,
  globalVarsMax: 10_000,
  globalVarsMaxBytes: 1024 * 1024,
  msgVarsMax: 256,
  msgVarsMaxBytes: 128 * 1024,
  msgEditMaxBytes: 65_535,
  logLineMaxBytes: 4096,
  logLinesMax: 100,
};

/** What the server hands to `loadPlugin()` (host/wasm/runtime.ts). */
export interface LoadPluginOptions {
  /** overrides of DEFAULT_PLUGIN_LIMITS. */
  limits?: Partial<PluginLimits>;
  /** `routing.config`: serialized once as JSON and served to the plugin by `sip.cfg_read`. */
  config?: unknown;
  /** logger for load-time and plugin_init messages; hooks log through ctx.log. */
  log: import('pino').Logger;
  /**
   * Kamailio's check_self: true when host[:port] is one of our listen addresses or aliases. `port`
   * is undefined when the URI carries none (the callee decides whether that means 5060/5061).
   * Used by `sip.is_myself`; without it is_myself answers -1.
   */
  isMyself?: (host: string, port: number | undefined) => boolean;
  /** extra import namespaces offered by modules (secfilter, dispatcher ...). */
  providers?: readonly ImportProvider[];
  /** upper limit of Max-Forwards enforced by `sip.maxfwd_process` (Kamailio maxfwd `max_limit`, default 70). */
  maxForwardsLimit?: number;
  /**
   * what config grants this plugin (host/wasm/capabilities.ts) and the key holding it, for refusals;
   * default: every capability the plugin declares (the operator's own routing.plugin).
   */
  grants?: import('./loader.js').GrantOptions;
}
