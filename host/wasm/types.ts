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
}

export interface PluginInfo {
  name: string;
  version: string;
  sha256: string;
  path: string;
  loadedAt: Date;
}

export interface PluginStats {
  calls: number;
  traps: number;
  gasExhausted: number;
  aborts: number;
  instanceRebuilds: number;
  gasUsedTotal: number;
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
  /** releases the instance. */
  close(): void;
}
