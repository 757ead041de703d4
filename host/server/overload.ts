/**
 * Load shedding (`core.overload`; off when absent).
 *
 * One event loop that falls behind does not degrade, it collapses: replies come after the clients'
 * T1, every INVITE is retransmitted, and the retransmissions are more load (bench/RESULTS.md, the
 * stateful runs: 28–67 % failed calls one step past the limit). With the guard on, a node whose loop
 * was busy for at least `utilization` of `sustain` windows in a row refuses new dialogs and
 * registrations with 503 Service Unavailable and a Retry-After (RFC 3261 §21.5.4, §20.33) until a
 * window's busy share falls below `utilization - 0.05`, so the calls already set up keep their
 * transactions on time. The busy share is a coarse signal: near its limit a loop that still keeps
 * up reads 0.97–0.99 now and then, so the guard also refuses some calls there (measured in
 * bench/RESULTS.md); that is why it is off unless configured.
 * In-dialog requests, CANCEL, ACK, OPTIONS and responses are never refused. Kamailio offers the same
 * as modules (ratelimit, pike) that a route calls; here it is measured on the loop itself.
 *
 * The busy share is Node's event-loop utilisation (time not spent waiting in the poll phase): a
 * socket with a backlog keeps the poll from waiting, so a saturated receive path reads as ≈1.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { SipMessage } from '../sip/types.js';
import { Errors } from '../errors/registry.js';

export interface OverloadOptions {
  /** busy share of a window (0-1) at which shedding starts. */
  utilization: number;
  /** sampling window, ms. */
  windowMs: number;
  /** consecutive windows at or above `utilization` before shedding starts. */
  sustain: number;
  /** Retry-After of the 503, seconds. */
  retryAfter: number;
}

/**
 * Where the guard reads a window's busy share: given the previous reading, the new one and the busy
 * share (0-1) since. Node's event-loop utilisation by default; a test passes its own to set the load
 * without loading the machine (ServerOptions.overloadUtilization, startNode's option of that name).
 */
export type UtilizationSource = (prev: EventLoopUtilization) => { now: EventLoopUtilization; busy: number };

/** how far below `utilization` the busy share must fall before shedding stops (hysteresis). */
const HYSTERESIS = 0.05;

export class OverloadGuard {
  /** true while new dialogs are refused. */
  shedding = false;
  /** windows that started shedding (for the statistics). */
  episodes = 0;
  readonly retryAfterHeader: string;
  private last: EventLoopUtilization;
  /** windows in a row at or above the threshold. */
  private hot = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    readonly opts: OverloadOptions,
    private readonly log: Logger,
    /** the busy share source; Node's event-loop utilisation by default (tests inject one). */
    private readonly utilization: UtilizationSource = nodeUtilization,
  ) {
    this.retryAfterHeader = `Retry-After: ${opts.retryAfter}`;
    this.last = performance.eventLoopUtilization();
  }

  start(): void {
    if (this.timer !== null) return;
    this.last = performance.eventLoopUtilization();
    this.timer = setInterval(() => this.sample(), this.opts.windowMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.shedding = false;
  }

  /** One window: switch shedding on or off. (Called by the interval; public for tests.) */
  sample(): void {
    const { now, busy } = this.utilization(this.last);
    this.last = now;
    this.hot = busy >= this.opts.utilization ? this.hot + 1 : 0;
    if (!this.shedding && this.hot >= this.opts.sustain) {
      this.shedding = true;
      this.episodes++;
      this.log.warn({ utilization: round(busy), threshold: this.opts.utilization, code: Errors.OVERLOADED.code }, 'overloaded: refusing new dialogs with 503 [E3004]');
    } else if (this.shedding && busy < this.opts.utilization - HYSTERESIS) {
      this.shedding = false;
      this.log.info({ utilization: round(busy) }, 'load back to normal: accepting new dialogs');
    }
  }

  /** Would this request be refused now? New dialogs and registrations only (no To-tag). */
  refuses(msg: SipMessage): boolean {
    if (!this.shedding) return false;
    const m = msg.method;
    if (m === 'ACK' || m === 'CANCEL' || m === 'OPTIONS') return false;
    return msg.to?.tag === undefined;
  }
}

function nodeUtilization(prev: EventLoopUtilization): { now: EventLoopUtilization; busy: number } {
  const now = performance.eventLoopUtilization();
  return { now, busy: performance.eventLoopUtilization(now, prev).utilization };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
