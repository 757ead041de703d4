/**
 * Kamailio acc's extra columns (`db_extra`, `log_extra`, `cdr_extra`: "col=$pv;col=$pv"): each pair
 * is compiled once at start (host/core/pv.ts) and evaluated on the dialog's request when the
 * record is made, so the hot path parses nothing.
 */
import type { MessageContext } from '../../core/context.js';
import { compilePv, evalSpec, type PvSpec } from '../../core/pv.js';
import type { DialogEvent } from '../dialog/index.js';
import { MAX_EXTRA, MAX_EXTRA_VALUE } from './config.js';

export interface ExtraDef {
  column: string;
  /** the compiled variable; for `$dlg_var(name)` also its name (events take it from their snapshot). */
  spec: PvSpec | null;
  dlgVar: string | null;
}

const COLUMN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const DLG_VAR = /^\$dlg_var\(([^)]{1,128})\)$/;

/** "src_user=$fU;dst_user=$tU" → definitions; throws on a bad pair (a config error, at start). */
export function parseExtras(text: string): ExtraDef[] {
  const out: ExtraDef[] = [];
  for (const part of text.split(';')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    const column = eq > 0 ? p.slice(0, eq).trim() : '';
    const pv = eq > 0 ? p.slice(eq + 1).trim() : '';
    if (!COLUMN.test(column)) throw new Error(`acc extra "${p}": bad column name`);
    const dv = DLG_VAR.exec(pv);
    if (dv) {
      // the event path reads the snapshot; acc_db_request reads the routed message's dialog
      out.push({ column, spec: compilePv(pv), dlgVar: dv[1]! });
    } else {
      const spec = compilePv(pv);
      if (spec === null) throw new Error(`acc extra "${p}": unknown pseudo-variable`);
      out.push({ column, spec, dlgVar: null });
    }
    if (out.length > MAX_EXTRA) throw new Error(`acc extra: more than ${MAX_EXTRA} pairs`);
  }
  return out;
}

/**
 * The values of `defs` for an event: variables of the message behind it (read now, the message is
 * not kept), `$dlg_var` from the snapshot. A missing value is "" (Kamailio writes NULL/empty).
 */
export function evalExtras(defs: readonly ExtraDef[], e: DialogEvent): Record<string, string> {
  const out: Record<string, string> = {};
  if (defs.length === 0) return out;
  const view = e.message ? messageView(e) : null;
  for (const d of defs) {
    let v: string | null = null;
    if (d.dlgVar !== null) v = e.vars[d.dlgVar] ?? null;
    else if (d.spec !== null) v = evalSpec(d.spec, view);
    out[d.column] = v === null ? '' : v.length > MAX_EXTRA_VALUE ? v.slice(0, MAX_EXTRA_VALUE) : v;
  }
  return out;
}

/** the values of `defs` on a message being routed (acc_db_request): `$dlg_var` from its dialog, if any. */
export function evalExtrasOn(defs: readonly ExtraDef[], ctx: MessageContext): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of defs) {
    const v = d.spec !== null ? evalSpec(d.spec, ctx) : null;
    out[d.column] = v === null ? '' : v.length > MAX_EXTRA_VALUE ? v.slice(0, MAX_EXTRA_VALUE) : v;
  }
  return out;
}

const NO_VARS: Map<string, string> = new Map();
const NO_SOURCE = { address: '', port: 0, proto: 'udp', family: 4 } as const;

/**
 * What evalSpec reads of a routing context, for a message outside routing: the message, where it
 * came from (the event's source), no script variables, no destination URI.
 */
function messageView(e: DialogEvent): MessageContext {
  const source = e.source ?? NO_SOURCE;
  return { id: 0, msg: e.message!, source, local: source, dstUri: null, vars: NO_VARS, replied: true } as unknown as MessageContext;
}
