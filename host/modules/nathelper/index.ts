/**
 * The nathelper module (Kamailio nathelper): NAT detection and Contact/Via/R-URI fixing for plugins,
 * and NAT keepalives to registered contacts. See README.md.
 */
import type { RpcMethod } from '../../rpc/types.js';
import type { ImportProvider } from '../../wasm/types.js';
import type { Registrar } from '../registrar/registrar.js';
import type { ModuleInitContext, SiphonModule } from '../types.js';
import { NathelperImports } from './abi.js';
import { nathelperConfigSchema, resolveNathelperConfig, type NathelperConfig } from './config.js';
import { NatPinger, type PingTransport } from './natping.js';
import { nathelperRpcMethods } from './rpc.js';
import { NathelperStats } from './stats.js';

export { NathelperImports, MAX_EDITED_CONTACTS } from './abi.js';
export { NatPinger, type PingTransport } from './natping.js';
export { NathelperStats } from './stats.js';
export { isPrivateAddress } from './address.js';
export { natUacTest, NAT_FLAG, NAT_FLAGS_ALL } from './nat-test.js';
export { NATHELPER_DEFAULTS, nathelperConfigSchema, resolveNathelperConfig, type NathelperConfig } from './config.js';

export class NathelperModule implements SiphonModule {
  readonly name = 'nathelper';
  readonly configSchema = nathelperConfigSchema;
  readonly stats = new NathelperStats();
  private cfg: NathelperConfig | null = null;
  private pinger_: NatPinger | null = null;
  private sip: ModuleInitContext['localRequests'];
  /** a worker shard (core.workers): keepalives are shard 0's (README "Shards"). */
  private worker = false;

  get pinger(): NatPinger {
    if (!this.pinger_) throw new Error('nathelper module not initialised');
    return this.pinger_;
  }

  async init(ctx: ModuleInitContext): Promise<void> {
    this.cfg = resolveNathelperConfig(ctx.config);
    this.sip = ctx.localRequests;
    this.worker = ctx.shard !== undefined && ctx.shard.index > 0;
    this.pinger_ = new NatPinger(this.cfg, ctx.log.child({ module: 'nathelper' }), this.stats);
  }

  /**
   * Keepalives need the registrar's location tables and a way out (host/server/app.ts wires both
   * once the listening sockets exist); without a registrar nothing is pinged.
   */
  attach(registrar: Registrar | null, sendUdp: PingTransport['sendUdp']): void {
    const p = this.pinger;
    // keepalives walk the location tables, shared state: with several shards only shard 0 pings
    if (this.worker) return;
    p.attach(registrar, { sendUdp, sip: this.sip });
    if (registrar !== null) p.start();
  }

  imports(): ImportProvider[] {
    return this.cfg ? [new NathelperImports(this.cfg, this.stats)] : [];
  }

  rpcMethods(): RpcMethod[] {
    return this.pinger_ ? nathelperRpcMethods(this.pinger_) : [];
  }

  statistics(): Record<string, number> {
    const all = this.stats.toStatistics();
    if (!this.worker) return all;
    // worker shards: only the per-message work is done here (the keepalive counters are shard 0's)
    return { nat_detected: all.nat_detected!, contacts_fixed: all.contacts_fixed!, registers_fixed: all.registers_fixed! };
  }

  async close(): Promise<void> {
    this.pinger_?.stop();
  }
}

export function createNathelperModule(): NathelperModule {
  return new NathelperModule();
}
