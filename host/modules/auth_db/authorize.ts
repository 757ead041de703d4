/**
 * www_authorize / proxy_authorize / auth_check (Kamailio auth_db authorize.c), over the auth
 * module's digest API (host/modules/auth/api.ts) and the rows loaded before routing (prefetch.ts).
 *
 * Return codes are Kamailio's (auth/api.h auth_cfg_result_t): 1 ok, -1 error, -2 wrong password,
 * -3 no such subscriber, -4 stale nonce, -5 no credentials for the realm, -6 nonce reused,
 * -8 (auth_check) the From/To user is not the authenticated user.
 *
 * Which secret is handed to the auth module (get_ha1):
 *   calculate_ha1 0: the HA1 column, `password_column_2` (ha1b) when the username carries "@domain",
 *     else `password_column` (ha1). Those are MD5 HA1s (kamctl's); SHA-256 credentials (RFC 8760)
 *     need the plain password (`plain_password_column`, kamctl stores it by default): with an MD5-only
 *     row they answer -1. siphon also falls back to the plain password when the HA1 column is empty
 *     (a row inserted with only a password), where Kamailio would fail (-2).
 *   calculate_ha1 1: `password_column` holds the plain password; the HA1 is computed for the
 *     algorithm of the credentials, over the whole username as sent (Kamailio calc_HA1 with
 *     username.whole).
 * A lookup that failed or was not made answers -1: fail closed.
 */
import type { Logger } from 'pino';
import {
  AUTH_ERROR,
  AUTH_INVALID_PASSWORD,
  AUTH_OK,
  AUTH_USER_MISMATCH,
  AUTH_USER_UNKNOWN,
  type AuthCode,
  type AuthHeader,
  type DigestAuthApi,
  type DigestCredentials,
  type DigestSecret,
} from '../auth/api.js';
import type { MessageContext } from '../../core/context.js';
import { Errors } from '../../errors/registry.js';
import { parseUri } from '../../sip/uri.js';
import type { AuthDbConfig } from './config.js';
import { FAILED, type SubscriberPrefetch } from './prefetch.js';
import type { AuthDbStats } from './stats.js';
import type { SubscriberRow } from './store.js';

/** auth_check flag bits (Kamailio auth_db AUTH_CHECK_ID_F, AUTH_CHECK_SKIPFWD_F). */
export const AUTH_CHECK_ID_F = 1;
export const AUTH_CHECK_SKIPFWD_F = 2;

/** requests whose caller id may be anonymous: flag 2 skips the identity check for them. */
const SKIPFWD_METHODS = new Set(['INVITE', 'BYE', 'PRACK', 'UPDATE', 'MESSAGE']);

const NOT_LOADED_LOG_INTERVAL_MS = 10_000;

export class Authorizer {
  private notLoadedLoggedAt = -Infinity;
  private noAuthLogged = false;

  constructor(
    private readonly cfg: AuthDbConfig,
    private readonly prefetch: SubscriberPrefetch,
    private readonly stats: AuthDbStats,
    private readonly log: Logger,
    private readonly auth: () => DigestAuthApi | null,
  ) {}

  /** www_authorize (hdr 'www': Authorization) and proxy_authorize (hdr 'proxy': Proxy-Authorization). */
  authorize(ctx: MessageContext, realm: string, table: string, hdr: AuthHeader): AuthCode {
    return this.count(this.authenticate(ctx, realm, table, hdr).code);
  }

  /**
   * auth_check(realm, table, flags): www for REGISTER, proxy for the rest; with flag 1 the
   * authenticated user must be the To user (REGISTER, PUBLISH) or the From user (others), From and
   * To users equal for REGISTER/PUBLISH (and their domains with use_domain), PUBLISH's R-URI user
   * equal to From's; flag 2 skips the identity check for INVITE, BYE, PRACK, UPDATE and MESSAGE.
   */
  check(ctx: MessageContext, realm: string, table: string, flags: number): AuthCode {
    const method = ctx.msg.method;
    if (method === 'ACK' || method === 'CANCEL') return AUTH_OK;
    const isReg = method === 'REGISTER';
    const r = this.authenticate(ctx, realm, table, isReg ? 'www' : 'proxy');
    if (r.code !== AUTH_OK || r.cred === null || (flags & AUTH_CHECK_ID_F) === 0) return this.count(r.code);
    const code = this.identity(ctx, r.cred.user, flags);
    if (code !== AUTH_OK) this.auth()?.countFailure(ctx, r.cred, code);
    return this.count(code);
  }

