/**
 * Kamailio's accounting tables (kamdbctl acc-create.sql): `acc` (version 5), `missed_calls`
 * (version 4), `acc_cdrs` (version 2), created when missing. The extra columns of `db_extra` /
 * `cdr_extra` are appended as VARCHAR(255) (in Kamailio the operator adds them by hand). siphon's
 * `acc_cdrs` also carries callid, from_tag, to_tag, sip_code, sip_reason and end_reason, which a
 * Kamailio setup would list in cdr_extra; a kamdbctl-created `acc_cdrs` needs them added
 * (README.md "Tables").
 */
import type { ColumnDef, Row, TableDef } from '../../db/types.js';
import type { AccConfig } from './config.js';
import type { ExtraDef } from './extra.js';

export const ACC_TABLE_VERSION = 5;
export const MISSED_CALLS_TABLE_VERSION = 4;
export const ACC_CDRS_TABLE_VERSION = 2;

export interface AccRow extends Row {
  method: string;
  from_tag: string;
  to_tag: string;
  callid: string;
  sip_code: string;
  sip_reason: string;
  time: string;
}

export type CdrRow = Row;

const id: ColumnDef = { name: 'id', type: 'int', length: 10, unsigned: true, autoIncrement: true, notNull: true };
const v = (name: string, length: number): ColumnDef => ({ name, type: 'varchar', length, notNull: true, default: '' });
const extraColumns = (extras: readonly ExtraDef[], taken: ReadonlySet<string>): ColumnDef[] =>
  extras.filter((x) => !taken.has(x.column)).map((x) => v(x.column, 255));

/** `acc` or `missed_calls`: Kamailio's columns, then the extras. */
export function accTableDef(name: string, version: number, extras: readonly ExtraDef[]): TableDef {
  const columns: ColumnDef[] = [
    id, v('method', 16), v('from_tag', 128), v('to_tag', 128), v('callid', 255), v('sip_code', 3), v('sip_reason', 128),
    { name: 'time', type: 'datetime', notNull: true },
  ];
  return { name, version, columns: [...columns, ...extraColumns(extras, new Set(columns.map((c) => c.name)))], indexes: [{ name: 'callid_idx', columns: ['callid'] }] };
}

/** `acc_cdrs` with the configured start / end / duration column names. */
export function cdrsTableDef(cfg: AccConfig, extras: readonly ExtraDef[]): TableDef {
  const columns: ColumnDef[] = [
    id,
    { name: cfg.cdr_start_str, type: 'datetime', notNull: true, default: '2000-01-01 00:00:00' },
    { name: cfg.cdr_end_str, type: 'datetime', notNull: true, default: '2000-01-01 00:00:00' },
    { name: cfg.cdr_duration_str, type: 'float', notNull: true, default: 0 },
    v('callid', 255), v('from_tag', 128), v('to_tag', 128), v('sip_code', 3), v('sip_reason', 128), v('end_reason', 16),
  ];
  return {
    name: cfg.cdrs_table,
    version: ACC_CDRS_TABLE_VERSION,
    columns: [...columns, ...extraColumns(extras, new Set(columns.map((c) => c.name)))],
    indexes: [{ name: 'start_time_idx', columns: [cfg.cdr_start_str] }],
  };
}
