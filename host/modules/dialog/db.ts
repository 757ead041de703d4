/**
 * Dialog persistence (Kamailio dialog dlg_db_handler.c): Kamailio's `dialog` (version 7) and
 * `dialog_vars` (version 1) tables, in MySQL/MariaDB or the embedded store, so a restarted node
 * still knows its calls (their profiles, variables and timeouts; a BYE or dlg.end_dlg then ends
 * them as before the restart).
 *
 *   db_mode 1 (realtime)  every change is written when it happens
 *   db_mode 2 (delayed)   changes are written every db_update_period seconds
 *   db_mode 3 (shutdown)  every dialog is written when the node stops
 *
 * As in Kamailio only confirmed dialogs (states 3 and 4) are stored: early and deleted states are
 * not. Profiles go in the `xdata` column as JSON `{"profiles":[[name, value], ...]}` (siphon's
 * layout of that free-form column). At start the rows are loaded back; with several shards each
 * shard loads the rows whose Call-ID steers to it (host/shards/steer.ts), so a dialog comes back
 * where its in-dialog requests will arrive.
 *
 * Writes are asynchronous and never block the message path; a failed write is logged (E9203) and
 * counted, the dialog stays in memory.
 */
import type { Logger } from 'pino';
import { openDatabase, type Database, type Row, type Table, type TableDef } from '../../db/index.js';
import type { DbLimits } from '../../db/types.js';
import type { DbStatistics } from '../../db/stats.js';
import { Errors } from '../../errors/registry.js';
import type { ShardContext } from '../../shards/context.js';
import { shardOfCallId } from '../../shards/steer.js';
import type { DialogConfig } from './config.js';
import { Dialog, DlgState, Leg } from './dialog.js';
import type { DialogPersistence, DialogTable } from './table.js';

export const DIALOG_TABLE_VERSION = 7;
export const DIALOG_VARS_TABLE_VERSION = 1;

export function dialogTableDef(name = 'dialog'): TableDef {
  const v = (n: string, length: number, notNull = true): TableDef['columns'][number] => ({ name: n, type: 'varchar', length, notNull, ...(notNull ? { default: '' } : { default: null }) });
  const i = (n: string, def?: number): TableDef['columns'][number] => ({ name: n, type: 'int', length: 10, unsigned: true, notNull: true, ...(def !== undefined ? { default: def } : {}) });
  return {
    name,
    version: DIALOG_TABLE_VERSION,
    columns: [
      { name: 'id', type: 'int', length: 10, unsigned: true, autoIncrement: true, notNull: true },
      i('hash_entry'), i('hash_id'),
      v('callid', 255), v('from_uri', 255), v('from_tag', 128), v('to_uri', 255), v('to_tag', 128),
      v('caller_cseq', 20), v('callee_cseq', 20),
      v('caller_route_set', 512, false), v('callee_route_set', 512, false),
      v('caller_contact', 255), v('callee_contact', 255), v('caller_sock', 64), v('callee_sock', 64),
      i('state'), i('start_time'), i('timeout', 0), i('sflags', 0), i('iflags', 0),
      v('toroute_name', 32, false), v('req_uri', 255), v('xdata', 512, false),
    ],
    indexes: [{ name: 'hash_idx', columns: ['hash_entry', 'hash_id'] }],
  };
}

export function dialogVarsTableDef(name = 'dialog_vars'): TableDef {
  return {
    name,
    version: DIALOG_VARS_TABLE_VERSION,
    columns: [
      { name: 'id', type: 'int', length: 10, unsigned: true, autoIncrement: true, notNull: true },
      { name: 'hash_entry', type: 'int', length: 10, unsigned: true, notNull: true },
      { name: 'hash_id', type: 'int', length: 10, unsigned: true, notNull: true },
      { name: 'dialog_key', type: 'varchar', length: 128, notNull: true },
      { name: 'dialog_value', type: 'varchar', length: 512, notNull: true },
    ],
    indexes: [{ name: 'hash_idx', columns: ['hash_entry', 'hash_id'] }],
  };
}

interface DialogRow extends Row {
  hash_entry: number;
  hash_id: number;
  callid: string;
  from_uri: string;
  from_tag: string;
  to_uri: string;
  to_tag: string;
  caller_cseq: string;
  callee_cseq: string;
  caller_route_set: string | null;
  callee_route_set: string | null;
  caller_contact: string;
  callee_contact: string;
  caller_sock: string;
  callee_sock: string;
  state: number;
  start_time: number;
  timeout: number;
  sflags: number;
  iflags: number;
  req_uri: string;
  xdata: string | null;
}

