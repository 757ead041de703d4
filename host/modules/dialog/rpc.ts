/**
 * RPC methods of the dialog module, with Kamailio's names, parameters and reply shapes (dialog.c
 * rpc_methods): dlg.list, dlg.list_ctx, dlg.dlg_list, dlg.dlg_list_ctx, dlg.end_dlg,
 * dlg.terminate_dlg, dlg.is_alive, dlg.profile_get_size, dlg.profile_list, dlg.stats_active. A dialog is a struct `h_entry, h_id,
 * ref, call-id, from_uri, to_uri, state, start_ts, init_ts, end_ts, timeout, lifetime, dflags,
 * sflags, iflags, caller{tag, contact, cseq, route_set, socket}, callee{...}, profiles[],
 * variables[]`; the *_ctx variants add `context{on, timeout{bye, route}}`. Listings are one
 * record per dialog (kamcmd prints them one after the other) and stop at RPC_MAX_DIALOGS.
 *
 * With core.workers > 1 the listings and dlg.stats_active are merged over every shard and
 * dlg.end_dlg goes to the shard owning the h_id (host/shards/merge.ts DIALOG_METHODS); profile
 * sizes are shard 0's node-wide counts.
 */
import { RpcFault, type RpcMethod, type RpcValue } from '../../rpc/types.js';
import { DlgState, Leg, type Dialog } from './dialog.js';
import type { DialogTable } from './table.js';

/** dialogs one listing carries at most (the table holds up to max_dialogs; a kamcmd reply buffer does not). */
export const RPC_MAX_DIALOGS = 10_000;

function legOf(d: Dialog, leg: Leg): RpcValue {
  const l = d.legs[leg];
  return { tag: l.tag, contact: l.contact, cseq: l.cseq, route_set: l.routeSet.join(','), socket: l.socket };
}

/** one dialog as Kamailio's internal_rpc_print_dlg prints it. */
export function dialogRecord(d: Dialog, withContext: boolean, nowMs: number): RpcValue {
  const rec: Record<string, RpcValue> = {
    h_entry: d.hEntry,
    h_id: d.hId,
    ref: 1,
    'call-id': d.callId,
    from_uri: d.fromUri,
    to_uri: d.toUri,
    state: d.state,
    start_ts: d.startTs,
    init_ts: d.initTs,
    end_ts: d.endTs,
    // Kamailio: the absolute time (s) the dialog times out at, 0 without a timer
    timeout: d.timeoutAt > 0 ? Math.floor(d.timeoutAt / 1000) : 0,
    lifetime: d.lifetime,
    dflags: d.dflags,
    sflags: d.sflags,
    iflags: d.iflags,
    caller: legOf(d, Leg.CALLER),
    callee: legOf(d, Leg.CALLEE),
    // profiles with value print as {name: value}, without as the name
    profiles: d.profiles.map((p): RpcValue => (p.value === '' ? p.profile : { [p.profile]: p.value })),
    variables: [...d.vars].map(([k, v]): RpcValue => ({ [k]: v })),
  };
  if (withContext) rec.context = { on: 1, timeout: { bye: d.timeoutBye ? 1 : 0, route: '' } };
  void nowMs;
  return rec;
}

function str(v: RpcValue | undefined): string | null {
  if (v === undefined || v === null) return null;
  return String(v);
}

function int(v: RpcValue | undefined, name: string): number {
  const n = Number(v);
  if (v === undefined || v === null || v === '' || !Number.isInteger(n) || n < 0) throw new RpcFault(500, `Invalid parameters (${name})`);
  return n;
}

function listing(table: DialogTable, withContext: boolean, filter: (d: Dialog) => boolean = () => true): RpcValue[] {
  const out: RpcValue[] = [];
  const now = Date.now();
  for (const d of table.dialogs()) {
    if (out.length >= RPC_MAX_DIALOGS) break;
    if (filter(d)) out.push(dialogRecord(d, withContext, now));
  }
  return out;
}

/** dlg.stats_active's struct (Kamailio: starting, connecting, answering, ongoing, all). */
export function statsActive(table: DialogTable): Record<string, number> {
  const s = table.perState;
  const starting = s[DlgState.UNCONFIRMED]!;
  const connecting = s[DlgState.EARLY]!;
  const answering = s[DlgState.CONFIRMED_NA]!;
  const ongoing = s[DlgState.CONFIRMED]!;
  return { starting, connecting, answering, ongoing, all: starting + connecting + answering + ongoing };
}

