/**
 * One loaded plugin version and its live instance (wasm-host.md §7.1 lifecycle).
 *
 * - One long-lived instance per plugin version, never one per message (~80 µs each).
 * - The host creates the memory (`env.memory`, capped at memoryMaxPages).
 * - The start function and `plugin_init(cfg_len)` run under the init gas budget.
 * - Each hook call resets `__gas` to the per-hook budget and runs in try/catch, under the wall-clock
 *   guard (watchdog/: stopped past `hookTimeoutMs` even if metering were wrong). A trap, a stack
 *   overflow, an abort, exhausted gas or a timeout poisons the instance (an AssemblyScript instance that trapped
 *   is not safe to reuse: its shadow stack pointer is not restored, wasm-host.md §4.1): it is logged
 *   and counted, a pre-instantiated spare takes over at once, and a new spare is built off the hot
 *   path (setImmediate). GLOBAL variables live host-side and survive the swap.
 */
import type { Logger } from 'pino';
import { Action, type MessageContext } from '../core/context.js';
import type { ModulePvs } from '../core/pv.js';
import { SiphonError, type ErrorName } from '../errors/registry.js';
import {
  createEnvImports, createHostCallApi, createProviderImports, createSipImports, PluginAbort,
  type AbiHost, type GasCounter, type GasHandle,
} from './abi-v1.js';
import { GuestMemory } from './guest-memory.js';
import { hookGuard, isHookTimeout, type HookGuard } from './watchdog/index.js';
import { GAS_CHARGE, GAS_GET, GAS_SET } from './metering.js';
import { HOST_ABI_MINOR, type ValidatedPlugin } from './loader.js';
import { RELAY_CAPABILITY } from './capabilities.js';
import type { ImportProvider, LoadedPlugin, PluginInfo, PluginLimits, PluginStats } from './types.js';

/** A live instance and the handles the hot path needs. */
interface LiveInstance {
  readonly requestRoute: (ctx: number) => number;
  /** optional tm hooks (ABI 1.1, docs/abi/v1.md "Namespaces tm and rr" / Hooks); null when not exported. */
  readonly branchRoute: ((ctx: number, route: number, branch: number) => number) | null;
  readonly onReplyRoute: ((ctx: number, route: number, code: number) => number) | null;
  readonly failureRoute: ((ctx: number, route: number) => number) | null;
  /** the gas counter accessors the metering pass exports. */
  readonly gas: GasCounter;
  readonly memory: WebAssembly.Memory;
}

/** tm hook kinds (runTmHook). */
const TM_BRANCH = 0;
const TM_REPLY = 1;
const TM_FAILURE = 2;

/** Why a hook call failed, for logs and counters. */
export type FailureClass = 'trap' | 'stack-overflow' | 'abort' | 'gas' | 'timeout' | 'host-error';

export interface PluginFailure {
  errorClass: FailureClass;
  hook: string;
  message: string;
  gasUsed: number;
}

export interface WasmPluginOptions {
  limits: PluginLimits;
  log: Logger;
  config: Buffer;
  isMyself?: (host: string, port: number | undefined) => boolean;
  providers: readonly ImportProvider[];
  maxForwardsLimit: number;
}

export class WasmPlugin implements LoadedPlugin, AbiHost {
  readonly info: PluginInfo;
  readonly stats: PluginStats = { calls: 0, traps: 0, gasExhausted: 0, aborts: 0, instanceRebuilds: 0, gasUsedTotal: 0, timeouts: 0 };
  readonly label: string;
  readonly log: Logger;
  readonly globals = new Map<string, string>();
  readonly config: Buffer;
  readonly isMyself?: (host: string, port: number | undefined) => boolean;
  readonly maxForwardsLimit: number;
  /** the providers' pseudo-variables (`$sht`) for pv_get and xlog (AbiHost). */
  readonly modulePvs: ModulePvs;
  /** the last hook failure, for tests and `siphon plugin` diagnostics. */
  lastFailure: PluginFailure | null = null;

  /** the limits it runs under (AbiHost: the host memory budgets come from here). */
  readonly limits: PluginLimits;
  private readonly providers: readonly ImportProvider[];
  private active: LiveInstance | null = null;
  private spare: LiveInstance | null = null;
  private spareScheduled = false;
  private warnedUnknownAction = false;
  /** the RELAY action is this plugin's to return (capability `relay`, capabilities.ts). */
  private readonly relayGranted: boolean;
  private warnedRelay = false;
  private closed = false;
  private runningCtx: MessageContext | null = null;
  private runningHook = 'none';
  private readonly guard: HookGuard = hookGuard();

