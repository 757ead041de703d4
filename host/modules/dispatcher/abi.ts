/**
 * Plugin imports of namespace `dispatcher` (see README.md for the table). Every function returns
 * Kamailio's code (1 true, -1 false) or an ABI status (-2 bad argument, -3 bad memory, -4 not in a
 * message hook). The failover list of each message lives in a WeakMap keyed by its context, so it
 * disappears with the context; the transaction layer can take it over through `targetsFor`.
 */
import type { MessageContext } from '../../core/context.js';
import type { HostCallApi, ImportProvider } from '../../wasm/types.js';
import { MatchMode, SetOp, type Dispatcher, type DsRouteTarget, type SetOpValue } from './dispatcher.js';
import { DsTargetList } from './failover.js';
import { digestUsername, expandPv } from './pv.js';
import type { DsMessage } from './select.js';
import { parseStateFlags } from './state.js';

const NOT_ALLOWED = -4;
const BAD_ARGUMENT = -2;
const INVALID_MEMORY = -3;

/** DsMessage over a message context (lazy: nothing is parsed unless the algorithm needs it). */
export function dsMessageOf(ctx: MessageContext, hashPvar: string | null): DsMessage {
  const m = ctx.msg;
  return {
    method: m.method,
    callId: m.callId,
    fromUri: m.from?.uri,
    toUri: m.to?.uri,
    requestUri: m.requestUri,
    authUsername: () => digestUsername(ctx),
    hashPvValue: () => (hashPvar ? expandPv(hashPvar, ctx) : undefined),
  };
}

function routeTarget(ctx: MessageContext): DsRouteTarget {
  return {
    get dstUri() {
      return ctx.dstUri;
    },
    set dstUri(v: string | null) {
      ctx.dstUri = v;
    },
    get requestUri() {
      return ctx.msg.requestUri;
    },
    setRequestUri: (u: string) => ctx.msg.setRequestUri(u),
  };
}

function varName(pv: string): string {
  const m = /^\$(?:var|avp)\(([^)]+)\)$/.exec(pv);
  return m ? m[1]! : pv;
}

export class DispatcherImports implements ImportProvider {
  readonly namespace = 'dispatcher';
  private readonly lists = new WeakMap<MessageContext, DsTargetList>();

  constructor(private readonly ds: Dispatcher) {}

  /** the failover list of a message (created on first use). */
  targetsFor(ctx: MessageContext): DsTargetList {
    let l = this.lists.get(ctx);
    if (!l) {
      l = new DsTargetList();
      this.lists.set(ctx, l);
    }
    return l;
  }

  functions(api: HostCallApi): Record<string, (...args: never[]) => number> {
    const ds = this.ds;
    const self = this;
    const withCtx = (f: (ctx: MessageContext) => number): number => {
      const ctx = api.current();
      if (!ctx) return NOT_ALLOWED;
      try {
        return f(ctx);
      } catch {
        return -7;
      }
    };
    const select = (set: number, alg: number, limit: number, op: SetOpValue): number =>
      withCtx((ctx) => ds.select(dsMessageOf(ctx, ds.cfg.hash_pvar), routeTarget(ctx), self.targetsFor(ctx), set, alg, limit, op));
    const readOpt = (p: number, l: number): string | null | undefined => (l === 0 ? undefined : api.readString(p, l));
    const fromList = (set: number, mode: number, up: number, ul: number): number =>
      withCtx((ctx) => {
        const uri = readOpt(up, ul);
        if (uri === null) return INVALID_MEMORY;
        const local = ctx.local;
        const r = ds.isFromList(set, mode, { address: ctx.source.address, port: ctx.source.port, proto: ctx.source.proto, localSocket: `${local.proto}:${local.address}:${local.port}` }, uri);
        if (r.rc > 0) {
          if (set === -1 && ds.cfg.setid_pvname) ctx.vars.set(varName(ds.cfg.setid_pvname), String(r.setid));
          if (ds.cfg.attrs_pvname && r.attrs) ctx.vars.set(varName(ds.cfg.attrs_pvname), r.attrs);
        }
        return r.rc;
      });
    const current = (out: number, cap: number, pick: (l: DsTargetList) => string | null | undefined): number =>
      withCtx((ctx) => {
        const v = pick(self.targetsFor(ctx));
        if (v === null || v === undefined) return -1;
        return api.writeString(out, cap, v);
      });

    return {
      ds_select_dst: (set: number, alg: number, limit: number) => select(set, alg, limit, SetOp.DST_URI),
      ds_select_domain: (set: number, alg: number, limit: number) => select(set, alg, limit, SetOp.RURI),
      ds_select: (set: number, alg: number, limit: number) => select(set, alg, limit, SetOp.XAVP),
      ds_next_dst: () => withCtx((ctx) => ds.next(routeTarget(ctx), self.targetsFor(ctx), SetOp.DST_URI, ctx.msg.callId)),
      ds_next_domain: () => withCtx((ctx) => ds.next(routeTarget(ctx), self.targetsFor(ctx), SetOp.RURI, ctx.msg.callId)),
      ds_set_dst: () => withCtx((ctx) => ds.applyCurrent(routeTarget(ctx), self.targetsFor(ctx), SetOp.DST_URI)),
      ds_set_domain: () => withCtx((ctx) => ds.applyCurrent(routeTarget(ctx), self.targetsFor(ctx), SetOp.RURI)),
      ds_mark_dst: (sp: number, sl: number) =>
        withCtx((ctx) => {
          const s = readOpt(sp, sl);
          if (s === null) return INVALID_MEMORY;
          return ds.markDst(self.targetsFor(ctx), s);
        }),
      ds_mark_addr: (sp: number, sl: number, set: number, up: number, ul: number) =>
        withCtx(() => {
          const s = api.readString(sp, sl);
          const u = api.readString(up, ul);
          if (s === null || u === null) return INVALID_MEMORY;
          const st = parseStateFlags(s);
          if (st < 0 || u.length === 0) return BAD_ARGUMENT;
          return ds.markAddr(st, set, u);
        }),
      ds_is_from_list: (set: number) => fromList(set, MatchMode.NOPROTO, 0, 0),
      ds_is_from_list_mode: (set: number, mode: number) => fromList(set, mode, 0, 0),
      ds_is_from_list_uri: (set: number, mode: number, up: number, ul: number) => fromList(set, mode, up, ul),
      ds_list_exists: (set: number) => ds.listExists(set),
      ds_is_active: (set: number) => ds.isActive(set),
      ds_is_active_uri: (set: number, up: number, ul: number) => {
        const u = api.readString(up, ul);
        if (u === null) return INVALID_MEMORY;
        return ds.isActive(set, u);
      },
      ds_load_update: () =>
        withCtx((ctx) =>
          ds.loadUpdate({ kind: ctx.msg.kind, method: ctx.msg.method, callId: ctx.msg.callId, status: ctx.msg.status, cseqMethod: ctx.msg.cseq?.method }),
        ),
      ds_load_unset: () => withCtx((ctx) => ds.loadUnset(ctx.msg.callId)),
      ds_dst_count: () => withCtx((ctx) => self.targetsFor(ctx).length),
      ds_current_set: () => withCtx((ctx) => self.targetsFor(ctx).current()?.setid ?? -1),
      ds_current_uri: (out: number, cap: number) => current(out, cap, (l) => l.current()?.uri),
      ds_current_attrs: (out: number, cap: number) => current(out, cap, (l) => l.current()?.attrs),
    };
  }
}
