/**
 * The bounded write queue between accounting and its database: records are written one after the
 * other, off the message path. When the database is slow or down the queue fills; past `max` a new
 * record is dropped, counted and logged (E9302, at most once a second) instead of blocking SIP
 * (Kamailio writes each record synchronously in the SIP worker, which blocks it while the DB hangs).
 */
import type { Logger } from 'pino';
import { Errors } from '../../errors/registry.js';

export class WriteQueue {
  private pending = 0;
  private chain: Promise<void> = Promise.resolve();
  private lastWarn = 0;
  written = 0;
  dropped = 0;
  failed = 0;

  constructor(
    private readonly max: number,
    private readonly log: Logger,
  ) {}

  get length(): number {
    return this.pending;
  }

  /** queues `op`; false when the queue is full (the record is dropped). */
  push(op: () => Promise<unknown>, what: string): boolean {
    if (this.pending >= this.max) {
      this.dropped++;
      const now = Date.now();
      if (now - this.lastWarn >= 1000) {
        this.lastWarn = now;
        this.log.warn({ code: Errors.ACC_QUEUE_FULL.code, dropped: this.dropped, max_queue: this.max, what }, 'accounting write queue full, record dropped [E9302]');
      }
      return false;
    }
    this.pending++;
    this.chain = this.chain
      .then(op)
      .then(
        () => {
          this.written++;
        },
        (e: unknown) => {
          this.failed++;
          this.log.warn({ code: Errors.ACC_DB.code, err: (e as Error).message, what }, 'accounting database write failed [E9301]');
        },
      )
      .finally(() => {
        this.pending--;
      });
    return true;
  }

  /** resolves once everything queued so far is written (or failed). */
  drain(): Promise<void> {
    return this.chain;
  }
}