interface VarRow extends Row {
  hash_entry: number;
  hash_id: number;
  dialog_key: string;
  dialog_value: string;
}

/** Route sets are stored comma-separated (Kamailio's route_set columns hold the header values joined). */
function splitRoutes(s: string | null): string[] {
  if (s === null || s === '') return [];
  return s.split(/,(?=\s*<)/).map((x) => x.trim()).filter((x) => x.length > 0);
}

function rowOf(d: Dialog): DialogRow {
  const caller = d.legs[Leg.CALLER];
  const callee = d.legs[Leg.CALLEE];
  const clip = (s: string, n: number): string => (s.length > n ? s.slice(0, n) : s);
  return {
    hash_entry: d.hEntry, hash_id: d.hId, callid: clip(d.callId, 255), from_uri: clip(d.fromUri, 255), from_tag: clip(caller.tag, 128),
    to_uri: clip(d.toUri, 255), to_tag: clip(callee.tag, 128), caller_cseq: caller.cseq, callee_cseq: callee.cseq,
    caller_route_set: clip(caller.routeSet.join(','), 512), callee_route_set: clip(callee.routeSet.join(','), 512),
    caller_contact: clip(caller.contact, 255), callee_contact: clip(callee.contact, 255),
    caller_sock: clip(caller.socket, 64), callee_sock: clip(callee.socket, 64),
    state: d.state, start_time: d.startTs,
    // Kamailio stores the absolute time (s) the dialog times out at
    timeout: d.timeoutAt > 0 ? Math.floor(d.timeoutAt / 1000) : 0,
    sflags: d.sflags, iflags: d.iflags, req_uri: clip(d.reqUri, 255),
    xdata: d.profiles.length > 0 ? clip(JSON.stringify({ profiles: d.profiles.map((p) => [p.profile, p.value]) }), 512) : null,
  };
}

export interface DialogStore extends DialogPersistence {
  close(): Promise<void>;
  /** writes pending (db_mode 2) now; tests. */
  flush(): Promise<void>;
  readonly failures: number;
}

class TableStore implements DialogStore {
  private readonly dirty = new Set<Dialog>();
  private readonly deleted: Array<[number, number]> = [];
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  failures = 0;

  constructor(
    private readonly cfg: DialogConfig,
    private readonly table: DialogTable,
    private readonly db: Database,
    private readonly dialogs: Table<DialogRow>,
    private readonly vars: Table<VarRow>,
    private readonly log: Logger,
    private readonly ownsDb: boolean,
  ) {
    if (cfg.db_mode === 2) {
      this.timer = setInterval(() => void this.flush(), cfg.db_update_period * 1000);
      this.timer.unref();
    }
  }

  /** Kamailio: only confirmed dialogs are stored. */
  changed(d: Dialog): void {
    if (d.state !== DlgState.CONFIRMED && d.state !== DlgState.CONFIRMED_NA) return;
    if (this.cfg.db_mode === 1) this.enqueue(() => this.write(d));
    else if (this.cfg.db_mode === 2) this.dirty.add(d);
  }

  removed(d: Dialog): void {
    this.dirty.delete(d);
    if (!d.dbStored) return;
    d.dbStored = false;
    if (this.cfg.db_mode === 1) this.enqueue(() => this.remove(d.hEntry, d.hId));
    else if (this.cfg.db_mode === 2) this.deleted.push([d.hEntry, d.hId]);
  }

  /** writes run one after the other (a dialog's insert precedes its delete). */
  private enqueue(op: () => Promise<void>): void {
    this.chain = this.chain.then(op).catch((e: unknown) => {
      this.failures++;
      this.log.warn({ code: Errors.DLG_DB.code, err: (e as Error).message }, 'dialog DB write failed [E9203]');
    });
  }

  private async write(d: Dialog): Promise<void> {
    if (!d.active) return;
    const key = { hash_entry: d.hEntry, hash_id: d.hId };
    const row = rowOf(d);
    if (!d.dbStored) {
      d.dbStored = true;
      await this.dialogs.insert(row);
    } else {
      await this.dialogs.update(key, row);
    }
    await this.vars.delete(key);
    for (const [k, v] of d.vars) await this.vars.insert({ ...key, dialog_key: k, dialog_value: v });
    d.dirty = false;
  }

  private async remove(hEntry: number, hId: number): Promise<void> {
    const key = { hash_entry: hEntry, hash_id: hId };
    await this.dialogs.delete(key);
    await this.vars.delete(key);
  }

