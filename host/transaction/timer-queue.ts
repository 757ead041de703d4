/**
 * One timer queue for every transaction timer (RFC 3261 §17 timers A–K, Kamailio fr_timer,
 * fr_inv_timer, wt_timer). Transactions never call setTimeout: each owns two reusable TimerSlot
 * objects (retransmission and lifetime) that sit in a binary min-heap ordered by deadline, and a
 * single interval ticking every `tickMs` fires whatever is due. Like Kamailio's timer wheel the
 * resolution is one tick (50 ms by default), which is far below T1.
 *
 * Scheduling, rescheduling and cancelling are O(log n) and allocate nothing (the slot remembers its
 * heap index). The interval runs only while timers are pending and is unref'd, so an idle queue
 * never keeps the process alive.
 */

/** Whoever owns a slot: called when the slot's deadline passes. Must not throw. */
export interface TimerOwner {
  onTimer(slot: TimerSlot): void;
}

/** A reusable timer: schedule it, reschedule it, cancel it; never freed. */
export class TimerSlot {
  /** absolute deadline (queue clock, ms). */
  at = 0;
  /** position in the heap, -1 when not scheduled. */
  index = -1;

  constructor(
    readonly owner: TimerOwner,
    /** what this slot times, for the owner's switch (e.g. RETRANSMIT / LIFETIME). */
    readonly kind: number,
  ) {}

  get pending(): boolean {
    return this.index >= 0;
  }
}

export interface TimerQueueOptions {
  /** tick period in ms (default 50). */
  tickMs?: number;
  /** clock in ms; default performance.now(). Tests inject a manual clock. */
  now?: () => number;
  /** true: no interval is started; the owner calls runDue() (unit tests with a manual clock). */
  manual?: boolean;
}

export class TimerQueue {
  readonly tickMs: number;
  readonly now: () => number;
  private readonly manual: boolean;
  private readonly heap: TimerSlot[] = [];
  private interval: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(opts: TimerQueueOptions = {}) {
    this.tickMs = opts.tickMs ?? 50;
    this.now = opts.now ?? (() => performance.now());
    this.manual = opts.manual ?? false;
  }

  /** number of pending timers. */
  get size(): number {
    return this.heap.length;
  }

  /** (Re)arms `slot` to fire `delayMs` from now. */
  schedule(slot: TimerSlot, delayMs: number): void {
    if (this.closed) return;
    const at = this.now() + delayMs;
    if (slot.index >= 0) {
      const before = slot.at;
      slot.at = at;
      if (at < before) this.siftUp(slot.index);
      else this.siftDown(slot.index);
      return;
    }
    slot.at = at;
    slot.index = this.heap.length;
    this.heap.push(slot);
    this.siftUp(slot.index);
    this.ensureTicking();
  }

  cancel(slot: TimerSlot): void {
    const i = slot.index;
    if (i < 0) return;
    const heap = this.heap;
    const last = heap.pop()!;
    slot.index = -1;
    if (last !== slot) {
      heap[i] = last;
      last.index = i;
      this.siftDown(i);
      this.siftUp(last.index);
    }
  }

  /** Fires every slot whose deadline is <= now; returns how many fired. */
  runDue(now: number = this.now()): number {
    const heap = this.heap;
    let fired = 0;
    while (heap.length > 0 && heap[0]!.at <= now) {
      const slot = heap[0]!;
      this.cancel(slot);
      fired++;
      try {
        slot.owner.onTimer(slot);
      } catch {
        // an owner bug must not stop the other timers; owners log their own errors
      }
    }
    if (heap.length === 0) this.stopTicking();
    return fired;
  }

  /** Stops the interval and forgets every timer (server shutdown). */
  close(): void {
    this.closed = true;
    this.stopTicking();
    for (const s of this.heap) s.index = -1;
    this.heap.length = 0;
  }

  private readonly tick = (): void => {
    this.runDue();
  };

  private ensureTicking(): void {
    if (this.manual || this.interval !== null) return;
    this.interval = setInterval(this.tick, this.tickMs);
    this.interval.unref();
  }

  private stopTicking(): void {
    if (this.interval !== null) {
      clearInterval(this.interval);
      this.interval = null;
    }
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const slot = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (p.at <= slot.at) break;
      heap[i] = p;
      p.index = i;
      i = parent;
    }
    heap[i] = slot;
    slot.index = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const slot = heap[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && heap[r]!.at < heap[l]!.at ? r : l;
      const child = heap[c]!;
      if (child.at >= slot.at) break;
      heap[i] = child;
      child.index = i;
      i = c;
    }
    heap[i] = slot;
    slot.index = i;
  }
}
