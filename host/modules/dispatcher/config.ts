/**
 * `modules.dispatcher` configuration: Kamailio's module parameter names and defaults (dispatcher
 * module, master), plus the two addresses of siphon's own UDP keepalive sender.
 */

export interface DispatcherConfig {
  /** text source, used when db_url is unset. */
  list_file: string;
  /** load sets from this database (mysql://...) instead of the file. */
  db_url: string | null;
  table_name: string;
  /** bit 1: hash URIs on the user only; bit 2: keep failover targets (needed by ds_next_dst, ds_mark_dst). */
  flags: number;
  /** 1 = the last entry of each set is only used when all others failed. */
  use_default: number;
  /** 1 = overwrite an already set destination URI; 0 = fail when set. */
  force_dst: number;
  /** template hashed by alg 7 (`$ci`, `$fU`, `$var(x)` ...). */
  hash_pvar: string | null;
  /** message variable set to the matched set id by ds_is_from_list(-1). */
  setid_pvname: string | null;
  /** message variable set to the attrs of the match. */
  attrs_pvname: string | null;
  ds_ping_method: string;
  ds_ping_from: string;
  /** seconds between keepalive rounds; 0 = off. */
  ds_ping_interval: number;
  /** ms a keepalive may take before it counts as 408 (0 = 32 s, RFC 3261 Timer F). */
  ds_ping_fr_timer: number;
  ds_probing_threshold: number;
  ds_inactive_threshold: number;
  /** extra accepted keepalive replies, `code=NNN;class=N;...`. */
  ds_ping_reply_codes: string;
  ds_probing_mode: number;
  ds_ping_latency_stats: number;
  ds_retain_latency_stats: number;
  /** EWMA weight of the newest sample, x1000. */
  ds_latency_estimator_alpha: number;
  /** > 0 enables call-load tracking (alg 10). */
  ds_hash_size: number;
  ds_hash_expire: number;
  ds_hash_initexpire: number;
  ds_hash_check_interval: number;
  /** siphon: calls the call-load table keeps at most; the oldest is forgotten when full (call-load.ts). */
  ds_hash_max_entries: number;
  /** 1 = a bad destination aborts the load; 0 = skip it. */
  ds_load_mode: number;
  ds_attrs_none: number;
  /** minimum seconds between reload/add/remove. */
  reload_delta: number;
  /** bit 1: resolve names at load. */
  ds_dns_mode: number;
  /** 0 = events on any state change but RPC; 1 = keepalive only; 2 = also the initial state. */
  event_callback_mode: number;
  /** local address of the built-in UDP keepalive sender. */
  ping_local_address: string;
  /** local port of the built-in UDP keepalive sender (0 = any). */
  ping_local_port: number;
}

export const DISPATCHER_DEFAULTS: Readonly<DispatcherConfig> = Object.freeze({
  list_file: 'config/dispatcher.list',
  db_url: null,
  table_name: 'dispatcher',
  flags: 0,
  use_default: 0,
  force_dst: 1,
  hash_pvar: null,
  setid_pvname: null,
  attrs_pvname: null,
  ds_ping_method: 'OPTIONS',
  ds_ping_from: 'sip:dispatcher@localhost',
  ds_ping_interval: 0,
  ds_ping_fr_timer: 0,
  ds_probing_threshold: 1,
  ds_inactive_threshold: 1,
  ds_ping_reply_codes: '',
  ds_probing_mode: 0,
  ds_ping_latency_stats: 0,
  ds_retain_latency_stats: 0,
  ds_latency_estimator_alpha: 100,
  ds_hash_size: 0,
  ds_hash_expire: 7200,
  ds_hash_initexpire: 7200,
  ds_hash_check_interval: 30,
  ds_hash_max_entries: 100_000,
  ds_load_mode: 0,
  ds_attrs_none: 0,
  reload_delta: 0,
  ds_dns_mode: 1,
  event_callback_mode: 0,
  ping_local_address: '127.0.0.1',
  ping_local_port: 0,
});

const int = (min: number, max?: number) => ({ type: 'integer', minimum: min, ...(max !== undefined ? { maximum: max } : {}) });
const nstr = { type: ['string', 'null'] };

/** JSON schema of `modules.dispatcher` (ajv, useDefaults). */
export const dispatcherConfigSchema = {
  $id: 'siphon:modules.dispatcher',
  type: 'object',
  additionalProperties: false,
  properties: {
    list_file: { type: 'string', default: DISPATCHER_DEFAULTS.list_file },
    db_url: { ...nstr, default: null },
    table_name: { type: 'string', default: 'dispatcher' },
    flags: { ...int(0, 3), default: 0 },
    use_default: { ...int(0, 1), default: 0 },
    force_dst: { ...int(0, 1), default: 1 },
    hash_pvar: { ...nstr, default: null },
    setid_pvname: { ...nstr, default: null },
    attrs_pvname: { ...nstr, default: null },
    ds_ping_method: { type: 'string', pattern: '^[A-Za-z]+$', default: 'OPTIONS' },
    ds_ping_from: { type: 'string', default: DISPATCHER_DEFAULTS.ds_ping_from },
    ds_ping_interval: { ...int(0), default: 0 },
    ds_ping_fr_timer: { ...int(0), default: 0 },
    ds_probing_threshold: { ...int(1), default: 1 },
    ds_inactive_threshold: { ...int(1), default: 1 },
    ds_ping_reply_codes: { type: 'string', default: '' },
    ds_probing_mode: { ...int(0, 3), default: 0 },
    ds_ping_latency_stats: { ...int(0, 1), default: 0 },
    ds_retain_latency_stats: { ...int(0, 1), default: 0 },
    ds_latency_estimator_alpha: { ...int(0, 1000), default: 100 },
    ds_hash_size: { ...int(0, 24), default: 0 },
    ds_hash_expire: { ...int(1), default: 7200 },
    ds_hash_initexpire: { ...int(1), default: 7200 },
    ds_hash_check_interval: { ...int(1), default: 30 },
    ds_hash_max_entries: { ...int(1, 10_000_000), default: 100_000 },
    ds_load_mode: { ...int(0, 1), default: 0 },
    ds_attrs_none: { ...int(0, 1), default: 0 },
    reload_delta: { ...int(0), default: 0 },
    ds_dns_mode: { ...int(0, 15), default: 1 },
    event_callback_mode: { ...int(0, 2), default: 0 },
    ping_local_address: { type: 'string', default: '127.0.0.1' },
    ping_local_port: { ...int(0, 65535), default: 0 },
  },
} as const;

/** Defaults applied over a partial section (for callers that skip ajv, e.g. tests). */
export function resolveDispatcherConfig(section: Record<string, unknown> | Partial<DispatcherConfig> = {}): DispatcherConfig {
  const out: Record<string, unknown> = { ...DISPATCHER_DEFAULTS };
  for (const [k, v] of Object.entries(section)) if (v !== undefined && k in DISPATCHER_DEFAULTS) out[k] = v;
  return out as unknown as DispatcherConfig;
}
