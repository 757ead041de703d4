/**
 * Transaction timer settings. Names and defaults follow Kamailio's tm module (kamailio.md §4.2) and
 * RFC 3261 §17 / Table 4:
 *
 *   t1    retr_timer1  500 ms   RTT estimate; first retransmission interval (timers A, E, G)
 *   t2    retr_timer2  4000 ms  cap of the retransmission interval for non-INVITE and replies
 *   t4    —            5000 ms  max time a message stays in the network (timers I, K)
 *   fr    fr_timer     30000 ms wait for a final reply (non-INVITE: timer F; INVITE before a provisional: timer B)
 *   frInv fr_inv_timer 120000ms wait for a final reply to an INVITE after a provisional
 *   wt    wt_timer     5000 ms  how long a completed transaction stays to absorb retransmissions
 *                              (Kamailio uses it for timers D, J and the 2xx "accepted" wait of RFC 6026)
 *
 *   maxInvLifetime / maxNonInvLifetime  max_inv_lifetime 180000 / max_noninv_lifetime 32000: the
 *                              longest an unanswered server transaction may live
 *
 * Timer H (wait for the ACK of a non-2xx final) is 64*T1 as in the RFC.
 */
import { SiphonError } from '../errors/registry.js';

export interface TransactionTimers {
  t1: number;
  t2: number;
  t4: number;
  fr: number;
  frInv: number;
  wt: number;
  /** Kamailio max_inv_lifetime: an INVITE server transaction never lives longer than this. */
  maxInvLifetime: number;
  /** Kamailio max_noninv_lifetime: same for non-INVITE server transactions. */
  maxNonInvLifetime: number;
  /** Kamailio auto_inv_100: send 100 Trying as soon as an INVITE transaction is created. */
  auto100: boolean;
}

export const DEFAULT_TRANSACTION_TIMERS: Readonly<TransactionTimers> = {
  t1: 500,
  t2: 4000,
  t4: 5000,
  fr: 30_000,
  frInv: 120_000,
  wt: 5000,
  maxInvLifetime: 180_000,
  maxNonInvLifetime: 32_000,
  auto100: true,
};

/** defaults applied to the keys left out; throws SiphonError TM_BAD_TIMER (E9002) on a non-positive value. */
export function transactionTimers(partial?: Partial<TransactionTimers>): TransactionTimers {
  const t: TransactionTimers = { ...DEFAULT_TRANSACTION_TIMERS };
  if (partial) {
    for (const k of Object.keys(t) as Array<keyof TransactionTimers>) {
      const v = partial[k];
      if (v !== undefined) (t as unknown as Record<string, unknown>)[k] = v;
    }
  }
  for (const k of ['t1', 't2', 't4', 'fr', 'frInv', 'wt', 'maxInvLifetime', 'maxNonInvLifetime'] as const) {
    if (!Number.isFinite(t[k]) || t[k] <= 0) throw new SiphonError('TM_BAD_TIMER', `${k} must be a positive number of ms, got ${t[k]}`);
  }
  if (t.t2 < t.t1) throw new SiphonError('TM_BAD_TIMER', `t2 (${t.t2} ms) must be >= t1 (${t.t1} ms)`);
  return t;
}
