/**
 * Accounting from the dialog module's events (Kamailio acc: acc_flag / acc_missed_flag records and
 * the dialog-based CDRs of acc_cdr.c). Listeners run synchronously in the message path: they only
 * build plain rows and queue them (queue.ts); the database writes run later, one at a time.
 *
 *   created     the INVITE's extras are evaluated and kept with its start (the message is not kept)
 *   confirmed   `acc` row: INVITE, 200, the reply's reason (Kamailio acc_flag on the INVITE's 2xx)
 *   failed      `missed_calls` row: INVITE, the final status >= 300 (Kamailio acc_missed_flag);
 *               a CDR with duration 0 (Kamailio cdr_on_failed)
 *   terminated  `acc` row for the BYE (when one ended it); the CDR: start (the 2xx), end, duration
 */
import type { Logger } from 'pino';
import type { MessageContext } from '../../core/context.js';
import type { Table } from '../../db/index.js';
import type { RpcValue } from '../../rpc/types.js';
import type { DialogEvent } from '../dialog/index.js';
import type { AccConfig } from './config.js';
import { evalExtras, evalExtrasOn, type ExtraDef } from './extra.js';
import { WriteQueue } from './queue.js';
import type { AccRow, CdrRow } from './tables.js';

/** what accounting keeps of a dialog between its events (bounded by the dialog table's max_dialogs). */
interface Pending {
  /** ms the call was answered (0 = not yet). */
  startMs: number;
  initMs: number;
  /** the reason phrase of the INVITE's final reply (the CDR's sip_reason at the end). */
  sipReason: string;
  /** the INVITE's extras: db/log for acc rows, cdr for the CDR. */
  dbExtra: Record<string, string>;
  logExtra: Record<string, string>;
  cdrExtra: Record<string, string>;
}

export interface Cdr {
  callid: string;
  from_tag: string;
  to_tag: string;
  from_uri: string;
  to_uri: string;
  /** ISO 8601 (UTC) of the answer (the INVITE for a failed call) and the end. */
  start_time: string;
  end_time: string;
  /** seconds, to the ms. */
  duration: number;
  sip_code: number;
  sip_reason: string;
  /** why it ended (host/modules/dialog/events.ts DialogEndReason). */
  end_reason: string;
  extra: Record<string, string>;
}

export interface AccStats {
  acc_records: number;
  missed_records: number;
  cdrs: number;
}

export interface AccTables {
  acc: Table<AccRow> | null;
  missed: Table<AccRow> | null;
  cdrs: Table<CdrRow> | null;
}

/** DATETIME text of a time (UTC; Kamailio writes local time, siphon nodes log in UTC). */
export function sqlTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

export class Accounting {
  private readonly pending = new Map<string, Pending>();
  private readonly ring: Cdr[] = [];
  private ringNext = 0;
  readonly stats: AccStats = { acc_records: 0, missed_records: 0, cdrs: 0 };

  constructor(
    private readonly cfg: AccConfig,
    private readonly extras: { db: ExtraDef[]; log: ExtraDef[]; cdr: ExtraDef[] },
    private readonly tables: AccTables,
    readonly queue: WriteQueue,
    private readonly log: Logger,
  ) {}

  /** the dialog module's listener (must not throw: the dialog table counts and logs a throw). */
  readonly onDialogEvent = (e: DialogEvent): void => {
    const key = `${e.hEntry}:${e.hId}`;
    switch (e.type) {
      case 'created':
        this.pending.set(key, {
          startMs: 0,
          initMs: e.atMs,
          sipReason: '',
          dbExtra: evalExtras(this.extras.db, e),
          logExtra: evalExtras(this.extras.log, e),
          cdrExtra: evalExtras(this.extras.cdr, e),
        });
        return;
      case 'confirmed': {
        const p = this.pending.get(key);
        if (p !== undefined) {
          p.startMs = e.atMs;
          p.sipReason = e.sipReason ?? '';
        }
        if (this.cfg.account_dialogs === 1) this.record('acc', 'INVITE', e, p, e.status, e.sipReason ?? '');
        return;
      }
      case 'failed': {
        const p = this.pending.get(key);
        this.pending.delete(key);
        if (this.cfg.account_dialogs === 1 && e.status >= 300) this.record('missed', 'INVITE', e, p, e.status, e.sipReason ?? '');
        if (this.cfg.cdr_enable === 1) this.cdr(e, p, p?.initMs ?? e.initTs * 1000);
        return;
      }
      case 'terminated': {
        const p = this.pending.get(key);
        this.pending.delete(key);
        if (this.cfg.account_dialogs === 1 && e.reason === 'bye') this.record('acc', 'BYE', e, p, 200, 'OK');
        // a dialog loaded back after a restart has no `created`: its start is the stored start_time (s)
        if (this.cfg.cdr_enable === 1) this.cdr(e, p, p !== undefined && p.startMs > 0 ? p.startMs : e.startTs * 1000);
        return;
      }
    }
  };

  /** extra columns evaluated per record (the gas an import call pays). */
  get extraCount(): number {
    return this.extras.db.length + this.extras.log.length;
  }

