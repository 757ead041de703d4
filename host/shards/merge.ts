/**
 * One node's view over its shards (core.workers > 1) for the control plane: statistics groups sum
 * the worker shards' counters into shard 0's, and the RPC methods that change per-shard state run
 * in every shard. Methods that read or change shared module state stay with shard 0's modules, which
 * own that state (host/shards/context.ts).
 */
import type { StatisticsProvider } from '../rpc/core-methods.js';
import type { MethodRegistry } from '../rpc/registry.js';
import { RpcFault, type RpcValue } from '../rpc/types.js';
import type { ShardHub } from './hub.js';

/**
 * Methods that change what every shard holds for itself: its plugin instance (plugin.*), its log
 * level (corex.debug with a level). They run in shard 0 first; if that succeeds, in every worker.
 */
export const FAN_OUT_METHODS: readonly string[] = ['plugin.load', 'plugin.reload', 'plugin.rollback', 'corex.debug'];

/**
 * Methods that read what every shard holds for itself (its plugin instances' counters): shard 0's
 * answer with every worker's added (mergePluginRows), as stats.* sum the counter groups.
 */
export const MERGED_METHODS: readonly string[] = ['plugin.list', 'plugin.stats'];

/**
 * Module methods that report a shard's own counters (each shard counts what it routed): every worker
 * serves them too, and the node answers with the sums (sumCounters), as stats.get_statistics does.
 */
export const SUMMED_METHODS: readonly string[] = ['auth.stats', 'secfilter.stats'];

/**
 * Methods over state each shard holds for its own share of the calls (the dialog module: dialogs
 * live in the shard their Call-ID steers to). shard 0 answers, then every worker shard
 * (SiphonModule.shardRpcMethods), and the answers are merged: `concat` lists every shard's records,
 * `sum` adds the numbers of equal struct paths, `first` is the first shard that does not answer
 * 404 (dlg.end_dlg, dlg.terminate_dlg, dlg.is_alive: the shard holding that dialog).
 */
export const DIALOG_METHODS: Readonly<Record<string, 'concat' | 'sum' | 'first'>> = {
  'dlg.list': 'concat',
  'dlg.list_ctx': 'concat',
  'dlg.dlg_list': 'concat',
  'dlg.dlg_list_ctx': 'concat',
  'dlg.profile_list': 'concat',
  'dlg.stats_active': 'sum',
  'dlg.end_dlg': 'first',
  'dlg.terminate_dlg': 'first',
  'dlg.is_alive': 'first',
  // host/modules/acc: each shard's ring (n per shard, shard 0 first)
  'acc.cdrs': 'concat',
};

async function merged(mode: 'concat' | 'sum' | 'first', name: string, params: RpcValue[], inner: (p: RpcValue[]) => RpcValue | Promise<RpcValue>, hub: ShardHub): Promise<RpcValue> {
  if (mode === 'first') {
    try {
      return await inner(params);
    } catch (e) {
      if (!(e instanceof RpcFault) || e.faultCode !== 404) throw e;
      for (const r of await hub.gatherSettled(name, params)) if (r.status === 'fulfilled') return r.value as RpcValue;
      throw e;
    }
  }
  let out = await inner(params);
  for (const v of await hub.gather(name, params)) {
    out = mode === 'concat' ? [...(Array.isArray(out) ? out : [out]), ...(Array.isArray(v) ? v : [v])] : sumCounters(out, v);
  }
  return out;
}

/** `providers` with every group summed over the shards, plus groups only the worker shards report. */
export function shardedStatistics(providers: readonly StatisticsProvider[], hub: ShardHub): StatisticsProvider[] {
  const out: StatisticsProvider[] = providers.map((p) => ({
    name: p.name,
    statistics: () => sumGroups(p.statistics(), hub.workerGroups(p.name), HIGHEST[p.name]),
    ...(p.resetStatistics ? { resetStatistics: (names?: readonly string[]) => p.resetStatistics!(names) } : {}),
  }));
  const known = new Set(providers.map((p) => p.name));
  // a group a worker shard reports and shard 0 does not (created lazily), e.g. a module's counters
  out.push({
    name: 'shards',
    statistics: () => {
      const s: Record<string, number> = { workers: hub.count, held_dropped: hub.heldDropped, closed_dropped: hub.closedDropped };
      hub.steered.forEach((n, i) => (s[`steered_${i}`] = n));
      for (const g of hub.extraGroups(known)) for (const [k, v] of Object.entries(sumGroups({}, hub.workerGroups(g)))) s[`${g}_${k}`] = v;
      return s;
    },
  });
  return out;
}

/** gauges of a shard's state that do not add up: the node reports the highest shard's. */
const HIGHEST: Readonly<Record<string, readonly string[]>> = { overload: ['delay_ms', 'reject_share_pct'] };

function sumGroups(base: Record<string, number>, others: ReadonlyArray<Record<string, number>>, highest: readonly string[] = []): Record<string, number> {
  if (others.length === 0) return base;
  const s: Record<string, number> = { ...base };
  for (const g of others) for (const [k, v] of Object.entries(g)) s[k] = highest.includes(k) ? Math.max(s[k] ?? v, v) : (s[k] ?? 0) + v;
  return s;
}

