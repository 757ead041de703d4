/**
 * `modules.secfilter` — Kamailio secfilter's parameters with its defaults (kamailio.md §1.2).
 * `db_url` unset = the embedded store under core.data_dir.
 */
export interface SecFilterConfig {
  db_url: string | null;
  table_name: string;
  action_col: string;
  type_col: string;
  data_col: string;
  /** 1: secf_check_dst needs an equal number; 0: stored number is a prefix of the dialled one. */
  dst_exact_match: number;
  /** minimum seconds between reloads (0 = no limit; negative is reset to 5). */
  reload_delta: number;
  /**
   * Kamailio frees the inactive buffer on this timer (s). Snapshots here are freed by the garbage
   * collector once no check uses them, so the value is accepted for compatibility and not used.
   */
  cleanup_interval: number;
  /**
   * User agents written as blacklist rules into the embedded store's `secfilter` table when this
   * node creates it (first start); afterwards the table is the operator's (siphon secfilter add/rm).
   * Not used with db_url (the MySQL table is provisioned like Kamailio's). (siphon)
   */
  seed_ua_blacklist: string[];
}

export const SECFILTER_DEFAULTS: Readonly<SecFilterConfig> = Object.freeze({
  db_url: null,
  table_name: 'secfilter',
  action_col: 'action',
  type_col: 'type',
  data_col: 'data',
  dst_exact_match: 1,
  reload_delta: 5,
  cleanup_interval: 60,
  seed_ua_blacklist: [] as string[],
});

const ident = { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' };

/** JSON schema of `modules.secfilter` (ajv, useDefaults). */
export const secfilterConfigSchema = {
  $id: 'siphon:modules.secfilter',
  type: 'object',
  additionalProperties: false,
  properties: {
    db_url: { type: ['string', 'null'], default: null },
    table_name: { ...ident, default: 'secfilter' },
    action_col: { ...ident, default: 'action' },
    type_col: { ...ident, default: 'type' },
    data_col: { ...ident, default: 'data' },
    dst_exact_match: { type: 'integer', default: 1 },
    reload_delta: { type: 'integer', default: 5 },
    cleanup_interval: { type: 'integer', minimum: 1, default: 60 },
    // the data column is VARCHAR(64); a seed is a handful of names, not a rule store
    seed_ua_blacklist: { type: 'array', maxItems: 64, items: { type: 'string', minLength: 1, maxLength: 64 }, default: [] },
  },
} as const;

/** Defaults applied over a partial section (callers that skip ajv); Kamailio's normalisations applied. */
export function resolveSecFilterConfig(section: Record<string, unknown> | Partial<SecFilterConfig> = {}): SecFilterConfig {
  const out: Record<string, unknown> = { ...SECFILTER_DEFAULTS };
  for (const [k, v] of Object.entries(section)) if (v !== undefined && k in SECFILTER_DEFAULTS) out[k] = v;
  const cfg = out as unknown as SecFilterConfig;
  if (cfg.db_url === '') cfg.db_url = null;
  cfg.dst_exact_match = cfg.dst_exact_match ? 1 : 0; // any non-zero value means 1
  if (cfg.reload_delta < 0) cfg.reload_delta = 5;
  return cfg;
}