/**
 * The methods. `profileSize` answers dlg.profile_get_size (shard 0's node-wide counts); the
 * listings read this shard's table.
 */
export function dialogRpcMethods(table: DialogTable): RpcMethod[] {
  const profileOf = (params: RpcValue[]): [string, string | null] => {
    const name = str(params[0]);
    if (name === null || name === '') throw new RpcFault(500, 'Invalid parameters (profile)');
    const def = table.profiles.get(name);
    if (def === undefined) throw new RpcFault(404, `Profile not found: ${name}`);
    // Kamailio: a profile without value ignores the value given
    const value = def.hasValue ? str(params[1]) : null;
    return [name, value];
  };
  const one = (params: RpcValue[], withContext: boolean): RpcValue[] => {
    const callId = str(params[0]);
    if (callId === null) throw new RpcFault(500, 'Invalid parameters (callid)');
    const fromTag = str(params[1]);
    return listing(table, withContext, (d) => d.callId === callId && (fromTag === null || d.fromTag === fromTag));
  };
  /** Kamailio's callid / from_tag / to_tag lookup (either direction); 404 when none. */
  const byTags = (params: RpcValue[]): Dialog => {
    const [callId, fromTag, toTag] = [str(params[0]), str(params[1]), str(params[2])];
    if (callId === null || fromTag === null || toTag === null) throw new RpcFault(500, 'Invalid parameters (callid from_tag to_tag)');
    const d = table.find(callId, fromTag, toTag);
    if (d === null) throw new RpcFault(404, 'Dialog not found');
    return d;
  };
  return [
    { name: 'dlg.list', help: 'Print all dialogs (at most 10000)', handler: () => listing(table, false) },
    { name: 'dlg.list_ctx', help: 'Print all dialogs with associated context', handler: () => listing(table, true) },
    { name: 'dlg.dlg_list', help: 'Print dialog based on callid and fromtag', handler: (p) => one(p, false) },
    { name: 'dlg.dlg_list_ctx', help: 'Print dialog with associated context based on callid and fromtag', handler: (p) => one(p, true) },
    {
      name: 'dlg.end_dlg',
      help: 'End a given dialog based on [h_entry] [h_id] [extra_hdrs]: BYE to both sides',
      handler(params) {
        const hEntry = int(params[0], 'h_entry');
        const hId = int(params[1], 'h_id');
        const d = table.get(hEntry, hId);
        if (d === null) throw new RpcFault(404, 'Dialog not found');
        if (!table.bye(d, 3, 'rpc')) throw new RpcFault(500, 'Dialog not confirmed');
        return null;
      },
    },
    {
      name: 'dlg.terminate_dlg',
      help: 'End a confirmed dialog matched by callid from_tag to_tag: BYE to both sides',
      handler(params) {
        const d = byTags(params);
        if (!table.bye(d, 3, 'rpc')) throw new RpcFault(500, 'Dialog not confirmed');
        return null;
      },
    },
    {
      name: 'dlg.is_alive',
      help: 'Whether the dialog matched by callid from_tag to_tag is confirmed (answered): error if not',
      handler(params) {
        const d = byTags(params);
        if (d.state !== DlgState.CONFIRMED && d.state !== DlgState.CONFIRMED_NA) throw new RpcFault(500, 'Dialog not confirmed');
        return null;
      },
    },
    {
      name: 'dlg.profile_get_size',
      help: 'Returns the number of dialogs belonging to a profile [value]',
      handler(params) {
        const [name, value] = profileOf(params);
        return table.counts.size(name, value);
      },
    },
    {
      name: 'dlg.profile_list',
      help: 'Lists all the dialogs belonging to a profile [value]',
      handler(params) {
        const [name, value] = profileOf(params);
        return listing(table, false, (d) => d.profiles.some((l) => l.profile === name && (value === null || l.value === value)));
      },
    },
    {
      name: 'dlg.stats_active',
      help: 'Statistics about active dialogs: starting, connecting, answering, ongoing, all',
      handler: () => ({ active: statsActive(table) }),
    },
  ];
}
