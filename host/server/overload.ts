/**
 * Admission control under overload (`core.overload`, on by default; RFC 7339's idea of refusing the
 * excess early, Kamailio's bar of degrading by tenths of a percent instead of collapsing).
 *
 * One event loop that falls behind does not degrade, it collapses: replies come after the clients'
 * T1 (500 ms), every INVITE is retransmitted, and the retransmissions are more load (bench/RESULTS.md:
 * 28–67 % failed calls one step past the limit). The guard watches the **queueing delay** of the
 * receive path and, while a queue stands, refuses a share of the new dialogs and registrations with
 * a stateless 503 + Retry-After (RFC 3261 §21.5.4, §20.33), so the admitted calls keep their
 * transactions on time and the refused ones cost one parse and one small reply.
 *
 * The signal, per `window` (ms), is CoDel's (RFC 8289 §3): the **smallest** delay seen in the window.
 * A burst or a one-off stall (a GC, a plugin compile) makes some samples high but leaves the minimum
 * low once the queue drains; only a standing queue keeps every sample high. Samples come from
 *  - UDP queue probes (host/transport/queue-probe.ts): a tiny datagram the node sends itself every
 *    `probe_interval` ms; the time until its own listener reads it is the wait of a datagram in the
 *    socket buffer plus the loop's backlog. (libuv reads up to 32 datagrams per socket per loop
 *    turn, so timers keep firing on time while the socket buffer holds seconds of work: the loop's
 *    own lag cannot see that queue.)
 *  - without UDP listeners, the lateness of a timer (the loop's lag: what a TCP message waits).
 * A window whose probes were all still unanswered counts the age of the oldest one, unless the
 * window's own timer fired late (the loop was stalled, not queueing). The lag counts only on a node
 * without UDP listeners (the probes' delay already includes the loop's backlog).
 *
 * A window with fewer than `min_rate` × window messages never counts as overloaded: a node that
 * receives little is not overloaded by its traffic (a CPU-starved machine, a stall), and refusing a
 * few requests would not shorten its queue.
 *
 * While clients retransmit to us (server transactions absorbing requests, client transactions
 * seeing responses again), the delay that counts is a quarter of `max_delay` (target()).
 *
 * Start-up grace: for the first `startup_grace` ms of busy traffic (counted from the first window
 * with `min_rate` × window messages), the delay that counts is STARTUP_FACTOR × `max_delay` (200 ms
 * with the defaults, still below T1 = 500 ms, so no client retransmits). A fresh node runs its first
 * traffic on code V8 has not optimised yet (the warm-up runs copies of the message path, not the live
 * objects: bench/RESULTS.md "Warm-up"): for a few hundred ms it is slower than at steady state and its
 * queue stands longer, a transient that drains by itself. Refusing then turned that transient into
 * lost calls (REGISTER with digest at 7,000/s: 2,153 503s in the first second, 0 after). A real
 * overload from the first second is still refused, at the higher target, and normally after it.
 *
 * Control (per window): after `sustain` windows in a row with a delay above `max_delay`, the refused
 * share of new requests rises by INCREASE_STEP × delay / max_delay per window (at most 4 × INCREASE_STEP) unless
 * the queue is already draining (the delay fell by 10 % since the last window: refusing more would
 * overshoot, as the delay lags the load); a window below max_delay / 2 lowers it multiplicatively
 * (DECREASE_FACTOR, DECREASE_STEP); in between it holds. The share is applied
 * deterministically (an accumulator, not a random draw): at 0.25 every fourth new request is refused.
 * With `utilization` set, a window with the loop at least that busy also counts as over (the
 * earlier, coarser signal; off by default).
 *
 * Never refused: in-dialog requests (To-tag), ACK, CANCEL, OPTIONS, answers to a challenge
 * (Authorization / Proxy-Authorization), responses, and retransmissions of requests already in a
 * transaction (the server absorbs those before asking the guard).
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { SipMessage } from '../sip/types.js';
import { Errors } from '../errors/registry.js';

export interface OverloadOptions {
  /** queueing delay (ms) above which a window counts as overloaded. */
  maxDelayMs: number;
  /** control window, ms. */
  windowMs: number;
  /** overloaded windows in a row before the refused share starts rising. */
  sustain: number;
  /** Retry-After of the 503, seconds. */
  retryAfter: number;
  /** optional second signal: the event loop's busy share (0-1) at which a window counts as overloaded. */
  utilization?: number;
  /** messages received so far (every listener); with minRate, a window needs minRate × window of them to count as overloaded. */
  messages?: () => number;
  /** messages/s below which no window counts as overloaded (0: any rate). */
  minRate?: number;
  /** retransmissions received so far (requests absorbed by server transactions, responses re-received by client transactions). */
  retransmissions?: () => number;
  /** ms of the first busy traffic during which the target is STARTUP_FACTOR × maxDelayMs (0 or absent: none). */
  startupGraceMs?: number;
}

