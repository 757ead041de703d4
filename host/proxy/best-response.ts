/**
 * Choosing the response a forking proxy sends upstream once every branch ended without a 2xx
 * (RFC 3261 §16.7 step 6, and Kamailio tm's reply priorities):
 *
 *   - any 6xx wins (a global failure stops the search);
 *   - otherwise the lowest class: 3xx before 4xx before 5xx;
 *   - inside 4xx, responses that the caller can act upon (401, 407, 415, 420, 484) are preferred,
 *     as the RFC recommends; otherwise the lowest code; the earliest branch wins a tie;
 *   - inside 5xx, 503 ranks last (its meaning is per hop).
 * A 503 chosen anyway is sent upstream as 500 (§16.7 step 6: 503 must not be forwarded, it would
 * make the caller think the proxy itself is overloaded). With no final response at all (every
 * branch timed out) the answer is a local 408.
 */

/** lower is better. */
export function responseRank(status: number): number {
  const cls = Math.floor(status / 100);
  let rank: number;
  switch (cls) {
    case 6:
      rank = 0;
      break;
    case 3:
      rank = 10_000;
      break;
    case 4:
      rank = 20_000;
      if (status === 401 || status === 407 || status === 415 || status === 420 || status === 484) return rank + status % 100;
      rank += 1000;
      break;
    case 5:
      rank = 30_000;
      if (status === 503) return rank + 2000;
      break;
    default:
      rank = 40_000;
  }
  return rank + (status % 100);
}

/** index of the best of `statuses` (0 = no response yet, skipped); -1 when none. */
export function pickBestResponse(statuses: ArrayLike<number>): number {
  let best = -1;
  let bestRank = Infinity;
  for (let i = 0; i < statuses.length; i++) {
    const s = statuses[i]!;
    if (s < 300) continue;
    const r = responseRank(s);
    if (r < bestRank) {
      bestRank = r;
      best = i;
    }
  }
  return best;
}