  private constructor(private readonly plugin: ValidatedPlugin, opts: WasmPluginOptions) {
    this.limits = opts.limits;
    this.providers = opts.providers;
    this.modulePvs = Object.assign({}, ...opts.providers.map((p) => p.pv ?? {})) as ModulePvs;
    this.config = opts.config;
    this.isMyself = opts.isMyself;
    this.maxForwardsLimit = opts.maxForwardsLimit;
    this.info = { name: plugin.name, version: plugin.version, sha256: plugin.sha256, path: plugin.path, loadedAt: new Date(), capabilities: plugin.capabilities };
    this.relayGranted = plugin.capabilities.includes(RELAY_CAPABILITY);
    this.label = `${plugin.name}@${plugin.version}`;
    this.log = opts.log.child({ plugin: this.label });
    if (!this.guard.available) warnGuardUnavailable(this.log, this.guard.reason);
  }

  /**
   * Instantiates the first instance (start + plugin_init under the init budget) and a spare.
   * Throws SiphonError PLUGIN_ABI / PLUGIN_INIT when the plugin refuses or fails to start.
   */
  static create(plugin: ValidatedPlugin, opts: WasmPluginOptions): WasmPlugin {
    const p = new WasmPlugin(plugin, opts);
    p.active = p.instantiate();
    p.spare = p.tryInstantiate();
    return p;
  }

  // AbiHost -------------------------------------------------------------------------------------
  current(): MessageContext | null {
    return this.runningCtx;
  }

  hook(): string {
    return this.runningHook;
  }

  // LoadedPlugin --------------------------------------------------------------------------------
  requestRoute(ctx: MessageContext): Action {
    let inst = this.active;
    if (inst === null) {
      if (this.closed) return Action.ERROR;
      inst = this.active = this.spare ?? this.tryInstantiate();
      this.spare = null;
      if (inst === null) return Action.ERROR;
      this.scheduleSpare();
    }
    this.stats.calls++;
    const budget = this.limits.gasPerHook;
    const gas = inst.gas;
    gas.set(budget);
    this.runningCtx = ctx;
    this.runningHook = 'request_route';
    let result: number;
    try {
      result = this.guard.call(this.limits.hookTimeoutMs, inst.requestRoute, ctx.id) as number;
    } catch (err) {
      this.runningCtx = null;
      this.runningHook = 'none';
      this.onHookFailure(inst, err, ctx, 'request_route', budget);
      return Action.ERROR;
    }
    this.runningCtx = null;
    this.runningHook = 'none';
    this.stats.gasUsedTotal += budget - gas.get();
    if (result >= Action.CONTINUE && result < Action.RELAY) return result as Action;
    if (result === Action.RELAY && this.relayGranted) return Action.RELAY;
    return this.unusualAction(result, ctx);
  }

  /**
   * docs/abi/v1.md "Actions": a negative action is an error (failure policy, instance kept);
   * SUSPEND is reserved and treated as an error by v1.0 hosts; any other positive value counts as
   * CONTINUE and is logged once per plugin version.
   */
  private unusualAction(result: number, ctx: MessageContext): Action {
    if (result === Action.RELAY) {
      // capabilities.ts: RELAY needs `relay`; answered like an error action (500), logged once per version
      if (!this.warnedRelay) {
        this.warnedRelay = true;
        const e = new SiphonError('PLUGIN_RELAY_REFUSED', 'request_route returned RELAY, but the relay capability is not granted to this plugin (answered 500; logged once)', { where: this.label });
        ctx.log.warn({ code: e.code, plugin: this.label, hook: 'request_route' }, e.message);
      }
      return Action.ERROR;
    }
    if (result < 0) {
      ctx.log.warn({ plugin: this.label, hook: 'request_route', result }, 'plugin returned an error action');
      return Action.ERROR;
    }
    if (result === Action.SUSPEND) {
      ctx.log.warn({ plugin: this.label, hook: 'request_route' }, 'SUSPEND is reserved in ABI v1.0; treated as an error');
      return Action.ERROR;
    }
    if (!this.warnedUnknownAction) {
      this.warnedUnknownAction = true;
      ctx.log.warn({ plugin: this.label, hook: 'request_route', result }, 'unknown action treated as CONTINUE (logged once)');
    }
    return Action.CONTINUE;
  }

  // tm hooks (ABI 1.1) ---------------------------------------------------------------------------

  /** `branch_route(ctx, route, branch)`; CONTINUE when the plugin does not export it. */
  branchRoute(ctx: MessageContext, route: number, branch: number): Action {
    return this.runTmHook(TM_BRANCH, ctx, route, branch);
  }

