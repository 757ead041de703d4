/**
 * The auth_db module (Kamailio auth_db): the subscriber table in the embedded store or MySQL,
 * www_authorize / proxy_authorize / auth_check for plugins over the auth module's digest API, the
 * rows loaded before routing, and subscriber.* RPCs for `siphon subscriber`. See README.md.
 */
import { openDatabase, type Database } from '../../db/index.js';
import { DB_LIMIT_DEFAULTS } from '../../db/limits.js';
import type { RpcMethod } from '../../rpc/types.js';
import type { ImportProvider } from '../../wasm/types.js';
import { digestAuthOf, type DigestAuthApi } from '../auth/api.js';
import { SiphonError } from '../../errors/registry.js';
import type { MessagePrefetcher, ModuleInitContext, SiphonModule } from '../types.js';
import { AuthDbImports } from './abi.js';
import { Authorizer } from './authorize.js';
import { authDbConfigSchema, resolveAuthDbConfig } from './config.js';
import { SubscriberPrefetch } from './prefetch.js';
import { authDbRpcMethods } from './rpc.js';
import { AuthDbStats } from './stats.js';
import { SubscriberStore } from './store.js';

export { AUTH_DB_DEFAULTS, authDbConfigSchema, resolveAuthDbConfig, type AuthDbConfig } from './config.js';
export { SubscriberStore, LIST_MAX_ROWS, type SubscriberRow, type SubscriberListing } from './store.js';
export { subscriberTableDef, columnsOf, credentialColumns, parseAccount, checkPassword, SUBSCRIBER_TABLE_VERSION } from './table.js';
export { Authorizer, AUTH_CHECK_ID_F, AUTH_CHECK_SKIPFWD_F } from './authorize.js';
export { SubscriberPrefetch, FAILED } from './prefetch.js';
export { AuthDbImports } from './abi.js';
export { authDbRpcMethods } from './rpc.js';
export { AuthDbStats } from './stats.js';

export interface AuthDbModuleOptions {
  /** an open database (shared with other modules); without one, `db_url` is opened here. */
  db?: Database;
}

export class AuthDbModule implements SiphonModule {
  readonly name = 'auth_db';
  readonly configSchema = authDbConfigSchema;
  readonly stats = new AuthDbStats();
  private store_: SubscriberStore | null = null;
  private prefetch_: SubscriberPrefetch | null = null;
  private authz: Authorizer | null = null;
  private ownedDb: Database | null = null;
  private digest: DigestAuthApi | null = null;

  constructor(private readonly opts: AuthDbModuleOptions = {}) {}

  get store(): SubscriberStore {
    if (!this.store_) throw new Error('auth_db module not initialised');
    return this.store_;
  }

  /** the authorize functions (after init), for host code and tests. */
  get authorizer(): Authorizer {
    if (!this.authz) throw new Error('auth_db module not initialised');
    return this.authz;
  }

  /** hands the module the auth module's digest API (app.ts wireAuthDb; Kamailio: auth_db binds auth's API at load). */
  bindDigestAuth(api: DigestAuthApi | null): void {
    this.digest = api;
  }

  async init(ctx: ModuleInitContext): Promise<void> {
    const cfg = resolveAuthDbConfig(ctx.config);
    const log = ctx.log.child({ module: 'auth_db' });
    let db = this.opts.db ?? null;
    if (!db) {
      db = await openDatabase(cfg.db_url, { dataDir: ctx.dataDir, log, limits: ctx.db, stats: ctx.dbStats, shard: ctx.shard });
      this.ownedDb = db;
    }
    const store = new SubscriberStore(db, cfg);
    try {
      await store.prepare();
    } catch (e) {
      await this.ownedDb?.close();
      this.ownedDb = null;
      throw e;
    }
    await hintWhenEmpty(store, log);
    try {
      await store.warm(ctx.db?.max_connections ?? DB_LIMIT_DEFAULTS.max_connections);
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'subscriber lookups not prepared ahead (the first lookups prepare them)');
    }
    const api = (): DigestAuthApi | null => this.digest;
    this.store_ = store;
    this.prefetch_ = new SubscriberPrefetch(store, cfg, this.stats, log, api);
    this.authz = new Authorizer(cfg, this.prefetch_, this.stats, log, api);
  }

  imports(): ImportProvider[] {
    return this.authz ? [new AuthDbImports(this.authz)] : [];
  }

  rpcMethods(): RpcMethod[] {
    return this.store_ ? authDbRpcMethods(this.store_, this.stats) : [];
  }

  statistics(): Record<string, number> {
    return this.stats.toStatistics();
  }

  /** requests with Authorization / Proxy-Authorization load their subscribers' rows before routing. */
  prefetcher(): MessagePrefetcher | null {
    const p = this.prefetch_;
    if (!p) return null;
    return { wants: (msg) => p.wants(msg), load: (msg) => p.load(msg), done: (msg) => p.done(msg) };
  }

  async close(): Promise<void> {
    await this.ownedDb?.close();
    this.ownedDb = null;
    this.store_ = null;
    this.prefetch_ = null;
    this.authz = null;
  }
}

/**
 * An empty subscriber table authenticates nobody: said once at start, with the command that fixes it
 * (a lookup failure here is left to the per-request handling).
 */
async function hintWhenEmpty(store: SubscriberStore, log: import('pino').Logger): Promise<void> {
  const table = store.tableNames()[0]!;
  try {
    if ((await store.list(table, undefined, 1)).length > 0) return;
  } catch {
    return;
  }
  log.warn({ table, where: store.db.location }, `auth_db: no subscribers in "${table}" yet, so nobody can authenticate: add one with "siphon subscriber add USER@DOMAIN PASSWORD"`);
}

/**
 * auth_db verifies through the auth module's digest API (Kamailio: auth_db binds auth's API at load
 * and refuses to start without it). Called once the node's modules are initialised (and for the
 * warm-up's module copies). `required`: with modules.auth_db but no modules.auth the node does not
 * start (E1003); otherwise the functions answer -1.
 */
export function wireAuthDb(modules: readonly SiphonModule[], required: boolean): void {
  const mod = modules.find((m): m is AuthDbModule => m instanceof AuthDbModule);
  if (!mod) return;
  const api = digestAuthOf(modules);
  if (!api && required) throw new SiphonError('CONFIG_SCHEMA', "modules.auth_db needs modules.auth (the digest checks are the auth module's)");
  mod.bindDigestAuth(api);
}

export function createAuthDbModule(opts?: AuthDbModuleOptions): AuthDbModule {
  return new AuthDbModule(opts);
}
