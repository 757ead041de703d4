/**
 * Plugin imports, namespace `dialog` (Kamailio dialog's functions, same names and return codes;
 * README.md "Functions for plugins", docs/abi/v1.md "Module namespace dialog"):
 *
 *   dlg_manage()                          1 the request belongs to a dialog now (an initial INVITE
 *                                         creates it; an in-dialog request was matched), -1 not,
 *                                         -5 table full (max_dialogs: answer 503)
 *   is_in_dlg() / is_known_dlg()          1 the message belongs to a tracked dialog, -1 not
 *   set_dlg_profile(p, v)                 1, -1 no dialog / unknown profile, -5 max_profiles_per_dialog
 *   unset_dlg_profile(p, v)               1, -1
 *   is_in_profile(p, v)                   1, -1
 *   get_profile_size(p, v)                the count (>= 0), -1 unknown profile; needs no dialog
 *   dlg_setflag / dlg_resetflag(f)        1, -1 (no dialog, flag outside 0..31)
 *   dlg_isflagset(f)                      1, -1
 *   dlg_bye(side)                         1 BYE sent (1 caller, 2 callee, 3 both) and the dialog
 *                                         ended, -1 no confirmed dialog
 *   dlg_set_timeout(s)                    1, -1
 *   dlg_get(name, out, cap)               `$dlg(name)` (snprintf rule), -1 no dialog / unknown name
 *   dlg_var_get(name, out, cap)           `$dlg_var(name)`, -1 absent
 *   dlg_var_set(name, value)              1, -1 no dialog, -5 max_vars / value over 512 bytes;
 *                                         vl = -1 deletes
 *   dlg_ctx_get(name) / dlg_ctx_set(name, v)  `$dlg_ctx(name)`: timeout_bye, timeout, flags, on, set
 *
 * A value (p, v) with vl 0 means "no value". Host statuses: -3 string outside memory, -4 no
 * message in this hook. Gas: the 20 of every import call, plus 10 per call and the reads/writes.
 */
import type { MessageContext } from '../../core/context.js';
import type { HostCallApi, ImportProvider } from '../../wasm/types.js';
import { MAX_PROFILE_VALUE, MAX_VAR_NAME, MAX_VAR_VALUE } from './config.js';
import { DlgState, type Dialog } from './dialog.js';
import { dlgField } from './pv.js';
import { DLG_FAIL, DLG_LIMIT, DLG_OK, type DialogTable } from './table.js';
import type { CellObserver } from '../../proxy/cell.js';

const INVALID_MEMORY = -3;
const NOT_ALLOWED = -4;
const INTERNAL = -7;
const GAS = 10;
/** profile names are configured (64 characters at most, config.ts). */
const MAX_PROFILE_NAME = 64;

/** how dlg_manage binds a dialog to the request's transaction (ProxyCore.observe). */
export type ObserveFn = (ctx: MessageContext, o: CellObserver) => void;

export class DialogImports implements ImportProvider {
  readonly namespace = 'dialog';

  constructor(
    private readonly table: DialogTable,
    /** set when the module is wired to a server (wireDialog); without it dlg_manage answers -7. */
    private readonly observe: () => ObserveFn | null,
  ) {}

