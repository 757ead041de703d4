/**
 * The dispatcher across shards (`core.workers`, host/shards/context.ts; README "Shards").
 *
 * Kamailio keeps the destination sets with their state, latency and load in shared memory, and
 * one timer process pings. Here shard 0's Dispatcher is the authoritative copy and the only one
 * that probes; every worker shard runs a replica:
 *  - the sets: shard 0 sends its specs and the addresses it resolved (service `snapshot` when a
 *    worker starts, broadcast `dispatcher:sets` after reload/add/remove); a worker builds the same
 *    snapshot from them without reading the list file or the table itself;
 *  - the runtime state (flags, probing counter, relative weight, latency statistics): every change
 *    in shard 0 is broadcast as absolute values (`dispatcher:state`), batched per event-loop turn;
 *  - a plugin's ds_mark_dst / ds_mark_addr in a worker is applied there at once (the same request's
 *    failover sees it) and forwarded to shard 0 (service `mark`), which applies it again on the
 *    authoritative state and broadcasts the outcome to every worker.
 * Every broadcast carries a sequence number and the snapshot the last one sent before it, so a
 * worker applies each change once, in shard 0's order (the link keeps per-port order).
 */
import type { Logger } from 'pino';
import type { ShardContext } from '../../shards/context.js';
import { Errors, SiphonError } from '../../errors/registry.js';
import type { DestinationSource } from './db.js';
import { isIpLiteral, isSkipped, type Destination, type DestinationSpec } from './destination.js';
import type { Dispatcher, DispatcherSync } from './dispatcher.js';
import { buildSets, type DestinationSet } from './sets.js';

export const SERVICE = 'dispatcher';
export const TOPIC_SETS = 'dispatcher:sets';
export const TOPIC_STATE = 'dispatcher:state';

/** one destination's replicated runtime state (plain data: it crosses threads). */
export interface DstState {
  setid: number;
  /** index in its set (the order is the same in every shard) and URI to check it. */
  idx: number;
  uri: string;
  flags: number;
  probingCount: number;
  rweight: number;
  /** [average, stdev, estimate, max, min, m2, count, timeout]; null without ds_ping_latency_stats. */
  latency: number[] | null;
}

export interface DsStateBatch {
  seq: number;
  states: DstState[];
}

/** What a worker needs to build shard 0's sets: specs, resolved names, states. */
export interface DsSnapshot {
  seq: number;
  specs: DestinationSpec[];
  /** host name → addresses shard 0 resolved at load (IP literals are not listed). */
  hosts: Array<[string, string[]]>;
  states: DstState[];
  /** the sets' round-robin positions (Int32 cells, shared, not copied) and the set id of each cell. */
  rotation: SharedArrayBuffer;
  rotationSets: number[];
}

function stateOf(set: DestinationSet, idx: number, d: Destination, withLatency: boolean): DstState {
  const l = d.latency;
  return {
    setid: set.id,
    idx,
    uri: d.uri,
    flags: d.flags,
    probingCount: d.probingCount,
    rweight: d.rweight,
    latency: withLatency ? [l.average, l.stdev, l.estimate, l.max, l.min, l.m2, l.count, l.timeout] : null,
  };
}

/** Shard 0: announces every change of its Dispatcher and serves the workers. */
export class PrimarySync implements DispatcherSync {
  readonly replica = false;
  private seq = 0;
  /** changed destinations not yet announced, with their set (flushed once per event-loop turn). */
  private readonly pending = new Map<Destination, DestinationSet>();
  private flushQueued = false;
  /** the current sets' round-robin cells (shareRotation), handed to the workers with the sets. */
  private rotation: { buf: SharedArrayBuffer; sets: number[] };

  constructor(
    private readonly ds: Dispatcher,
    private readonly shard: ShardContext,
  ) {
    this.rotation = this.shareRotation();
    shard.provide(SERVICE, {
      snapshot: (): DsSnapshot => this.snapshot(),
      // a worker's plugin marked a target: the same change on the authoritative state
      mark: (state: number, setid: number, uri: string, code: number): number => this.ds.markAddr(state, setid, uri, code),
      // a worker's barrier: every change so far goes out before this reply (same port, in order)
      flush: (): number => {
        this.flush();
        return this.seq;
      },
    });
  }

