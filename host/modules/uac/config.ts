/**
 * `modules.uac` — Kamailio uac's restore parameters (README.md "Config keys").
 */
export type UacRestoreMode = 'none' | 'auto';

export interface UacConfig {
  /** Kamailio restore_mode: `auto` restores replies and in-dialog requests (default), `none` only replaces. */
  restore_mode: UacRestoreMode;
  /** Kamailio restore_passwd: the key the Record-Route parameters are sealed with ('' = a random key per start). */
  restore_passwd: string;
  /** Kamailio rr_from_store_param (`vsf`). */
  rr_from_store_param: string;
  /** Kamailio rr_to_store_param (`vst`). */
  rr_to_store_param: string;
}

export const UAC_DEFAULTS: Readonly<UacConfig> = Object.freeze({
  restore_mode: 'auto' as UacRestoreMode,
  restore_passwd: '',
  rr_from_store_param: 'vsf',
  rr_to_store_param: 'vst',
});

const PARAM_NAME = { type: 'string', minLength: 1, maxLength: 16, pattern: '^[a-z][a-z0-9_-]*$' } as const;

/** JSON schema of `modules.uac` (ajv, useDefaults). */
export const uacConfigSchema = {
  $id: 'siphon:modules.uac',
  type: 'object',
  additionalProperties: false,
  properties: {
    restore_mode: { enum: ['none', 'auto'], default: 'auto' },
    restore_passwd: { type: 'string', maxLength: 256, default: '' },
    rr_from_store_param: { ...PARAM_NAME, default: 'vsf' },
    rr_to_store_param: { ...PARAM_NAME, default: 'vst' },
  },
} as const;

/** Defaults applied over a partial section (callers that skip ajv). */
export function resolveUacConfig(section: Record<string, unknown> | Partial<UacConfig> = {}): UacConfig {
  const out: Record<string, unknown> = { ...UAC_DEFAULTS };
  for (const [k, v] of Object.entries(section)) if (v !== undefined && k in UAC_DEFAULTS) out[k] = v;
  const cfg = out as unknown as UacConfig;
  if (cfg.rr_from_store_param === cfg.rr_to_store_param) throw new Error('modules.uac: rr_from_store_param and rr_to_store_param must differ');
  return cfg;
}
