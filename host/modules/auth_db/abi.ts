/**
 * Plugin imports, namespace `auth_db` (Kamailio auth_db's functions, same names and return codes):
 *
 *   www_authorize(rp, rl, tp, tl) -> i32        Authorization (401 challenges); alias www_authenticate
 *   proxy_authorize(rp, rl, tp, tl) -> i32      Proxy-Authorization (407); alias proxy_authenticate
 *   auth_check(rp, rl, tp, tl, flags) -> i32    www for REGISTER, proxy otherwise, + identity check
 *
 * (rp, rl) is the realm ('' = the To host for REGISTER, else the From host, as Kamailio's get_realm), (tp, tl)
 * the subscriber table (one of modules.auth_db.tables). Answers: 1 ok, -1 error, -2 wrong password,
 * -3 no such subscriber, -4 stale nonce, -5 no credentials for the realm, -6 nonce reused, -8 user
 * mismatch (auth_check). The ABI statuses -3/-4/-6 would read as verdicts here, so every host-side
 * failure (no message in this hook, a string outside guest memory or too long) answers -1 as well.
 * Gas (besides the 20 of any import): 200 per call (the row from memory, three or four hashes of the
 * digest), like the other module tables, plus the reads of realm and table (1 per 8 bytes past 64).
 */
import { AUTH_ERROR, DIGEST_LIMITS } from '../auth/api.js';
import type { HostCallApi, ImportProvider } from '../../wasm/types.js';
import type { Authorizer } from './authorize.js';

type Fn = (...args: never[]) => number;

export const GAS_PER_CALL = 200;
/** longest table name read (the config pattern allows 64). */
const MAX_TABLE = 64;

export class AuthDbImports implements ImportProvider {
  readonly namespace = 'auth_db';

  constructor(private readonly authz: Authorizer) {}

  functions(api: HostCallApi): Record<string, Fn> {
    const authz = this.authz;
    /** reads realm and table, then runs f; -1 for anything the host cannot do. */
    const call = (rp: number, rl: number, tp: number, tl: number, f: (ctx: NonNullable<ReturnType<HostCallApi['current']>>, realm: string, table: string) => number): number => {
      const ctx = api.current();
      if (!ctx || ctx.msg.kind !== 'request') return AUTH_ERROR;
      if (rl < 0 || rl > DIGEST_LIMITS.maxName || tl <= 0 || tl > MAX_TABLE) return AUTH_ERROR;
      api.charge(GAS_PER_CALL);
      const realm = rl === 0 ? '' : api.readString(rp, rl);
      const table = api.readString(tp, tl);
      if (realm === null || table === null) return AUTH_ERROR;
      try {
        return f(ctx, realm, table);
      } catch (e) {
        ctx.log.error({ err: (e as Error).message }, 'auth_db import failed');
        return AUTH_ERROR;
      }
    };
    const www = ((rp: number, rl: number, tp: number, tl: number) => call(rp, rl, tp, tl, (ctx, realm, table) => authz.authorize(ctx, realm, table, 'www'))) as Fn;
    const proxy = ((rp: number, rl: number, tp: number, tl: number) => call(rp, rl, tp, tl, (ctx, realm, table) => authz.authorize(ctx, realm, table, 'proxy'))) as Fn;
    return {
      www_authorize: www,
      www_authenticate: www,
      proxy_authorize: proxy,
      proxy_authenticate: proxy,
      auth_check: ((rp: number, rl: number, tp: number, tl: number, flags: number) => call(rp, rl, tp, tl, (ctx, realm, table) => authz.check(ctx, realm, table, flags | 0))) as Fn,
    };
  }
}