  functions(api: HostCallApi): Record<string, (...args: never[]) => number> {
    const t = this.table;
    /** the dialog of the running message; a status when there is none. */
    const current = (): Dialog | number => {
      api.charge(GAS);
      const ctx = api.current();
      if (!ctx) return NOT_ALLOWED;
      return t.dialogOf(ctx) ?? DLG_FAIL;
    };
    /** reads (p, l) with a bound; null outside memory or over the bound. */
    const read = (p: number, l: number, max: number): string | null => (l < 0 || l > max ? null : api.readString(p, l));
    /** profile name and optional value. */
    const profileArgs = (pp: number, pl: number, vp: number, vl: number): [string, string | null] | number => {
      const name = read(pp, pl, MAX_PROFILE_NAME);
      if (name === null) return pl > MAX_PROFILE_NAME ? DLG_FAIL : INVALID_MEMORY;
      if (vl === 0) return [name, null];
      const value = read(vp, vl, MAX_PROFILE_VALUE);
      if (value === null) return vl > MAX_PROFILE_VALUE ? DLG_FAIL : INVALID_MEMORY;
      return [name, value];
    };
    const withProfile = (pp: number, pl: number, vp: number, vl: number, f: (d: Dialog, name: string, value: string | null) => number): number => {
      const d = current();
      if (typeof d === 'number') return d;
      const a = profileArgs(pp, pl, vp, vl);
      return typeof a === 'number' ? a : f(d, a[0], a[1]);
    };
    const flag = (f: number, op: (d: Dialog, bit: number) => number): number => {
      const d = current();
      if (typeof d === 'number') return d;
      if (!Number.isInteger(f) || f < 0 || f > 31) return DLG_FAIL;
      return op(d, (1 << f) >>> 0);
    };

    return {
      dlg_manage: () => {
        api.charge(GAS);
        const ctx = api.current();
        if (!ctx) return NOT_ALLOWED;
        if (ctx.msg.kind !== 'request') return DLG_FAIL;
        if (t.dialogOf(ctx) !== null) return DLG_OK; // in-dialog (matched before routing) or a second call
        if (ctx.msg.to?.tag !== undefined) return DLG_FAIL; // an in-dialog request of no dialog we know
        const observe = this.observe();
        if (observe === null) return INTERNAL;
        const r = t.create(ctx, observe);
        return typeof r === 'number' ? r : DLG_OK;
      },
      is_in_dlg: () => {
        const d = current();
        return typeof d === 'number' ? d : DLG_OK;
      },
      is_known_dlg: () => {
        const d = current();
        return typeof d === 'number' ? d : DLG_OK;
      },
      set_dlg_profile: ((pp: number, pl: number, vp: number, vl: number) => withProfile(pp, pl, vp, vl, (d, n, v) => t.setProfile(d, n, v))) as never,
      unset_dlg_profile: ((pp: number, pl: number, vp: number, vl: number) => withProfile(pp, pl, vp, vl, (d, n, v) => t.unsetProfile(d, n, v))) as never,
      is_in_profile: ((pp: number, pl: number, vp: number, vl: number) => withProfile(pp, pl, vp, vl, (d, n, v) => t.inProfile(d, n, v))) as never,
      get_profile_size: ((pp: number, pl: number, vp: number, vl: number) => {
        api.charge(GAS);
        const a = profileArgs(pp, pl, vp, vl);
        return typeof a === 'number' ? a : t.counts.size(a[0], a[1]);
      }) as never,
      dlg_setflag: ((f: number) => flag(f, (d, bit) => ((d.sflags = (d.sflags | bit) >>> 0), DLG_OK))) as never,
      dlg_resetflag: ((f: number) => flag(f, (d, bit) => ((d.sflags = (d.sflags & ~bit) >>> 0), DLG_OK))) as never,
      dlg_isflagset: ((f: number) => flag(f, (d, bit) => ((d.sflags & bit) !== 0 ? DLG_OK : DLG_FAIL))) as never,
      dlg_bye: ((side: number) => {
        const d = current();
        if (typeof d === 'number') return d;
        if (side < 1 || side > 3) return DLG_FAIL;
        return t.bye(d, side, 'dlg_bye') ? DLG_OK : DLG_FAIL;
      }) as never,
      dlg_set_timeout: ((s: number) => {
        const d = current();
        if (typeof d === 'number') return d;
        if (!Number.isInteger(s) || s < 1) return DLG_FAIL;
        t.setTimeout(d, s);
        return DLG_OK;
      }) as never,
      dlg_get: ((np: number, nl: number, out: number, cap: number) => {
        const d = current();
        if (typeof d === 'number') return d;
        const name = read(np, nl, 32);
        if (name === null) return nl > 32 ? DLG_FAIL : INVALID_MEMORY;
        const v = dlgField(d, name, Date.now());
        return v === null ? DLG_FAIL : api.writeString(out, cap, v);
      }) as never,
      dlg_var_get: ((np: number, nl: number, out: number, cap: number) => {
        const d = current();
        if (typeof d === 'number') return d;
        const name = read(np, nl, MAX_VAR_NAME);
        if (name === null) return nl > MAX_VAR_NAME ? DLG_FAIL : INVALID_MEMORY;
        const v = d.vars.get(name);
        return v === undefined ? DLG_FAIL : api.writeString(out, cap, v);
      }) as never,
      dlg_var_set: ((np: number, nl: number, vp: number, vl: number) => {
        const d = current();
        if (typeof d === 'number') return d;
        const name = read(np, nl, MAX_VAR_NAME);
        if (name === null) return nl > MAX_VAR_NAME ? DLG_LIMIT : INVALID_MEMORY;
        if (vl === -1) return t.setVar(d, name, null);
        if (vl > MAX_VAR_VALUE) return DLG_LIMIT;
        const value = read(vp, vl, MAX_VAR_VALUE);
        if (value === null) return INVALID_MEMORY;
        return t.setVar(d, name, value);
      }) as never,
      dlg_ctx_get: ((np: number, nl: number) => {
        const d = current();
        if (typeof d === 'number') return d;
        const name = read(np, nl, 32);
        if (name === null) return INVALID_MEMORY;
        switch (name) {
          case 'timeout_bye':
            return d.timeoutBye ? 1 : 0;
          case 'timeout':
            return d.lifetime;
          case 'flags':
            return d.sflags | 0;
          case 'on':
          case 'set':
            return 1;
          case 'state':
            return d.state;
          default:
            return DLG_FAIL;
        }
      }) as never,
      dlg_ctx_set: ((np: number, nl: number, v: number) => {
        const d = current();
        if (typeof d === 'number') return d;
        const name = read(np, nl, 32);
        if (name === null) return INVALID_MEMORY;
        switch (name) {
          case 'timeout_bye':
            d.timeoutBye = v !== 0;
            return DLG_OK;
          case 'timeout':
            if (!Number.isInteger(v) || v < 1) return DLG_FAIL;
            t.setTimeout(d, v);
            return DLG_OK;
          case 'flags':
            d.sflags = v >>> 0;
            return DLG_OK;
          default:
            return DLG_FAIL;
        }
      }) as never,
    };
  }
}

/** whether a dialog is past its INVITE (for $DLG_status-like checks). */
export function isConfirmed(d: Dialog): boolean {
  return d.state === DlgState.CONFIRMED || d.state === DlgState.CONFIRMED_NA;
}
