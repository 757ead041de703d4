/**
 * `modules.nathelper` — Kamailio nathelper's parameters with its defaults (and usrloc's `nat_bflag`,
 * which nathelper reads from usrloc in Kamailio), plus siphon's bounds on keepalives
 * (README.md "Config keys").
 */
export interface NathelperConfig {
  /** seconds between keepalive rounds; 0 disables keepalives (Kamailio natping_interval, 0). */
  natping_interval: number;
  /** 1: ping only contacts whose cflags carry `nat_bflag` (Kamailio ping_nated_only, 0). */
  ping_nated_only: number;
  /** the branch flag that marks a NATed contact (Kamailio usrloc/registrar nat_bflag, -1 = none). */
  nat_bflag: number;
  /** the branch flag of contacts pinged with a SIP request instead of 4 zero bytes (Kamailio sipping_bflag, -1). */
  sipping_bflag: number;
  /** From URI of SIP pings; SIP pinging is off without it (Kamailio sipping_from, NULL). */
  sipping_from: string | null;
  /** method of SIP pings (Kamailio sipping_method, OPTIONS). */
  sipping_method: string;
  /** contacts with this branch flag are never pinged (Kamailio natping_disable_bflag, -1). */
  natping_disable_bflag: number;
  /** seconds without an answer to SIP pings after which a contact is removed; 0 = never (Kamailio keepalive_timeout, 0). */
  keepalive_timeout: number;
  /** 1 (default): nat_uac_test()/is_rfc1918() also count 192.0.0.0/24 as private (Kamailio nat_addr_mode, 1). */
  nat_addr_mode: number;
  /** accepted for Kamailio configs; siphon pings from one timer on the event loop (Kamailio natping_processes, 1). */
  natping_processes: number;
  /** siphon: contacts pinged per round at most; the rest wait for the next round (Kamailio: none). */
  natping_max_contacts: number;
  /** siphon: ms a SIP ping waits for its reply (the tm fr_timer otherwise). */
  sipping_timeout_ms: number;
  /**
   * siphon: SIP pings waiting for their reply at most (each holds a tm client transaction, from the
   * same table as calls: core.tm.max_transactions); past it a contact's SIP ping waits for its next round.
   */
  sipping_max_inflight: number;
}

export const NATHELPER_DEFAULTS: Readonly<NathelperConfig> = Object.freeze({
  natping_interval: 0,
  ping_nated_only: 0,
  nat_bflag: -1,
  sipping_bflag: -1,
  sipping_from: null,
  sipping_method: 'OPTIONS',
  natping_disable_bflag: -1,
  keepalive_timeout: 0,
  nat_addr_mode: 1,
  natping_processes: 1,
  natping_max_contacts: 10_000,
  sipping_timeout_ms: 5000,
  sipping_max_inflight: 1000,
});

const flag = { type: 'integer', minimum: -1, maximum: 31, default: -1 } as const;

/** JSON schema of `modules.nathelper` (ajv, useDefaults). */
export const nathelperConfigSchema = {
  $id: 'siphon:modules.nathelper',
  type: 'object',
  additionalProperties: false,
  properties: {
    natping_interval: { type: 'integer', minimum: 0, maximum: 86_400, default: 0 },
    ping_nated_only: { type: 'integer', enum: [0, 1], default: 0 },
    nat_bflag: flag,
    sipping_bflag: flag,
    sipping_from: { type: ['string', 'null'], maxLength: 256, pattern: '^sips?:[^\\s<>"]+$', default: null },
    sipping_method: { type: 'string', enum: ['OPTIONS', 'INFO', 'NOTIFY'], default: 'OPTIONS' },
    natping_disable_bflag: flag,
    keepalive_timeout: { type: 'integer', minimum: 0, maximum: 86_400, default: 0 },
    nat_addr_mode: { type: 'integer', enum: [0, 1], default: 1 },
    natping_processes: { type: 'integer', minimum: 1, maximum: 64, default: 1 },
    natping_max_contacts: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 10_000 },
    sipping_timeout_ms: { type: 'integer', minimum: 100, maximum: 60_000, default: 5000 },
    sipping_max_inflight: { type: 'integer', minimum: 1, maximum: 100_000, default: 1000 },
  },
} as const;

/** Defaults applied over a partial section (callers that skip ajv). */
export function resolveNathelperConfig(section: Record<string, unknown> | Partial<NathelperConfig> = {}): NathelperConfig {
  const out: Record<string, unknown> = { ...NATHELPER_DEFAULTS };
  for (const [k, v] of Object.entries(section)) if (v !== undefined && k in NATHELPER_DEFAULTS) out[k] = v;
  return out as unknown as NathelperConfig;
}

/** the bit of a branch flag number, 0 for -1 (unset). */
export function flagBit(n: number): number {
  return n >= 0 && n <= 31 ? (1 << n) >>> 0 : 0;
}
