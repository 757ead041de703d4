/**
 * `modules.acc` — the parameters of Kamailio's acc module that siphon implements, under their
 * Kamailio names and with Kamailio's defaults, plus siphon's bounds (README.md "Config keys").
 */

export interface AccConfig {
  /** 1: every dialog's INVITE is accounted at its final reply: 2xx → `acc`, >= 300 → `missed_calls`; its BYE → `acc` (Kamailio: acc_flag / acc_missed_flag set on every INVITE). */
  account_dialogs: number;
  /** 1: rows go to the database (Kamailio acc_db's db_flag). */
  db_enable: number;
  /** 1: rows are also logged as JSON lines (Kamailio log_flag / acc log backend). */
  log_enable: number;
  /** mysql://...; null = the embedded store under core.data_dir (Kamailio `db_url`). */
  db_url: string | null;
  /** Kamailio `db_table_acc` ("acc") / `db_table_missed_calls` ("missed_calls"). */
  db_table_acc: string;
  db_table_missed_calls: string;
  /** extra columns "col=$pv;col=$pv" (Kamailio `db_extra` / `log_extra`). */
  db_extra: string;
  log_extra: string;
  /** 1: one CDR per dialog (Kamailio `cdr_enable`, 0). */
  cdr_enable: number;
  /** 1: CDRs also as JSON log lines (siphon; Kamailio's cdr log backend, `cdr_log_enable`). */
  cdr_log: number;
  /** Kamailio `cdrs_table` ("" in Kamailio = no DB CDRs; siphon default acc_cdrs, kamdbctl's table). */
  cdrs_table: string;
  /** Kamailio `cdr_extra`. */
  cdr_extra: string;
  /** column names (Kamailio `cdr_start_str`, `cdr_end_str`, `cdr_duration_str`). */
  cdr_start_str: string;
  cdr_end_str: string;
  cdr_duration_str: string;
  /** siphon: records waiting for the database; past it new ones are dropped, counted and logged (E9302). Kamailio: none (a blocking write per record). */
  max_queue: number;
  /** siphon: CDRs kept in memory for `acc.cdrs` (a ring). */
  cdr_ring: number;
}

export const ACC_DEFAULTS: Readonly<AccConfig> = Object.freeze({
  account_dialogs: 1,
  db_enable: 1,
  log_enable: 0,
  db_url: null,
  db_table_acc: 'acc',
  db_table_missed_calls: 'missed_calls',
  db_extra: '',
  log_extra: '',
  cdr_enable: 0,
  cdr_log: 0,
  cdrs_table: 'acc_cdrs',
  cdr_extra: '',
  cdr_start_str: 'start_time',
  cdr_end_str: 'end_time',
  cdr_duration_str: 'duration',
  max_queue: 10_000,
  cdr_ring: 1000,
});

/** extra pairs per list (Kamailio: MAX_ACC_EXTRA 64). */
export const MAX_EXTRA = 64;
/** an extra value is clipped to this many characters (the extra columns siphon creates are VARCHAR(255)). */
export const MAX_EXTRA_VALUE = 255;

const table = (def: string): object => ({ type: 'string', pattern: '^[A-Za-z0-9_]{1,64}$', default: def });
const column = (def: string): object => ({ type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$', default: def });
const flag = (def: number): object => ({ type: 'integer', enum: [0, 1], default: def });
const extra = { type: 'string', maxLength: 4096, default: '' };

/** JSON schema of `modules.acc` (ajv, useDefaults). */
export const accConfigSchema = {
  $id: 'siphon:modules.acc',
  type: 'object',
  additionalProperties: false,
  properties: {
    account_dialogs: flag(1),
    db_enable: flag(1),
    log_enable: flag(0),
    db_url: { type: ['string', 'null'], default: null },
    db_table_acc: table('acc'),
    db_table_missed_calls: table('missed_calls'),
    db_extra: extra,
    log_extra: extra,
    cdr_enable: flag(0),
    cdr_log: flag(0),
    cdrs_table: table('acc_cdrs'),
    cdr_extra: extra,
    cdr_start_str: column('start_time'),
    cdr_end_str: column('end_time'),
    cdr_duration_str: column('duration'),
    max_queue: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 10_000 },
    cdr_ring: { type: 'integer', minimum: 0, maximum: 100_000, default: 1000 },
  },
} as const;

/** Defaults applied over a partial section (callers that skip ajv). */
export function resolveAccConfig(section: Record<string, unknown> | Partial<AccConfig> = {}): AccConfig {
  const out: Record<string, unknown> = { ...ACC_DEFAULTS };
  for (const [k, v] of Object.entries(section)) if (v !== undefined && k in ACC_DEFAULTS) out[k] = v;
  return out as unknown as AccConfig;
}
