/**
 * `modules.pike` — Kamailio pike's parameters with its defaults, plus siphon's bounds and the
 * optional host-side check (README.md "Config keys").
 */
export type PikeAuto = 'off' | 'drop' | '503';

export interface PikeConfig {
  /** seconds per sampling window (Kamailio sampling_time_unit, 2). */
  sampling_time_unit: number;
  /** requests per window from one source before it is blocked (Kamailio reqs_density_per_unit, 30). */
  reqs_density_per_unit: number;
  /** seconds a source stays in the table after its last request (Kamailio remove_latency, 120). */
  remove_latency: number;
  /**
   * minimum seconds a source stays blocked once detected (0 = Kamailio pike: unblocked at the first
   * window under the limit; kamailio.cfg adds a 300 s ipban htable for that).
   */
  block_time: number;
  /** sources tracked at most (Kamailio: bounded only by shared memory). */
  max_entries: number;
  /** host-side check before the plugin runs: off (the plugin calls pike_check_req()), drop, 503. */
  auto: PikeAuto;
  /** Retry-After (s) of the 503 of `auto: 503`. */
  retry_after: number;
  /**
   * source addresses never counted (kamailio.cfg: "exclude checking trusted peers, such as pstn
   * gateways"); exact IPv4/IPv6 addresses, looked up in a Set.
   */
  trusted: string[];
  /** IPv6 sources are counted per prefix of this length (16..128, a multiple of 16; 128 = per address). */
  ipv6_prefix: number;
}

export const PIKE_DEFAULTS: Readonly<PikeConfig> = Object.freeze({
  sampling_time_unit: 2,
  reqs_density_per_unit: 30,
  remove_latency: 120,
  block_time: 0,
  max_entries: 65536,
  auto: 'off' as PikeAuto,
  retry_after: 10,
  trusted: [] as string[],
  ipv6_prefix: 64,
});

/** JSON schema of `modules.pike` (ajv, useDefaults). */
export const pikeConfigSchema = {
  $id: 'siphon:modules.pike',
  type: 'object',
  additionalProperties: false,
  properties: {
    sampling_time_unit: { type: 'integer', minimum: 1, maximum: 3600, default: 2 },
    reqs_density_per_unit: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 30 },
    remove_latency: { type: 'integer', minimum: 1, maximum: 86_400, default: 120 },
    block_time: { type: 'integer', minimum: 0, maximum: 86_400, default: 0 },
    max_entries: { type: 'integer', minimum: 16, maximum: 4_194_304, default: 65536 },
    auto: { enum: ['off', 'drop', '503', 503], default: 'off' }, // YAML reads `auto: 503` as a number
    retry_after: { type: 'integer', minimum: 0, maximum: 86_400, default: 10 },
    ipv6_prefix: { type: 'integer', enum: [16, 32, 48, 64, 80, 96, 112, 128], default: 64 },
    trusted: { type: 'array', maxItems: 4096, items: { type: 'string', minLength: 2, maxLength: 45, pattern: '^[0-9A-Fa-f.:]+$' }, default: [] },
  },
} as const;

/** Defaults applied over a partial section (callers that skip ajv). */
export function resolvePikeConfig(section: Record<string, unknown> | Partial<PikeConfig> = {}): PikeConfig {
  const out: Record<string, unknown> = { ...PIKE_DEFAULTS };
  for (const [k, v] of Object.entries(section)) if (v !== undefined && k in PIKE_DEFAULTS) out[k] = v;
  const cfg = out as unknown as PikeConfig;
  cfg.auto = String(cfg.auto) as PikeAuto;
  // the form Node reports source addresses in: lower-case IPv6
  cfg.trusted = (cfg.trusted ?? []).map((a) => a.toLowerCase());
  return cfg;
}
