/**
 * pike across shards (`core.workers`, host/shards/context.ts; README "Shards (core.workers)").
 *
 * The table that decides is shard 0's: it sees every message when the host check (`auto`) runs in
 * the main thread, and the counts worker shards forward. A worker shard keeps counting in its own
 * table too (a flood on that shard alone is caught at once, without a round trip) and forwards each
 * count to shard 0 in batches, one message per loop turn. Shard 0 broadcasts the keys it blocks and
 * unblocks; a worker answers blocked for a key shard 0 blocked. So a source spread over shards is
 * blocked when their sum reaches reqs_density_per_unit, at most one loop turn of requests later.
 *
 * Service `pike` (shard 0): hits(batch) counts a batch; blocked() lists the blocked keys (a worker's
 * start). Broadcasts: `pike.block` key, `pike.unblock` key.
 */
import type { ShardContext } from '../../shards/context.js';
import type { Pike, PikeForwarder } from './pike.js';

export const PIKE_SERVICE = 'pike';
export const PIKE_BLOCK_TOPIC = 'pike.block';
export const PIKE_UNBLOCK_TOPIC = 'pike.unblock';
/** distinct keys one batch carries; a batch that fills is sent at once. */
export const MAX_BATCH_KEYS = 4096;

/** Shard 0: counts the workers' batches into its table and tells them what it blocks and unblocks. */
export function providePike(pike: Pike, shard: ShardContext): void {
  pike.setBlockListener({
    blocked: (key) => shard.broadcast(PIKE_BLOCK_TOPIC, key),
    unblocked: (key) => shard.broadcast(PIKE_UNBLOCK_TOPIC, key),
  });
  shard.provide(PIKE_SERVICE, {
    hits: (batch: ReadonlyArray<readonly [string, number]>) => {
      const n = Math.min(Array.isArray(batch) ? batch.length : 0, MAX_BATCH_KEYS);
      for (let i = 0; i < n; i++) {
        const [key, weight] = batch[i]!;
        if (typeof key === 'string' && key.length <= 64 && Number.isInteger(weight) && weight > 0) pike.hitForwarded(key, weight);
      }
    },
    blocked: () => pike.sources(true).map((v) => v.address),
  });
}

/** A worker shard: batches its counts to shard 0 and mirrors shard 0's blocked keys. */
export class ShardForwarder implements PikeForwarder {
  private pending = new Map<string, number>();
  private scheduled = false;
  private readonly blockedKeys = new Set<string>();

  constructor(
    private readonly shard: ShardContext,
    /** at most this many mirrored blocked keys (shard 0's table holds no more). */
    private readonly maxKeys: number,
    private readonly onError: (e: Error) => void,
  ) {}

  /** listens to shard 0's blocks, then takes the ones already in force (a broadcast before the answer is in it). */
  async start(pike: Pike): Promise<void> {
    this.shard.on(PIKE_BLOCK_TOPIC, (key) => this.mirror(key as string));
    this.shard.on(PIKE_UNBLOCK_TOPIC, (key) => {
      this.blockedKeys.delete(key as string);
      pike.unblockKey(key as string);
    });
    const keys = (await this.shard.main!.call(PIKE_SERVICE, 'blocked', [])) as string[];
    for (const k of keys) this.mirror(k);
  }

  count(key: string, weight: number): void {
    this.pending.set(key, (this.pending.get(key) ?? 0) + weight);
    if (this.pending.size >= MAX_BATCH_KEYS) {
      void this.flush();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  blocked(key: string): boolean {
    return this.blockedKeys.has(key);
  }

  /** sends the counts gathered so far; resolves once shard 0 counted them (its block broadcasts are in by then). */
  flush(): Promise<void> {
    this.scheduled = false;
    const main = this.shard.main;
    if (main === null) return Promise.resolve();
    const batch = [...this.pending];
    this.pending = new Map();
    return main.call(PIKE_SERVICE, 'hits', [batch]).then(
      () => undefined,
      (e: unknown) => this.onError(e as Error),
    );
  }

  /** blocked keys mirrored from shard 0. */
  get mirrored(): number {
    return this.blockedKeys.size;
  }

  private mirror(key: string): void {
    if (typeof key === 'string' && this.blockedKeys.size < this.maxKeys) this.blockedKeys.add(key);
  }
}