/** the refused share's rise per overloaded window, times delay / target (at most MAX_STEP_FACTOR). */
export const INCREASE_STEP = 0.1;
export const MAX_STEP_FACTOR = 4;
/** a calm window (delay below max_delay / 2) takes the share to share × DECREASE_FACTOR − DECREASE_STEP: from 1 to 0 in 12 windows. */
export const DECREASE_FACTOR = 0.75;
export const DECREASE_STEP = 0.02;
/** a window whose delay fell below this share of the last one's is a draining queue: the share holds. */
export const DRAINING = 0.9;
/** retransmissions in one window that mark the clients as timing out on us ... */
export const RETRANSMIT_MIN = 5;
/** ... for this many windows, during which the delay target is max_delay / 4 ... */
export const RETRANSMIT_HOLD = 30;
/** ... but no less than this (ms). */
export const RETRANSMIT_TARGET_MIN = 25;
/** the delay target during the start-up grace, in multiples of max_delay. */
export const STARTUP_FACTOR = 4;
/** timer lags a window needs for a lag-only signal (a single late timer is a stall, not a queue). */
export const MIN_LAG_SAMPLES = 3;

/**
 * Where the guard reads a window's busy share (the optional `utilization` signal): given the previous
 * reading, the new one and the busy share (0-1) since. Node's event-loop utilisation by default; a
 * test passes its own to set the load without loading the machine (ServerOptions.overloadUtilization,
 * startNode's option of that name).
 */
export type UtilizationSource = (prev: EventLoopUtilization) => { now: EventLoopUtilization; busy: number };

export interface OverloadStats {
  /** the last window's delay signal, ms (-1: no sample yet). */
  delayMs: number;
  /** the share of new dialogs refused now (0-1). */
  rejectShare: number;
  /** times the guard started refusing. */
  episodes: number;
  /** windows counted as overloaded. */
  overloadedWindows: number;
}

export class OverloadGuard {
  /** the share (0-1) of new dialogs and registrations refused now. */
  rejectShare = 0;
  /** times the share rose from 0. */
  episodes = 0;
  overloadedWindows = 0;
  /** the last window's delay signal, ms (-1 before the first window with a sample). */
  lastDelayMs = -1;
  readonly retryAfterHeader: string;
  private hot = 0;
  /** the last window's delay (-1: none). */
  private prevDelayMs = -1;
  private lastRetransmissions = 0;
  private lastMessages = 0;
  /** windows left in which the clients count as retransmitting. */
  private retransmitting = 0;
  /** windows of start-up grace left; counted down from the first busy window (-1: not started yet). */
  private graceWindows = -1;
  private accumulator = 0;
  /** smallest probe delay of the current window (Infinity: none answered yet). */
  private probeMin = Infinity;
  /** smallest loop lag of the current window. */
  private lagMin = Infinity;
  private lastElu: EventLoopUtilization;
  private lagSamples = 0;
  /** UDP probes feed the signal (else the loop's lag does). */
  private probed = false;
  private lastSampleAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private lagTimer: NodeJS.Timeout | null = null;
  /** the age (ms) of the oldest unanswered probe, or 0; set by the probes' owner. */
  private oldestOutstanding: () => number = () => 0;

  constructor(
    readonly opts: OverloadOptions,
    private readonly log: Logger,
    /** the busy share source for `utilization`; Node's event-loop utilisation by default (tests inject one). */
    private readonly utilization: UtilizationSource = nodeUtilization,
  ) {
    this.retryAfterHeader = `Retry-After: ${opts.retryAfter}`;
    this.lastElu = performance.eventLoopUtilization();
  }

