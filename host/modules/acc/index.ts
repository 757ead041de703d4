/**
 * The acc module (Kamailio acc / acc_db with CDRs): accounting records and one CDR per call, from
 * the dialog module's events, into Kamailio's `acc`, `missed_calls` and `acc_cdrs` tables
 * (MySQL/MariaDB or the embedded store), JSON log lines and an in-memory ring read by `acc.cdrs`.
 * See README.md. `wireAcc(modules)` (host/server/app.ts, the worker shards) subscribes it to the
 * dialog module once both are initialised.
 */
import type { Logger } from 'pino';
import { openDatabase, type Database } from '../../db/index.js';
import { Errors } from '../../errors/registry.js';
import type { RpcMethod } from '../../rpc/types.js';
import type { ImportProvider } from '../../wasm/types.js';
import type { DialogTable } from '../dialog/index.js';
import type { ModuleInitContext, SiphonModule } from '../types.js';
import { AccImports } from './abi.js';
import { Accounting, type AccTables } from './accounting.js';
import { accConfigSchema, resolveAccConfig, type AccConfig } from './config.js';
import { parseExtras } from './extra.js';
import { WriteQueue } from './queue.js';
import { accRpcMethods } from './rpc.js';
import { accTableDef, cdrsTableDef, ACC_TABLE_VERSION, MISSED_CALLS_TABLE_VERSION, type AccRow, type CdrRow } from './tables.js';

export { Accounting, sqlTime, type Cdr } from './accounting.js';
export { ACC_DEFAULTS, accConfigSchema, resolveAccConfig, type AccConfig } from './config.js';
export { accTableDef, cdrsTableDef } from './tables.js';

export class AccModule implements SiphonModule {
  readonly name = 'acc';
  readonly configSchema = accConfigSchema;
  cfg: AccConfig | null = null;
  private a: Accounting | null = null;
  private db: Database | null = null;
  private log: Logger | null = null;
  private unsubscribe: (() => void) | null = null;

  get accounting(): Accounting {
    if (!this.a) throw new Error('acc module not initialised');
    return this.a;
  }

  async init(ctx: ModuleInitContext): Promise<void> {
    const cfg = resolveAccConfig(ctx.config);
    this.cfg = cfg;
    const log = ctx.log.child({ module: 'acc' });
    this.log = log;
    const extras = { db: parseExtras(cfg.db_extra), log: parseExtras(cfg.log_extra), cdr: parseExtras(cfg.cdr_extra) };
    const tables: AccTables = { acc: null, missed: null, cdrs: null };
    if (cfg.db_enable === 1 || cfg.cdr_enable === 1) {
      const db = await openDatabase(cfg.db_url, { dataDir: ctx.dataDir, log, limits: ctx.db, stats: ctx.dbStats, shard: ctx.shard });
      this.db = db;
      try {
        if (cfg.db_enable === 1) {
          const accDef = accTableDef(cfg.db_table_acc, ACC_TABLE_VERSION, extras.db);
          const missedDef = accTableDef(cfg.db_table_missed_calls, MISSED_CALLS_TABLE_VERSION, extras.db);
          await db.ensureTable(accDef);
          await db.ensureTable(missedDef);
          tables.acc = db.table<AccRow>(accDef);
          tables.missed = db.table<AccRow>(missedDef);
        }
        if (cfg.cdr_enable === 1) {
          const cdrDef = cdrsTableDef(cfg, extras.cdr);
          await db.ensureTable(cdrDef);
          tables.cdrs = db.table<CdrRow>(cdrDef);
        }
      } catch (e) {
        await db.close();
        this.db = null;
        throw e;
      }
    }
    this.a = new Accounting(cfg, extras, tables, new WriteQueue(cfg.max_queue, log), log);
  }

  /** subscribes to a dialog table's events (wireAcc); without the dialog module nothing is accounted. */
  attach(table: DialogTable | null): void {
    if (table === null) {
      this.log?.warn('acc: modules.dialog is not configured; no call is accounted');
      return;
    }
    this.unsubscribe?.();
    this.unsubscribe = table.events.subscribe(this.accounting.onDialogEvent);
  }

  imports(): ImportProvider[] {
    return this.a ? [new AccImports(this.a)] : [];
  }

  rpcMethods(): RpcMethod[] {
    return this.a ? accRpcMethods(this.a) : [];
  }

  /** each worker shard's ring, concatenated after shard 0's by the main thread (host/shards/merge.ts). */
  shardRpcMethods(): RpcMethod[] {
    return this.rpcMethods();
  }

  statistics(): Record<string, number> {
    if (!this.a) return {};
    const s = this.a.stats;
    const q = this.a.queue;
    return {
      acc_records: s.acc_records,
      missed_records: s.missed_records,
      cdrs: s.cdrs,
      db_written: q.written,
      db_dropped: q.dropped,
      db_failed: q.failed,
      db_queue: q.length,
      calls_in_flight: this.a.inFlight,
    };
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    // records still queued get a bounded wait: a hung database must not hold the node's stop
    if (this.a) await drainWithin(this.a.queue, CLOSE_DRAIN_MS, this.log);
    await this.db?.close();
    this.db = null;
    this.a = null;
  }
}

/** ms close() waits for queued records before closing the database (the rest are lost, logged). */
export const CLOSE_DRAIN_MS = 3000;

async function drainWithin(q: WriteQueue, ms: number, log: Logger | null): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  const done = await Promise.race([q.drain().then(() => true), late]);
  clearTimeout(timer);
  if (!done) log?.warn({ code: Errors.ACC_DB.code, pending: q.length }, 'acc: records still queued at stop are lost [E9301]');
}

export function createAccModule(): AccModule {
  return new AccModule();
}
