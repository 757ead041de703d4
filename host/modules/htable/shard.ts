/**
 * htable across shards (`core.workers`, host/shards/context.ts; README "Shards (core.workers)").
 *
 * One set of tables per node: shard 0's Htable is the authoritative copy. Plugin functions are
 * synchronous, so every worker shard keeps a replica it reads from and writes to at once; its writes
 * go to shard 0 as operations (set, inc by delta, rm, expire, match-remove, reset), batched per task
 * (posted in a microtask, so before the replies the same task queued: a UA that got its answer and
 * sends again meets shard 0 with the write applied), and shard 0 applies them in arrival order to its
 * copy. Every key shard 0's copy changes (its own plugin's writes, the workers' operations, RPC,
 * reload, expiry) is broadcast to every worker as the key's resulting state, batched the same way;
 * the replicas take it as is.
 *
 * Service `htable` (shard 0): ops(batch) applies a worker's operations; snapshot() every live item
 * (a worker's start); flush() sends the pending changes at once. Broadcast `htable.changes`: HtChange[].
 */
import type { ShardContext } from '../../shards/context.js';
import type { HtChange, Htable, HtOp } from './htable.js';
import { compileMatcher } from './match.js';
import type { HtValue } from './table.js';

export const HTABLE_SERVICE = 'htable';
export const HTABLE_CHANGES_TOPIC = 'htable.changes';
/** operations or changes one batch carries; a batch that fills is sent at once. */
export const MAX_BATCH = 4096;

function validOp(op: unknown): op is HtOp {
  if (typeof op !== 'object' || op === null) return false;
  const o = op as Record<string, unknown>;
  if (typeof o.t !== 'string') return false;
  switch (o.o) {
    case 'set':
      return typeof o.k === 'string' && (typeof o.v === 'string' || Number.isInteger(o.v));
    case 'inc':
      return typeof o.k === 'string' && Number.isInteger(o.d);
    case 'rm':
      return typeof o.k === 'string';
    case 'ex':
      return typeof o.k === 'string' && Number.isInteger(o.s);
    case 'rmm':
      return (o.f === 'name' || o.f === 'value') && Number.isInteger(o.op) && typeof o.p === 'string';
    case 'reset':
      return true;
    default:
      return false;
  }
}

/** Shard 0: applies the workers' operations and broadcasts the state of every key that changes. */
export function provideHtable(ht: Htable, shard: ShardContext): void {
  let pending: HtChange[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    ht.stats.broadcast += batch.length;
    shard.broadcast(HTABLE_CHANGES_TOPIC, batch);
  };
  ht.onChange((c) => {
    pending.push(c);
    if (pending.length >= MAX_BATCH) flush();
    else if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  });
  shard.provide(HTABLE_SERVICE, {
    ops: (batch: readonly unknown[]) => {
      const n = Math.min(Array.isArray(batch) ? batch.length : 0, MAX_BATCH);
      for (let i = 0; i < n; i++) {
        const op = batch[i];
        if (validOp(op)) ht.applyOp(op, compileMatcher);
      }
    },
    snapshot: () => ht.snapshot(),
    /** sends the pending changes now: a worker's caughtUp() waits for this answer, which follows them on its port. */
    flush: () => flush(),
  });
}

/** A worker shard: forwards its replica's writes to shard 0 and applies shard 0's changes. */
export class HtableForwarder {
  private pending: HtOp[] = [];
  private scheduled = false;

  constructor(
    private readonly shard: ShardContext,
    private readonly onError: (e: Error) => void,
  ) {}

  /** listens to shard 0's changes, then loads its tables (a change broadcast before the answer is already in it). */
  async start(ht: Htable): Promise<void> {
    this.shard.on(HTABLE_CHANGES_TOPIC, (batch) => {
      for (const c of batch as HtChange[]) ht.applyChange(c);
    });
    const snap = (await this.shard.main!.call(HTABLE_SERVICE, 'snapshot', [])) as Array<[string, Array<[string, HtValue, number]>]>;
    for (const [name, items] of snap) ht.replaceItems(name, items);
  }

  /** queues one of this shard's writes for shard 0. */
  send(op: HtOp): void {
    this.pending.push(op);
    if (this.pending.length >= MAX_BATCH) {
      void this.flush();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => void this.flush());
    }
  }

  /**
   * Resolves when shard 0 applied this shard's writes so far and every change it made before is
   * applied here (the answer to `flush` follows the broadcast on the same port).
   */
  async caughtUp(): Promise<void> {
    await this.flush();
    await this.shard.main?.call(HTABLE_SERVICE, 'flush', []);
  }

  /** sends the operations queued so far; resolves once shard 0 applied them (its broadcasts are posted by then). */
  flush(): Promise<void> {
    this.scheduled = false;
    const main = this.shard.main;
    if (main === null || this.pending.length === 0) return Promise.resolve();
    const batch = this.pending;
    this.pending = [];
    return main.call(HTABLE_SERVICE, 'ops', [batch]).then(
      () => undefined,
      (e: unknown) => this.onError(e as Error),
    );
  }
}
