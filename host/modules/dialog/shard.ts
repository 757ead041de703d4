/**
 * Dialog profiles across shards (`core.workers`, host/shards/context.ts; README "Shards").
 *
 * Dialogs are steered by Call-ID, so each shard owns its dialogs (table, timers, BYEs). Profile
 * counts must be the node's (two calls of one user on two shards are two calls), so shard 0 keeps
 * the authoritative ProfileCounts and offers the `dialog` service:
 *
 *   apply(batch, index)  a worker's membership changes [profile, value, ±1][], applied and broadcast
 *                        (and kept per worker: a worker that exits takes its memberships with it)
 *   entries()      every (profile, value, count): a worker's mirror at start
 *
 * Shard 0 broadcasts every change (its own and the workers') on `dialog.profiles`, batched per loop
 * turn; each worker mirrors the counts. A worker's own changes count at once in its answers (a
 * pending delta per key) and go to shard 0 once per loop turn; when shard 0's answer to that batch
 * arrives, its broadcast has arrived before it (the port keeps the order), so the pending delta is
 * dropped without a gap. get_profile_size on a worker is the mirror plus its pending deltas: it
 * lags another shard's change by one loop turn and one message hop each way, so two calls of one
 * user set up within that window on two different shards can both pass a limit (Kamailio's
 * processes share the table under a lock; documented in README "Shards").
 */
import type { ShardContext } from '../../shards/context.js';
import { MAX_PROFILE_VALUE } from './config.js';
import { ProfileCounts } from './profiles.js';
import type { ProfileBackend } from './table.js';

export const DIALOG_SERVICE = 'dialog';
export const PROFILES_TOPIC = 'dialog.profiles';
/** changes one batch carries at most; a batch that fills is sent at once. */
export const MAX_BATCH = 4096;

type Change = readonly [string, string, number];

function valid(c: unknown, counts: ProfileCounts): c is Change {
  if (!Array.isArray(c) || c.length !== 3) return false;
  const [p, v, n] = c as unknown[];
  return typeof p === 'string' && counts.defs.has(p) && typeof v === 'string' && v.length <= MAX_PROFILE_VALUE && (n === 1 || n === -1);
}

/** Shard 0: its counts are the node's; every change is broadcast to the workers. */
export class BroadcastCounts implements ProfileBackend {
  private queue: Change[] = [];
  private scheduled = false;

  constructor(
    private readonly counts: ProfileCounts,
    private readonly shard: ShardContext,
  ) {}

  add(profile: string, value: string, delta: number): void {
    this.counts.add(profile, value, delta);
    this.queue.push([profile, value, delta]);
    if (this.queue.length >= MAX_BATCH) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  size(profile: string, value: string | null): number {
    return this.counts.size(profile, value);
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.shard.broadcast(PROFILES_TOPIC, batch);
  };
}

/**
 * Shard 0: offers the `dialog` service; returns the backend shard 0's own table uses. What each
 * worker added is also counted per worker, so a worker that exits (crashes) while the node runs
 * takes its memberships with it (ShardContext.onShardExit): its calls are no longer tracked, and
 * must not hold their users' limits forever.
 */
export function provideProfiles(counts: ProfileCounts, shard: ShardContext): BroadcastCounts {
  const out = new BroadcastCounts(counts, shard);
  const byWorker = new Map<number, ProfileCounts>();
  shard.provide(DIALOG_SERVICE, {
    apply: (batch: unknown, index?: unknown) => {
      const list = Array.isArray(batch) ? batch : [];
      const n = Math.min(list.length, MAX_BATCH);
      let mine: ProfileCounts | undefined;
      if (Number.isInteger(index) && (index as number) > 0 && (index as number) < shard.count) {
        mine = byWorker.get(index as number);
        if (mine === undefined) byWorker.set(index as number, (mine = new ProfileCounts(counts.defs)));
      }
      for (let i = 0; i < n; i++) {
        const c = list[i];
        if (!valid(c, counts)) continue;
        out.add(c[0], c[1], c[2]);
        mine?.add(c[0], c[1], c[2]);
      }
      // the broadcast of these changes leaves before this answer (the worker drops its pending deltas on the answer)
      out.flush();
    },
    entries: () => counts.entries(),
  });
  shard.onShardExit?.((index) => {
    const mine = byWorker.get(index);
    if (mine === undefined) return;
    byWorker.delete(index);
    for (const [p, v, k] of mine.entries()) for (let i = 0; i < k; i++) out.add(p, v, -1);
    out.flush();
  });
  return out;
}

function key(profile: string, value: string): string {
  return `${profile}\u0000${value}`;
}

/** A worker shard: mirrors shard 0's counts, sends its changes there. */
export class ShardProfiles implements ProfileBackend {
  private batch: Change[] = [];
  private scheduled = false;
  /** this shard's changes not yet answered by shard 0: per (profile, value) and per profile. */
  private readonly pendingValue = new Map<string, number>();
  private readonly pendingTotal = new Map<string, number>();
  private closed = false;

  constructor(
    private readonly shard: ShardContext,
    /** the mirror of shard 0's counts. */
    private readonly mirror: ProfileCounts,
    private readonly onError: (e: Error) => void,
  ) {}

  async start(): Promise<void> {
    this.shard.on(PROFILES_TOPIC, (payload) => {
      const list = Array.isArray(payload) ? payload : [];
      for (const c of list) if (valid(c, this.mirror)) this.mirror.add(c[0], c[1], c[2]);
    });
    // broadcasts that arrived before this answer are in it: the mirror is replaced by the snapshot
    const entries = (await this.shard.main!.call(DIALOG_SERVICE, 'entries', [])) as Array<[string, string, number]>;
    this.mirror.reset(Array.isArray(entries) ? entries : []);
  }

  add(profile: string, value: string, delta: number): void {
    this.bump(profile, value, delta);
    this.batch.push([profile, value, delta]);
    if (this.batch.length >= MAX_BATCH) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  size(profile: string, value: string | null): number {
    const base = this.mirror.size(profile, value);
    if (base < 0) return base;
    const def = this.mirror.defs.get(profile);
    const pending = value === null || def?.hasValue !== true ? this.pendingTotal.get(profile) ?? 0 : this.pendingValue.get(key(profile, value)) ?? 0;
    return Math.max(0, base + pending);
  }

  private bump(profile: string, value: string, delta: number): void {
    const k = key(profile, value);
    const v = (this.pendingValue.get(k) ?? 0) + delta;
    if (v === 0) this.pendingValue.delete(k);
    else this.pendingValue.set(k, v);
    const t = (this.pendingTotal.get(profile) ?? 0) + delta;
    if (t === 0) this.pendingTotal.delete(profile);
    else this.pendingTotal.set(profile, t);
  }

  /** sends the changes gathered so far; their pending deltas go once shard 0 answered (its broadcast came first). */
  readonly flush = (): Promise<void> => {
    this.scheduled = false;
    if (this.batch.length === 0 || this.closed) return Promise.resolve();
    const batch = this.batch;
    this.batch = [];
    const done = (): void => {
      for (const [p, v, d] of batch) this.bump(p, v, -d);
    };
    return this.shard.main!.call(DIALOG_SERVICE, 'apply', [batch, this.shard.index]).then(done, (e: unknown) => {
      done();
      this.onError(e as Error);
    });
  };

  close(): void {
    this.closed = true;
  }
}
