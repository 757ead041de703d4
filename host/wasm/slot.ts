/**
 * The plugin manager's slot (one plugin name: current, previous and draining versions, its load
 * queue and crash-loop backoff state, wasm-host.md §5.2) and the manager's options (failure policy,
 * drain deadline), load results and views. Split out of manager.ts.
 */
import type { Logger } from 'pino';
import type { MessageContext } from '../core/context.js';
import type { SiphonError } from '../errors/registry.js';
import type { SiphonMetrics } from '../metrics/metrics.js';
import type { GrantOptions } from './loader.js';
import type { LoadPluginOptions, LoadedPlugin, PluginInfo, PluginLimits } from './types.js';
import type { PluginVersion, PluginVersionView } from './version.js';

export interface FailurePolicyOptions {
  /** more than this many hook failures within windowMs is a crash loop (default 20). */
  maxFailures: number;
  /** the sliding window (default 10 s). */
  windowMs: number;
  /** how long after activation a crash loop rolls back automatically (default 10 min). */
  watchMs: number;
  /** first backoff (default 1 s); doubled on each crash loop in a row. */
  backoffBaseMs: number;
  /** backoff cap (default 30 s). */
  backoffMaxMs: number;
  /** status answered during backoff: 503 (with Retry-After, default) or 500. */
  backoffStatus: 500 | 503;
}

export const DEFAULT_FAILURE_POLICY: Readonly<FailurePolicyOptions> = {
  maxFailures: 20,
  windowMs: 10_000,
  watchMs: 10 * 60_000,
  backoffBaseMs: 1_000,
  backoffMaxMs: 30_000,
  backoffStatus: 503,
};

/** wasm-host.md §5.2: the longest transaction lifetime, INVITE Timer C (> 3 min) plus Timer B/H. */
export const DEFAULT_DRAIN_DEADLINE_MS = 5 * 60_000;

export interface PluginManagerOptions {
  log: Logger;
  /** what every load passes to loadPlugin (limits, routing config, isMyself, providers); `log` defaults to the manager's. */
  loadOptions: Omit<LoadPluginOptions, 'log'> & { log?: Logger };
  failurePolicy?: Partial<FailurePolicyOptions>;
  drainDeadlineMs?: number;
  /** hook latency, failures and gas are fed to it when given. */
  metrics?: SiphonMetrics | null;
  /** wall clock in ms, for tests; default Date.now. */
  now?: () => number;
  /** the loader, default loadPlugin (tests may wrap it). */
  loader?: (path: string, options: LoadPluginOptions) => Promise<LoadedPlugin>;
  /**
   * In a chain, whether a member that returned CONTINUE passes the request on: false once it was
   * answered or relayed (the server adds t_relay() and tm state, host/proxy ProxyCore.passOn).
   * Default: not replied.
   */
  passOn?: (ctx: MessageContext) => boolean;
}

/**
 * What one plugin (a slot) loads with beyond the manager's loadOptions: its own config, gas and
 * memory budget, grants (routing.chain[i], routing.grants). Kept for every later load of the slot.
 */
export interface SlotOptions {
  /** the plugin's config (sip.cfg_read); default the manager's loadOptions.config. */
  config?: unknown;
  /** overrides of the manager's limits (gas_per_hook, memory_max_pages). */
  limits?: Partial<PluginLimits>;
  grants?: GrantOptions;
}

/** One member of routing.chain as startNode hands it to loadChain. */
export interface ChainMember {
  path: string;
  options: SlotOptions;
}

/** What load / reload / rollback report. */
export type SwapResult =
  | { ok: true; name: string; current: PluginInfo; previous: PluginInfo | null; durationMs: number }
  | { ok: false; name: string; error: SiphonError; current: PluginInfo | null };

export interface SlotEvent {
  at: string;
  kind: 'load' | 'load-refused' | 'rollback' | 'auto-rollback' | 'backoff';
  detail: string;
}

export interface PluginSlotView {
  name: string;
  path: string;
  routing: boolean;
  /** position in routing.chain (0 = first), null when the slot is not a chain member. (additive) */
  chainIndex: number | null;
  /** ms left in crash-loop backoff, 0 when not in backoff. */
  backoffMs: number;
  backoffLevel: number;
  lastEvent: SlotEvent | null;
  versions: PluginVersionView[];
}

/** One plugin name: its current, previous and draining versions, load queue and backoff state. */
export class PluginSlot {
  current: PluginVersion | null = null;
  previous: PluginVersion | null = null;
  readonly draining: PluginVersion[] = [];
  /** loads of one slot run one after the other. */
  queue: Promise<unknown> = Promise.resolve();
  backoffUntil = 0;
  backoffLevel = 0;
  lastBreachAt = 0;
  lastEvent: SlotEvent | null = null;

  constructor(
    readonly name: string,
    public path: string,
    readonly options: SlotOptions = {},
  ) {}
}
