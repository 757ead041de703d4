/**
 * RPC methods of the plugin manager (the control plane's `plugin.*` group). They serve kamcmd
 * (BINRPC), JSON-RPC over HTTP and `siphon rpc` / `siphon plugin deploy` alike.
 *
 *   plugin.list                 one row per live version: identity, state, counters, hook latency
 *   plugin.stats [NAME]         per plugin: backoff state, last event, every version with its counters
 *   plugin.load NAME [PATH]     validate + load PATH as the new version of NAME (PATH default: NAME's build output)
 *   plugin.reload [NAME]        load the current version's file again (after a rebuild)
 *   plugin.rollback [NAME]      back to the previous, still warm version
 *
 * Faults follow Kamailio's RPC usage: 400 bad parameters, 404 unknown plugin, 500 refused (the
 * message is the SiphonError naming the file and the reason; the running version is unchanged).
 *
 * A PATH is checked before the load is queued (plugin-path.ts): inside routing.plugin_dirs, a regular
 * file, at most routing.max_module_bytes; anything else is E4060 with one text whatever the reason,
 * so these methods cannot be used to probe the file system or to block the load queue on a FIFO.
 * plugin.reload checks the current file again the same way.
 */
import type { Logger } from 'pino';
import { isSiphonError } from '../errors/registry.js';
import { FaultCode, stringParam } from '../rpc/registry.js';
import { RpcFault, type RpcMethod, type RpcValue } from '../rpc/types.js';
import type { PluginManager, PluginSlotView, PluginVersionView, SwapResult } from './manager.js';
import { checkPluginFile, refusalReason, type PluginPathPolicy } from './plugin-path.js';
import { resolvePluginPath } from './runtime.js';

export interface PluginRpcOptions {
  /** folder a bare name or a relative PATH of plugin.load resolves against (the siphon package root). */
  rootDir: string;
  /** where plugin files may come from, and how large they may be (plugin-path.ts). */
  pathPolicy: PluginPathPolicy;
  /** gets the reason of a refused path (the caller only gets the uniform text). */
  log?: Logger;
}

function versionRow(v: PluginVersionView): { [key: string]: RpcValue } {
  return {
    name: v.name,
    version: v.version,
    sha256: v.sha256,
    path: v.path,
    loaded_at: v.loadedAt,
    state: v.state,
    routing: v.routing,
    pins: v.pins,
    calls: v.stats.calls,
    traps: v.stats.traps,
    aborts: v.stats.aborts,
    gas_exhausted: v.stats.gasExhausted,
    timeouts: v.stats.timeouts,
    instance_rebuilds: v.stats.instanceRebuilds,
    gas_used: v.stats.gasUsedTotal,
    gas_avg: v.stats.calls === 0 ? 0 : Math.round(v.stats.gasUsedTotal / v.stats.calls),
    recent_failures: v.recentFailures,
    hook_samples: v.latencyUs.samples,
    hook_avg_us: v.latencyUs.avg,
    hook_p50_us: v.latencyUs.p50,
    hook_p99_us: v.latencyUs.p99,
    hook_max_us: v.latencyUs.max,
    capabilities: [...v.capabilities],
  };
}

function slotRow(s: PluginSlotView): { [key: string]: RpcValue } {
  return {
    name: s.name,
    path: s.path,
    routing: s.routing,
    chain_index: s.chainIndex,
    backoff_ms: s.backoffMs,
    backoff_level: s.backoffLevel,
    last_event: s.lastEvent === null ? null : { at: s.lastEvent.at, kind: s.lastEvent.kind, detail: s.lastEvent.detail },
    versions: s.versions.map(versionRow),
  };
}

/** A refused swap becomes a fault; a done one a struct naming what is current now. */
export function swapReply(r: SwapResult): { [key: string]: RpcValue } {
  if (!r.ok) {
    const code = r.error.errorName === 'PLUGIN_SLOT_UNKNOWN' ? FaultCode.NOT_FOUND : FaultCode.FAILURE;
    const running = r.current ? ` (running: ${r.current.name}@${r.current.version} ${r.current.sha256.slice(0, 12)})` : '';
    throw new RpcFault(code, `${r.error.message}${running}`);
  }
  return {
    name: r.name,
    version: r.current.version,
    sha256: r.current.sha256,
    path: r.current.path,
    previous: r.previous ? `${r.previous.name}@${r.previous.version} ${r.previous.sha256.slice(0, 12)}` : null,
    duration_ms: Math.round(r.durationMs * 10) / 10,
  };
}

function optionalName(params: readonly RpcValue[], i: number): string | undefined {
  return params[i] === undefined || params[i] === null || params[i] === '' ? undefined : stringParam(params, i, 'plugin name');
}

export function pluginRpcMethods(manager: PluginManager, opts: PluginRpcOptions): RpcMethod[] {
  /** the checked real path, or a 500 fault (the running version is not touched). */
  const checked = async (file: string, given: string, name: string): Promise<string> => {
    try {
      return await checkPluginFile(file, opts.pathPolicy, given);
    } catch (e) {
      if (!isSiphonError(e)) throw e;
      opts.log?.warn({ plugin: name, path: file.slice(0, 512), code: e.code, reason: refusalReason(e) ?? e.detail }, 'plugin file refused; the running version stays');
      const cur = manager.slot(name)?.versions.find((v) => v.state === 'current');
      throw new RpcFault(FaultCode.FAILURE, `${e.message}${cur ? ` (running: ${cur.name}@${cur.version} ${cur.sha256.slice(0, 12)})` : ''}`);
    }
  };
  return [
    {
      name: 'plugin.list',
      help: 'Live plugin versions: name, version, sha256, loaded_at, state (current/previous/draining), calls, traps, gas, hook latency.',
      handler: () => manager.slotsView().flatMap((s) => s.versions.map(versionRow)),
    },
    {
      name: 'plugin.stats',
      help: 'Per plugin: crash-loop backoff, last load/rollback event and the counters of every live version. Params: [name].',
      handler: (params) => {
        const name = optionalName(params, 0);
        if (name === undefined) return manager.slotsView().map(slotRow);
        const s = manager.slot(name);
        if (!s) throw new RpcFault(FaultCode.NOT_FOUND, `no plugin named "${name}" is loaded`);
        return slotRow(s);
      },
    },
    {
      name: 'plugin.load',
      help: 'Validates and loads a new version of a plugin; it becomes current at the next message. Params: name [path].',
      handler: async (params) => {
        const name = stringParam(params, 0, 'plugin name');
        const pathParam = optionalName(params, 1);
        const given = pathParam ?? name;
        const file = await checked(resolvePluginPath(given, opts.rootDir), given, name);
        return swapReply(await manager.load(name, file));
      },
    },
    {
      name: 'plugin.reload',
      help: 'Loads the file of the current version again (after a rebuild). Params: [name].',
      handler: async (params) => {
        const name = optionalName(params, 0);
        const slot = name === undefined ? manager.slotsView().find((s) => s.routing) : manager.slot(name);
        // unknown names keep the manager's E4020 answer (404)
        if (!slot) return swapReply(await manager.reload(name));
        return swapReply(await manager.load(slot.name, await checked(slot.path, slot.path, slot.name)));
      },
    },
    {
      name: 'plugin.rollback',
      help: 'Makes the previous (still loaded) version current again. Params: [name].',
      handler: (params) => swapReply(manager.rollback(optionalName(params, 0))),
    },
  ];
}
