/**
 * The pike module (Kamailio pike): flood detection per source address. See README.md.
 */
import type { RpcMethod } from '../../rpc/types.js';
import type { ImportProvider } from '../../wasm/types.js';
import type { ModuleInitContext, SiphonModule } from '../types.js';
import { PikeImports } from './abi.js';
import { pikeConfigSchema, resolvePikeConfig } from './config.js';
import { Pike } from './pike.js';
import { pikeRpcMethods } from './rpc.js';
import { providePike, ShardForwarder } from './shard.js';

export { Pike, Shed } from './pike.js';
export { PikeImports } from './abi.js';
export { pikeRpcMethods, RPC_MAX_ROWS } from './rpc.js';
export { providePike, ShardForwarder, PIKE_SERVICE } from './shard.js';
export { PikeTable, PIKE_OK, PIKE_BLOCKED, PIKE_NEW_BLOCK, type PikeState, type SourceView } from './table.js';
export { PIKE_DEFAULTS, pikeConfigSchema, resolvePikeConfig, type PikeConfig, type PikeAuto } from './config.js';

export class PikeModule implements SiphonModule {
  readonly name = 'pike';
  readonly configSchema = pikeConfigSchema;
  private p: Pike | null = null;
  private forwarder: ShardForwarder | null = null;

  get pike(): Pike {
    if (!this.p) throw new Error('pike module not initialised');
    return this.p;
  }

  async init(ctx: ModuleInitContext): Promise<void> {
    const cfg = resolvePikeConfig(ctx.config);
    const log = ctx.log.child({ module: 'pike' });
    const shard = ctx.shard;
    if (shard !== undefined && shard.index > 0) {
      // a worker shard: its counts also go to shard 0, whose blocks it mirrors (shard.ts)
      const fwd = new ShardForwarder(shard, cfg.max_entries, (e) => log.warn({ err: e.message, shard: shard.index }, 'pike: counts not delivered to shard 0'));
      const p = new Pike(cfg, { log, forward: fwd });
      await fwd.start(p);
      p.start(); // sweeps this shard's own table only
      this.p = p;
      this.forwarder = fwd;
      return;
    }
    const p = new Pike(cfg, { log });
    if (shard !== undefined) providePike(p, shard);
    p.start();
    this.p = p;
  }

  /** worker shards: the batch of counts for shard 0 (tests flush it). */
  get shardForwarder(): ShardForwarder | null {
    return this.forwarder;
  }

  imports(): ImportProvider[] {
    return this.p ? [new PikeImports(this.p)] : [];
  }

  rpcMethods(): RpcMethod[] {
    return this.p ? pikeRpcMethods(this.p) : [];
  }

  statistics(): Record<string, number> {
    return this.p ? this.p.statistics() : {};
  }

  async close(): Promise<void> {
    this.p?.stop();
    this.p = null;
    this.forwarder = null;
  }
}

export function createPikeModule(): PikeModule {
  return new PikeModule();
}
