/**
 * `modules.dialog` — the parameters of Kamailio's dialog module that siphon implements, under their
 * Kamailio names and with Kamailio's defaults, plus siphon's bounds (README.md "Config keys").
 */

export interface DialogConfig {
  /** profile names with values (Kamailio `profiles_with_value`, "a ; b" or a list). */
  profiles_with_value: string[];
  /** profile names without values (Kamailio `profiles_no_value`). */
  profiles_no_value: string[];
  /** seconds a confirmed dialog lives without a sequential request (Kamailio `default_timeout`, 43200). */
  default_timeout: number;
  /** seconds an unconfirmed / early dialog waits for its final reply (Kamailio `early_timeout`, 300). */
  early_timeout: number;
  /** seconds a 2xx waits for its ACK before the dialog is ended (Kamailio `noack_timeout`, 60). */
  noack_timeout: number;
  /** 1: a timed-out dialog is ended with BYE to both sides (Kamailio `send_bye`, 0; per dialog `$dlg_ctx(timeout_bye)`). */
  send_bye: number;
  /** 1: sequential requests do not refresh the timeout (Kamailio `timeout_noreset`, 0). */
  timeout_noreset: number;
  /** header lines added to the BYEs the module sends (Kamailio `dlg_extra_hdrs`, full lines with CRLF). */
  dlg_extra_hdrs: string;
  /** hash table size of h_entry (Kamailio `hash_size`, 4096, a power of two). */
  hash_size: number;
  /** Kamailio `db_mode`: 0 memory only, 1 realtime, 2 delayed (every db_update_period), 3 at shutdown. */
  db_mode: number;
  /** mysql://...; null = the embedded store under core.data_dir (db_mode 1-3). */
  db_url: string | null;
  /** seconds between writes in db_mode 2 (Kamailio `db_update_period`, 60). */
  db_update_period: number;
  /** Kamailio `table_name` / `vars_table_name`. */
  table_name: string;
  vars_table_name: string;
  /** siphon: dialogs held at once; dlg_manage() answers -5 past it (the plugin answers 503). Kamailio: shared memory (`-m`). */
  max_dialogs: number;
  /** siphon: `$dlg_var` entries per dialog (Kamailio: unbounded). */
  max_vars: number;
  /** siphon: profile memberships per dialog (Kamailio: unbounded). */
  max_profiles_per_dialog: number;
}

export const DIALOG_DEFAULTS: Readonly<DialogConfig> = Object.freeze({
  profiles_with_value: [] as string[],
  profiles_no_value: [] as string[],
  default_timeout: 43_200,
  early_timeout: 300,
  noack_timeout: 60,
  send_bye: 0,
  timeout_noreset: 0,
  dlg_extra_hdrs: '',
  hash_size: 4096,
  db_mode: 0,
  db_url: null,
  db_update_period: 60,
  table_name: 'dialog',
  vars_table_name: 'dialog_vars',
  max_dialogs: 65_536,
  max_vars: 32,
  max_profiles_per_dialog: 16,
});

/** `$dlg_var` names: the `dialog_vars.dialog_key` column is VARCHAR(128). */
export const MAX_VAR_NAME = 128;
/** `$dlg_var` values: the `dialog_vars.dialog_value` column is VARCHAR(512). */
export const MAX_VAR_VALUE = 512;
/** profile values (Kamailio keeps them in shared memory; 255 bytes covers URIs and user names). */
export const MAX_PROFILE_VALUE = 255;
/** dialogs sharing one Call-ID (spirals, a second From tag); more are refused like a full table. */
export const MAX_DIALOGS_PER_CALLID = 4;

const profileList = {
  anyOf: [
    { type: 'string', maxLength: 4096 },
    { type: 'array', maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' } },
  ],
  default: [],
};

/** JSON schema of `modules.dialog` (ajv, useDefaults). */
export const dialogConfigSchema = {
  $id: 'siphon:modules.dialog',
  type: 'object',
  additionalProperties: false,
  properties: {
    profiles_with_value: profileList,
    profiles_no_value: profileList,
    default_timeout: { type: 'integer', minimum: 1, maximum: 31_536_000, default: 43_200 },
    early_timeout: { type: 'integer', minimum: 1, maximum: 86_400, default: 300 },
    noack_timeout: { type: 'integer', minimum: 1, maximum: 86_400, default: 60 },
    send_bye: { type: 'integer', enum: [0, 1], default: 0 },
    timeout_noreset: { type: 'integer', enum: [0, 1], default: 0 },
    dlg_extra_hdrs: { type: 'string', maxLength: 4096, default: '' },
    hash_size: { type: 'integer', minimum: 1, maximum: 1_048_576, default: 4096 },
    db_mode: { type: 'integer', enum: [0, 1, 2, 3], default: 0 },
    db_url: { type: ['string', 'null'], default: null },
    db_update_period: { type: 'integer', minimum: 1, maximum: 86_400, default: 60 },
    table_name: { type: 'string', pattern: '^[A-Za-z0-9_]{1,64}$', default: 'dialog' },
    vars_table_name: { type: 'string', pattern: '^[A-Za-z0-9_]{1,64}$', default: 'dialog_vars' },
    max_dialogs: { type: 'integer', minimum: 1, maximum: 4_194_304, default: 65_536 },
    max_vars: { type: 'integer', minimum: 0, maximum: 1024, default: 32 },
    max_profiles_per_dialog: { type: 'integer', minimum: 0, maximum: 256, default: 16 },
  },
} as const;

/** "a ; b" (Kamailio's modparam form) or a list → trimmed names. */
function names(v: unknown): string[] {
  const list = typeof v === 'string' ? v.split(';') : Array.isArray(v) ? v.map(String) : [];
  return list.map((s) => s.trim()).filter((s) => s.length > 0);
}

/** Defaults applied over a partial section (callers that skip ajv). */
export function resolveDialogConfig(section: Record<string, unknown> | Partial<DialogConfig> = {}): DialogConfig {
  const out: Record<string, unknown> = { ...DIALOG_DEFAULTS };
  for (const [k, v] of Object.entries(section)) if (v !== undefined && k in DIALOG_DEFAULTS) out[k] = v;
  const cfg = out as unknown as DialogConfig;
  cfg.profiles_with_value = names(cfg.profiles_with_value);
  cfg.profiles_no_value = names(cfg.profiles_no_value);
  // Kamailio: the hash size must be a power of two (rounded down here)
  cfg.hash_size = 2 ** Math.floor(Math.log2(Math.max(1, cfg.hash_size)));
  return cfg;
}
