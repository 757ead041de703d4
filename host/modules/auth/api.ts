/**
 * The digest API of the `auth` module: what `auth_db` (and any other credential backend) calls.
 * Kamailio splits digest authentication the same way: `auth` owns nonces, challenges and the
 * response check (auth/api.h `pre_auth` / `post_auth` / `auth_check_response`), a backend owns
 * the user table and only supplies the user's HA1 or password.
 *
 * The sequence a backend follows (Kamailio auth_db digest_authenticate_hdr):
 *
 *   const found = auth.findCredentials(ctx, realm, 'www');   // Authorization ('proxy': Proxy-Authorization)
 *   if (found.code !== AUTH_OK) return found.code;            // -5 none for realm, -4 stale, -6 reused, -1 bad
 *   if (found.cred === null) return AUTH_OK;                  // ACK / CANCEL / PRACK: never challenged
 *   const row = subscriberRow(found.cred.user, found.cred.domain ?? realm);
 *   if (!row) { auth.countFailure(ctx, found.cred, AUTH_USER_UNKNOWN); return AUTH_USER_UNKNOWN; }
 *   return auth.verify(ctx, found.cred, { ha1: row.ha1, password: row.password });  // 1 / -2 / -4 / -6 / -1
 *
 * Everything here is synchronous (plugin imports are): the backend loads its rows before routing
 * (a MessagePrefetcher), using `peekCredentials(msg)` to learn the usernames a request carries.
 *
 * Stable surface: the constants, the types and the DigestAuthApi methods. Additions only.
 */
import type { MessageContext } from '../../core/context.js';
import type { SipMessage } from '../../sip/types.js';
import type { SiphonModule } from '../types.js';
import type { DigestCredentials } from '../../sip/digest.js';

export type { DigestCredentials, DigestAlgorithm, DigestAuthState as AuthState } from '../../sip/digest.js';
export { parseDigestCredentials, DIGEST_LIMITS } from '../../sip/digest.js';

// ---- return codes: Kamailio auth/api.h auth_cfg_result_t, same values -------------------------

/** success: the credentials are valid (and, for ACK/CANCEL/PRACK, nothing to check). */
export const AUTH_OK = 1;
/** Kamailio AUTH_DROP: stop the script. Never returned by this module (kept for the table). */
export const AUTH_DROP = 0;
/** generic error: malformed or forged credentials (bad nonce signature, missing fields, refused algorithm/qop). */
export const AUTH_ERROR = -1;
/** the response does not match the user's HA1 / password. */
export const AUTH_INVALID_PASSWORD = -2;
/** the username is not in the backend's table (returned by the backend, not by verify). */
export const AUTH_USER_UNKNOWN = -3;
/** the nonce expired or its replay state was lost / replayed with an old nc: re-challenge with stale=true. */
export const AUTH_STALE_NONCE = -4;
/** no Authorization / Proxy-Authorization header for this realm. */
export const AUTH_NO_CREDENTIALS = -5;
/** one_time_nonce: this nonce was already used once. */
export const AUTH_NONCE_REUSED = -6;
/** Kamailio AUTH_USERNAME_EXPIRED (ephemeral auth usernames); not produced by this module. */
export const AUTH_USERNAME_EXPIRED = -7;
/** the auth username differs from the From (To for REGISTER) user: auth_check(..., flags & 1) in the backend. */
export const AUTH_USER_MISMATCH = -8;

export type AuthCode = -8 | -7 | -6 | -5 | -4 | -3 | -2 | -1 | 0 | 1;

/** which credentials header: 'www' = Authorization (401 challenges), 'proxy' = Proxy-Authorization (407). */
export type AuthHeader = 'www' | 'proxy';

/**
 * What the backend knows about the user. At least one field must be set. HA1 values are lowercase
 * or uppercase hex of H(username:realm:password) (RFC 7616 §3.4.2); `ha1` is MD5 (the subscriber
 * table's `ha1` or, for usernames with `@domain`, its `ha1b`: which one is the backend's rule,
 * Kamailio auth_db picks `ha1b` when the username carries a domain), `ha1Sha256` the SHA-256 one.
 * With `password` the HA1 is computed for whatever algorithm the credentials use. A credentials
 * algorithm the secret cannot serve (SHA-256 credentials, only an MD5 `ha1`) gives AUTH_ERROR.
 */
export interface DigestSecret {
  password?: string;
  ha1?: string;
  ha1Sha256?: string;
}

/** findCredentials' answer. */
export type FoundCredentials =
  /** credentials for the realm whose nonce passed (signature, expiry, nc / one-time state). */
  | { code: typeof AUTH_OK; cred: DigestCredentials }
  /** ACK, CANCEL and PRACK are never challenged (RFC 3261 §22.1; Kamailio pre_auth): accept. */
  | { code: typeof AUTH_OK; cred: null }
  /** -5 none for the realm, -4 stale (expired / lost nc state / replayed nc), -6 reused, -1 malformed / forged. */
  | { code: typeof AUTH_NO_CREDENTIALS | typeof AUTH_STALE_NONCE | typeof AUTH_NONCE_REUSED | typeof AUTH_ERROR; cred: DigestCredentials | null };

export interface DigestAuthApi {
  /**
   * Finds the Authorization ('www') or Proxy-Authorization ('proxy') header whose realm is `realm`
   * (the first one when several match; at most DIGEST_LIMITS.maxHeaders headers examined), parses
   * it and checks its nonce without recording anything. Marks it on ctx.auth.
   */
  findCredentials(ctx: MessageContext, realm: string, hdr: AuthHeader): FoundCredentials;
  /**
   * Checks `cred` (from findCredentials) against the user's secret: nonce again, algorithm and
   * qop allowed, then the expected response (MD5, MD5-sess, SHA-256, SHA-256-sess; qop auth,
   * auth-int or none; RFC 7616 §3.4.1, RFC 2617 §3.2.2) compared in constant time. AUTH_OK
   * records the nc / one-time use and sets ctx.auth.authorized; -2 and a forged nonce count the
   * source into pike and the username into the failure table. `method` defaults to the request's.
   */
  verify(ctx: MessageContext, cred: DigestCredentials, secret: DigestSecret, method?: string): AuthCode;
  /** counts a failure the backend found (AUTH_USER_UNKNOWN, AUTH_USER_MISMATCH) like verify's own. */
  countFailure(ctx: MessageContext, cred: DigestCredentials | null, code: AuthCode): void;
  /**
   * The digest credentials in `msg` (Authorization and Proxy-Authorization, at most
   * DIGEST_LIMITS.maxHeaders, unparsable ones skipped), without nonce checks: for a prefetcher
   * that loads the users before routing.
   */
  peekCredentials(msg: SipMessage): DigestCredentials[];
  /**
   * Whether `cred`'s nonce carries this node's signature and has not expired, checked without
   * recording or counting anything: a backend's prefetcher skips the database for credentials that
   * findCredentials will refuse anyway (forged or stale nonces cost an HMAC, not a query). (additive, auth_db)
   */
  nonceAcceptable?(cred: DigestCredentials): boolean;
}

/** The auth module's DigestAuthApi among the node's modules (null when `modules.auth` is absent). */
export function digestAuthOf(modules: readonly SiphonModule[]): DigestAuthApi | null {
  for (const m of modules) {
    const api = (m as { digestAuth?: DigestAuthApi | null }).digestAuth;
    if (m.name === 'auth' && api) return api;
  }
  return null;
}
