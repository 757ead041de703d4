/**
 * Plugin imports, namespace `acc` (ABI 1.2; Kamailio acc's KEMI `acc_log_request(comment)` and
 * `acc_db_request(comment, table)`): a record of the request being routed, made now (not at its
 * reply), its code and reason taken from the comment ("403 Forbidden" → 403, "Forbidden"; a comment
 * without a leading 3-digit code is all reason, code ""). README "Functions for plugins".
 *
 * Returns: 1 recorded (queued for the database / logged); -2 table not one of the module's
 * (db_table_acc, db_table_missed_calls: a plugin cannot make the node write elsewhere), or the
 * database is off (db_enable 0); -3 string outside guest memory; -4 no request in this hook;
 * -5 the write queue is full (record dropped, counted) or the comment is longer than 256 bytes;
 * -6 no `modules.acc` on the node. Gas: 20 per import call, + 10, + 1 per extra column.
 */
import type { HostCallApi, ImportProvider } from '../../wasm/types.js';
import type { Accounting } from './accounting.js';

type Fn = (...args: never[]) => number;

const OK = 1;
const BAD_ARGUMENT = -2;
const INVALID_MEMORY = -3;
const NO_MESSAGE = -4;
const LIMIT = -5;
const GAS_BASE = 10;
/** longest comment read (Kamailio: sip_reason is VARCHAR(128) plus the code). */
export const MAX_COMMENT = 256;
const MAX_TABLE = 64;

export class AccImports implements ImportProvider {
  readonly namespace = 'acc';

  constructor(private readonly acc: Accounting) {}

  functions(api: HostCallApi): Record<string, Fn> {
    const acc = this.acc;
    const comment = (p: number, l: number): string | number => {
      if (l < 0 || l > MAX_COMMENT) return LIMIT;
      return api.readString(p, l) ?? INVALID_MEMORY;
    };
    const record = (cp: number, cl: number, table: string | null): number => {
      api.charge(GAS_BASE + acc.extraCount);
      const ctx = api.current();
      if (ctx === null || ctx.msg.kind !== 'request') return NO_MESSAGE;
      const c = comment(cp, cl);
      if (typeof c === 'number') return c;
      const r = acc.requestRecord(ctx, c, table);
      return r === 'ok' ? OK : r === 'full' ? LIMIT : BAD_ARGUMENT;
    };
    return {
      acc_log_request: (cp: number, cl: number): number => record(cp, cl, null),
      acc_db_request: (cp: number, cl: number, tp: number, tl: number): number => {
        if (tl <= 0 || tl > MAX_TABLE) return BAD_ARGUMENT;
        const t = api.readString(tp, tl);
        if (t === null) return INVALID_MEMORY;
        return record(cp, cl, t);
      },
    };
  }
}
