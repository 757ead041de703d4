/**
 * The shape every module (secfilter, dispatcher, registrar, ...) has. A module folder holds:
 *   index.ts   the SiphonModule definition (this interface)
 *   config.ts  its JSON schema for `modules.<name>` and defaults
 *   abi.ts     its plugin imports (an ImportProvider), when plugins call it
 *   rpc.ts     its RPC methods
 *   stats.ts   its counters
 *   README.md  overview, config keys, functions for plugins with return codes, RPC methods, tables, metrics
 * Module state lives in objects the module owns (never module-level globals), so the message path
 * can be sharded across worker threads (`core.workers`, host/shards/context.ts).
 */
import type { Logger } from 'pino';
import type { RpcMethod } from '../rpc/types.js';
import type { ImportProvider } from '../wasm/types.js';
import type { LocalRequestSender } from '../proxy/local-request.js';

export interface ModuleInitContext {
  /** the validated `modules.<name>` section (defaults applied). */
  config: Record<string, unknown>;
  /** directory of the embedded store (core.data_dir). */
  dataDir: string;
  log: Logger;
  /**
   * Sends locally originated requests from the server's listening sockets through the transaction
   * layer (Kamailio t_request); usable once the server has started. Absent in standalone use. (additive)
   */
  localRequests?: LocalRequestSender;
  /** core.db: the DB layer's timeouts and queue bounds, for the databases the module opens. (additive) */
  db?: import('../db/types.js').DbLimits;
  /** core.max_branches: modules that add branches (registrar lookup) add at most max_branches - 1. (additive) */
  maxBranches?: number;
  /** the node's `db` statistics group; databases the module opens are counted there. (additive) */
  dbStats?: import('../db/stats.js').DbStatistics;
  /**
   * The node runs several shards of the message path (`core.workers` > 1): which one this module
   * instance serves and how it reaches shard 0's state (host/shards/context.ts). Absent with one
   * shard. (additive)
   */
  shard?: import('../shards/context.js').ShardContext;
}

/**
 * Data a module must load before request_route (ABI v1 imports are synchronous and cannot wait for
 * a database): the pipeline asks `wants(msg)` for every request that passed sanity, awaits `load`
 * for those that want it, routes, then calls `done`. `load` must not reject (log instead; the
 * module's imports then answer as for missing data) and must be bounded by the DB layer's timeouts.
 */
export interface MessagePrefetcher {
  /** cheap and synchronous: whether `msg` needs `load` (false keeps the message on the sync path). */
  wants(msg: import('../sip/types.js').SipMessage): boolean;
  load(msg: import('../sip/types.js').SipMessage): Promise<void>;
  /** routing of a loaded message ended (whatever the plugin did). */
  done?(msg: import('../sip/types.js').SipMessage): void;
}

export interface SiphonModule {
  readonly name: string;
  /** JSON schema of `modules.<name>`. */
  readonly configSchema: object;
  init(ctx: ModuleInitContext): Promise<void>;
  /** plugin imports this module offers. */
  imports(): ImportProvider[];
  rpcMethods(): RpcMethod[];
  /** counters for stats.get_statistics, name → value. */
  statistics(): Record<string, number>;
  close(): Promise<void>;
  /**
   * RPC methods a worker shard serves for the main thread, which merges their answers with shard
   * 0's (host/shards/merge.ts DIALOG_METHODS: the dialog module's listings). (additive)
   */
  shardRpcMethods?(): RpcMethod[];
  /** what the module loads before routing, when it needs to (db_mode 3 registrar, auth_db's subscriber rows). (additive) */
  prefetcher?(): MessagePrefetcher | null;
}
