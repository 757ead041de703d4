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
 *   auth_get_www_authenticate(rp, rl, flags, out, cap) -> i32
 *   auth_get_proxy_authenticate(rp, rl, flags, out, cap) -> i32
 *       the challenge header lines ("WWW-Authenticate: Digest ...\r\n", one per algorithm) for a
 *       reply the plugin sends itself (append_to_reply + t_reply: a stateful challenge); flags as
 *       Kamailio's auth_get_www_authenticate: 4 qop="auth", 8 qop="auth-int", 16 stale=true.
 *       Returns the text's length (snprintf rule: a call with a larger buffer for the same request
 *       and arguments gets the same text, not a second nonce), -2 realm unusable
 *
 * The realm (rp, rl) may be empty: the To host for REGISTER, the From host otherwise (Kamailio).
 * Host statuses: -4 no message in this hook / not request_route (challenges), -3 realm outside
 * guest memory or longer than 128 bytes, -6 the module is not configured (loader stubs).
 * Gas: the wrapper's 20, the read, plus 200 per challenge (a nonce HMAC and a reply; the get
 * functions: a nonce HMAC, and the write) and 10 per credentials header parsed by has_credentials.
 */
import type { HostCallApi, ImportProvider } from '../../wasm/types.js';
import { DIGEST_LIMITS } from '../../sip/digest.js';
import type { MessageContext } from '../../core/context.js';
import { CHALLENGE_QOP_AUTH, CHALLENGE_QOP_AUTH_INT, CHALLENGE_STALE, type DigestAuth } from './digest-auth.js';

type Fn = (...args: never[]) => number;

const INVALID_MEMORY = -3;
const NOT_ALLOWED = -4;
export const CHALLENGE_GAS = 200;
export const PARSE_GAS = 10;
/** the build flags of auth_get_*_authenticate (Kamailio AUTH_FLAG_HDRQOPAUTH, HDRQOPAUTHINT, CLGSTALE). */
export const BUILD_QOP_AUTH = 4;
export const BUILD_QOP_AUTH_INT = 8;
export const BUILD_STALE = 16;
const CHALLENGE_BUILD_FAILED = -2;

/** Kamailio's build flags (4, 8, 16) as challenge flags (1, 2, 16). */
function challengeFlags(build: number): number {
  return ((build & BUILD_QOP_AUTH) !== 0 ? CHALLENGE_QOP_AUTH : 0) | ((build & BUILD_QOP_AUTH_INT) !== 0 ? CHALLENGE_QOP_AUTH_INT : 0) | (build & BUILD_STALE ? CHALLENGE_STALE : 0);
}

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
    // the last text built, so the snprintf retry (a bigger buffer) gets the same nonce
    let last: { ctx: MessageContext; key: string; text: string } | null = null;
    const build = (hdr: 'www' | 'proxy'): Fn =>
      ((p: number, l: number, flags: number, out: number, cap: number) => {
        const ctx = api.current();
        if (!ctx || ctx.msg.kind !== 'request') return NOT_ALLOWED;
        const realm = realmArg(p, l);
        if (realm === null) return INVALID_MEMORY;
        const key = `${hdr}\u0000${flags | 0}\u0000${realm}`;
        let text: string;
        if (last !== null && last.ctx === ctx && last.key === key) text = last.text;
        else {
          api.charge(CHALLENGE_GAS);
          const lines = auth.challengeHeaders(ctx, realm, challengeFlags(flags | 0), hdr);
          if (lines === null) return CHALLENGE_BUILD_FAILED;
          auth.stats.challenges_built++;
          text = lines.map((x) => x + '\r\n').join('');
          last = { ctx, key, text };
        }
        return api.writeString(out, cap, text);
      }) as Fn;
    return {
      auth_get_www_authenticate: build('www'),
      auth_get_proxy_authenticate: build('proxy'),
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
