/**
 * `modules.auth` — Kamailio auth's parameters where they carry over, siphon's secure defaults
 * (README.md "Config keys" says why each differs).
 */
import type { DigestAlgorithm } from '../../sip/digest.js';

export interface AuthConfig {
  /**
   * the nonce signing secret shared by every node of a cluster (Kamailio `secret`); at least 32
   * characters. Unset: the secret row of `db_url` (MySQL: every node on that database shares it),
   * or of the embedded store (a per-node secret that survives restarts).
   */
  secret: string | null;
  /** mysql://... holding the `siphon_auth_secret` table; unset = the embedded store in core.data_dir. */
  db_url: string | null;
  /** seconds a nonce is valid (Kamailio nonce_expire, 300). */
  nonce_expire: number;
  /** seconds a nonce may come from the future: clock skew between nodes (Kamailio nonce_auth_max_drift, 3). */
  nonce_auth_max_drift: number;
  /** the algorithms challenges offer, one WWW-/Proxy-Authenticate each in this order, and the only ones accepted. */
  algorithms: DigestAlgorithm[];
  /** track the highest nc per nonce; an nc not above it is a replay (Kamailio nonce_count, 0). */
  nonce_count: boolean;
  /** a nonce answered without nc is accepted once (Kamailio one_time_nonce, 0). */
  one_time_nonce: boolean;
  /**
   * seconds after an accepted request during which a byte-identical copy of it (a UDP
   * retransmission, RFC 3261 §17.2.3) is accepted again with the same nc / one-time nonce instead of
   * being refused as a replay (0 = refused, as Kamailio without tm). 32 = Timer F (64*T1).
   */
  retransmission_window: number;
  /** nonces whose nc / one-time state is kept, a power of 2 (Kamailio nc_array_size 1048576, otn_in_flight_no 1048576). */
  nc_array_size: number;
  /** an Authentication-Info (rspauth, nextnonce) on the reply to a request verified with qop=auth (Kamailio add_authinfo_hdr, 0). */
  add_authinfo_hdr: boolean;
  /** opaque sent in challenges and required back unchanged ('' = none, as Kamailio). */
  opaque: string;
  /** pike hits one failed verification weighs (0 = failures are not counted into pike). */
  pike_weight: number;
  /** usernames whose failed attempts are counted (auth.failures), least recently failed evicted. */
  max_failure_users: number;
}

export const AUTH_ALGORITHMS: readonly DigestAlgorithm[] = ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess'];

export const AUTH_DEFAULTS: Readonly<AuthConfig> = Object.freeze({
  secret: null,
  db_url: null,
  nonce_expire: 300,
  nonce_auth_max_drift: 3,
  algorithms: ['SHA-256', 'MD5'] as DigestAlgorithm[],
  nonce_count: true,
  one_time_nonce: true,
  retransmission_window: 32,
  nc_array_size: 262_144,
  opaque: '',
  add_authinfo_hdr: false,
  pike_weight: 10,
  max_failure_users: 1024,
});

/** JSON schema of `modules.auth` (ajv, useDefaults). */
export const authConfigSchema = {
  $id: 'siphon:modules.auth',
  type: 'object',
  additionalProperties: false,
  properties: {
    secret: { type: ['string', 'null'], minLength: 32, maxLength: 256, default: null },
    db_url: { type: ['string', 'null'], maxLength: 1024, pattern: '^mysql://', default: null },
    nonce_expire: { type: 'integer', minimum: 10, maximum: 86_400, default: 300 },
    nonce_auth_max_drift: { type: 'integer', minimum: 0, maximum: 300, default: 3 },
    algorithms: {
      type: 'array', minItems: 1, maxItems: 4, uniqueItems: true,
      items: { enum: [...AUTH_ALGORITHMS] }, default: ['SHA-256', 'MD5'],
    },
    nonce_count: { type: 'boolean', default: true },
    one_time_nonce: { type: 'boolean', default: true },
    retransmission_window: { type: 'integer', minimum: 0, maximum: 300, default: 32 },
    nc_array_size: { type: 'integer', minimum: 1024, maximum: 16_777_216, default: 262_144 },
    add_authinfo_hdr: { type: 'boolean', default: false },
    opaque: { type: 'string', maxLength: 64, pattern: '^[A-Za-z0-9+/=_.-]*$', default: '' },
    pike_weight: { type: 'integer', minimum: 0, maximum: 1000, default: 10 },
    max_failure_users: { type: 'integer', minimum: 0, maximum: 65_536, default: 1024 },
  },
} as const;

/** the largest power of 2 not above n (Kamailio rounds nc_array_size down the same way). */
export function floorPow2(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/** Defaults applied over a partial section (callers that skip ajv). */
export function resolveAuthConfig(section: Record<string, unknown> | Partial<AuthConfig> = {}): AuthConfig {
  const out: Record<string, unknown> = { ...AUTH_DEFAULTS };
  for (const [k, v] of Object.entries(section)) if (v !== undefined && k in AUTH_DEFAULTS) out[k] = v;
  const cfg = out as unknown as AuthConfig;
  cfg.algorithms = [...cfg.algorithms];
  cfg.nc_array_size = floorPow2(Math.max(1024, cfg.nc_array_size));
  return cfg;
}