  flush(): Promise<void> {
    const dirty = [...this.dirty];
    this.dirty.clear();
    const gone = this.deleted.splice(0);
    for (const [e, i] of gone) this.enqueue(() => this.remove(e, i));
    for (const d of dirty) this.enqueue(() => this.write(d));
    return this.chain;
  }

  async close(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    if (this.cfg.db_mode === 3) {
      // shutdown mode: the table is rewritten with the dialogs up now
      for (const d of this.table.dialogs()) if (d.state === DlgState.CONFIRMED || d.state === DlgState.CONFIRMED_NA) this.dirty.add(d);
    }
    await this.flush();
    if (this.ownsDb) await this.db.close();
  }
}

export interface OpenStoreOptions {
  dataDir: string;
  log: Logger;
  limits?: DbLimits;
  stats?: DbStatistics;
  shard?: ShardContext;
}

/** Opens the tables (created when missing), loads this shard's dialogs back, returns the store. */
export async function openDialogStore(cfg: DialogConfig, table: DialogTable, o: OpenStoreOptions): Promise<DialogStore> {
  const db = await openDatabase(cfg.db_url, { dataDir: o.dataDir, log: o.log, limits: o.limits, stats: o.stats, shard: o.shard });
  try {
    const dDef = dialogTableDef(cfg.table_name);
    const vDef = dialogVarsTableDef(cfg.vars_table_name);
    await db.ensureTable(dDef);
    await db.ensureTable(vDef);
    const dialogs = db.table<DialogRow>(dDef);
    const vars = db.table<VarRow>(vDef);
    const rows = await dialogs.all();
    const count = o.shard?.count ?? 1;
    const index = o.shard?.index ?? 0;
    let loaded = 0;
    for (const r of rows) {
      if (count > 1 && shardOfCallId(r.callid, count) !== index) continue;
      const vrows = await vars.find({ hash_entry: r.hash_entry, hash_id: r.hash_id });
      if (restore(table, r, vrows)) loaded++;
    }
    if (db_mode3(cfg)) {
      // shutdown mode: what was loaded is rewritten at the next stop; the rows go now (no duplicates then)
      for (const r of rows) if (count <= 1 || shardOfCallId(r.callid, count) === index) {
        await dialogs.delete({ hash_entry: r.hash_entry, hash_id: r.hash_id });
        await vars.delete({ hash_entry: r.hash_entry, hash_id: r.hash_id });
      }
    }
    if (loaded > 0) o.log.info({ loaded, table: cfg.table_name, location: db.location }, 'dialogs loaded from the database');
    const store = new TableStore(cfg, table, db, dialogs, vars, o.log, true);
    table.persistence = store;
    return store;
  } catch (e) {
    await db.close();
    throw e;
  }
}

function db_mode3(cfg: DialogConfig): boolean {
  return cfg.db_mode === 3;
}

/** a stored row back into the table (its timer from the stored absolute timeout). */
function restore(table: DialogTable, r: DialogRow, vrows: VarRow[]): boolean {
  const d = table.restore({
    hEntry: Number(r.hash_entry), hId: Number(r.hash_id), callId: r.callid, fromUri: r.from_uri, toUri: r.to_uri, reqUri: r.req_uri,
    caller: { tag: r.from_tag, contact: r.caller_contact, cseq: String(r.caller_cseq), routeSet: splitRoutes(r.caller_route_set), socket: r.caller_sock },
    callee: { tag: r.to_tag, contact: r.callee_contact, cseq: String(r.callee_cseq), routeSet: splitRoutes(r.callee_route_set), socket: r.callee_sock },
    state: Number(r.state), startTs: Number(r.start_time), timeoutAt: Number(r.timeout) * 1000, sflags: Number(r.sflags), iflags: Number(r.iflags),
    vars: vrows.map((v) => [v.dialog_key, v.dialog_value] as [string, string]),
    profiles: profilesOf(r.xdata),
  });
  if (d === null) return false;
  d.dbStored = !db_mode3(table.cfg);
  return true;
}

function profilesOf(xdata: string | null): Array<[string, string]> {
  if (xdata === null || xdata === '') return [];
  try {
    const v = JSON.parse(xdata) as { profiles?: unknown };
    if (!Array.isArray(v.profiles)) return [];
    return v.profiles.filter((p): p is [string, string] => Array.isArray(p) && typeof p[0] === 'string' && typeof p[1] === 'string');
  } catch {
    return [];
  }
}
