/**
 * pike counters for stats.get_statistics (`pike:<name>`) and /metrics. `blocked_ips` is Kamailio's
 * own counter (pike_funcs.c: sources detected as flooding); the others are siphon's.
 */
import type { PikeState } from './table.js';

export class PikeStats {
  /** pike checks made (plugin calls and host checks). */
  checks = 0;
  /** requests dropped by the host check (`auto: drop`). */
  autoDropped = 0;
  /** requests answered 503 by the host check (`auto: 503`). */
  autoRejected = 0;
  /** sources unblocked with pike.unblock. */
  unblockedByRpc = 0;
  /** failed authentications counted (penalize, from modules.auth). */
  penalized = 0;

  toStatistics(state: PikeState): Record<string, number> {
    const t = state.counters;
    return {
      blocked_ips: t.blocked,
      blocked_now: state.blockedCount,
      tracked: state.size,
      checks: this.checks,
      unblocked: t.unblocked,
      unblocked_rpc: this.unblockedByRpc,
      expired: t.expired,
      evicted: t.evicted,
      untracked: t.untracked,
      auto_dropped: this.autoDropped,
      auto_rejected: this.autoRejected,
      auth_failures: this.penalized,
    };
  }
}
