/**
 * The rtpengine module (Kamailio rtpengine): media relay control over rtpengine's ng protocol for
 * plugins — rtpengine_offer/answer/manage/delete — with a set of instances, failover and disabling
 * of instances that do not answer. `wireRtpengine(modules, server)` (host/server/app.ts and the
 * worker shards) puts its gate on the server's proxy so offers/answers are done before a message
 * leaves. See README.md.
 */
import { SiphonError } from '../../errors/registry.js';
import type { RpcMethod } from '../../rpc/types.js';
import type { ImportProvider } from '../../wasm/types.js';
import type { MediaGate } from '../../proxy/media-gate.js';
import type { ModuleInitContext, SiphonModule } from '../types.js';
import { RtpengineImports } from './abi.js';
import { parseSocks, resolveRtpengineConfig, rtpengineConfigSchema } from './config.js';
import { Rtpengine } from './rtpengine.js';
import { rtpengineRpcMethods } from './rpc.js';
import { RtpengineStats } from './stats.js';

export { RtpengineImports, hasSdp } from './abi.js';
export { Rtpengine, RtpengineInstance, type MediaOp } from './rtpengine.js';
export { RtpengineStats } from './stats.js';
export { bencode, bdecode, BencodeError, type BValue, type BDict } from './bencode.js';
export { parseFlags, MAX_FLAGS_LENGTH, MAX_FLAG_TOKENS } from './flags.js';
export { RTPENGINE_DEFAULTS, rtpengineConfigSchema, resolveRtpengineConfig, parseSocks, type RtpengineConfig } from './config.js';

export class RtpengineModule implements SiphonModule {
  readonly name = 'rtpengine';
  readonly configSchema = rtpengineConfigSchema;
  readonly stats = new RtpengineStats();
  private engine_: Rtpengine | null = null;

  get engine(): Rtpengine {
    if (!this.engine_) throw new Error('rtpengine module not initialised');
    return this.engine_;
  }

  /** what the proxy waits for before a message leaves (ProxyCore.mediaGate). */
  get gate(): MediaGate {
    const engine = this.engine;
    return { gate: (ctx) => engine.gate(ctx) };
  }

  async init(ctx: ModuleInitContext): Promise<void> {
    const cfg = resolveRtpengineConfig(ctx.config);
    let specs;
    try {
      specs = parseSocks(cfg.rtpengine_sock);
    } catch (e) {
      throw new SiphonError('RTPENGINE_CONFIG', (e as Error).message, { where: 'modules.rtpengine.rtpengine_sock' });
    }
    this.engine_ = new Rtpengine(cfg, specs, this.stats, ctx.log.child({ module: 'rtpengine' }));
    this.engine_.start();
  }

  imports(): ImportProvider[] {
    return this.engine_ ? [new RtpengineImports(this.engine_)] : [];
  }

  rpcMethods(): RpcMethod[] {
    return this.engine_ ? rtpengineRpcMethods(this.engine_) : [];
  }

  statistics(): Record<string, number> {
    const e = this.engine_;
    return { ...this.stats.toStatistics(), ng_pending: e?.client.pending ?? 0, sessions: e?.sessionCount ?? 0 };
  }

  async close(): Promise<void> {
    this.engine_?.close();
  }
}

export function createRtpengineModule(): RtpengineModule {
  return new RtpengineModule();
}