  /** true while some new dialogs are refused. */
  get shedding(): boolean {
    return this.rejectShare > 0;
  }

  /** the node probes its UDP sockets; `fn` gives the age of the oldest unanswered probe. */
  setOutstanding(fn: () => number): void {
    this.oldestOutstanding = fn;
    this.probed = true;
  }

  /** how late (ms) this window's timer fired. */
  private windowLateness(): number {
    const now = performance.now();
    const late = this.lastSampleAt === 0 ? 0 : now - this.lastSampleAt - this.opts.windowMs;
    this.lastSampleAt = now;
    return Math.max(0, late);
  }

  /** a UDP probe came back after `ms`. */
  probeDelay(ms: number): void {
    if (ms < this.probeMin) this.probeMin = ms;
  }

  /** the loop ran a timer `ms` late. */
  loopLag(ms: number): void {
    this.lagSamples++;
    if (ms < this.lagMin) this.lagMin = ms;
  }

  /** a node without UDP listeners: the lateness of a timer every `intervalMs` is the delay signal. */
  measureLag(intervalMs: number): void {
    if (this.lagTimer !== null) return;
    let last = performance.now();
    this.lagTimer = setInterval(() => {
      const now = performance.now();
      this.loopLag(Math.max(0, now - last - intervalMs));
      last = now;
    }, intervalMs);
    this.lagTimer.unref();
  }

