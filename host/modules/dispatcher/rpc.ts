/**
 * dispatcher.* RPC methods, with Kamailio's parameters, reply shapes and fault texts
 * (dispatcher.c dispatcher_rpc_*).
 */
import { RpcFault, type RpcMethod, type RpcValue } from '../../rpc/types.js';
import { isSiphonError } from '../../errors/registry.js';
import type { Dispatcher } from './dispatcher.js';
import { dsHash } from './hash.js';
import { parseRpcState, stateLetters } from './state.js';
import type { Destination } from './destination.js';

const PROTO_ID: Record<string, number> = { none: 0, udp: 1, tcp: 2, tls: 3, sctp: 4, ws: 5, wss: 6 };

function int(v: RpcValue | undefined): number | null {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^[+-]?[0-9]+$/.test(v.trim())) return Number.parseInt(v.trim(), 10);
  return null;
}

function str(v: RpcValue | undefined): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return null;
}

type PrintMode = 'normal' | 'short' | 'full';

function destRecord(d: Destination, idx: number, mode: PrintMode, ds: Dispatcher): Record<string, RpcValue> {
  const dest: Record<string, RpcValue> = {
    IDX: idx,
    URI: d.uri,
    FLAGS: stateLetters(d.flags),
    PRIORITY: d.priority,
    IUID: d.uid,
  };
  if (mode === 'full') {
    Object.assign(dest, {
      HOST: d.address.host,
      IPADDR: d.ips[0] ?? '',
      PORT: d.address.port,
      PROTOID: PROTO_ID[d.address.proto] ?? 0,
      DNSTIME_SEC: Math.trunc(ds.sets.loadedAt.getTime() / 1000),
      DNSTIME_USEC: (ds.sets.loadedAt.getTime() % 1000) * 1000,
      OCRATE: d.oc.ocrate,
      OCIDX: d.oc.ocidx,
      OCSEQ: d.oc.ocseq,
      OCTIME_SEC: Math.trunc(d.oc.octime / 1000),
      OCTIME_USEC: (d.oc.octime % 1000) * 1000,
    });
  }
  if ((mode !== 'short' && d.attrs.body !== null) || mode === 'full') {
    dest.ATTRS = {
      BODY: d.attrs.body,
      DUID: d.attrs.duid,
      PROBING_COUNT: d.probingCount,
      MAXLOAD: d.attrs.maxload,
      WEIGHT: d.attrs.weight,
      RWEIGHT: d.rweight,
      SOCKET: d.attrs.socket,
      SOCKNAME: d.attrs.sockname,
      PING_SOCKET: d.attrs.pingSocket,
      OBPROXY: d.attrs.obproxy,
      OCMIN: d.attrs.ocmin,
      OCMAX: d.attrs.ocmax,
    };
  }
  if (ds.cfg.ds_ping_latency_stats) {
    dest.LATENCY = {
      AVG: round3(d.latency.average),
      STD: round3(d.latency.stdev),
      EST: round3(d.latency.estimate),
      MAX: Math.trunc(d.latency.max),
      TIMEOUT: d.latency.timeout,
    };
  }
  if (ds.cfg.ds_hash_size > 0) dest.RUNTIME = { DLGLOAD: d.load };
  return dest;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** The dispatcher.list reply: {NRSETS, RECORDS: [{SET: {ID, TARGETS: [{DEST: {...}}]}}]}. */
export function listSets(ds: Dispatcher, mode: PrintMode = 'normal'): RpcValue {
  const sets = ds.sets;
  if (sets.size === 0) throw new RpcFault(500, 'No Destination Sets');
  return {
    NRSETS: sets.size,
    RECORDS: sets.ordered.map((s) => ({
      SET: { ID: s.id, TARGETS: s.dests.map((d, i) => ({ DEST: destRecord(d, i, mode, ds) })) },
    })),
  };
}

function faultFrom(e: unknown, text: string): RpcFault {
  if (isSiphonError(e) && /Ongoing reload/.test(e.message)) return new RpcFault(500, 'Ongoing reload');
  return new RpcFault(500, text);
}

export function dispatcherRpcMethods(ds: Dispatcher): RpcMethod[] {
  return [
    {
      name: 'dispatcher.list',
      help: 'Return the content of dispatcher sets',
      handler(params) {
        const m = str(params[0])?.toLowerCase();
        return listSets(ds, m === 'short' ? 'short' : m === 'full' ? 'full' : 'normal');
      },
    },
    {
      name: 'dispatcher.reload',
      help: 'Reload dispatcher destination sets',
      async handler() {
        try {
          await ds.reload();
        } catch (e) {
          throw faultFrom(e, 'Reload Failed');
        }
        return 'Ok. Dispatcher successfully reloaded.';
      },
    },
    {
      name: 'dispatcher.set_state',
      help: 'Set the state of a destination by address',
      handler: (params) => setState(ds, params, false),
    },
    {
      name: 'dispatcher.set_duid_state',
      help: 'Set the state of a destination by duid',
      handler: (params) => setState(ds, params, true),
    },
    {
      name: 'dispatcher.ping_active',
      help: 'Manage setting on/off the pinging (keepalive) of destinations',
      handler(params): RpcValue {
        const old = ds.pingActive;
        const v = int(params[0]);
        if (params.length === 0 || v === null) return { OldPingState: old };
        ds.pingActive = v ? 1 : 0;
        return { NewPingState: v, OldPingState: old };
      },
    },
    {
      name: 'dispatcher.add',
      help: 'Add a destination address in memory',
      async handler(params) {
        const group = int(params[0]);
        const dest = str(params[1]);
        if (group === null || dest === null) throw new RpcFault(500, 'Invalid Parameters');
        const flags = params.length > 2 ? int(params[2]) : 0;
        const priority = params.length > 3 ? int(params[3]) : 0;
        const attrs = params.length > 4 ? str(params[4]) : '';
        if (flags === null || priority === null || attrs === null) throw new RpcFault(500, 'Invalid Parameters');
        try {
          await ds.add(group, dest, flags, priority, attrs);
        } catch (e) {
          throw faultFrom(e, 'Adding dispatcher dst failed');
        }
        return 'Ok. Dispatcher destination added.';
      },
    },
    {
      name: 'dispatcher.remove',
      help: 'Remove a destination address from memory',
      async handler(params) {
        const group = int(params[0]);
        const dest = str(params[1]);
        if (group === null || dest === null) throw new RpcFault(500, 'Invalid Parameters');
        let n: number;
        try {
          n = await ds.remove(group, dest);
        } catch (e) {
          throw faultFrom(e, 'Removing dispatcher dst failed');
        }
        if (n === 0) throw new RpcFault(500, 'Removing dispatcher dst failed');
        return 'Ok. Dispatcher destination removed.';
      },
    },
    {
      name: 'dispatcher.hash',
      help: 'Compute the hash of the values',
      handler(params) {
        const nslots = int(params[0]);
        const v1 = str(params[1]);
        if (nslots === null || v1 === null) throw new RpcFault(500, 'Invalid Parameters');
        const v2 = params.length > 2 ? str(params[2]) : null;
        const hashid = dsHash(v1, v2 ?? undefined);
        return { hashid, slot: nslots > 0 ? hashid % nslots : 0 };
      },
    },
  ];
}

function setState(ds: Dispatcher, params: RpcValue[], byDuid: boolean): RpcValue {
  const stateText = str(params[0]);
  const group = int(params[1]);
  const key = str(params[2]);
  if (stateText === null || group === null || key === null) throw new RpcFault(500, 'Invalid Parameters');
  if (stateText.length === 0) throw new RpcFault(500, 'Invalid State Parameter');
  const state = parseRpcState(stateText);
  if (state === null) throw new RpcFault(500, 'Unknown State Value');
  if (!ds.setState(state, group, key, byDuid) && key !== 'all') throw new RpcFault(500, 'State Update Failed');
  return 'Ok. Dispatcher state updated.';
}
