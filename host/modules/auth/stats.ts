/**
 * auth counters for stats.get_statistics (`auth:<name>`) and /metrics, and the bounded table of
 * failed attempts per username (auth.failures). Kamailio's auth module keeps no statistics; the
 * names are siphon's.
 */

export class AuthStats {
  /** 401 challenges sent (www_challenge, auth_challenge for REGISTER). */
  challenges_www = 0;
  /** 407 challenges sent (proxy_challenge, auth_challenge otherwise). */
  challenges_proxy = 0;
  /** challenge headers built for the plugin's own reply (auth_get_www_authenticate / auth_get_proxy_authenticate). */
  challenges_built = 0;
  /** challenges that could not be built or sent. */
  challenge_errors = 0;
  /** verify() accepted the credentials. */
  ok = 0;
  /** -2: wrong response. */
  failed_password = 0;
  /** -1: nonce not ours (bad signature or shape). */
  failed_nonce = 0;
  /** -1: malformed credentials, refused algorithm / qop, or a secret that cannot serve the algorithm. */
  failed_credentials = 0;
  /** -3 / -8 reported by the backend (countFailure). */
  failed_user = 0;
  /** -4: the nonce expired (or came from too far in the future). */
  stale = 0;
  /** -4: an nc not above the nonce's highest accepted one, or a forgotten nonce (replay refused). */
  replayed = 0;
  /** a byte-identical copy of an accepted request inside retransmission_window: accepted again, not a replay. */
  retransmissions = 0;
  /** -6: a one-time nonce used again. */
  reused = 0;
  /** -5: no credentials for the realm. */
  no_credentials = 0;
  /** failures counted into pike. */
  pike_counted = 0;
}

/**
 * Failed attempts per username, at most `max` names; the least recently failed name is evicted
 * (a Map keeps insertion order: a failing name is deleted and re-inserted at the end). O(1).
 */
export class FailureTable {
  private readonly byUser = new Map<string, { count: number; last: number }>();
  evicted = 0;

  constructor(private readonly max: number) {}

  add(username: string, now: number): void {
    if (this.max === 0) return;
    const key = username.length > 128 ? username.slice(0, 128) : username;
    const e = this.byUser.get(key);
    if (e) {
      this.byUser.delete(key);
      e.count++;
      e.last = now;
      this.byUser.set(key, e);
      return;
    }
    if (this.byUser.size >= this.max) {
      const oldest = this.byUser.keys().next().value as string;
      this.byUser.delete(oldest);
      this.evicted++;
    }
    this.byUser.set(key, { count: 1, last: now });
  }

  get size(): number {
    return this.byUser.size;
  }

  /** the `limit` names with the most failures. */
  top(limit: number): Array<{ username: string; failures: number; last: number }> {
    const rows = [...this.byUser].map(([username, e]) => ({ username, failures: e.count, last: e.last }));
    rows.sort((a, b) => b.failures - a.failures || b.last - a.last);
    return rows.slice(0, limit);
  }

  clear(): void {
    this.byUser.clear();
  }
}