  changed(set: DestinationSet, d: Destination): void {
    this.pending.set(d, set);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  /** one Int32 cell per set of the current snapshot, in use by shard 0's sets from now on. */
  private shareRotation(): { buf: SharedArrayBuffer; sets: number[] } {
    const sets = this.ds.sets.ordered;
    const buf = new SharedArrayBuffer(Math.max(1, sets.length) * 4);
    sets.forEach((set, i) => set.shareRotation(new Int32Array(buf, i * 4, 1)));
    return { buf, sets: sets.map((set) => set.id) };
  }

  published(): void {
    // changes of the old snapshot go out first: order is what the workers rely on
    this.flush();
    this.rotation = this.shareRotation();
    this.shard.broadcast(TOPIC_SETS, this.snapshot(++this.seq));
  }

  marked(): void {
    // shard 0's own marks reach the workers through changed()
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.pending.size === 0) return;
    const withLatency = this.ds.cfg.ds_ping_latency_stats !== 0;
    const states: DstState[] = [];
    for (const [d, set] of this.pending) {
      // a destination of a replaced snapshot: the new snapshot went out with its own states
      if (this.ds.sets.get(set.id) !== set) continue;
      states.push(stateOf(set, set.dests.indexOf(d), d, withLatency));
    }
    this.pending.clear();
    if (states.length > 0) this.shard.broadcast(TOPIC_STATE, { seq: ++this.seq, states } satisfies DsStateBatch);
  }

  private snapshot(seq = this.seq): DsSnapshot {
    const withLatency = this.ds.cfg.ds_ping_latency_stats !== 0;
    const hosts = new Map<string, string[]>();
    const states: DstState[] = [];
    for (const set of this.ds.sets.ordered) {
      set.dests.forEach((d, i) => {
        const h = d.address.host;
        if (!d.noDns && !isIpLiteral(h) && !hosts.has(h)) hosts.set(h, [...d.ips]);
        states.push(stateOf(set, i, d, withLatency));
      });
    }
    return { seq, specs: [...this.ds.specsInUse], hosts: [...hosts], states, rotation: this.rotation.buf, rotationSets: this.rotation.sets };
  }
}

/** Worker shards: the source of a replica (it never loads by itself). */
export class ReplicaSource implements DestinationSource {
  readonly description = 'shard 0 (worker shards take the sets from shard 0)';
  load(): Promise<DestinationSpec[]> {
    return Promise.reject(new SiphonError('DS_SHARD_SYNC', 'a worker shard reloads through shard 0 (dispatcher.reload)'));
  }
}

/** A worker shard: applies shard 0's sets and states in order; forwards plugin marks. */
export class ReplicaSync implements DispatcherSync {
  readonly replica = true;
  /** the last of shard 0's changes applied here. */
  private seq = -1;
  /** broadcasts are applied one after another (building sets is asynchronous). */
  private chain: Promise<void> = Promise.resolve();
  /** forwarded marks shard 0 refused or never answered (cleared by nobody: a counter). */
  forwardFailures = 0;

  private constructor(
    private readonly ds: Dispatcher,
    private readonly shard: ShardContext,
    private readonly log?: Logger,
  ) {}

  /** Installs shard 0's current sets and follows its broadcasts from then on. */
  static async join(ds: Dispatcher, shard: ShardContext, log?: Logger): Promise<ReplicaSync> {
    const main = shard.main;
    if (!main) throw new SiphonError('DS_SHARD_SYNC', `shard ${shard.index} has no way to shard 0`);
    const r = new ReplicaSync(ds, shard, log);
    // listening before asking: what shard 0 sends meanwhile is queued behind the snapshot
    shard.on(TOPIC_SETS, (p) => r.enqueue(() => r.installSets(p as DsSnapshot)));
    shard.on(TOPIC_STATE, (p) => r.enqueue(() => r.applyBatch(p as DsStateBatch)));
    const first = main.call(SERVICE, 'snapshot', []).catch((e: Error) => {
      throw new SiphonError('DS_SHARD_SYNC', `shard ${shard.index}: no destination sets from shard 0: ${e.message}`, { cause: e });
    });
    ds.sync = r;
    r.chain = first.then((snap) => r.installSets(snap as DsSnapshot));
    await r.chain;
    return r;
  }

