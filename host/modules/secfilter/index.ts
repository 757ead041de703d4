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
import { SecFilter } from './secfilter.js';
import { TableRuleSource } from './source.js';
import { ACTION_BLACKLIST, secfilterTableDef, TYPE_CODE, type SecfilterColumns } from './table.js';
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

/** `seed_ua_blacklist` into a table this node just created (README "Config keys"). */
async function seedTable(source: TableRuleSource, uas: readonly string[], log: Logger): Promise<void> {
  for (const ua of uas) await source.add({ action: ACTION_BLACKLIST, type: TYPE_CODE.ua, data: ua });
  if (uas.length > 0) log.info({ table: source.description, rules: uas.length }, 'secfilter: new table seeded with the user-agent blacklist of seed_ua_blacklist');
}

export function createSecFilterModule(opts?: SecFilterModuleOptions): SecFilterModule {
  return new SecFilterModule(opts);
}
