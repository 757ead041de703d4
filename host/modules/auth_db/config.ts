/**
 * `modules.auth_db` — Kamailio auth_db's parameters under their names and with their defaults
 * (auth_db_mod.c), plus siphon's bounds (README.md "Config keys"). Not offered: `load_credentials`
 * (no AVPs yet) and Kamailio's default db_url (mysql://kamailioro:...): without `db_url` the
 * embedded store under core.data_dir holds the subscribers.
 */

const COLUMN = '^[A-Za-z_][A-Za-z0-9_]*$';

export interface AuthDbConfig {
  /** mysql://... ; null = the embedded store under core.data_dir. */
  db_url: string | null;
  /** column of the user name (Kamailio user_column, "username"). */
  user_column: string;
  /** column of the domain (Kamailio domain_column, "domain"). */
  domain_column: string;
  /**
   * with calculate_ha1 0: the HA1 of user:realm:password (Kamailio password_column, "ha1");
   * with calculate_ha1 1: the plain password HA1 is computed from.
   */
  password_column: string;
  /** HA1 of user@domain:realm:password, for credentials whose username carries @domain (Kamailio password_column_2, "ha1b"). */
  password_column_2: string;
  /** 0: password_column holds HA1 strings; 1: it holds the plain password (Kamailio calculate_ha1, 0). */
  calculate_ha1: 0 | 1;
  /** match the domain too when looking up a subscriber (Kamailio use_domain, 0). */
  use_domain: boolean;
  /** 0: do not check the `version` row of the tables (Kamailio version_table, 1). */
  version_table: boolean;
  /**
   * siphon: the column holding the plain password (kamctl's `password`, written when STORE_PLAINTEXT_PW
   * is 1, its default). With calculate_ha1 0 it is read only for SHA-256 credentials (RFC 8760): the
   * MD5 columns cannot serve them. '' = never read a plain password for SHA-256.
   */
  plain_password_column: string;
  /**
   * siphon: the subscriber tables plugins may name (www_authorize(realm, table)). Their rows are loaded
   * before routing (ABI v1 imports are synchronous), so the list is fixed in the config.
   */
  tables: string[];
  /** siphon: create missing tables (and their version rows) at start, as `kamdbctl create` would. */
  create_tables: boolean;
  /** siphon: Authorization/Proxy-Authorization headers of one request looked up at most (more are ignored). */
  max_credentials: number;
  /** siphon: credentials whose username (user part, or user@domain) is longer are not looked up (-3 user unknown). */
  max_username_length: number;
  /** siphon: `siphon subscriber add/passwd` stores the plain password too (kamctl STORE_PLAINTEXT_PW, 1). */
  store_password: boolean;
}

export const AUTH_DB_DEFAULTS: Readonly<AuthDbConfig> = Object.freeze({
  db_url: null,
  user_column: 'username',
  domain_column: 'domain',
  password_column: 'ha1',
  password_column_2: 'ha1b',
  calculate_ha1: 0,
  use_domain: false,
  version_table: true,
  plain_password_column: 'password',
  tables: ['subscriber'],
  create_tables: true,
  max_credentials: 4,
  max_username_length: 128,
  store_password: true,
} as AuthDbConfig);

const col = (dflt: string) => ({ type: 'string', pattern: COLUMN, maxLength: 64, default: dflt });
const flag = (dflt: boolean) => ({ type: ['boolean', 'integer'], minimum: 0, maximum: 1, default: dflt });

/** JSON schema of `modules.auth_db` (ajv, useDefaults). Kamailio's 0/1 integers are accepted for booleans. */
export const authDbConfigSchema = {
  $id: 'siphon:modules.auth_db',
  type: 'object',
  additionalProperties: false,
  properties: {
    db_url: { type: ['string', 'null'], default: null },
    user_column: col('username'),
    domain_column: col('domain'),
    password_column: col('ha1'),
    password_column_2: col('ha1b'),
    calculate_ha1: { type: 'integer', enum: [0, 1], default: 0 },
    use_domain: flag(false),
    version_table: flag(true),
    plain_password_column: { type: 'string', pattern: `(${COLUMN})|^$`, maxLength: 64, default: 'password' },
    tables: { type: 'array', minItems: 1, maxItems: 16, items: { type: 'string', pattern: COLUMN, maxLength: 64 }, default: ['subscriber'] },
    create_tables: flag(true),
    max_credentials: { type: 'integer', minimum: 1, maximum: 16, default: 4 },
    max_username_length: { type: 'integer', minimum: 1, maximum: 255, default: 128 },
    store_password: flag(true),
  },
} as const;

const BOOLEANS = ['use_domain', 'version_table', 'create_tables', 'store_password'] as const;

/** Defaults applied over a partial section (for callers that skip ajv, e.g. tests). */
export function resolveAuthDbConfig(section: Record<string, unknown> | Partial<AuthDbConfig> = {}): AuthDbConfig {
  const out: Record<string, unknown> = { ...AUTH_DB_DEFAULTS, tables: [...AUTH_DB_DEFAULTS.tables] };
  for (const [k, v] of Object.entries(section)) if (v !== undefined && k in AUTH_DB_DEFAULTS) out[k] = v;
  for (const k of BOOLEANS) if (typeof out[k] === 'number') out[k] = out[k] !== 0;
  return out as unknown as AuthDbConfig;
}
