/**
 * Plugin imports of namespace `registrar` (see README.md "Functions for plugins"). Each returns
 * Kamailio's code for the function, or an ABI status: -3 bad memory, -4 not in a message hook,
 * -6 the table is in db_mode 3 and the message was not prefetched (Registrar.prefetch() loads the
 * AORs a message needs before routing, since ABI v1 cannot wait for the DB inside an import),
 * -7 internal failure.
 */
import type { MessageContext } from '../../core/context.js';
import type { HostCallApi, ImportProvider } from '../../wasm/types.js';
import { SaveFlag, type Registrar } from './registrar.js';

const INVALID_MEMORY = -3;
const NOT_ALLOWED = -4;
const UNIMPLEMENTED = -6;
const INTERNAL = -7;

/** gas charged per call, plus per contact touched (host work proportional to the AOR size). */
const GAS_BASE = 200;
const GAS_PER_CONTACT = 50;

export class RegistrarImports implements ImportProvider {
  readonly namespace = 'registrar';

  constructor(private readonly reg: Registrar) {}

  functions(api: HostCallApi): Record<string, (...args: never[]) => number> {
    const reg = this.reg;
    /** runs f with the current context and the named table; maps the usual failures to statuses. */
    const withTable = (tp: number, tl: number, f: (ctx: MessageContext, table: string) => number): number => {
      const ctx = api.current();
      if (!ctx) return NOT_ALLOWED;
      const table = api.readString(tp, tl);
      if (table === null) return INVALID_MEMORY;
      if (!reg.canServeSync(table, ctx.msg)) {
        ctx.log.warn({ table }, 'registrar: db_mode 3 table used without Registrar.prefetch() before routing');
        return UNIMPLEMENTED;
      }
      api.charge(GAS_BASE);
      try {
        return f(ctx, table);
      } catch (e) {
        ctx.log.error({ err: (e as Error).message, table }, 'registrar import failed');
        return INTERNAL;
      }
    };
    const lookup = (ctx: MessageContext, table: string, uri?: string): number => {
      const r = reg.lookupSync(table, ctx.msg, uri);
      api.charge(GAS_PER_CONTACT * (1 + r.branches.length));
      if (r.code !== 1) return r.code;
      ctx.msg.setRequestUri(r.ruri!);
      if (r.dstUri) ctx.dstUri = r.dstUri;
      // Kamailio lookup: the contact's stored cflags come back as branch flags (isbflagset(FLB_NATB))
      if (r.cflags) ctx.bflags = (ctx.bflags ?? 0) | r.cflags;
      if (r.branches.length > 0) {
        // the message's destination set holds max_branches - 1 entries over every lookup of this
        // request (Kamailio dset: append_branch fails once full, a second lookup adds no more)
        const list = (ctx.branches ??= []);
        const room = reg.maxBranches - 1 - list.length;
        for (let i = 0; i < r.branches.length && i < room; i++) list.push(r.branches[i]!.uri);
      }
      return 1;
    };
    const readUri = (up: number, ul: number): string | null => api.readString(up, ul);

    return {
      /** save(table, flags): Kamailio save(); replies unless flag 0x02. */
      save: (tp: number, tl: number, flags: number) =>
        withTable(tp, tl, (ctx, table) => {
          // what the route asked for: fix_nated_register's received, the branch flags (stored as cflags)
          const r = reg.saveSync(table, ctx.msg, ctx.source, ctx.local, flags, { received: ctx.natReceived ?? null, bflags: ctx.bflags ?? 0 });
          api.charge(GAS_PER_CONTACT * r.reply.headers.length);
          if ((flags & SaveFlag.NO_REPLY) === 0) {
            if (r.committed !== undefined) {
              // db_mode 3: answer once the row is in the shared table, so a call through another
              // node right after the 200 finds it (Kamailio's DB_ONLY save writes, then replies);
              // a failed write is answered 500 instead. The reply is owed from now on.
              const reply = r.reply;
              ctx.replied = true;
              // (a worker shard whose change shard 0 refused as table full: its 503, r.failReply)
              void r.committed.then((ok) => {
                const fail = r.failReply;
                if (ok) ctx.slReply(reply.code, reply.reason, reply.headers);
                else if (fail !== undefined) ctx.slReply(fail.code, fail.reason, fail.headers);
                else ctx.slReply(500, 'Server Internal Error - Storage Failure');
              });
              return r.code;
            }
            if (!ctx.slReply(r.reply.code, r.reply.reason, r.reply.headers)) return r.code > 0 ? -1 : r.code;
          } else if (flags & SaveFlag.PREPARE_REPLY_HEADERS) {
            (ctx.replyHeaders ??= []).push(...r.reply.headers);
          }
          return r.code;
        }),
      /** lookup(table): R-URI -> contacts; sets R-URI, $du and branches. */
      lookup: (tp: number, tl: number) => withTable(tp, tl, (ctx, table) => lookup(ctx, table)),
      /** lookup_uri(table, uri): as lookup, for the AOR of `uri`. */
      lookup_uri: (tp: number, tl: number, up: number, ul: number) =>
        withTable(tp, tl, (ctx, table) => {
          const uri = readUri(up, ul);
          return uri === null ? INVALID_MEMORY : lookup(ctx, table, uri);
        }),
      /** registered(table): 1 when the R-URI's AOR has a valid contact, else -1. */
      registered: (tp: number, tl: number) => withTable(tp, tl, (ctx, table) => reg.registeredSync(table, ctx.msg.requestUri, ctx.msg)),
      /** registered_uri(table, uri). */
      registered_uri: (tp: number, tl: number, up: number, ul: number) =>
        withTable(tp, tl, (ctx, table) => {
          const uri = readUri(up, ul);
          return uri === null ? INVALID_MEMORY : reg.registeredSync(table, uri, ctx.msg);
        }),
      /** unregister(table, uri): removes every contact of the AOR; 1 removed, -1 none. */
      unregister: (tp: number, tl: number, up: number, ul: number) =>
        withTable(tp, tl, (ctx, table) => {
          const uri = readUri(up, ul);
          return uri === null ? INVALID_MEMORY : reg.unregisterSync(table, uri, undefined, ctx.msg);
        }),
      /** unregister_ruid(table, uri, ruid): removes the one contact with that ruid. */
      unregister_ruid: (tp: number, tl: number, up: number, ul: number, rp: number, rl: number) =>
        withTable(tp, tl, (ctx, table) => {
          const uri = readUri(up, ul);
          const ruid = api.readString(rp, rl);
          return uri === null || ruid === null ? INVALID_MEMORY : reg.unregisterSync(table, uri, ruid, ctx.msg);
        }),
    };
  }
}
