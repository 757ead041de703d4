/**
 * The dispatcher module (Kamailio `dispatcher`): destination sets from a list file or the
 * `dispatcher` table, Kamailio's selection algorithms, keepalive probing with state and latency,
 * failover. See README.md.
 */
import path from 'node:path';
import type { ImportProvider } from '../../wasm/types.js';
import type { RpcMethod } from '../../rpc/types.js';
import type { ModuleInitContext, SiphonModule } from '../types.js';
import { dispatcherConfigSchema, resolveDispatcherConfig, type DispatcherConfig } from './config.js';
import { checkTableVersion, openDatabase, type Database } from '../../db/index.js';
import { DISPATCHER_TABLE, DispatcherDbSource, ListFileSource, type DestinationSource } from './db.js';
import { Dispatcher } from './dispatcher.js';
import { DispatcherImports } from './abi.js';
import { dispatcherRpcMethods } from './rpc.js';
import { dispatcherStatistics } from './stats.js';
import { UdpProber } from './udp-prober.js';
import { TransactionProber } from './tm-prober.js';
import type { Prober } from './prober.js';
import type { DsStateEvent } from './dispatcher.js';
import { PrimarySync, ReplicaSource, ReplicaSync } from './shards.js';

export { Dispatcher } from './dispatcher.js';
export { DispatcherImports } from './abi.js';
export type { Prober, ProbeResult, ProbeTarget } from './prober.js';
export { UdpProber } from './udp-prober.js';
export { TransactionProber } from './tm-prober.js';

export interface DispatcherModuleOptions {
  /** an open database (shared with other modules); without one, `db_url` is opened here. */
  db?: Database;
  /** a keepalive sender (the transaction layer's); default: the standalone UDP prober. */
  prober?: Prober;
}

export class DispatcherModule implements SiphonModule {
  readonly name = 'dispatcher';
  readonly configSchema = dispatcherConfigSchema;
  private ds: Dispatcher | null = null;
  private imports_: DispatcherImports | null = null;
  private ownedDb: Database | null = null;
  /** Kamailio event_route[dispatcher:dst-down] / [dispatcher:dst-up] occurrences. */
  private readonly events = { down: 0, up: 0 };
  /** a worker shard (core.workers): shard 0 owns the state, the RPC methods and the gauges. */
  private replica = false;
  private replicaSync: ReplicaSync | null = null;

  constructor(private readonly opts: DispatcherModuleOptions = {}) {}

  /** the running dispatcher (after init). */
  get dispatcher(): Dispatcher {
    if (!this.ds) throw new Error('dispatcher module not initialised');
    return this.ds;
  }

  async init(ctx: ModuleInitContext): Promise<void> {
    const cfg: DispatcherConfig = resolveDispatcherConfig(ctx.config);
    // worker shards take sets and states from shard 0 (shards.ts): no list file, table or prober here
    const shard = ctx.shard;
    this.replica = shard !== undefined && shard.index > 0;
    let source: DestinationSource;
    if (this.replica) {
      source = new ReplicaSource();
    } else if (cfg.db_url) {
      let db = this.opts.db;
      if (!db) {
        db = await openDatabase(cfg.db_url, { dataDir: ctx.dataDir, log: ctx.log, limits: ctx.db, stats: ctx.dbStats, shard: ctx.shard });
        this.ownedDb = db;
      }
      // Kamailio refuses a table at another version (db_check_table_version)
      const def = { ...DISPATCHER_TABLE, name: cfg.table_name };
      await checkTableVersion(db, def);
      source = new DispatcherDbSource(db, def);
    } else {
      source = new ListFileSource(path.resolve(cfg.list_file));
    }
    const log = ctx.log.child({ module: 'dispatcher' });
    const ds = new Dispatcher(cfg, source, { log });
    if (this.replica) this.replicaSync = await ReplicaSync.join(ds, shard!, log);
    else {
      await ds.reload();
      if (shard) ds.sync = new PrimarySync(ds, shard);
    }
    if (cfg.ds_ping_interval > 0 && !this.replica) {
      // keepalives leave from siphon's own socket through tm when the node offers it (Kamailio
      // ds_ping through t_request); standalone, the module's own UDP prober sends them
      const prober =
        this.opts.prober ??
        (ctx.localRequests ? new TransactionProber(ctx.localRequests) : await UdpProber.start({ address: cfg.ping_local_address, port: cfg.ping_local_port }));
      ds.setProber(prober);
    }
    // event_route[dispatcher:dst-down|dst-up]: the dispatcher logs each one; counted here
    ds.on('dst-down', (_ev: DsStateEvent) => {
      this.events.down++;
    });
    ds.on('dst-up', (_ev: DsStateEvent) => {
      this.events.up++;
    });
    ds.start();
    this.ds = ds;
    this.imports_ = new DispatcherImports(ds);
  }

  /**
   * Worker shards: resolves once every change shard 0 made before the call is applied in this
   * shard (see shards.ts). Shard 0 and a single shard: at once.
   */
  async caughtUp(): Promise<void> {
    await this.replicaSync?.caughtUp();
  }

  imports(): ImportProvider[] {
    return this.imports_ ? [this.imports_] : [];
  }

  rpcMethods(): RpcMethod[] {
    return this.ds && !this.replica ? dispatcherRpcMethods(this.ds) : [];
  }

  statistics(): Record<string, number> {
    return this.ds ? { ...dispatcherStatistics(this.ds, !this.replica), dst_down_events: this.events.down, dst_up_events: this.events.up } : {};
  }

  async close(): Promise<void> {
    await this.ds?.stop();
    await this.ownedDb?.close();
    this.ds = null;
    this.ownedDb = null;
  }
}

export function createDispatcherModule(opts?: DispatcherModuleOptions): DispatcherModule {
  return new DispatcherModule(opts);
}
