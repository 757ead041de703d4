/**
 * `modules.registrar` configuration: the parameters of Kamailio's `registrar` and `usrloc` modules
 * that siphon implements, under their Kamailio names and with their Kamailio defaults
 * (registrar config.c `default_registrar_cfg`, usrloc_mod.c), plus three siphon keys marked below.
 * One default differs on purpose: max_contacts is 10, not Kamailio's 0 (unlimited), see below.
 */

/** usrloc `db_mode` values siphon implements (2 write-back and 4 read-only are not offered yet). */
export const DbMode = { MEMORY: 0, WRITE_THROUGH: 1, DB_ONLY: 3 } as const;
export type DbModeValue = (typeof DbMode)[keyof typeof DbMode];

export interface RegistrarConfig {
  /** usrloc db_mode: 0 memory only, 1 write-through, 3 DB only. */
  db_mode: DbModeValue;
  /** mysql://... ; null = the embedded store under core.data_dir (db_mode 1/3 only). */
  db_url: string | null;
  /** location tables (usrloc "domains") plugins may name; each maps to a DB table of that name. */
  tables: string[];
  /** usrloc use_domain: the AOR is user@domain instead of user. */
  use_domain: boolean;
  /** registrar case_sensitive: 0 = AORs compared case-insensitively (lower-cased). */
  case_sensitive: boolean;
  /** registrar realm_prefix: stripped from the domain part of the AOR. */
  realm_prefix: string;
  default_expires: number;
  /** percent of default_expires used to randomise it (0 = off). */
  default_expires_range: number;
  min_expires: number;
  /** 0 = raise expires below min_expires; 1 = reject with 423 Interval Too Brief. */
  min_expires_mode: number;
  /** 0 = no upper limit. */
  max_expires: number;
  /**
   * more contacts for one AOR => 503 Too Many Registered Contacts; 0 = unlimited (Kamailio's
   * default). siphon's default is 10: a REGISTER (spoofable over UDP) must not plant hundreds of
   * bindings that one INVITE then forks to; 10 stays under max_branches (12), so every binding of
   * an AOR can ring at once.
   */
  max_contacts: number;
  /** seconds put in Retry-After of the 503 (0 = no header). */
  retry_after: number;
  /**
   * siphon: contacts one memory table (db_mode 0/1) holds at most, every AOR together; a REGISTER
   * that would add more gets 503 + Retry-After (retry_after, else 60). 0 = unlimited. Kamailio has
   * no count: usrloc lives in shared memory (`-m`) and a save fails when that is exhausted.
   */
  max_location_contacts: number;
  /** q for contacts without a q parameter, in thousandths (380 = 0.38); -1 = unspecified. */
  default_q: number;
  /** lookup: other contacts become branches. */
  append_branches: boolean;
  /** usrloc desc_time_order: order contacts by last modification only (newest first), ignoring q. */
  desc_time_order: boolean;
  /** lookup: skip contacts whose Allow methods exclude the request method. */
  method_filtering: boolean;
  /** usrloc matching_mode: 0 Contact URI, 1 Contact + Call-ID, 2 Contact + Path, 3 Call-ID only. */
  matching_mode: number;
  /** seconds within which a REGISTER with the same Call-ID and CSeq is a retransmission. */
  cseq_delay: number;
  /** seconds between expiry sweeps. */
  timer_interval: number;
  /** written to the server_id column of every contact this node saves. */
  server_id: number;
  /** registrar use_path: store Path header values and route through them on lookup. */
  use_path: boolean;
  /**
   * siphon: when save() records the REGISTER's source as `received` (used as $du on lookup) on its
   * own. 0 (default, Kamailio): never; only what the route asked for is stored (nathelper's
   * fix_nated_register, or a `received` Contact parameter from add_rcv_param). 1: also whenever the
   * source differs from the Contact host:port (siphon's former default: wrong for a gateway that
   * registers another socket than it sends from). 2: always.
   */
  nat_received: number;
  /**
   * siphon: false (default) answers an out-of-order REGISTER (older CSeq on the same Call-ID) 200
   * without changing anything; true rejects it with 400 as RFC 3261 §10.3 step 7 asks.
   */
  strict_cseq: boolean;
  /** siphon: create missing tables (and their version rows) at start, as `kamdbctl create` would. */
  create_tables: boolean;
}

