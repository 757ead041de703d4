/** The accounting write queue: bounded, a full queue drops (counted, E9302 logged) and never waits. */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../host/log/logger.js';
import { WriteQueue } from '../../../host/modules/acc/queue.js';

describe('WriteQueue', () => {
  it('past max_queue a record is dropped at once, counted and logged; a failed write is counted; the rest is written in order', async () => {
    const lines: string[] = [];
    const q = new WriteQueue(2, createLogger({ level: 'warn', destination: { write: (s: string) => void lines.push(s) } }));
    let release: () => void = () => {};
    const hung = new Promise<void>((r) => (release = r));
    const order: number[] = [];
    expect(q.push(async () => { await hung; order.push(1); }, 'acc')).toBe(true);
    expect(q.push(async () => { order.push(2); throw new Error('db down'); }, 'acc')).toBe(true);
    // the database hangs: the third record does not wait, it is dropped
    expect(q.push(async () => { order.push(3); }, 'cdr')).toBe(false);
    expect(q.dropped).toBe(1);
    expect(q.length).toBe(2);
    expect(lines.some((l) => l.includes('"code":9302'))).toBe(true);
    release();
    await q.drain();
    expect(order).toEqual([1, 2]);
    expect(q.written).toBe(1);
    expect(q.failed).toBe(1);
    expect(q.length).toBe(0);
    expect(lines.some((l) => l.includes('"code":9301') && l.includes('db down'))).toBe(true);
    expect(q.push(async () => { order.push(4); }, 'acc')).toBe(true);
    await q.drain();
    expect(order).toEqual([1, 2, 4]);
  });
});
