/**
 * One node's view over its shards (core.workers > 1) for the control plane: statistics groups sum
 * the worker shards' counters into shard 0's, and the RPC methods that change per-shard state run
 * in every shard. Methods that read or change shared module state stay with shard 0's modules, which
 * own that state (host/shards/context.ts).
 */
import type { StatisticsProvider } from '../rpc/core-methods.js';
import type { MethodRegistry } from '../rpc/registry.js';
import type { RpcValue } from '../rpc/types.js';
import type { ShardHub } from './hub.js';

/**
 * Methods that change what every shard holds for itself: its plugin instance (plugin.*), its log
 * level (corex.debug with a level). They run in shard 0 first; if that succeeds, in every worker.
 */
export const FAN_OUT_METHODS: readonly string[] = ['plugin.load', 'plugin.reload', 'plugin.rollback', 'corex.debug'];

/** `providers` with every group summed over the shards, plus groups only the worker shards report. */
export function shardedStatistics(providers: readonly StatisticsProvider[], hub: ShardHub): StatisticsProvider[] {
  const out: StatisticsProvider[] = providers.map((p) => ({
    name: p.name,
    statistics: () => sumGroups(p.statistics(), hub.workerGroups(p.name)),
    ...(p.resetStatistics ? { resetStatistics: (names?: readonly string[]) => p.resetStatistics!(names) } : {}),
  }));
  const known = new Set(providers.map((p) => p.name));
  // a group a worker shard reports and shard 0 does not (created lazily), e.g. a module's counters
  out.push({
    name: 'shards',
    statistics: () => {
      const s: Record<string, number> = { workers: hub.count, held_dropped: hub.heldDropped };
      hub.steered.forEach((n, i) => (s[`steered_${i}`] = n));
      for (const g of hub.extraGroups(known)) for (const [k, v] of Object.entries(sumGroups({}, hub.workerGroups(g)))) s[`${g}_${k}`] = v;
      return s;
    },
  });
  return out;
}

function sumGroups(base: Record<string, number>, others: ReadonlyArray<Record<string, number>>): Record<string, number> {
  if (others.length === 0) return base;
  const s: Record<string, number> = { ...base };
  for (const g of others) for (const [k, v] of Object.entries(g)) s[k] = (s[k] ?? 0) + v;
  return s;
}

/** Wraps the registry's methods for shards: stats.* read fresh worker counters; FAN_OUT_METHODS run in every shard. */
export function shardedRpc(registry: MethodRegistry, hub: ShardHub): void {
  for (const name of registry.list()) {
    const m = registry.get(name)!;
    const inner = m.handler.bind(m);
    if (name.startsWith('stats.')) {
      registry.unregister(name);
      registry.register({ ...m, handler: async (params: RpcValue[]) => (await hub.refreshStatistics(), inner(params)) });
    } else if (FAN_OUT_METHODS.includes(name)) {
      registry.unregister(name);
      registry.register({
        ...m,
        handler: async (params: RpcValue[]) => {
          const value = await inner(params);
          // corex.debug without a level only reads it
          if (name !== 'corex.debug' || params.length > 0) await hub.fanOut(name, params);
          return value;
        },
      });
    }
  }
}
