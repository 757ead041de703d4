/**
 * The bounded write queue between accounting and its database: records are written in order, off
 * the message path. When the database is slow or down the queue fills; past `max` a new record is
 * dropped, counted and logged (E9302, at most once a second) instead of blocking SIP (Kamailio
 * writes each record synchronously in the SIP worker, which blocks it while the DB hangs).
 *
 * Rows waiting for the same table leave together: while one write is in flight the next rows
 * gather, and the writer sends up to BATCH_ROWS of them in one multi-row INSERT where the table
 * offers it (MySQL, `insertMany`); one record per INSERT and round trip capped accounting at a few
 * thousand rows a second, ~3 rows per call (acc for the INVITE and the BYE, the CDR). A failed
 * batch counts each of its rows as failed.
 */
import type { Logger } from 'pino';
import { Errors } from '../../errors/registry.js';
import type { Row, Table } from '../../db/types.js';

/** rows in one multi-row INSERT at most. */
export const BATCH_ROWS = 200;

interface Entry {
  what: string;
  /** a row for `table`, or an operation of its own. */
  table: Table<Row> | null;
  row: Partial<Row> | null;
  op: (() => Promise<unknown>) | null;
}

export class WriteQueue {
  private readonly entries: Entry[] = [];
  private head = 0;
  private running: Promise<void> | null = null;
  private lastWarn = 0;
  written = 0;
  dropped = 0;
  failed = 0;

  constructor(
    private readonly max: number,
    private readonly log: Logger,
  ) {}

  get length(): number {
    return this.entries.length - this.head;
  }

  /** queues a row for `table`; false when the queue is full (the record is dropped). */
  pushRow<R extends Row>(table: Table<R>, row: Partial<R>, what: string): boolean {
    return this.enqueue({ what, table: table as unknown as Table<Row>, row: row as Partial<Row>, op: null });
  }

  /** queues `op`; false when the queue is full (the record is dropped). */
  push(op: () => Promise<unknown>, what: string): boolean {
    return this.enqueue({ what, table: null, row: null, op });
  }

  private enqueue(e: Entry): boolean {
    if (this.length >= this.max) {
      this.dropped++;
      const now = Date.now();
      if (now - this.lastWarn >= 1000) {
        this.lastWarn = now;
        this.log.warn({ code: Errors.ACC_QUEUE_FULL.code, dropped: this.dropped, max_queue: this.max, what: e.what }, 'accounting write queue full, record dropped [E9302]');
      }
      return false;
    }
    this.entries.push(e);
    this.running ??= this.run();
    return true;
  }

  /** writes until the queue is empty; one writer at a time. */
  private async run(): Promise<void> {
    // the first write starts in a later microtask: rows queued by the same turn join its batch
    await Promise.resolve();
    while (this.length > 0) {
      const first = this.entries[this.head]!;
      let n = 1;
      if (first.table !== null && first.table.insertMany !== undefined) {
        while (n < BATCH_ROWS && this.head + n < this.entries.length && this.entries[this.head + n]!.table === first.table) n++;
      }
      const batch = this.entries.slice(this.head, this.head + n);
      try {
        if (first.op !== null) await first.op();
        else if (n > 1 || first.table!.insertMany !== undefined) await first.table!.insertMany!(batch.map((e) => e.row!));
        else await first.table!.insert(first.row!);
        this.written += n;
      } catch (e) {
        this.failed += n;
        this.log.warn({ code: Errors.ACC_DB.code, err: (e as Error).message, what: first.what, rows: n }, 'accounting database write failed [E9301]');
      }
      this.head += n;
      if (this.head > 1024 && this.head * 2 > this.entries.length) {
        this.entries.splice(0, this.head);
        this.head = 0;
      }
    }
    this.entries.length = 0;
    this.head = 0;
    this.running = null;
  }

  /** resolves once everything queued so far is written (or failed). */
  async drain(): Promise<void> {
    while (this.running !== null) await this.running;
  }
}
