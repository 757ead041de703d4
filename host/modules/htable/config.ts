/**
 * `modules.htable` — Kamailio htable's parameters (the `htable` modparam's attributes, `db_url`,
 * `timer_interval`, `db_expires`, `array_size_suffix`) with siphon's bounds per table (README
 * "Config keys"). A table is given either as Kamailio's definition string
 * (`"ipban=>size=8;autoexpire=300;"`) or as an object with the same attribute names.
 */
import { SiphonError } from '../../errors/registry.js';

export interface TableSpec {
  /** the table's name (`$sht(name=>key)`): 1..64 characters of [A-Za-z0-9_.-]. */
  name: string;
  /** 2^size slots (Kamailio size, default 4 in siphon; Kamailio raises < 2 to 3). Used by htable.dump/stats grouping. */
  size: number;
  /** seconds an item lives after its last update (0 = forever; Kamailio autoexpire). */
  autoexpire: number;
  /** DB table loaded at start and by htable.reload ('' = none; Kamailio dbtable). */
  dbtable: string;
  /** 1: the table is written back to dbtable at shutdown (and by htable.store); Kamailio dbmode. */
  dbmode: 0 | 1;
  /** integer answered for a missing key instead of $null (Kamailio initval); null = none. */
  initval: number | null;
  /** 1: an update restarts the item's autoexpire (Kamailio updateexpire, default 1). */
  updateexpire: 0 | 1;
  /** items at most (Kamailio: unbounded, shared memory); a new key past it is refused (-5). */
  max_entries: number;
  /** characters of a key at most (Kamailio: unbounded; its DB column key_name is VARCHAR(64)). */
  max_key_length: number;
  /** characters of a string value at most (Kamailio: unbounded; DB column key_value is VARCHAR(128)). */
  max_value_length: number;
  /** characters of keys + string values (ints count 8) of the whole table at most. */
  max_bytes: number;
}

export interface HtableConfig {
  /** where dbtable lives: mysql://... or absent for the embedded store (Kamailio db_url). */
  db_url: string | null;
  /** seconds between sweeps of expired items (Kamailio timer_interval, 20). */
  timer_interval: number;
  /** 1: load and save the expires column (absolute Unix time) with the items (Kamailio db_expires, 0). */
  db_expires: 0 | 1;
  /** suffix of the item holding an array's size when loading key_type 1 rows (Kamailio array_size_suffix). */
  array_size_suffix: string;
  /** rows loaded from one dbtable at most (a huge table must not fill memory before max_entries refuses). */
  max_db_rows: number;
  tables: TableSpec[];
}

export const TABLE_DEFAULTS: Readonly<Omit<TableSpec, 'name'>> = Object.freeze({
  size: 4,
  autoexpire: 0,
  dbtable: '',
  dbmode: 0 as const,
  initval: null,
  updateexpire: 1 as const,
  max_entries: 65_536,
  max_key_length: 256,
  max_value_length: 1024,
  max_bytes: 16 * 1024 * 1024,
});

/** tables a node may define (Kamailio: as many modparams as written). */
export const MAX_TABLES = 64;
/** Kamailio: "smaller or larger values will be increased to 3 or decreased to 14"; 5.6.3 accepts up to 31. */
const SIZE_MIN = 2;
const SIZE_MAX = 20;

const NAME_RE = '^[A-Za-z0-9_.-]{1,64}$';

const tableObjectSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', pattern: NAME_RE },
    size: { type: 'integer', minimum: 0, maximum: 31 },
    autoexpire: { type: 'integer', minimum: 0, maximum: 315_360_000 },
    dbtable: { type: 'string', maxLength: 64, pattern: '^([A-Za-z_][A-Za-z0-9_]*)?$' },
    dbmode: { enum: [0, 1] },
    initval: { type: ['integer', 'null'], minimum: -2147483648, maximum: 2147483647 },
    updateexpire: { enum: [0, 1] },
    dmqreplicate: { enum: [0] },
    max_entries: { type: 'integer', minimum: 1, maximum: 4_194_304 },
    max_key_length: { type: 'integer', minimum: 1, maximum: 65_536 },
    max_value_length: { type: 'integer', minimum: 1, maximum: 1_048_576 },
    max_bytes: { type: 'integer', minimum: 1024, maximum: 1024 * 1024 * 1024 },
  },
} as const;

/** JSON schema of `modules.htable` (ajv, useDefaults). */
export const htableConfigSchema = {
  $id: 'siphon:modules.htable',
  type: 'object',
  additionalProperties: false,
  properties: {
    db_url: { type: ['string', 'null'], default: null },
    timer_interval: { type: 'integer', minimum: 1, maximum: 3600, default: 20 },
    db_expires: { enum: [0, 1], default: 0 },
    array_size_suffix: { type: 'string', minLength: 1, maxLength: 32, default: '::size' },
    max_db_rows: { type: 'integer', minimum: 1, maximum: 4_194_304, default: 1_000_000 },
    tables: {
      type: 'array',
      maxItems: MAX_TABLES,
      default: [],
      items: { anyOf: [{ type: 'string', minLength: 3, maxLength: 1024 }, tableObjectSchema] },
    },
  },
} as const;

