/**
 * One live plugin version as the manager (manager.ts) tracks it: state, pins, the failure window of
 * the crash-loop policy, request_route latencies, and how plugin.list / plugin.stats report it; and
 * the pin a transaction routed by a plugin chain keeps (ChainPin).
 */
import { Action, type MessageContext } from '../core/context.js';
import type { HookMetrics } from '../metrics/metrics.js';
import type { TmHooks } from '../proxy/hooks.js';
import type { LoadedPlugin, PluginStats } from './types.js';

export type VersionState = 'current' | 'previous' | 'draining' | 'retired';

/** request_route durations kept per version for p50/p99. */
export const LATENCY_SAMPLES = 1024;

/** One version as plugin.list / plugin.stats report it. */
export interface PluginVersionView {
  name: string;
  version: string;
  sha256: string;
  path: string;
  loadedAt: string;
  state: VersionState;
  routing: boolean;
  pins: number;
  stats: PluginStats;
  /** failures in the current sliding window. */
  recentFailures: number;
  /** request_route latency over the last LATENCY_SAMPLES calls, microseconds. */
  latencyUs: { samples: number; avg: number; p50: number; p99: number; max: number };
  /** the capabilities it runs with (declared and granted, capabilities.ts). (additive) */
  capabilities: readonly string[];
}

export class PluginVersion {
  state: VersionState = 'current';
  pins = 0;
  activatedAt = 0;
  /** traps + aborts + gasExhausted + timeouts last time we looked. */
  failuresSeen = 0;
  trapsSeen = 0;
  abortsSeen = 0;
  gasSeen = 0;
  timeoutsSeen = 0;
  /** ring of the last maxFailures+1 failure times. */
  readonly failureTimes: Float64Array;
  failureNext = 0;
  failureCount = 0;
  readonly latencyMs = new Float64Array(LATENCY_SAMPLES);
  latencyNext = 0;
  latencyCount = 0;
  drainTimer: NodeJS.Timeout | null = null;
  readonly label: string;

  constructor(
    readonly plugin: LoadedPlugin,
    readonly slotName: string,
    maxFailures: number,
    readonly hookMetrics: HookMetrics | null,
  ) {
    this.failureTimes = new Float64Array(maxFailures + 1);
    this.label = `${plugin.info.name}@${plugin.info.version}`;
    const s = plugin.stats;
    this.trapsSeen = s.traps;
    this.abortsSeen = s.aborts;
    this.gasSeen = s.gasExhausted;
    this.timeoutsSeen = s.timeouts;
    this.failuresSeen = s.traps + s.aborts + s.gasExhausted + s.timeouts;
  }

  resetFailures(): void {
    this.failureNext = 0;
    this.failureCount = 0;
  }

  /** the plugin.list row; `windowMs` bounds recentFailures. */
  view(routing: boolean, now: number, windowMs: number): PluginVersionView {
    const info = this.plugin.info;
    const samples = Array.from(this.latencyMs.subarray(0, this.latencyCount)).sort((a, b) => a - b);
    const pct = (p: number): number => (samples.length === 0 ? 0 : samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!);
    const us = (ms: number): number => Math.round(ms * 1000 * 10) / 10;
    const sum = samples.reduce((a, b) => a + b, 0);
    let recent = 0;
    for (let i = 0; i < this.failureCount; i++) if (now - this.failureTimes[i]! <= windowMs) recent++;
    return {
      name: info.name,
      version: info.version,
      sha256: info.sha256,
      path: info.path,
      loadedAt: info.loadedAt.toISOString(),
      state: this.state,
      routing: routing && this.state === 'current',
      pins: this.pins,
      stats: { ...this.plugin.stats },
      recentFailures: recent,
      latencyUs: {
        samples: samples.length,
        avg: samples.length === 0 ? 0 : us(sum / samples.length),
        p50: us(pct(0.5)),
        p99: us(pct(0.99)),
        max: us(samples.length === 0 ? 0 : samples[samples.length - 1]!),
      },
      capabilities: info.capabilities ?? [],
    };
  }
}

/**
 * What a transaction routed by a plugin chain keeps (docs/plugins.md "Chains"): every member's
 * version current when it was created (all pinned: none of them is closed while the transaction
 * lives), and the member that ended the chain (relayed it), whose tm hooks (branch_route,
 * onreply_route, failure_route) it runs. One ChainPin per (chain version, member) is made when that
 * chain version is first pinned and shared by its transactions, so pinning allocates nothing.
 */
export class ChainPin implements TmHooks {
  constructor(
    readonly versions: readonly PluginVersion[],
    readonly owner: PluginVersion,
  ) {}

  branchRoute(ctx: MessageContext, route: number, branch: number): Action {
    const p = this.owner.plugin;
    return p.branchRoute ? p.branchRoute(ctx, route, branch) : Action.CONTINUE;
  }

  onReplyRoute(ctx: MessageContext, route: number, code: number): Action {
    const p = this.owner.plugin;
    return p.onReplyRoute ? p.onReplyRoute(ctx, route, code) : Action.CONTINUE;
  }

  failureRoute(ctx: MessageContext, route: number): Action {
    const p = this.owner.plugin;
    return p.failureRoute ? p.failureRoute(ctx, route) : Action.CONTINUE;
  }
}

/** The pins of one chain version: the members' versions and one ChainPin per member. */
export class ChainVersion {
  readonly pins: ChainPin[];

  constructor(readonly versions: readonly PluginVersion[]) {
    this.pins = versions.map((v) => new ChainPin(versions, v));
  }
}
