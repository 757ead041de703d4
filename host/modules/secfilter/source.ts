/**
 * Where rules come from: the `secfilter` table of the configured store (embedded files or MySQL).
 */
import type { Database, Row, Table } from '../../db/types.js';
import { DEFAULT_SECFILTER_COLUMNS, secfilterTableDef, type SecfilterColumns, type SecfilterRule } from './table.js';

export interface RuleSource {
  /** for logs and errors, e.g. "table secfilter at mysql://siphon:***@127.0.0.1:3306/siphon". */
  readonly description: string;
  load(): Promise<SecfilterRule[]>;
}

export class TableRuleSource implements RuleSource {
  readonly description: string;
  readonly table: Table<Row>;

  constructor(
    readonly db: Database,
    readonly columns: SecfilterColumns = DEFAULT_SECFILTER_COLUMNS,
  ) {
    this.table = db.table<Row>(secfilterTableDef(columns));
    this.description = `table ${columns.table} at ${db.location}`;
  }

  async load(): Promise<SecfilterRule[]> {
    const rows = await this.table.all();
    const c = this.columns;
    return rows.map((r) => ({ action: Number(r[c.action]), type: Number(r[c.type]), data: r[c.data] == null ? '' : String(r[c.data]) }));
  }

  /** appends a rule to the table (CLI `siphon secfilter add`). */
  async add(rule: SecfilterRule): Promise<number> {
    const c = this.columns;
    return this.table.insert({ [c.action]: rule.action, [c.type]: rule.type, [c.data]: rule.data });
  }

  /** removes rules with exactly this action, type and data (CLI `siphon secfilter rm`). */
  async remove(rule: SecfilterRule): Promise<number> {
    const c = this.columns;
    return this.table.delete({ [c.action]: rule.action, [c.type]: rule.type, [c.data]: rule.data });
  }
}