  private identity(ctx: MessageContext, authUser: string, flags: number): AuthCode {
    const msg = ctx.msg;
    const from = msg.from ? parseUri(msg.from.uri) : null;
    if (!from) return AUTH_ERROR;
    const both = msg.method === 'REGISTER' || msg.method === 'PUBLISH';
    const to = both ? (msg.to ? parseUri(msg.to.uri) : null) : null;
    if (both && !to) return AUTH_ERROR;
    const uri = to ?? from;
    if (!((flags & AUTH_CHECK_SKIPFWD_F) !== 0 && SKIPFWD_METHODS.has(msg.method))) {
      if ((uri.user ?? '') !== authUser) return AUTH_USER_MISMATCH;
    }
    if (to) {
      if ((from.user ?? '') !== (to.user ?? '')) return AUTH_USER_MISMATCH;
      if (this.cfg.use_domain && from.host.toLowerCase() !== to.host.toLowerCase()) return AUTH_USER_MISMATCH;
      if (msg.method === 'PUBLISH') {
        const ruri = msg.uri ?? parseUri(msg.requestUri);
        if (!ruri) return AUTH_ERROR;
        if ((from.user ?? '') !== (ruri.user ?? '')) return AUTH_USER_MISMATCH;
        if (this.cfg.use_domain && from.host.toLowerCase() !== ruri.host.toLowerCase()) return AUTH_USER_MISMATCH;
      }
    }
    return AUTH_OK;
  }

  private authenticate(ctx: MessageContext, realm: string, table: string, hdr: AuthHeader): { code: AuthCode; cred: DigestCredentials | null } {
    const api = this.auth();
    if (!api) {
      if (!this.noAuthLogged) {
        this.noAuthLogged = true;
        this.log.error('auth_db: the auth module is not configured (modules.auth): every authorize call answers -1');
      }
      return { code: AUTH_ERROR, cred: null };
    }
    // an empty realm is the To host (REGISTER) or the From host: findCredentials does it (Kamailio get_realm)
    const found = api.findCredentials(ctx, realm, hdr);
    if (found.code !== AUTH_OK || found.cred === null) return { code: found.code, cred: found.cred };
    const cred = found.cred;
    const loaded = this.prefetch.get(ctx.msg, table, cred);
    if (loaded === undefined) {
      this.notLoaded(ctx, table);
      return { code: AUTH_ERROR, cred };
    }
    if (loaded === FAILED) return { code: AUTH_ERROR, cred };
    if (loaded === null) {
      api.countFailure(ctx, cred, AUTH_USER_UNKNOWN);
      return { code: AUTH_USER_UNKNOWN, cred };
    }
    const secret = this.secretOf(loaded, cred);
    if (secret === null) {
      // an empty row can match no response: a wrong password, counted as one
      api.countFailure(ctx, cred, AUTH_INVALID_PASSWORD);
      return { code: AUTH_INVALID_PASSWORD, cred };
    }
    return { code: api.verify(ctx, cred, secret), cred };
  }

  /** the secret of a row for these credentials (see the file comment); null when the row has none. */
  private secretOf(row: SubscriberRow, cred: DigestCredentials): DigestSecret | null {
    if (this.cfg.calculate_ha1 === 1) return row.password !== '' ? { password: row.password } : null;
    const md5 = cred.algorithm === null || cred.algorithm === 'MD5' || cred.algorithm === 'MD5-sess';
    const ha1 = cred.domain !== null ? row.ha1b : row.ha1;
    if (md5 && ha1 !== '') return { ha1 };
    if (row.password !== '') return { password: row.password };
    return ha1 !== '' ? { ha1 } : null;
  }

  private notLoaded(ctx: MessageContext, table: string): void {
    const now = Date.now();
    if (now - this.notLoadedLoggedAt < NOT_LOADED_LOG_INTERVAL_MS) return;
    this.notLoadedLoggedAt = now;
    ctx.log.error({ code: Errors.AUTHDB_NOT_LOADED.code, table }, `auth_db: no row loaded for these credentials in "${table}" (not in modules.auth_db.tables?): answering -1 [E${Errors.AUTHDB_NOT_LOADED.code}]`);
  }

  private count(code: AuthCode): AuthCode {
    const s = this.stats;
    if (code === AUTH_OK) s.authorized++;
    else if (code === AUTH_INVALID_PASSWORD) s.invalidPassword++;
    else if (code === AUTH_USER_UNKNOWN) s.userUnknown++;
    else if (code === AUTH_USER_MISMATCH) s.userMismatch++;
    else if (code === AUTH_ERROR) s.errors++;
    return code;
  }
}

