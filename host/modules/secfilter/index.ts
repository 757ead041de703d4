/**
 * The secfilter module (Kamailio secfilter): see README.md.
 */
import type { Database } from '../../db/types.js';
import { checkTableVersion, openDatabase } from '../../db/index.js';
import type { RpcMethod } from '../../rpc/types.js';
import type { ImportProvider } from '../../wasm/types.js';
import type { ModuleInitContext, SiphonModule } from '../types.js';
import { SecFilterImports } from './abi.js';
import { resolveSecFilterConfig, secfilterConfigSchema, type SecFilterConfig } from './config.js';
import { secfilterRpcMethods } from './rpc.js';
import { SecFilter, type RuleChange } from './secfilter.js';
import { RuleSet } from './rules.js';
import type { ShardContext } from '../../shards/context.js';
import { TableRuleSource } from './source.js';
import { ACTION_BLACKLIST, secfilterTableDef, TYPE_CODE, type SecfilterColumns, type SecfilterRule } from './table.js';
import type { Logger } from 'pino';

export { SecFilter, HeaderKind, headerPartsOf } from './secfilter.js';
export { SecFilterImports } from './abi.js';
export { secfilterRpcMethods } from './rpc.js';
export { RuleSet, RuleList } from './rules.js';
export { PrefixIndex } from './prefix-index.js';
export { TableRuleSource } from './source.js';
export { secfilterTableDef, SECFILTER_TABLE_VERSION } from './table.js';
export { parseHeaderParts } from './header-parts.js';
export { resolveSecFilterConfig, SECFILTER_DEFAULTS, secfilterConfigSchema } from './config.js';

export function columnsOf(cfg: SecFilterConfig): SecfilterColumns {
  return { table: cfg.table_name, action: cfg.action_col, type: cfg.type_col, data: cfg.data_col };
}

export interface SecFilterModuleOptions {
  /** an already open store (shared with other modules); otherwise `db_url` / the embedded store is opened. */
  db?: Database;
}

export class SecFilterModule implements SiphonModule {
  readonly name = 'secfilter';
  readonly configSchema = secfilterConfigSchema;
  private sf: SecFilter | null = null;
  private ownedDb: Database | null = null;

  constructor(private readonly opts: SecFilterModuleOptions = {}) {}

  get secfilter(): SecFilter {
    if (!this.sf) throw new Error('secfilter module not initialised');
    return this.sf;
  }

  async init(ctx: ModuleInitContext): Promise<void> {
    const cfg = resolveSecFilterConfig(ctx.config);
    const log = ctx.log.child({ module: 'secfilter' });
    const shard = ctx.shard;
    if (shard !== undefined && shard.index > 0) {
      this.sf = await workerSecFilter(cfg, shard, log);
      return;
    }
    let db = this.opts.db;
    if (!db) {
      db = await openDatabase(cfg.db_url, { dataDir: ctx.dataDir, log, limits: ctx.db, stats: ctx.dbStats, shard: ctx.shard });
      this.ownedDb = db;
    }
    try {
      const def = secfilterTableDef(columnsOf(cfg));
      const source = new TableRuleSource(db, columnsOf(cfg));
      // The embedded store creates its table on first use (with the seed rules); MySQL must have been
      // prepared (kamdbctl or `siphon db migrate`) and carry version 1, as Kamailio requires.
      if (db.kind === 'embedded') {
        const fresh = (await db.tableVersion(def.name)) === null;
        await db.ensureTable(def);
        if (fresh) await seedTable(source, cfg.seed_ua_blacklist, log);
      } else {
        await checkTableVersion(db, def);
      }
      const sf = new SecFilter({
        dstExactMatch: cfg.dst_exact_match !== 0,
        reloadDelta: cfg.reload_delta,
        source,
        log,
      });
      await sf.load();
      if (shard !== undefined) {
        // shard 0 of several: worker shards take the lists from here and follow every change (README "Shards")
        shard.provide(SECFILTER_SERVICE, { rules: () => sf.rules.toRules() });
        sf.onChange((c) => shard.broadcast(SECFILTER_TOPIC, c));
      }
      this.sf = sf;
    } catch (e) {
      await this.ownedDb?.close();
      this.ownedDb = null;
      throw e;
    }
  }

  imports(): ImportProvider[] {
    return this.sf ? [new SecFilterImports(this.sf)] : [];
  }

  rpcMethods(): RpcMethod[] {
    return this.sf ? secfilterRpcMethods(this.sf) : [];
  }

  statistics(): Record<string, number> {
    return this.sf ? this.sf.stats.toStatistics() : {};
  }

  async close(): Promise<void> {
    await this.ownedDb?.close();
    this.ownedDb = null;
    this.sf = null;
  }
}

export const SECFILTER_SERVICE = 'secfilter';
export const SECFILTER_TOPIC = 'secfilter.change';

/**
 * A worker shard's SecFilter: no database of its own; shard 0's lists at init, then shard 0's
 * changes as broadcast. The listener is registered before the lists are asked for: a change shard 0
 * broadcasts before it answers arrives first (one ordered port) and is already in the answer, one
 * it broadcasts after arrives after, so the worker ends with shard 0's lists either way.
 */
async function workerSecFilter(cfg: SecFilterConfig, shard: ShardContext, log: Logger): Promise<SecFilter> {
  const sf = new SecFilter({ dstExactMatch: cfg.dst_exact_match !== 0, reloadDelta: cfg.reload_delta, log });
  shard.on(SECFILTER_TOPIC, (c) => sf.apply(c as RuleChange));
  const rules = (await shard.main!.call(SECFILTER_SERVICE, 'rules', [])) as SecfilterRule[];
  sf.setRules(RuleSet.fromRules(rules));
  return sf;
}

/** `seed_ua_blacklist` into a table this node just created (README "Config keys"). */
async function seedTable(source: TableRuleSource, uas: readonly string[], log: Logger): Promise<void> {
  for (const ua of uas) await source.add({ action: ACTION_BLACKLIST, type: TYPE_CODE.ua, data: ua });
  if (uas.length > 0) log.info({ table: source.description, rules: uas.length }, 'secfilter: new table seeded with the user-agent blacklist of seed_ua_blacklist');
}

export function createSecFilterModule(opts?: SecFilterModuleOptions): SecFilterModule {
  return new SecFilterModule(opts);
}