  /** `onreply_route(ctx, route, code)`; CONTINUE when the plugin does not export it. */
  onReplyRoute(ctx: MessageContext, route: number, code: number): Action {
    return this.runTmHook(TM_REPLY, ctx, route, code);
  }

  /** `failure_route(ctx, route)`; CONTINUE when the plugin does not export it. */
  failureRoute(ctx: MessageContext, route: number): Action {
    return this.runTmHook(TM_FAILURE, ctx, route, 0);
  }

  /**
   * Runs one of the tm hooks with its own gas budget and the failure policy of request_route
   * (logged, counted, instance replaced; the caller gets Action.ERROR). Hooks never nest: the proxy
   * runs them from the event loop, never from inside another hook; a nested call is refused.
   */
  private runTmHook(kind: number, ctx: MessageContext, a: number, b: number): Action {
    const hook = kind === TM_BRANCH ? 'branch_route' : kind === TM_REPLY ? 'onreply_route' : 'failure_route';
    if (this.runningHook !== 'none') {
      ctx.log.error({ plugin: this.label, hook, running: this.runningHook }, 'tm hook refused: another hook of this plugin is running');
      return Action.ERROR;
    }
    let inst = this.active;
    if (inst === null) {
      if (this.closed) return Action.ERROR;
      inst = this.active = this.spare ?? this.tryInstantiate();
      this.spare = null;
      if (inst === null) return Action.ERROR;
      this.scheduleSpare();
    }
    const fn = kind === TM_BRANCH ? inst.branchRoute : kind === TM_REPLY ? inst.onReplyRoute : inst.failureRoute;
    if (fn === null) return Action.CONTINUE;
    this.stats.calls++;
    const budget = this.limits.gasPerHook;
    const gas = inst.gas;
    gas.set(budget);
    this.runningCtx = ctx;
    this.runningHook = hook;
    let result: number;
    try {
      result = this.guard.call(this.limits.hookTimeoutMs, fn, ctx.id, a, b) as number;
    } catch (err) {
      this.runningCtx = null;
      this.runningHook = 'none';
      this.onHookFailure(inst, err, ctx, hook, budget);
      return Action.ERROR;
    }
    this.runningCtx = null;
    this.runningHook = 'none';
    this.stats.gasUsedTotal += budget - gas.get();
    if (result >= Action.CONTINUE && result < Action.SUSPEND) return result as Action;
    return result < 0 ? Action.ERROR : Action.CONTINUE;
  }

  /**
   * Another plugin object over the same compiled module, with its own instances and other imports
   * and logger: the warm-up's sandboxed copy (host/server/warmup.ts). Runs start + plugin_init.
   */
  twin(opts: Pick<WasmPluginOptions, 'log' | 'providers' | 'isMyself'>): WasmPlugin {
    return WasmPlugin.create(this.plugin, { limits: this.limits, config: this.config, maxForwardsLimit: this.maxForwardsLimit, ...opts });
  }

  close(): void {
    this.closed = true;
    this.active = null;
    this.spare = null;
  }

  // internals -----------------------------------------------------------------------------------

  /** Classifies, logs and counts a failed hook, then swaps in a fresh instance. */
  private onHookFailure(inst: LiveInstance, err: unknown, ctx: MessageContext | null, hook: string, budget: number): void {
    const gasLeft = inst.gas.get();
    const gasUsed = budget - gasLeft;
    this.stats.gasUsedTotal += gasUsed;
    let errorClass: FailureClass;
    let errorName: ErrorName;
    if (err instanceof PluginAbort) {
      errorClass = 'abort';
      errorName = 'PLUGIN_ABORT';
      this.stats.aborts++;
    } else if (isHookTimeout(err)) {
      // the watchdog stopped it: whatever the meter says, the instance is not trusted again
      errorClass = 'timeout';
      errorName = 'PLUGIN_TIMEOUT';
      this.stats.timeouts++;
    } else if (gasLeft < 0) {
      errorClass = 'gas';
      errorName = 'PLUGIN_GAS';
      this.stats.gasExhausted++;
    } else {
      errorClass = err instanceof RangeError ? 'stack-overflow' : err instanceof WebAssembly.RuntimeError ? 'trap' : 'host-error';
      errorName = 'PLUGIN_TRAP';
      this.stats.traps++;
    }
    const message = err instanceof Error ? err.message : String(err);
    this.lastFailure = { errorClass, hook, message, gasUsed };
    const e = new SiphonError(errorName, `${hook} failed (${errorClass}): ${message}`, { where: this.label });
    (ctx?.log ?? this.log).error(
      { code: e.code, plugin: this.info.name, version: this.info.version, hook, callId: ctx?.msg.callId, errorClass, gasUsed },
      e.message,
    );
    // never reuse a poisoned instance
    if (this.active === inst) {
      this.active = this.spare ?? this.tryInstantiate();
      this.spare = null;
      this.stats.instanceRebuilds++;
      this.scheduleSpare();
    }
  }