/** Wraps the registry's methods for shards: stats.* read fresh worker counters; FAN_OUT_METHODS run in every shard. */
export function shardedRpc(registry: MethodRegistry, hub: ShardHub): void {
  for (const name of registry.list()) {
    const m = registry.get(name)!;
    const inner = m.handler.bind(m);
    if (name.startsWith('stats.')) {
      registry.unregister(name);
      registry.register({ ...m, handler: async (params: RpcValue[]) => (await hub.refreshStatistics(), inner(params)) });
    } else if (SUMMED_METHODS.includes(name)) {
      registry.unregister(name);
      registry.register({ ...m, handler: async (params: RpcValue[]) => (await hub.gather(name, params)).reduce(sumCounters, await inner(params)) });
    } else if (MERGED_METHODS.includes(name)) {
      registry.unregister(name);
      registry.register({ ...m, handler: async (params: RpcValue[]) => mergePluginRows(name, await inner(params), await hub.gather(name, params)) });
    } else if (DIALOG_METHODS[name] !== undefined) {
      const mode = DIALOG_METHODS[name]!;
      registry.unregister(name);
      registry.register({ ...m, handler: (params: RpcValue[]) => merged(mode, name, params, inner, hub) });
    } else if (FAN_OUT_METHODS.includes(name)) {
      registry.unregister(name);
      registry.register({
        ...m,
        handler: async (params: RpcValue[]) => {
          const value = await inner(params);
          // corex.debug without a level only reads it
          if (name !== 'corex.debug' || params.length > 0) await hub.fanOut(name, params);
          return value;
        },
      });
    }
  }
}

type Row = { [key: string]: RpcValue };

/** `a` with every number of `b` added at the same place (structs by key; a key only `b` has is taken as it is). */
export function sumCounters(a: RpcValue, b: RpcValue): RpcValue {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (!isRow(a) || !isRow(b)) return a;
  const out: Row = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = k in out ? sumCounters(out[k]!, v) : v;
  return out;
}

/** counters of a plugin.list / plugin.stats version row that add up over the shards. */
const SUMMED = ['pins', 'calls', 'traps', 'aborts', 'gas_exhausted', 'timeouts', 'instance_rebuilds', 'gas_used', 'recent_failures', 'hook_samples'];

const num = (v: RpcValue | undefined): number => (typeof v === 'number' ? v : 0);
const isRow = (v: RpcValue | undefined): v is Row => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * plugin.list (version rows) or plugin.stats (slot rows, or one slot): shard 0's answer with each
 * worker's rows added to the row of the same name, sha256 and state (a version only a worker still
 * holds, e.g. draining there, is listed as it is). Counters are summed and gas_avg / hook_avg_us
 * recomputed from the sums; hook_p50_us / hook_p99_us are the highest shard's (percentiles of
 * separate sample windows do not add: the figure is an upper bound); hook_max_us, backoff_ms and
 * backoff_level the highest; last_event the latest.
 */
export function mergePluginRows(method: string, shard0: RpcValue, workers: readonly RpcValue[]): RpcValue {
  if (method === 'plugin.list') return mergeVersions(shard0, workers);
  if (Array.isArray(shard0)) {
    // every slot, by name
    const slots = shard0.filter(isRow).map((s) => ({ ...s }));
    for (const w of workers) {
      for (const ws of Array.isArray(w) ? w.filter(isRow) : []) {
        const s = slots.find((x) => x.name === ws.name);
        if (s === undefined) slots.push({ ...ws });
        else Object.assign(s, mergeSlot(s, ws));
      }
    }
    return slots;
  }
  if (!isRow(shard0)) return shard0;
  let slot: Row = { ...shard0 };
  for (const w of workers) if (isRow(w) && w.name === slot.name) slot = mergeSlot(slot, w);
  return slot;
}

function mergeSlot(a: Row, b: Row): Row {
  const ea = isRow(a.last_event) ? a.last_event : null;
  const eb = isRow(b.last_event) ? b.last_event : null;
  return {
    ...a,
    backoff_ms: Math.max(num(a.backoff_ms), num(b.backoff_ms)),
    backoff_level: Math.max(num(a.backoff_level), num(b.backoff_level)),
    last_event: ea === null || (eb !== null && String(eb.at) > String(ea.at)) ? eb : ea,
    versions: mergeVersions(a.versions ?? [], [b.versions ?? []]),
  };
}

function mergeVersions(base: RpcValue, others: readonly RpcValue[]): Row[] {
  const rows = (Array.isArray(base) ? base.filter(isRow) : []).map((r) => ({ ...r }));
  const key = (r: Row): string => `${String(r.name)}\0${String(r.sha256)}\0${String(r.state)}`;
  for (const o of others) {
    for (const r of Array.isArray(o) ? o.filter(isRow) : []) {
      const into = rows.find((x) => key(x) === key(r));
      if (into === undefined) {
        rows.push({ ...r });
        continue;
      }
      const samplesA = num(into.hook_samples);
      const samplesB = num(r.hook_samples);
      const avg = samplesA + samplesB === 0 ? 0 : (num(into.hook_avg_us) * samplesA + num(r.hook_avg_us) * samplesB) / (samplesA + samplesB);
      for (const k of SUMMED) if (k in into || k in r) into[k] = num(into[k]) + num(r[k]);
      into.gas_avg = num(into.calls) === 0 ? 0 : Math.round(num(into.gas_used) / num(into.calls));
      into.hook_avg_us = Math.round(avg * 10) / 10;
      for (const k of ['hook_p50_us', 'hook_p99_us', 'hook_max_us']) into[k] = Math.max(num(into[k]), num(r[k]));
    }
  }
  return rows;
}
