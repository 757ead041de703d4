/**
 * The auth module (Kamailio auth): digest challenges, nonces and response verification. The
 * subscriber table is auth_db's; it calls `digestAuth` (api.ts). See README.md.
 */
import type { RpcMethod } from '../../rpc/types.js';
import type { ImportProvider } from '../../wasm/types.js';
import type { MessagePrefetcher, ModuleInitContext, SiphonModule } from '../types.js';
import type { Database } from '../../db/index.js';
import { AuthImports } from './abi.js';
import type { DigestAuthApi } from './api.js';
import { authConfigSchema, resolveAuthConfig } from './config.js';
import { DigestAuth, type DigestAuthOptions } from './digest-auth.js';
import { authRpcMethods } from './rpc.js';
import { loadSecret, type SecretOrigin } from './secret.js';
import { AUTH_SERVICE, ReplayOwner, WorkerReplay } from './shard.js';
import { SiphonError } from '../../errors/registry.js';

export * from './api.js';
export { DigestAuth, type FailureSink } from './digest-auth.js';
export { AuthImports } from './abi.js';
export { authRpcMethods } from './rpc.js';
export { AUTH_DEFAULTS, authConfigSchema, resolveAuthConfig, type AuthConfig } from './config.js';
export { loadSecret, SECRET_TABLE } from './secret.js';
export { ReplayOwner, WorkerReplay, AUTH_SERVICE } from './shard.js';

export interface AuthModuleOptions extends DigestAuthOptions {
  /** an open database for the secret row (tests); otherwise db_url / the embedded store. */
  db?: Database;
}

export class AuthModule implements SiphonModule {
  readonly name = 'auth';
  readonly configSchema = authConfigSchema;
  private a: DigestAuth | null = null;
  /** shard 0 of several: the replay state every shard uses (shard.ts). */
  private owner: ReplayOwner | null = null;
  /** a worker shard: its way to shard 0's replay state. */
  private worker: WorkerReplay | null = null;

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
    const shard = ctx.shard;
    if (shard !== undefined && shard.index > 0) {
      // a worker shard: shard 0's secret (its nonces verify here) and shard 0's replay state
      const secret = cfg.secret !== null && cfg.secret !== '' ? cfg.secret : await secretOfShard0(shard);
      const useTable = cfg.nonce_count || cfg.one_time_nonce;
      const worker = useTable ? new WorkerReplay(shard, (e) => log.warn({ err: e.message, shard: shard.index }, 'auth: shard 0 did not answer for the replay state')) : null;
      this.a = new DigestAuth(cfg, secret, { ...this.opts, ...(worker ? { replay: worker } : {}) });
      worker?.bind(this.a);
      this.worker = worker;
      log.debug({ shard: shard.index, secret_from: cfg.secret ? 'config' : 'shard 0' }, 'auth: worker shard, replay state in shard 0');
      return;
    }
    const { secret, origin } = await loadSecret(cfg, { dataDir: ctx.dataDir, log, limits: ctx.db, stats: ctx.dbStats, shard: ctx.shard, db: this.opts.db });
    this.a = new DigestAuth(cfg, secret, this.opts);
    if (shard !== undefined) {
      this.owner = new ReplayOwner(this.a, secret);
      this.owner.provide(shard);
    }
    log.info(
      { secret_from: origin, algorithms: cfg.algorithms, nonce_count: cfg.nonce_count, one_time_nonce: cfg.one_time_nonce, nc_array_size: cfg.nc_array_size },
      `auth: nonce secret from ${originText(origin)}`,
    );
  }

  /** shard 0's replay state (several shards, in shard 0); null otherwise. */
  get replayOwner(): ReplayOwner | null {
    return this.owner;
  }

  /** worker shards: the claims of a request's nonces in shard 0 are made before routing. */
  prefetcher(): MessagePrefetcher | null {
    return this.worker?.prefetcher() ?? null;
  }

  /** worker shards: the replay gate (tests flush its failure batch). */
  get workerReplay(): WorkerReplay | null {
    return this.worker;
  }

  imports(): ImportProvider[] {
    return this.a ? [new AuthImports(this.a)] : [];
  }

  rpcMethods(): RpcMethod[] {
    return this.a ? authRpcMethods(this.a) : [];
  }

  statistics(): Record<string, number> {
    if (!this.a) return {};
    // shard 0 of several: uses refused because too many were held at once (shard.ts MAX_HOLDS)
    return this.owner ? { ...this.a.statistics(), replay_holds_full: this.owner.full } : this.a.statistics();
  }

  async close(): Promise<void> {
    this.a?.setFailureSink(null);
    this.a = null;
    this.owner = null;
    this.worker = null;
  }
}

function originText(origin: SecretOrigin): string {
  return origin === 'config' ? 'modules.auth.secret' : origin === 'mysql' ? 'the database (shared by the nodes on it)' : 'the embedded store';
}

/** a worker shard's secret: shard 0's, through its `auth` service (never logged). */
async function secretOfShard0(shard: import('../../shards/context.js').ShardContext): Promise<string> {
  try {
    const s = await shard.main!.call(AUTH_SERVICE, 'secret', []);
    if (typeof s !== 'string' || s.length === 0) throw new Error('shard 0 gave no secret');
    return s;
  } catch (cause) {
    throw new SiphonError('AUTH_SECRET', `cannot get the nonce secret from shard 0: ${(cause as Error).message}`, { cause });
  }
}

export function createAuthModule(): AuthModule {
  return new AuthModule();
}
