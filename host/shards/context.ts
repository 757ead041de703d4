/**
 * What a module sees of the multi-core layout (`core.workers`, host/shards/README.md).
 *
 * A node with `core.workers: N > 1` runs N shards of the message path: shard 0 in the main thread
 * (it owns the sockets, the control plane and the authoritative copy of shared module state) and
 * shards 1..N-1 in worker threads. The main thread steers every message by a hash of its Call-ID, so
 * a transaction, its retransmissions, CANCEL, ACK, responses and the dialog's later requests all
 * meet the same shard (RFC 3261 §17.1.3/§17.2.3 matching stays local).
 *
 * State that must be the same for every shard (registrar bindings, dispatcher destination states,
 * secfilter lists) stays owned by shard 0's module: worker shards reach it through services shard 0
 * provides, and shard 0 pushes changes to them with broadcasts. A module gets a ShardContext in
 * `ModuleInitContext.shard`; it is absent when the node runs one shard (the default).
 */

/** Arguments and results cross threads with the structured-clone algorithm (plain data only). */
export type ServiceHandler = (...args: never[]) => unknown;
export type ServiceHandlers = Readonly<Record<string, ServiceHandler>>;

/** A worker shard's way into shard 0's services. */
export interface ServiceCaller {
  /**
   * Runs `service.method(...args)` in the main thread; resolves with its (cloned) result, rejects
   * with an Error carrying the remote message and `code` (the SiphonError code when there is one).
   */
  call(service: string, method: string, args: readonly unknown[]): Promise<unknown>;
  /**
   * The same call, but this thread blocks until shard 0 answered (link.ts SYNC_CALL_TIMEOUT_MS at
   * most): for a synchronous plugin import that needs shard 0's state it could not load before
   * routing. The answer crosses as JSON (at most SYNC_ANSWER_MAX_BYTES). Throws on a fault, a
   * timeout, an answer too large, or where the thread cannot block (absent: linkedShards() in tests).
   */
  callSync?(service: string, method: string, args: readonly unknown[]): unknown;
}

export interface ShardContext {
  /** 0: the main thread; 1..count-1: worker threads. */
  readonly index: number;
  readonly count: number;
  /** worker shards: shard 0's services; null in shard 0. */
  readonly main: ServiceCaller | null;
  /** shard 0: offers `handlers` to the worker shards under `service` (one registration per name). */
  provide(service: string, handlers: ServiceHandlers): void;
  /**
   * shard 0: delivers `payload` to the `topic` listeners of every worker shard, in order, after
   * everything shard 0 had already sent them (a reply shard 0 sends later cannot overtake it).
   * Worker shards: a no-op (they change shared state through shard 0's services).
   */
  broadcast(topic: string, payload: unknown): void;
  /** worker shards: listens to shard 0's broadcasts on `topic`. */
  on(topic: string, listener: (payload: unknown) => void): void;
  /**
   * shard 0: `listener(index)` runs when worker shard `index` exited (crashed) while the node runs,
   * so state it held at shard 0 can be released (the dialog module's profile counts). Absent on
   * worker shards. (additive)
   */
  onShardExit?(listener: (index: number) => void): void;
}
