/**
 * The htable module (Kamailio htable): named in-memory tables shared by every plugin version of the
 * node, with auto-expiry, an optional DB table, RPC. See README.md.
 */
import type { Logger } from 'pino';
import { openDatabase } from '../../db/index.js';
import type { Database } from '../../db/types.js';
import { RpcFault, type RpcMethod } from '../../rpc/types.js';
import type { ImportProvider } from '../../wasm/types.js';
import type { ModuleInitContext, SiphonModule } from '../types.js';
import { HtableImports } from './abi.js';
import { htableConfigSchema, resolveHtableConfig, type HtableConfig } from './config.js';
import { loadRows, prepareDbTable, storeTable } from './db.js';
import { Htable } from './htable.js';
import { htableRpcMethods } from './rpc.js';
import { HtableForwarder, provideHtable } from './shard.js';

export { Htable, HtableStats, SWEEP_BUDGET, type HtChange, type HtOp } from './htable.js';
export { HtTable, type HtItem, type HtValue } from './table.js';
export { HtableImports, MAX_ITERATORS } from './abi.js';
export { htableRpcMethods, expireText } from './rpc.js';
export { compileMatcher, reduceRegex, MatchOp } from './match.js';
export { htableTableDef, loadRows, storeTable, HTABLE_TABLE_VERSION } from './db.js';
export { HtableForwarder, provideHtable, HTABLE_SERVICE, HTABLE_CHANGES_TOPIC } from './shard.js';
export { htableConfigSchema, resolveHtableConfig, parseTableSpec, TABLE_DEFAULTS, MAX_TABLES, type HtableConfig, type TableSpec } from './config.js';

export class HtableModule implements SiphonModule {
  readonly name = 'htable';
  readonly configSchema = htableConfigSchema;
  private ht: Htable | null = null;
  private cfg: HtableConfig | null = null;
  private db: Database | null = null;
  private log: Logger | null = null;
  private forwarder: HtableForwarder | null = null;

  get htable(): Htable {
    if (!this.ht) throw new Error('htable module not initialised');
    return this.ht;
  }

  /** worker shards: the queue of operations for shard 0 (tests flush it). */
  get shardForwarder(): HtableForwarder | null {
    return this.forwarder;
  }

  async init(ctx: ModuleInitContext): Promise<void> {
    const cfg = resolveHtableConfig(ctx.config);
    const log = ctx.log.child({ module: 'htable' });
    this.cfg = cfg;
    this.log = log;
    const shard = ctx.shard;
    if (shard !== undefined && shard.index > 0) {
      // a worker shard: a replica of shard 0's tables (shard.ts); no database, no timer
      const fwd = new HtableForwarder(shard, (e) => log.warn({ code: 'E7503', err: e.message, shard: shard.index }, 'htable: operations not delivered to shard 0'));
      const ht: Htable = new Htable(cfg.tables, {
        log,
        forward: (op) => {
          ht.stats.forwarded++;
          fwd.send(op);
        },
      });
      await fwd.start(ht);
      this.ht = ht;
      this.forwarder = fwd;
      return;
    }
    const ht = new Htable(cfg.tables, { log });
    if (shard !== undefined) provideHtable(ht, shard);
    this.ht = ht;
    if (cfg.tables.some((t) => t.dbtable !== '')) {
      const db = await openDatabase(cfg.db_url, { dataDir: ctx.dataDir, log, limits: ctx.db, stats: ctx.dbStats, shard });
      this.db = db;
      try {
        for (const t of cfg.tables) {
          if (t.dbtable === '') continue;
          await prepareDbTable(db, t);
          await this.loadTable(t.name);
        }
      } catch (e) {
        await db.close();
        this.db = null;
        throw e;
      }
    }
    ht.start(cfg.timer_interval);
  }

  /** (re)loads a table from its dbtable (start, htable.reload); how many items it holds. */
  private async loadTable(name: string): Promise<number> {
    const ht = this.htable;
    const spec = ht.specs.get(name)!;
    if (this.db === null || spec.dbtable === '') throw new RpcFault(500, 'No database htable');
    const { items, skipped } = await loadRows(this.db, spec, this.cfg!, ht.now(), this.log!);
    const n = ht.replaceItems(name, items);
    ht.stats.dbLoaded += n;
    ht.stats.dbSkipped += skipped + (items.length - n);
    this.log!.info({ table: name, dbtable: spec.dbtable, items: n, skipped: skipped + items.length - n }, 'htable: table loaded from the database');
    return n;
  }

  private async storeTable(name: string): Promise<number> {
    const ht = this.htable;
    const spec = ht.specs.get(name)!;
    if (this.db === null || spec.dbtable === '') throw new RpcFault(500, 'No database htable');
    const { stored, skipped } = await storeTable(this.db, ht, spec, this.cfg!);
    ht.stats.dbStored += stored;
    ht.stats.dbSkipped += skipped;
    if (skipped > 0) this.log!.warn({ code: 'E7502', table: name, skipped }, `htable: ${skipped} items of ${name} too long for the DB columns (key 64, value 128) not stored`);
    return stored;
  }

  imports(): ImportProvider[] {
    return this.ht ? [new HtableImports(this.ht)] : [];
  }

  rpcMethods(): RpcMethod[] {
    // worker shards register none: the control plane runs module methods on shard 0, which owns the tables
    if (!this.ht || this.forwarder !== null) return [];
    return htableRpcMethods(this.ht, { reload: (t) => this.loadTable(t), store: (t) => this.storeTable(t) });
  }

  statistics(): Record<string, number> {
    return this.ht ? this.ht.statistics() : {};
  }

  async close(): Promise<void> {
    const ht = this.ht;
    if (ht === null) return;
    ht.stop();
    if (this.db !== null && this.forwarder === null) {
      // dbmode=1: the tables go back to the database at shutdown (Kamailio mod_destroy → ht_db_sync_tables)
      for (const spec of ht.specs.values()) {
        if (spec.dbmode !== 1) continue;
        try {
          await this.storeTable(spec.name);
        } catch (e) {
          this.log?.error({ code: 'E7502', table: spec.name, err: (e as Error).message }, 'htable: table not written back to the database');
        }
      }
      await this.db.close();
    }
    this.db = null;
    this.ht = null;
    this.forwarder = null;
  }
}

export function createHtableModule(): HtableModule {
  return new HtableModule();
}
