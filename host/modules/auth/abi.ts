/**
 * Plugin imports, namespace `auth` (Kamailio auth's functions, same names, flags and return codes):
 *
 *   www_challenge(rp, rl, flags) -> i32     401 with WWW-Authenticate (one per algorithm)
 *   proxy_challenge(rp, rl, flags) -> i32   407 with Proxy-Authenticate
 *   auth_challenge(rp, rl, flags) -> i32    401 for REGISTER, 407 otherwise
 *       flags: 1 qop="auth", 2 qop="auth-int", 4 no automatic 500, 16 stale=true
 *       1 sent, -2 not built (500 sent unless flag 4), -3 not sent, -4 neither the 500
 *   has_credentials(rp, rl) -> i32          1 an Authorization / Proxy-Authorization has that realm, -1 not
 *   consume_credentials() -> i32            1 the marked credentials' header removed, -1 none marked
 *
 * The realm (rp, rl) may be empty: the To host for REGISTER, the From host otherwise (Kamailio).
 * Host statuses: -4 no message in this hook / not request_route (challenges), -3 realm outside
 * guest memory or longer than 128 bytes, -6 the module is not configured (loader stubs).
 * Gas: the wrapper's 20, the read, plus 200 per challenge (a nonce HMAC and a reply) and 10 per
 * credentials header parsed by has_credentials / consume_credentials.
 */
import type { HostCallApi, ImportProvider } from '../../wasm/types.js';
import { DIGEST_LIMITS } from '../../sip/digest.js';
import type { DigestAuth } from './digest-auth.js';

type Fn = (...args: never[]) => number;

const INVALID_MEMORY = -3;
const NOT_ALLOWED = -4;
export const CHALLENGE_GAS = 200;
export const PARSE_GAS = 10;

export class AuthImports implements ImportProvider {
  readonly namespace = 'auth';

  constructor(private readonly auth: DigestAuth) {}

  functions(api: HostCallApi): Record<string, Fn> {
    const auth = this.auth;
    const realmArg = (p: number, l: number): string | null => {
      if (l < 0 || l > DIGEST_LIMITS.maxName) return null;
      return l === 0 ? '' : api.readString(p, l);
    };
    const challenge = (kind: 'www' | 'proxy' | 'auto'): Fn =>
      ((p: number, l: number, flags: number) => {
        const ctx = api.current();
        // Kamailio: REQUEST_ROUTE only
        if (!ctx || api.hook() !== 'request_route' || ctx.msg.kind !== 'request') return NOT_ALLOWED;
        const realm = realmArg(p, l);
        if (realm === null) return INVALID_MEMORY;
        api.charge(CHALLENGE_GAS);
        const hdr = kind === 'auto' ? (ctx.msg.method === 'REGISTER' ? 'www' : 'proxy') : kind;
        return auth.challenge(ctx, realm, flags | 0, hdr);
      }) as Fn;
    const parseGas = (ctx: NonNullable<ReturnType<HostCallApi['current']>>): void => {
      const n = Math.min(ctx.msg.headerCount('authorization'), DIGEST_LIMITS.maxHeaders) + Math.min(ctx.msg.headerCount('proxy-authorization'), DIGEST_LIMITS.maxHeaders);
      api.charge(PARSE_GAS * n);
    };
    return {
      www_challenge: challenge('www'),
      proxy_challenge: challenge('proxy'),
      auth_challenge: challenge('auto'),
      has_credentials: ((p: number, l: number) => {
        const ctx = api.current();
        if (!ctx) return NOT_ALLOWED;
        const realm = realmArg(p, l);
        if (realm === null) return INVALID_MEMORY;
        parseGas(ctx);
        return auth.hasCredentials(ctx, realm);
      }) as Fn,
      consume_credentials: () => {
        const ctx = api.current();
        if (!ctx) return NOT_ALLOWED;
        return auth.consumeCredentials(ctx);
      },
    };
  }
}