export const REGISTRAR_DEFAULTS: Readonly<RegistrarConfig> = Object.freeze({
  db_mode: 0,
  db_url: null,
  tables: ['location'],
  use_domain: false,
  case_sensitive: false,
  realm_prefix: '',
  default_expires: 3600,
  default_expires_range: 0,
  min_expires: 60,
  min_expires_mode: 0,
  max_expires: 0,
  max_contacts: 10,
  retry_after: 0,
  max_location_contacts: 250_000,
  default_q: -1,
  append_branches: true,
  desc_time_order: false,
  method_filtering: false,
  matching_mode: 0,
  cseq_delay: 20,
  timer_interval: 60,
  server_id: 0,
  use_path: false,
  nat_received: 0,
  strict_cseq: false,
  create_tables: true,
} as RegistrarConfig);

const int = (min: number, max?: number) => ({ type: 'integer', minimum: min, ...(max !== undefined ? { maximum: max } : {}) });

/** JSON schema of `modules.registrar` (ajv, useDefaults). */
export const registrarConfigSchema = {
  $id: 'siphon:modules.registrar',
  type: 'object',
  additionalProperties: false,
  properties: {
    db_mode: { type: 'integer', enum: [0, 1, 3], default: 0 },
    db_url: { type: ['string', 'null'], default: null },
    tables: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }, default: ['location'] },
    use_domain: { type: 'boolean', default: false },
    case_sensitive: { type: 'boolean', default: false },
    realm_prefix: { type: 'string', default: '' },
    default_expires: { ...int(0), default: 3600 },
    default_expires_range: { ...int(0, 100), default: 0 },
    min_expires: { ...int(0), default: 60 },
    min_expires_mode: { ...int(0, 1), default: 0 },
    max_expires: { ...int(0), default: 0 },
    max_contacts: { ...int(0), default: 10 },
    retry_after: { ...int(0), default: 0 },
    max_location_contacts: { ...int(0), default: 250_000 },
    default_q: { ...int(-1, 1000), default: -1 },
    append_branches: { type: 'boolean', default: true },
    desc_time_order: { type: 'boolean', default: false },
    method_filtering: { type: 'boolean', default: false },
    matching_mode: { ...int(0, 3), default: 0 },
    cseq_delay: { ...int(0), default: 20 },
    timer_interval: { ...int(1), default: 60 },
    server_id: { ...int(0), default: 0 },
    use_path: { type: 'boolean', default: false },
    nat_received: { ...int(0, 2), default: 0 },
    strict_cseq: { type: 'boolean', default: false },
    create_tables: { type: 'boolean', default: true },
  },
} as const;

/** Defaults applied over a partial section (for callers that skip ajv, e.g. tests). */
export function resolveRegistrarConfig(section: Record<string, unknown> | Partial<RegistrarConfig> = {}): RegistrarConfig {
  const out: Record<string, unknown> = { ...REGISTRAR_DEFAULTS, tables: [...REGISTRAR_DEFAULTS.tables] };
  for (const [k, v] of Object.entries(section)) if (v !== undefined && k in REGISTRAR_DEFAULTS) out[k] = v;
  // Kamailio accepts 0/1 integers for its boolean parameters
  for (const k of ['use_domain', 'case_sensitive', 'append_branches', 'desc_time_order', 'method_filtering', 'use_path', 'strict_cseq', 'create_tables']) {
    if (typeof out[k] === 'number') out[k] = out[k] !== 0;
  }
  return out as unknown as RegistrarConfig;
}
