/**
 * In-process nodes with core.workers (host/shards/; the suite also runs with SIPHON_WORKERS=2).
 * A node's counters as an operator reads them: `stats.fetchn` through the node's RPC registry, which
 * sums every shard's counters when core.workers > 1 (host/shards/merge.ts) and is shard 0's own with
 * one shard. Tests that count what the node did read these, not `node.server.stats()` /
 * `node.plugin.stats` (shard 0's alone). A test whose point is one shard's own state (a table bound,
 * a plugin instance's variables) steers its Call-IDs to shard 0 with `onShard0`.
 */
import type { SiphonNode } from '../../host/server/app.js';
import type { RpcValue } from '../../host/rpc/types.js';
import { shardOfCallId } from '../../host/shards/steer.js';

/** `base`, or `base` with the smallest suffix `-k` that the node steers to shard 0 (this thread). */
export function onShard0(node: SiphonNode, base: string): string {
  const count = node.config.core.workers ?? 1;
  if (shardOfCallId(base, count) === 0) return base;
  for (let k = 1; ; k++) if (shardOfCallId(`${base}-${k}`, count) === 0) return `${base}-${k}`;
}

/** the statistics group `group` (core, plugin, tm, a module's ...), summed over the shards. */
export async function nodeStats(node: SiphonNode, group: string): Promise<Record<string, number>> {
  const out = (await node.rpc.call('stats.fetchn', [`${group}:`])) as { [k: string]: RpcValue };
  const s: Record<string, number> = {};
  for (const [k, v] of Object.entries(out)) if (typeof v === 'number') s[k.slice(group.length + 1)] = v;
  return s;
}

/** one counter of a group (0 when the group does not have it yet). */
export async function nodeStat(node: SiphonNode, group: string, name: string): Promise<number> {
  return (await nodeStats(node, group))[name] ?? 0;
}

/** waits until `cond()` resolves true, asking again every 10 ms; throws naming `what` after `ms`. */
export async function eventually(cond: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
