/**
 * Kamailio's `secfilter` table, version 1 (utils/kamctl/mysql/secfilter-create.sql):
 *   id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY, action SMALLINT DEFAULT 0, type SMALLINT DEFAULT 0,
 *   data VARCHAR(64) DEFAULT '', index secfilter_idx (action, type, data).
 * Column and table names are configurable as in Kamailio (table_name, action_col, type_col, data_col).
 */
import type { TableDef } from '../../db/types.js';

/** `action` column values. */
export const ACTION_BLACKLIST = 0;
export const ACTION_WHITELIST = 1;
export const ACTION_DESTINATION = 2;

/** `type` column values (for action 2, type 0 means "number"). */
export const RULE_TYPES = ['ua', 'country', 'domain', 'ip', 'user'] as const;
export type RuleType = (typeof RULE_TYPES)[number];
export const TYPE_CODE: Readonly<Record<RuleType, number>> = { ua: 0, country: 1, domain: 2, ip: 3, user: 4 };

export interface SecfilterColumns {
  table: string;
  action: string;
  type: string;
  data: string;
}

export const DEFAULT_SECFILTER_COLUMNS: Readonly<SecfilterColumns> = { table: 'secfilter', action: 'action', type: 'type', data: 'data' };

export const SECFILTER_TABLE_VERSION = 1;

export function secfilterTableDef(cols: SecfilterColumns = DEFAULT_SECFILTER_COLUMNS): TableDef {
  return {
    name: cols.table,
    version: SECFILTER_TABLE_VERSION,
    columns: [
      { name: 'id', type: 'int', length: 10, unsigned: true, autoIncrement: true, notNull: true },
      { name: cols.action, type: 'smallint', notNull: true, default: 0 },
      { name: cols.type, type: 'smallint', notNull: true, default: 0 },
      { name: cols.data, type: 'varchar', length: 64, notNull: true, default: '' },
    ],
    indexes: [{ name: 'secfilter_idx', columns: [cols.action, cols.type, cols.data] }],
  };
}

/** A rule as stored, with the column names mapped back to the standard ones. */
export interface SecfilterRule {
  action: number;
  type: number;
  data: string;
}