  /**
   * Kamailio acc_db_request / acc_log_request: a record of the request being routed, now. `table`
   * null = the log; else one of the module's two tables. "NNN reason" comments give the code.
   */
  requestRecord(ctx: MessageContext, comment: string, table: string | null): 'ok' | 'full' | 'bad' {
    const msg = ctx.msg;
    const m = /^([0-9]{3})(?:\s+(.*))?$/s.exec(comment);
    const core = {
      method: msg.kind === 'request' ? msg.method.slice(0, 16) : '',
      from_tag: (msg.from?.tag ?? '').slice(0, 128),
      to_tag: (msg.to?.tag ?? '').slice(0, 128),
      callid: msg.callId.slice(0, 255),
      sip_code: m ? m[1]! : '',
      sip_reason: (m ? (m[2] ?? '') : comment).slice(0, 128),
    };
    const now = Date.now();
    if (table === null) {
      this.stats.acc_records++;
      this.log.info({ acc: { ...core, time: now / 1000, ...evalExtrasOn(this.extras.log, ctx) } }, 'ACC: request accounted');
      return 'ok';
    }
    const t = table === this.cfg.db_table_acc ? this.tables.acc : table === this.cfg.db_table_missed_calls ? this.tables.missed : null;
    if (t === null) return 'bad';
    if (t === this.tables.acc) this.stats.acc_records++;
    else this.stats.missed_records++;
    const row = { ...core, time: sqlTime(now), ...evalExtrasOn(this.extras.db, ctx) } as AccRow;
    return this.queue.pushRow(t, row, 'request') ? 'ok' : 'full';
  }

  /** an `acc` / `missed_calls` row (Kamailio acc's core columns + db_extra), and its log line. */
  private record(kind: 'acc' | 'missed', method: string, e: DialogEvent, p: Pending | undefined, code: number, reason: string): void {
    if (kind === 'acc') this.stats.acc_records++;
    else this.stats.missed_records++;
    const core = {
      method,
      from_tag: e.fromTag.slice(0, 128),
      to_tag: e.toTag.slice(0, 128),
      callid: e.callId.slice(0, 255),
      sip_code: String(code).slice(0, 3),
      sip_reason: reason.slice(0, 128),
    };
    const table = kind === 'acc' ? this.tables.acc : this.tables.missed;
    if (table !== null) {
      const row = { ...core, time: sqlTime(e.atMs), ...(p?.dbExtra ?? {}) } as AccRow;
      this.queue.pushRow(table, row, kind);
    }
    if (this.cfg.log_enable === 1) this.log.info({ acc: { ...core, time: e.atMs / 1000, missed: kind === 'missed', ...(p?.logExtra ?? {}) } }, kind === 'acc' ? 'ACC: transaction answered' : 'ACC: call missed');
  }

  /** one CDR per dialog: database row, JSON log line, ring entry. */
  private cdr(e: DialogEvent, p: Pending | undefined, startMs: number): void {
    this.stats.cdrs++;
    const endMs = e.atMs;
    const duration = e.type === 'failed' ? 0 : Math.max(0, Math.round(endMs - startMs)) / 1000;
    const c: Cdr = {
      callid: e.callId,
      from_tag: e.fromTag,
      to_tag: e.toTag,
      from_uri: e.fromUri,
      to_uri: e.toUri,
      start_time: new Date(startMs).toISOString(),
      end_time: new Date(endMs).toISOString(),
      duration,
      sip_code: e.status,
      sip_reason: e.sipReason ?? p?.sipReason ?? '',
      end_reason: e.reason ?? '',
      extra: p?.cdrExtra ?? {},
    };
    if (this.cfg.cdr_ring > 0) {
      if (this.ring.length < this.cfg.cdr_ring) this.ring.push(c);
      else this.ring[this.ringNext] = c;
      this.ringNext = (this.ringNext + 1) % this.cfg.cdr_ring;
    }
    const table = this.tables.cdrs;
    if (table !== null) {
      const row = {
        [this.cfg.cdr_start_str]: sqlTime(startMs),
        [this.cfg.cdr_end_str]: sqlTime(endMs),
        [this.cfg.cdr_duration_str]: duration,
        callid: c.callid.slice(0, 255),
        from_tag: c.from_tag.slice(0, 128),
        to_tag: c.to_tag.slice(0, 128),
        sip_code: String(c.sip_code).slice(0, 3),
        sip_reason: c.sip_reason.slice(0, 128),
        end_reason: c.end_reason,
        ...c.extra,
      } as CdrRow;
      this.queue.pushRow(table, row, 'cdr');
    }
    if (this.cfg.cdr_log === 1) this.log.info({ cdr: c }, 'CDR');
  }

  /** the newest `n` CDRs, oldest first. */
  recent(n: number): Cdr[] {
    const len = this.ring.length;
    const take = Math.max(0, Math.min(n, len));
    const out: Cdr[] = [];
    // with a full ring the oldest entry is at ringNext
    const oldest = len < this.cfg.cdr_ring ? 0 : this.ringNext;
    for (let i = len - take; i < len; i++) out.push(this.ring[(oldest + i) % len]!);
    return out;
  }

  /** dialogs in flight (tests, statistics). */
  get inFlight(): number {
    return this.pending.size;
  }
}

/** a CDR as an RPC record. */
export function cdrRecord(c: Cdr): RpcValue {
  return { ...c, extra: { ...c.extra } } as unknown as RpcValue;
}
