/**
 * The dialog module (Kamailio dialog): calls as first-class state. See README.md.
 *
 * The table lives in the module, not in the plugin: a plugin hot swap keeps every dialog, its
 * profiles and variables. The module needs the node's transaction layer (it binds a dialog to its
 * INVITE's transaction, sees in-dialog requests before routing and sends BYEs), which exists once
 * the server does: `wireDialog(modules, server, requests)` connects them (host/server/app.ts and
 * the worker shards).
 */
import type { RequestContext } from '../../core/message-context.js';
import type { ProxyCore } from '../../proxy/proxy.js';
import type { InDialogRequest, LocalRequestResult } from '../../proxy/local-request.js';
import type { RpcMethod } from '../../rpc/types.js';
import type { RouteObserver } from '../../server/server.js';
import type { ImportProvider } from '../../wasm/types.js';
import type { ModuleInitContext, SiphonModule } from '../types.js';
import { DialogImports, type ObserveFn } from './abi.js';
import { dialogConfigSchema, resolveDialogConfig, type DialogConfig } from './config.js';
import { Dialog, DlgState } from './dialog.js';
import { openDialogStore, type DialogStore } from './db.js';
import { ProfileCounts, profileDefs } from './profiles.js';
import { dialogRpcMethods } from './rpc.js';
import { provideProfiles, ShardProfiles } from './shard.js';
import { DialogTable } from './table.js';

export { DialogTable, DLG_OK, DLG_FAIL, DLG_LIMIT, type DialogStats, type ProfileBackend } from './table.js';
export { Dialog, DlgState, Leg } from './dialog.js';
export { DialogEvents, type DialogEvent, type DialogEventType, type DialogEndReason, type DialogListener } from './events.js';
export { ProfileCounts, profileDefs } from './profiles.js';
export { dialogRpcMethods, dialogRecord, RPC_MAX_DIALOGS } from './rpc.js';
export { DIALOG_DEFAULTS, dialogConfigSchema, resolveDialogConfig, type DialogConfig } from './config.js';

export class DialogModule implements SiphonModule {
  readonly name = 'dialog';
  readonly configSchema = dialogConfigSchema;
  private t: DialogTable | null = null;
  private observeFn: ObserveFn | null = null;
  private proxy: ProxyCore | null = null;
  private store: DialogStore | null = null;
  private shardProfiles: ShardProfiles | null = null;
  cfg: DialogConfig | null = null;

  /** the dialog table (events: table.events.subscribe). */
  get table(): DialogTable {
    if (!this.t) throw new Error('dialog module not initialised');
    return this.t;
  }

  async init(ctx: ModuleInitContext): Promise<void> {
    const cfg = resolveDialogConfig(ctx.config);
    this.cfg = cfg;
    const log = ctx.log.child({ module: 'dialog' });
    const defs = profileDefs(cfg.profiles_with_value, cfg.profiles_no_value);
    const shard = ctx.shard;
    const counts = new ProfileCounts(defs);
    const table = new DialogTable({
      cfg, log, profiles: defs, counts,
      // Kamailio h_id_start / h_id_step: each shard's h_ids are its own residue, so an h_id names its shard
      hIdStart: (shard?.index ?? 0) + 1,
      hIdStep: shard?.count ?? 1,
    });
    if (shard !== undefined && shard.index > 0) {
      // a worker shard: shard 0 holds the node's profile counts (shard.ts)
      const sp = new ShardProfiles(shard, counts, (e) => log.warn({ err: e.message, shard: shard.index }, 'dialog: profile change not delivered to shard 0'));
      await sp.start();
      table.counts = sp;
      this.shardProfiles = sp;
    } else if (shard !== undefined) {
      table.counts = provideProfiles(counts, shard);
    }
    this.t = table;
    if (cfg.db_mode !== 0) {
      this.store = await openDialogStore(cfg, table, { dataDir: ctx.dataDir, log, limits: ctx.db, stats: ctx.dbStats, shard });
    }
  }

  /** binds the module to a server's transaction layer (its dialogs' INVITEs, in-dialog requests, BYEs). */
  attach(proxy: ProxyCore, send: ((req: InDialogRequest) => Promise<LocalRequestResult>) | null): RouteObserver {
    const table = this.table;
    this.proxy = proxy;
    this.observeFn = (c, o) => proxy.observe(c, o);
    table.sendRequest = send;
    table.isMyself = proxy.isMyself;
    return {
      beforeRoute: (c: RequestContext) => table.onSequentialRequest(c),
      afterRoute: (c: RequestContext) => this.afterRoute(c),
    };
  }

  /**
   * A dialog dlg_manage() created while routing: without a transaction (sl_reply, drop) it is over
   * (Kamailio's post-script cleanup of dialogs tm never took); with a transaction that already
   * answered >= 300 (t_reply before dlg_manage) it failed.
   */
  private afterRoute(c: RequestContext): void {
    const d = c.dialog;
    if (!(d instanceof Dialog) || d.state !== DlgState.UNCONFIRMED || c.msg.to?.tag !== undefined) return;
    const cell = this.proxy?.transactionOf(c) ?? null;
    const table = this.table;
    if (cell === null) {
      table.stats.failed++;
      table.end(d, 'no_transaction', 'failed');
      return;
    }
    const status = cell.server.lastStatus;
    if (status >= 300 && d.status === 0) table.onInviteResponse(d, status, null, undefined, '');
  }

  imports(): ImportProvider[] {
    return this.t ? [new DialogImports(this.t, () => this.observeFn)] : [];
  }

  rpcMethods(): RpcMethod[] {
    return this.t ? dialogRpcMethods(this.t) : [];
  }

  /** what worker shards serve the main thread (dlg.list merged over shards, host/shards/merge.ts). */
  shardRpcMethods(): RpcMethod[] {
    return this.rpcMethods();
  }

  /** Kamailio's dialog statistics, plus siphon's counters. */
  statistics(): Record<string, number> {
    if (!this.t) return {};
    const s = this.t.stats;
    return {
      active_dialogs: s.active,
      early_dialogs: s.early,
      processed_dialogs: s.processed,
      expired_dialogs: s.expired,
      failed_dialogs: s.failed,
      table_full: s.table_full,
      byes_sent: s.byes_sent,
      byes_failed: s.byes_failed,
      dialogs: this.t.size,
    };
  }

  async close(): Promise<void> {
    await this.store?.close();
    this.store = null;
    this.shardProfiles?.close();
    this.t?.close();
    this.t = null;
  }
}

export function createDialogModule(): DialogModule {
  return new DialogModule();
}