const INT_ATTRS = new Set(['size', 'autoexpire', 'dbmode', 'initval', 'updateexpire', 'dmqreplicate', 'max_entries', 'max_key_length', 'max_value_length', 'max_bytes']);

/**
 * Kamailio's definition string `name=>attr=value;attr=value;` (htable.c ht_table_spec: the name, `=>`,
 * then `;`-separated attributes). `cols` is not supported (siphon's rows have one value column).
 */
export function parseTableSpec(text: string): Record<string, unknown> {
  const arrow = text.indexOf('=>');
  if (arrow <= 0) throw new SiphonError('HTABLE_CONFIG', `table definition "${text}" has no "name=>"`);
  const out: Record<string, unknown> = { name: text.slice(0, arrow).trim() };
  for (const part of text.slice(arrow + 2).split(';')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq <= 0) throw new SiphonError('HTABLE_CONFIG', `table "${String(out.name)}": attribute "${p}" is not name=value`);
    const k = p.slice(0, eq).trim();
    const v = p.slice(eq + 1).trim();
    if (k === 'dbtable') out.dbtable = v;
    else if (INT_ATTRS.has(k)) {
      if (!/^-?\d{1,10}$/.test(v)) throw new SiphonError('HTABLE_CONFIG', `table "${String(out.name)}": ${k}=${v} is not an integer`);
      out[k] = Number(v);
    } else throw new SiphonError('HTABLE_CONFIG', `table "${String(out.name)}": unknown attribute "${k}" (siphon knows size, autoexpire, dbtable, dbmode, initval, updateexpire and the max_* bounds)`);
  }
  return out;
}

function resolveTable(raw: string | Record<string, unknown>): TableSpec {
  const o = typeof raw === 'string' ? parseTableSpec(raw) : raw;
  const name = String(o.name ?? '');
  if (!new RegExp(NAME_RE).test(name)) throw new SiphonError('HTABLE_CONFIG', `bad table name "${name}" (1-64 characters of A-Z a-z 0-9 _ . -)`);
  if (o.dmqreplicate !== undefined && o.dmqreplicate !== 0) throw new SiphonError('HTABLE_CONFIG', `table "${name}": dmqreplicate is not supported (no DMQ; nodes share tables through their database)`);
  const t: TableSpec = { name, ...TABLE_DEFAULTS };
  for (const k of Object.keys(TABLE_DEFAULTS) as Array<keyof typeof TABLE_DEFAULTS>) {
    if (o[k] !== undefined) (t as unknown as Record<string, unknown>)[k] = o[k];
  }
  t.size = Math.min(Math.max(t.size, SIZE_MIN), SIZE_MAX);
  if (t.dbmode !== 0 && t.dbmode !== 1) throw new SiphonError('HTABLE_CONFIG', `table "${name}": dbmode must be 0 or 1`);
  if (t.dbmode === 1 && t.dbtable === '') throw new SiphonError('HTABLE_CONFIG', `table "${name}": dbmode=1 needs a dbtable`);
  if (t.dbtable !== '' && !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(t.dbtable)) throw new SiphonError('HTABLE_CONFIG', `table "${name}": bad dbtable "${t.dbtable}"`);
  if (t.initval !== null && (!Number.isInteger(t.initval) || (t.initval | 0) !== t.initval)) throw new SiphonError('HTABLE_CONFIG', `table "${name}": initval must be a 32-bit integer`);
  if (!Number.isInteger(t.autoexpire) || t.autoexpire < 0) throw new SiphonError('HTABLE_CONFIG', `table "${name}": autoexpire must be >= 0`);
  return t;
}

/** Defaults applied over a partial section; table definitions parsed and checked (E7500). */
export function resolveHtableConfig(section: Record<string, unknown> = {}): HtableConfig {
  const tablesRaw = (section.tables ?? []) as Array<string | Record<string, unknown>>;
  if (tablesRaw.length > MAX_TABLES) throw new SiphonError('HTABLE_CONFIG', `${tablesRaw.length} tables, at most ${MAX_TABLES}`);
  const tables = tablesRaw.map(resolveTable);
  const seen = new Set<string>();
  for (const t of tables) {
    if (seen.has(t.name)) throw new SiphonError('HTABLE_CONFIG', `table "${t.name}" is defined twice`);
    seen.add(t.name);
  }
  return {
    db_url: (section.db_url as string | null | undefined) ?? null,
    timer_interval: (section.timer_interval as number | undefined) ?? 20,
    db_expires: ((section.db_expires as number | undefined) ?? 0) === 1 ? 1 : 0,
    array_size_suffix: (section.array_size_suffix as string | undefined) ?? '::size',
    max_db_rows: (section.max_db_rows as number | undefined) ?? 1_000_000,
    tables,
  };
}
