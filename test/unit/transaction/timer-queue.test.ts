import { describe, expect, it, vi } from 'vitest';
import { TimerQueue, TimerSlot, type TimerOwner } from '../../../host/transaction/timer-queue.js';

describe('TimerQueue (one min-heap for every transaction timer)', () => {
  function setup() {
    let now = 0;
    const q = new TimerQueue({ manual: true, now: () => now });
    const fired: string[] = [];
    const owner = (name: string): TimerOwner => ({ onTimer: (s) => fired.push(`${name}:${s.kind}`) });
    return { q, fired, owner, setNow: (t: number) => (now = t) };
  }

  it('fires due slots in deadline order, once', () => {
    const { q, fired, owner, setNow } = setup();
    const a = new TimerSlot(owner('a'), 0);
    const b = new TimerSlot(owner('b'), 1);
    const c = new TimerSlot(owner('c'), 2);
    q.schedule(a, 300);
    q.schedule(b, 100);
    q.schedule(c, 200);
    expect(q.size).toBe(3);
    setNow(250);
    expect(q.runDue()).toBe(2);
    expect(fired).toEqual(['b:1', 'c:2']);
    setNow(1000);
    q.runDue();
    expect(fired).toEqual(['b:1', 'c:2', 'a:0']);
    expect(q.size).toBe(0);
    expect(a.pending).toBe(false);
  });

  it('reschedules a pending slot in place and cancels without firing', () => {
    const { q, fired, owner, setNow } = setup();
    const a = new TimerSlot(owner('a'), 0);
    const b = new TimerSlot(owner('b'), 0);
    q.schedule(a, 100);
    q.schedule(b, 200);
    q.schedule(a, 500); // later
    q.cancel(b);
    expect(q.size).toBe(1);
    setNow(400);
    expect(q.runDue()).toBe(0);
    setNow(500);
    expect(q.runDue()).toBe(1);
    expect(fired).toEqual(['a:0']);
  });

  it('keeps heap order under many random operations', () => {
    const { q, owner, setNow } = setup();
    const order: number[] = [];
    const slots = Array.from({ length: 500 }, (_, i) => new TimerSlot({ onTimer: (s) => order.push(s.at) }, i));
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 10_000);
    const live = new Set<number>();
    for (let i = 0; i < 500; i++) {
      q.schedule(slots[i]!, rnd());
      live.add(i);
    }
    for (let i = 0; i < 500; i += 3) {
      q.cancel(slots[i]!);
      live.delete(i);
    }
    for (let i = 1; i < 500; i += 7) {
      q.schedule(slots[i]!, rnd()); // re-arms cancelled ones too
      live.add(i);
    }
    expect(q.size).toBe(live.size);
    setNow(20_000);
    q.runDue();
    for (let i = 1; i < order.length; i++) expect(order[i]!).toBeGreaterThanOrEqual(order[i - 1]!);
    expect(order.length).toBe(live.size);
    void owner;
  });

  it('a real queue ticks on its own and stops when empty', () => {
    // the interval and the clock are vitest's fake timers: ticks are counted, not timed
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    try {
      const q = new TimerQueue({ tickMs: 10, now: () => Date.now() });
      let fired = 0;
      q.schedule(new TimerSlot({ onTimer: () => fired++ }, 0), 30);
      expect(vi.getTimerCount()).toBe(1); // the one interval, started by the first schedule
      vi.advanceTimersByTime(29); // ticks at 10 and 20: not due yet
      expect(fired).toBe(0);
      expect(q.size).toBe(1);
      vi.advanceTimersByTime(1); // the tick at 30 fires it, once
      expect(fired).toBe(1);
      expect(q.size).toBe(0);
      expect(vi.getTimerCount()).toBe(0); // empty: the interval is gone
      vi.advanceTimersByTime(100);
      expect(fired).toBe(1);
      q.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
