/**
 * The registrar module (Kamailio `registrar` + `usrloc`): location tables in memory, write-through
 * or DB only; save/lookup/registered/unregister for plugins; ul.* RPCs. See README.md.
 */
import type { Logger } from 'pino';
import { openDatabase, type Database } from '../../db/index.js';
import type { RpcMethod } from '../../rpc/types.js';
import type { ImportProvider } from '../../wasm/types.js';
import type { MessagePrefetcher, ModuleInitContext, SiphonModule } from '../types.js';
import { RegistrarImports } from './abi.js';
import { DbMode, registrarConfigSchema, resolveRegistrarConfig, type RegistrarConfig } from './config.js';
import { Location } from './location.js';
import { MysqlLocationBackend, TableLocationBackend, type LocationBackend } from './location-db.js';
import { Registrar } from './registrar.js';
import { registrarRpcMethods } from './rpc.js';
import { locationService, REGISTRAR_SERVICE, ShardLocationBackend } from './shard.js';
import { registrarStatistics } from './stats.js';
import type { ServiceCaller, ShardContext } from '../../shards/context.js';

export { Registrar, SaveFlag } from './registrar.js';
export type { SaveResult, LookupResult, LookupBranch, RegistrarReply, AorKey } from './registrar.js';
export { Location } from './location.js';
export { RegistrarImports } from './abi.js';
export { resolveRegistrarConfig, registrarConfigSchema, DbMode } from './config.js';
export { locationTableDef, mysqlLocationDdl, MysqlLocationBackend, TableLocationBackend } from './location-db.js';

export interface RegistrarModuleOptions {
  /** an open database (shared with other modules); without one, `db_url` is opened here. */
  db?: Database;
  /** clock in seconds (tests). */
  now?: () => number;
}

/** the backend for a table on a database: targeted SQL on MySQL, the Table API on the embedded store. */
export function locationBackend(db: Database, table: string): LocationBackend {
  return db.kind === 'mysql' ? new MysqlLocationBackend(db, table) : new TableLocationBackend(db, table);
}

/**
 * Builds a running Registrar from a resolved config: opens/prepares the tables, preloads
 * write-through tables, starts the expiry timers. Used by the module and by tests ("nodes").
 */
export async function startRegistrar(cfg: RegistrarConfig, db: Database | null, log: Logger, now?: () => number, shard?: ShardContext): Promise<Registrar> {
  if (shard?.main) return startWorkerRegistrar(cfg, shard.main, shard.index, log, now);
  const reg = new Registrar(cfg, log);
  for (const name of cfg.tables) {
    let backend: LocationBackend | null = null;
    if (cfg.db_mode !== DbMode.MEMORY) {
      if (!db) throw new Error(`registrar: db_mode ${cfg.db_mode} needs a database`);
      backend = locationBackend(db, name);
      await backend.prepare(cfg.create_tables);
    }
    const loc = new Location({ name, dbMode: cfg.db_mode, backend, timerInterval: cfg.timer_interval, log, now });
    const n = await loc.preload();
    if (n > 0) log.info({ table: name, contacts: n }, 'usrloc: contacts loaded from the database');
    loc.start();
    reg.addTable(loc);
  }
  // shard 0 of several: its tables are the worker shards' tables too (shard.ts)
  if (shard !== undefined && shard.count > 1) shard.provide(REGISTRAR_SERVICE, locationService(reg));
  return reg;
}

/**
 * A worker shard's registrar (README "Shards"): every table DB-only over shard 0's service, no
 * database of its own, no expiry timer (shard 0 sweeps).
 */
async function startWorkerRegistrar(cfg: RegistrarConfig, main: ServiceCaller, index: number, log: Logger, now?: () => number): Promise<Registrar> {
  const reg = new Registrar(cfg, log, index);
  for (const name of cfg.tables) {
    const backend = new ShardLocationBackend(main, name);
    await backend.prepare();
    reg.addTable(new Location({ name, dbMode: DbMode.DB_ONLY, backend, timerInterval: cfg.timer_interval, log, now }));
  }
  return reg;
}

export async function stopRegistrar(reg: Registrar): Promise<void> {
  for (const name of reg.tableNames()) await reg.table(name)!.stop();
}

export class RegistrarModule implements SiphonModule {
  readonly name = 'registrar';
  readonly configSchema = registrarConfigSchema;
  private reg: Registrar | null = null;
  private imports_: RegistrarImports | null = null;
  private ownedDb: Database | null = null;
  /** a worker shard (core.workers): tables through shard 0, no RPC methods, no gauges. */
  private worker = false;

  constructor(private readonly opts: RegistrarModuleOptions = {}) {}

  /** the running registrar (after init): the pipeline calls its async save/lookup for db_mode 3. */
  get registrar(): Registrar {
    if (!this.reg) throw new Error('registrar module not initialised');
    return this.reg;
  }

  async init(ctx: ModuleInitContext): Promise<void> {
    const cfg = resolveRegistrarConfig(ctx.config);
    const log = ctx.log.child({ module: 'registrar' });
    let db: Database | null = null;
    this.worker = (ctx.shard?.main ?? null) !== null;
    // a worker shard stores nothing itself: shard 0 holds the tables (and the database)
    if (cfg.db_mode !== DbMode.MEMORY && !this.worker) {
      db = this.opts.db ?? null;
      if (!db) {
        db = await openDatabase(cfg.db_url, { dataDir: ctx.dataDir, log, limits: ctx.db, stats: ctx.dbStats, shard: ctx.shard });
        this.ownedDb = db;
      }
    }
    this.reg = await startRegistrar(cfg, db, log, this.opts.now, ctx.shard);
    if (ctx.maxBranches !== undefined) this.reg.maxBranches = ctx.maxBranches;
    this.imports_ = new RegistrarImports(this.reg);
  }

  imports(): ImportProvider[] {
    return this.imports_ ? [this.imports_] : [];
  }

  rpcMethods(): RpcMethod[] {
    // RPCs run in shard 0, on the tables every shard shares
    return this.reg && !this.worker ? registrarRpcMethods(this.reg) : [];
  }

  statistics(): Record<string, number> {
    if (!this.reg) return {};
    const s = registrarStatistics(this.reg);
    if (this.worker) {
      // gauges of the shared tables come from shard 0 only (the lead sums every shard's keys)
      delete s.registered_users;
      delete s.registered_contacts;
    }
    return s;
  }

  /**
   * db_mode 3 (DB only) and worker shards: REGISTERs and initial requests load their AORs' rows
   * before routing, so save()/lookup() from the plugin see the table (README "db_mode 3 and
   * plugins", "Shards").
   */
  prefetcher(): MessagePrefetcher | null {
    const reg = this.reg;
    // db_mode 3, or a worker shard (its tables are DB-only over shard 0)
    if (!reg || reg.tableNames().every((t) => reg.table(t)!.memoryBacked)) return null;
    return {
      wants: (msg) => {
        const m = msg.method;
        if (m === 'REGISTER') return true;
        if (m === 'ACK' || m === 'CANCEL') return false;
        return !msg.to?.tag;
      },
      load: (msg) => reg.prefetch(msg),
      done: (msg) => reg.prefetchDone(msg),
    };
  }

  async close(): Promise<void> {
    if (this.reg) await stopRegistrar(this.reg);
    await this.ownedDb?.close();
    this.reg = null;
    this.ownedDb = null;
  }
}

export function createRegistrarModule(opts?: RegistrarModuleOptions): RegistrarModule {
  return new RegistrarModule(opts);
}
