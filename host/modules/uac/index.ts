/**
 * The uac module (Kamailio uac): From / To replacement with restoration in replies and in-dialog
 * requests. See README.md. `wireUac(modules, server)` (host/server/app.ts, the worker shards)
 * attaches it to the shard's proxy core.
 */
import type { RpcMethod } from '../../rpc/types.js';
import type { ImportProvider } from '../../wasm/types.js';
import type { ModuleInitContext, SiphonModule } from '../types.js';
import { UacImports } from './abi.js';
import { resolveUacConfig, uacConfigSchema } from './config.js';
import { Uac, type UacProxy } from './uac.js';

export { Uac, setNameAddr, UAC_URI_MAX, UAC_DISPLAY_MAX, type UacProxy, type UacStats } from './uac.js';
export { UacImports } from './abi.js';
export { UAC_DEFAULTS, uacConfigSchema, resolveUacConfig, type UacConfig, type UacRestoreMode } from './config.js';

export class UacModule implements SiphonModule {
  readonly name = 'uac';
  readonly configSchema = uacConfigSchema;
  private u: Uac | null = null;

  get uac(): Uac {
    if (!this.u) throw new Error('uac module not initialised');
    return this.u;
  }

  async init(ctx: ModuleInitContext): Promise<void> {
    this.u = new Uac(resolveUacConfig(ctx.config), ctx.log.child({ module: 'uac' }));
  }

  /** the shard's proxy core (wireUac). */
  attach(proxy: UacProxy): void {
    this.uac.attach(proxy);
  }

  imports(): ImportProvider[] {
    return this.u ? [new UacImports(this.u)] : [];
  }

  rpcMethods(): RpcMethod[] {
    return [];
  }

  statistics(): Record<string, number> {
    return this.u ? { ...this.u.stats } : {};
  }

  async close(): Promise<void> {
    this.u = null;
  }
}

export function createUacModule(): UacModule {
  return new UacModule();
}
