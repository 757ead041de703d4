/**
 * auth_db counters for stats.get_statistics (`auth_db:<name>`) and /metrics. Kamailio's auth_db has
 * no statistics of its own; these are siphon's.
 */
export class AuthDbStats {
  /** requests whose subscriber rows were loaded before routing. */
  prefetched = 0;
  /** subscriber lookups made (one per distinct credentials and table of a request). */
  lookups = 0;
  /** lookups answered by a query already in flight for the same subscriber (no query of their own). */
  lookupsShared = 0;
  /** lookups that failed (database down, timeout, busy): the functions answer -1 for them. */
  lookupErrors = 0;
  /** credentials headers beyond max_credentials, not looked up. */
  credentialsSkipped = 0;
  /** credentials not looked up because their nonce is forged or expired (the functions refuse them first). */
  nonceSkipped = 0;
  /** authorize calls answered 1. */
  authorized = 0;
  /** answered -2 (wrong password). */
  invalidPassword = 0;
  /** answered -3 (no such subscriber). */
  userUnknown = 0;
  /** answered -8 (auth_check: From/To user is not the authenticated user). */
  userMismatch = 0;
  /** answered -1 (errors: failed or missing lookup, no auth module, bad arguments). */
  errors = 0;
  /** subscriber.add / passwd / rm applied through RPC. */
  rpcWrites = 0;

  toStatistics(): Record<string, number> {
    return {
      prefetched: this.prefetched,
      lookups: this.lookups,
      lookups_shared: this.lookupsShared,
      lookup_errors: this.lookupErrors,
      credentials_skipped: this.credentialsSkipped,
      nonce_skipped: this.nonceSkipped,
      authorized: this.authorized,
      invalid_password: this.invalidPassword,
      user_unknown: this.userUnknown,
      user_mismatch: this.userMismatch,
      errors: this.errors,
      rpc_writes: this.rpcWrites,
    };
  }
}
