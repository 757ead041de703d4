/**
 * Subscriber rows loaded before routing. ABI v1 imports are synchronous and a database answer is
 * not, so for every request that carries Authorization or Proxy-Authorization the pipeline awaits
 * `load(msg)` (host/modules/types.ts MessagePrefetcher): the usernames of its credentials (the auth
 * module's peekCredentials, at most max_credentials of them) are looked up in every configured
 * table, and the answers are kept for that message (WeakMap, dropped by `done`).
 *
 * Each answer is a row, "no such subscriber" (null), or FAILED: the lookup failed (database down,
 * timeout, queue full). FAILED makes the authorize functions answer -1 (AUTH_ERROR): the route
 * answers 500 and nothing is let through (fail closed). A credentials/table pair that was not
 * loaded at all also answers -1 (E7221).
 *
 * The lookup key is the one Kamailio auth_db queries with (authorize.c get_ha1): the user part of
 * the username, and the domain after '@' in the username, else the realm.
 */
import type { Logger } from 'pino';
import type { DigestAuthApi, DigestCredentials } from '../auth/api.js';
import { Errors } from '../../errors/registry.js';
import type { SipMessage } from '../../sip/types.js';
import type { AuthDbConfig } from './config.js';
import type { AuthDbStats } from './stats.js';
import type { SubscriberRow, SubscriberStore } from './store.js';

/** the lookup failed: authenticate nobody with these credentials. */
export const FAILED = Symbol('auth_db lookup failed');
export type Loaded = SubscriberRow | null | typeof FAILED;

/** ms between two E7220 log lines (the counter lookup_errors has every failure). */
const ERROR_LOG_INTERVAL_MS = 10_000;

/** the domain the subscriber is looked up in: the username's own, else the realm (Kamailio get_ha1). */
export function lookupDomain(cred: DigestCredentials): string {
  return cred.domain ?? cred.realm;
}

function keyOf(table: string, user: string, domain: string): string {
  return `${table}\n${user}\n${domain}`;
}

export class SubscriberPrefetch {
  private readonly byMsg = new WeakMap<SipMessage, Map<string, Loaded>>();
  /** queries in flight by key (lookupShared). */
  private readonly inflight = new Map<string, Promise<SubscriberRow | null>>();
  private errorLoggedAt = -Infinity;
  private skippedLoggedAt = -Infinity;

  constructor(
    private readonly store: SubscriberStore,
    private readonly cfg: AuthDbConfig,
    private readonly stats: AuthDbStats,
    private readonly log: Logger,
    /** the auth module's API, once wired (null: nothing to parse credentials with). */
    private readonly auth: () => DigestAuthApi | null,
  ) {}

  /** cheap: a request (not ACK/CANCEL, which are never challenged) with credentials headers. */
  wants(msg: SipMessage): boolean {
    if (msg.method === 'ACK' || msg.method === 'CANCEL') return false;
    return msg.headerCount('authorization') > 0 || msg.headerCount('proxy-authorization') > 0;
  }

  /** loads the rows of `msg`'s credentials; never rejects (failures become FAILED entries). */
  async load(msg: SipMessage): Promise<void> {
    const api = this.auth();
    if (!api) return;
    let creds: DigestCredentials[];
    try {
      creds = api.peekCredentials(msg);
    } catch (e) {
      this.log.warn({ err: (e as Error).message, callid: msg.callId }, 'auth_db: cannot read the credentials');
      return;
    }
    if (creds.length > this.cfg.max_credentials) {
      this.stats.credentialsSkipped += creds.length - this.cfg.max_credentials;
      const now = Date.now();
      if (now - this.skippedLoggedAt >= ERROR_LOG_INTERVAL_MS) {
        this.skippedLoggedAt = now;
        this.log.warn({ code: Errors.AUTHDB_TOO_MANY_CREDENTIALS.code, credentials: creds.length, max: this.cfg.max_credentials, callid: msg.callId }, `auth_db: credentials beyond max_credentials not looked up [E${Errors.AUTHDB_TOO_MANY_CREDENTIALS.code}]`);
      }
      creds = creds.slice(0, this.cfg.max_credentials);
    }
    const loaded = new Map<string, Loaded>();
    const pending: Array<Promise<void>> = [];
    for (const cred of creds) {
      // a forged or expired nonce is refused by findCredentials before any row is read (-1 / -4,
      // as Kamailio's pre_auth does before its query): no query for it, so a flood of made-up
      // credentials costs an HMAC each, not a database round trip
      if (api.nonceAcceptable?.(cred) === false) {
        this.stats.nonceSkipped++;
        continue;
      }
      // a username we would not store (too long, a userhash) is nobody: -3 without a query
      const nobody = cred.userhash || cred.user.length === 0 || cred.username.length > this.cfg.max_username_length;
      const domain = lookupDomain(cred);
      for (const table of this.store.tableNames()) {
        const key = keyOf(table, cred.user, domain);
        if (loaded.has(key)) continue;
        if (nobody) {
          loaded.set(key, null);
          continue;
        }
        loaded.set(key, FAILED); // until answered
        pending.push(
          this.lookupShared(key, table, cred.user, domain).then(
            (row) => void loaded.set(key, row),
            (e: unknown) => this.failed(e, msg),
          ),
        );
      }
    }
    this.byMsg.set(msg, loaded);
    this.stats.prefetched++;
    await Promise.all(pending);
  }

  /**
   * One query per key at a time: requests that need a row while its query is in flight (a UA's
   * retransmission, parallel requests of one user) share its answer. The entry goes when the query
   * settles, so the map holds at most the queries in flight (bounded by core.db's queue), and a
   * shared answer is never older than one query that started before the request arrived.
   */
  private lookupShared(key: string, table: string, user: string, domain: string): Promise<SubscriberRow | null> {
    const running = this.inflight.get(key);
    if (running) {
      this.stats.lookupsShared++;
      return running;
    }
    this.stats.lookups++;
    const p = this.store.lookup(table, user, domain);
    this.inflight.set(key, p);
    const forget = (): void => void this.inflight.delete(key);
    p.then(forget, forget);
    return p;
  }

  private failed(e: unknown, msg: SipMessage): void {
    this.stats.lookupErrors++;
    const now = Date.now();
    if (now - this.errorLoggedAt >= ERROR_LOG_INTERVAL_MS) {
      this.errorLoggedAt = now;
      this.log.error({ code: Errors.AUTHDB_LOOKUP.code, err: (e as Error).message, callid: msg.callId, failures: this.stats.lookupErrors }, `auth_db: subscriber lookup failed; authentication answers -1 [E${Errors.AUTHDB_LOOKUP.code}]`);
    }
  }

  /** the answer for these credentials in `table`; undefined when it was not loaded. */
  get(msg: SipMessage, table: string, cred: DigestCredentials): Loaded | undefined {
    return this.byMsg.get(msg)?.get(keyOf(table, cred.user, lookupDomain(cred)));
  }

  done(msg: SipMessage): void {
    this.byMsg.delete(msg);
  }
}