  start(): void {
    if (this.timer !== null) return;
    this.lastElu = performance.eventLoopUtilization();
    this.lastSampleAt = performance.now();
    this.timer = setInterval(() => this.sample(), this.opts.windowMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    if (this.lagTimer !== null) clearInterval(this.lagTimer);
    this.timer = null;
    this.lagTimer = null;
    this.rejectShare = 0;
    this.hot = 0;
  }

  /**
   * The window's delay signal (ms), or -1 without one. With UDP probes: their smallest delay; when
   * none came back, the age of the oldest outstanding probe, unless the window itself ended late (the
   * loop was stalled, not queueing: a compile or a GC; the probes come back as soon as it ends).
   * Without probes: the smallest timer lag, from at least MIN_LAG_SAMPLES timers (one late timer is a stall).
   */
  private windowDelay(lateMs: number): number {
    const probe = this.probeMin;
    const lag = this.lagMin;
    const lags = this.lagSamples;
    this.probeMin = Infinity;
    this.lagMin = Infinity;
    this.lagSamples = 0;
    if (probe !== Infinity) return probe;
    if (this.probed) {
      if (lateMs > this.opts.windowMs / 2) return -1;
      const age = this.oldestOutstanding();
      return age > 0 ? age : -1;
    }
    return lags >= MIN_LAG_SAMPLES ? lag : -1;
  }

  /** One window: move the refused share. (Called by the interval; public for tests: `lateMs`, how late the window ended.) */
  sample(lateMs = this.windowLateness()): void {
    const d = this.windowDelay(lateMs);
    if (d < 0 && this.opts.utilization === undefined) return; // no signal: nothing changes
    if (d >= 0) this.lastDelayMs = d;
    // a node that receives little is not overloaded by its traffic, whatever the delay (a CPU-starved
    // machine, a stall): refusing a few requests would not shorten the queue
    const busyEnough = this.enoughMessages();
    const target = this.target(busyEnough);
    let over = d > target && busyEnough;
    let busy = -1;
    if (this.opts.utilization !== undefined) {
      const u = this.utilization(this.lastElu);
      this.lastElu = u.now;
      busy = u.busy;
      if (busy >= this.opts.utilization) over = true;
    }
    if (over) {
      this.overloadedWindows++;
      this.hot++;
      // a queue already draining (delay down by DRAINING against the last window) gets no more
      // refusals: the delay lags the load by the queue's length, and pushing on would overshoot
      const draining = d > target && d < this.prevDelayMs * DRAINING;
      this.prevDelayMs = d;
      if (this.hot >= this.opts.sustain && !draining) {
        // proportional: a queue twice the target rises twice as fast (at most MAX_STEP_FACTOR times)
        const step = INCREASE_STEP * Math.min(MAX_STEP_FACTOR, Math.max(1, d / target));
        if (this.rejectShare === 0) {
          this.episodes++;
          this.log.warn({ delay_ms: round(d), max_delay_ms: round(target), utilization: busy >= 0 ? round(busy) : undefined, code: Errors.OVERLOADED.code }, 'overloaded: refusing a share of new dialogs with 503 [E3004]');
        }
        this.rejectShare = Math.min(1, this.rejectShare + step);
      }
      return;
    }
    this.hot = 0;
    this.prevDelayMs = d;
    const calm = d < target / 2 && (this.opts.utilization === undefined || busy < this.opts.utilization - 0.05);
    if (calm && this.rejectShare > 0) {
      this.rejectShare = Math.max(0, this.rejectShare * DECREASE_FACTOR - DECREASE_STEP);
      if (this.rejectShare < 1e-9) {
        this.rejectShare = 0;
        this.accumulator = 0;
        this.log.info({ delay_ms: round(d) }, 'load back to normal: accepting new dialogs');
      }
    }
  }

  /**
   * The delay that counts as overload this window: `max_delay`, or a quarter of it (at least
   * RETRANSMIT_TARGET_MIN) while the clients retransmit to us (RETRANSMIT_MIN or more per window in
   * the last RETRANSMIT_HOLD windows): a queue the clients' T1 does not tolerate, whatever its
   * length. An INVITE and its 200/ACK cross the queue four times, a REGISTER twice; the same queue
   * that a REGISTER load rides out at its limit makes a proxied call's UAS resend its 200
   * (bench/RESULTS.md, "Load shedding").
   */
  private target(busyEnough: boolean): number {
    const src = this.opts.retransmissions;
    if (src !== undefined) {
      const now = src();
      if (now - this.lastRetransmissions >= RETRANSMIT_MIN) this.retransmitting = RETRANSMIT_HOLD;
      else if (this.retransmitting > 0) this.retransmitting--;
      this.lastRetransmissions = now;
    }
    if (this.retransmitting > 0) return Math.max(RETRANSMIT_TARGET_MIN, this.opts.maxDelayMs / 4);
    // the start-up grace runs from the first busy window, for startup_grace ms of windows
    if (this.graceWindows < 0 && busyEnough) this.graceWindows = Math.ceil((this.opts.startupGraceMs ?? 0) / this.opts.windowMs);
    if (this.graceWindows > 0) {
      this.graceWindows--;
      return this.opts.maxDelayMs * STARTUP_FACTOR;
    }
    return this.opts.maxDelayMs;
  }

  /** whether this window received at least minRate × window messages. */
  private enoughMessages(): boolean {
    const src = this.opts.messages;
    const min = this.opts.minRate ?? 0;
    if (src === undefined || min <= 0) return true;
    const now = src();
    const n = now - this.lastMessages;
    this.lastMessages = now;
    return n >= (min * this.opts.windowMs) / 1000;
  }

  /** Would this request be refused now? New dialogs and registrations only (no To-tag), in the current share. */
  refuses(msg: SipMessage): boolean {
    if (this.rejectShare === 0) return false;
    const m = msg.method;
    if (m === 'ACK' || m === 'CANCEL' || m === 'OPTIONS') return false;
    if (msg.to?.tag !== undefined) return false;
    // the answer to a challenge finishes work already spent (the 401/407 and its nonce): refusing it
    // would waste that and the client's retry would start over (RFC 7339 §5.10 lets a server favour
    // the requests that complete an exchange); the credentials are checked by the route as usual
    if (msg.header('authorization') !== undefined || msg.header('proxy-authorization') !== undefined) return false;
    this.accumulator += this.rejectShare;
    if (this.accumulator >= 1) {
      this.accumulator -= 1;
      return true;
    }
    return false;
  }

  stats(): OverloadStats {
    return { delayMs: this.lastDelayMs, rejectShare: round(this.rejectShare), episodes: this.episodes, overloadedWindows: this.overloadedWindows };
  }
}

function nodeUtilization(prev: EventLoopUtilization): { now: EventLoopUtilization; busy: number } {
  const now = performance.eventLoopUtilization();
  return { now, busy: performance.eventLoopUtilization(now, prev).utilization };
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
