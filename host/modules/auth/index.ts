/**
 * The auth module (Kamailio auth): digest challenges, nonces and response verification. The
 * subscriber table is auth_db's; it calls `digestAuth` (api.ts). See README.md.
 */
import type { RpcMethod } from '../../rpc/types.js';
import type { ImportProvider } from '../../wasm/types.js';
import type { ModuleInitContext, SiphonModule } from '../types.js';
import type { Database } from '../../db/index.js';
import { AuthImports } from './abi.js';
import type { DigestAuthApi } from './api.js';
import { authConfigSchema, resolveAuthConfig } from './config.js';
import { DigestAuth, type DigestAuthOptions } from './digest-auth.js';
import { authRpcMethods } from './rpc.js';
import { loadSecret } from './secret.js';

export * from './api.js';
export { DigestAuth, type FailureSink } from './digest-auth.js';
export { AuthImports } from './abi.js';
export { authRpcMethods } from './rpc.js';
export { AUTH_DEFAULTS, authConfigSchema, resolveAuthConfig, type AuthConfig } from './config.js';
export { loadSecret, SECRET_TABLE } from './secret.js';

export interface AuthModuleOptions extends DigestAuthOptions {
  /** an open database for the secret row (tests); otherwise db_url / the embedded store. */
  db?: Database;
}

export class AuthModule implements SiphonModule {
  readonly name = 'auth';
  readonly configSchema = authConfigSchema;
  private a: DigestAuth | null = null;

  constructor(private readonly opts: AuthModuleOptions = {}) {}

  /** the running DigestAuth (after init); null before. */
  get digestAuth(): DigestAuth | null {
    return this.a;
  }

  /** the API credential backends call (auth_db). */
  get api(): DigestAuthApi {
    if (!this.a) throw new Error('auth module not initialised');
    return this.a;
  }

  async init(ctx: ModuleInitContext): Promise<void> {
    const cfg = resolveAuthConfig(ctx.config);
    const log = ctx.log.child({ module: 'auth' });
    const { secret, origin } = await loadSecret(cfg, { dataDir: ctx.dataDir, log, limits: ctx.db, stats: ctx.dbStats, shard: ctx.shard, db: this.opts.db });
    this.a = new DigestAuth(cfg, secret, this.opts);
    log.info(
      { secret_from: origin, algorithms: cfg.algorithms, nonce_count: cfg.nonce_count, one_time_nonce: cfg.one_time_nonce, nc_array_size: cfg.nc_array_size },
      `auth: nonce secret from ${origin === 'config' ? 'modules.auth.secret' : origin === 'mysql' ? 'the database (shared by the nodes on it)' : 'the embedded store'}`,
    );
  }

  imports(): ImportProvider[] {
    return this.a ? [new AuthImports(this.a)] : [];
  }

  rpcMethods(): RpcMethod[] {
    return this.a ? authRpcMethods(this.a) : [];
  }

  statistics(): Record<string, number> {
    return this.a ? this.a.statistics() : {};
  }

  async close(): Promise<void> {
    this.a?.setFailureSink(null);
    this.a = null;
  }
}

export function createAuthModule(): AuthModule {
  return new AuthModule();
}