  private scheduleSpare(): void {
    if (this.spareScheduled || this.closed) return;
    this.spareScheduled = true;
    setImmediate(() => {
      this.spareScheduled = false;
      if (!this.closed && this.spare === null) this.spare = this.tryInstantiate();
    });
  }

  /** builds an instance; logs and returns null on failure (used after the first one succeeded). */
  private tryInstantiate(): LiveInstance | null {
    try {
      return this.instantiate();
    } catch (err) {
      this.log.error({ err }, 'cannot build a replacement plugin instance');
      return null;
    }
  }

  /**
   * Creates memory, links imports, runs the start function, checks the ABI minor, runs
   * plugin_init. Every failure becomes a SiphonError naming the file.
   */
  private instantiate(): LiveInstance {
    const p = this.plugin;
    const where = p.path;
    const memory = new WebAssembly.Memory({ initial: p.memoryInitial, maximum: p.memoryMax });
    const mem = new GuestMemory(memory);
    const gasHandle: GasHandle = { counter: null };
    const imports: WebAssembly.Imports = {
      ...createProviderImports(this.providers, createHostCallApi(this, mem, gasHandle)),
      env: createEnvImports(this, mem) as WebAssembly.ModuleImports,
      sip: createSipImports(this, mem, gasHandle) as unknown as WebAssembly.ModuleImports,
    };
    const prevHook = this.runningHook;
    const prevCtx = this.runningCtx;
    this.runningCtx = null;
    let stage = 'start';
    let gas: GasCounter | null = null;
    try {
      this.runningHook = 'start';
      // the module-level start function runs here, with __gas at its initial value (gasInit)
      const instance = this.guard.call(this.limits.initTimeoutMs, () => new WebAssembly.Instance(p.module, imports)) as WebAssembly.Instance;
      const ex = instance.exports as Record<string, unknown>;
      gas = { get: ex[GAS_GET] as () => number, set: ex[GAS_SET] as (v: number) => void, charge: ex[GAS_CHARGE] as (u: number) => number };
      gasHandle.counter = gas;
      if (p.startExport) {
        gas.set(this.limits.gasInit);
        this.guard.call(this.limits.initTimeoutMs, ex[p.startExport] as () => void);
      }
      stage = 'sip_abi_minor';
      gas.set(this.limits.gasInit);
      const minor = (ex.sip_abi_minor as () => number)();
      if (minor < 0 || minor > HOST_ABI_MINOR) {
        throw new SiphonError('PLUGIN_ABI', `plugin was built against ABI 1.${minor}, this host implements up to 1.${HOST_ABI_MINOR}`, { where });
      }
      if (p.hasPluginInit) {
        stage = 'plugin_init';
        this.runningHook = 'plugin_init';
        gas.set(this.limits.gasInit);
        const rc = this.guard.call(this.limits.initTimeoutMs, ex.plugin_init as (len: number) => number, this.config.length) as number;
        if (rc !== 0) throw new SiphonError('PLUGIN_INIT', `plugin_init returned ${rc} (plugin refused its configuration)`, { where });
      }
      const optional = <T>(name: string): T | null => (typeof ex[name] === 'function' ? (ex[name] as T) : null);
      return {
        requestRoute: ex.request_route as (ctx: number) => number,
        branchRoute: optional('branch_route'),
        onReplyRoute: optional('onreply_route'),
        failureRoute: optional('failure_route'),
        gas,
        memory,
      };
    } catch (err) {
      if (err instanceof SiphonError) throw err;
      const gasOut = gas !== null && gas.get() < 0;
      const cls = err instanceof PluginAbort ? 'abort' : isHookTimeout(err) ? 'time limit' : gasOut ? 'gas exhausted' : err instanceof RangeError ? 'stack overflow' : 'trap';
      const msg = err instanceof Error ? err.message : String(err);
      throw new SiphonError('PLUGIN_INIT', `${stage} failed (${cls}): ${msg}`, { where, cause: err });
    } finally {
      this.runningHook = prevHook;
      this.runningCtx = prevCtx;
    }
  }
}

let guardWarned = false;

/** E4031 once per thread (each worker thread loads its own copy of this module): hooks are bounded by gas alone. */
function warnGuardUnavailable(log: Logger, reason: string): void {
  if (guardWarned) return;
  guardWarned = true;
  const e = new SiphonError('PLUGIN_GUARD_UNAVAILABLE', reason);
  log.warn({ code: e.code }, e.message);
}