  /**
   * Resolves when every change shard 0 made before this call (including the marks this shard
   * forwarded earlier) is applied here: a service round trip, then the queue of broadcasts.
   */
  async caughtUp(): Promise<void> {
    await this.shard.main!.call(SERVICE, 'flush', []);
    await this.chain;
  }

  private enqueue(step: () => void | Promise<void>): void {
    this.chain = this.chain.then(step).catch((e: Error) => {
      this.log?.error({ module: 'dispatcher', shard: this.shard.index, code: Errors.DS_SHARD_SYNC.code, err: e.message }, 'shard state update failed [E8011]');
    });
  }

  changed(): void {
    // shard 0 announces state; a worker's own changes are marks (below)
  }

  published(): void {
    // a worker never reloads by itself
  }

  marked(state: number, setid: number, uri: string, code: number): void {
    this.shard.main!.call(SERVICE, 'mark', [state, setid, uri, code]).then(
      (rc) => {
        if (rc !== 1) this.forwardFailed(`shard 0 has no ${uri} in set ${setid}`);
      },
      (e: Error) => this.forwardFailed(e.message),
    );
  }

  private forwardFailed(why: string): void {
    this.forwardFailures++;
    this.log?.warn({ module: 'dispatcher', shard: this.shard.index, code: Errors.DS_SHARD_SYNC.code, err: why }, 'ds_mark_dst not applied in shard 0 [E8011]');
  }

  private async installSets(snap: DsSnapshot): Promise<void> {
    if (snap.seq <= this.seq) return;
    const hosts = new Map(snap.hosts);
    const cfg = this.ds.cfg;
    const next = await buildSets(snap.specs, {
      // shard 0 built these already: a destination it skipped is skipped here, none fails
      loadMode: 0,
      attrsNone: cfg.ds_attrs_none !== 0,
      resolveAtLoad: (cfg.ds_dns_mode & 1) !== 0,
      resolve: (host) => {
        const ips = hosts.get(host);
        return ips ? Promise.resolve(ips) : Promise.reject(new Error(`shard 0 did not resolve ${host}`));
      },
    });
    this.ds.install(next, snap.specs);
    // the round-robin positions are shard 0's cells (one rotation per set for the node, as Kamailio's)
    snap.rotationSets.forEach((id, i) => this.ds.sets.get(id)?.useRotation(new Int32Array(snap.rotation, i * 4, 1)));
    this.seq = snap.seq;
    this.applyStates(snap.states);
  }

  private applyBatch(b: DsStateBatch): void {
    if (b.seq <= this.seq) return;
    this.seq = b.seq;
    this.applyStates(b.states);
  }

  private applyStates(states: readonly DstState[]): void {
    const sets = this.ds.sets;
    const rebuild = new Set<DestinationSet>();
    for (const st of states) {
      const set = sets.get(st.setid);
      if (!set) continue;
      let d = set.dests[st.idx];
      if (!d || d.uri !== st.uri) {
        const i = set.indexOfUri(st.uri);
        if (i < 0) continue;
        d = set.dests[i]!;
      }
      if (isSkipped(d.flags) !== isSkipped(st.flags) || d.rweight !== st.rweight) rebuild.add(set);
      d.flags = st.flags;
      d.probingCount = st.probingCount;
      d.rweight = st.rweight;
      const l = st.latency;
      if (l && l.length === 8) {
        const t = d.latency;
        [t.average, t.stdev, t.estimate, t.max, t.min, t.m2, t.count, t.timeout] = l as [number, number, number, number, number, number, number, number];
      }
    }
    // Kamailio rebuilds the alg 11/15 tables when a target becomes usable or unusable
    for (const set of rebuild) {
      set.initRelativeWeights();
      set.initPriorityWeights();
    }
  }
}
