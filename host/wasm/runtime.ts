/**
 * The runtime's entry points for the server: resolve a plugin name to its file and load it.
 *
 *   const plugin = await loadPlugin(resolvePluginPath('hello', rootDir), { log, config, isMyself });
 *   const action = plugin.requestRoute(ctx);
 */
import { isAbsolute, join, resolve } from 'node:path';
import type { RoutingConfig } from '../config/types.js';
import { loadAndValidate, withUnconfiguredModules } from './loader.js';
import { WasmPlugin } from './plugin.js';
import { DEFAULT_PLUGIN_LIMITS, type LoadPluginOptions, type LoadedPlugin, type PluginLimits } from './types.js';

/** Kamailio maxfwd's default max_limit (70: Kamailio 5.6 forwards Max-Forwards 87 as 70, test/oracle/sl-sanity.test.ts). */
export const DEFAULT_MAX_FORWARDS_LIMIT = 70;

/**
 * A bare name (`hello`) means the SDK build output `plugins/hello/build/hello.wasm` under
 * `rootDir`; anything with a path separator or a `.wasm` suffix is a path (relative to rootDir).
 */
export function resolvePluginPath(nameOrPath: string, rootDir: string): string {
  if (/^[A-Za-z0-9_.-]+$/.test(nameOrPath) && !nameOrPath.endsWith('.wasm')) {
    return join(resolve(rootDir), 'plugins', nameOrPath, 'build', `${nameOrPath}.wasm`);
  }
  return isAbsolute(nameOrPath) ? nameOrPath : resolve(rootDir, nameOrPath);
}

/** routing.gas_per_hook, memory_max_pages, max_module_bytes and routing.limits (snake_case keys) as PluginLimits overrides. */
export function limitsFromConfig(routing: RoutingConfig): Partial<PluginLimits> {
  const out: Partial<PluginLimits> = { memoryMaxPages: routing.memory_max_pages, gasPerHook: routing.gas_per_hook, moduleMaxBytes: routing.max_module_bytes };
  for (const [k, v] of Object.entries(routing.limits ?? {})) {
    const key = k.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()) as keyof PluginLimits;
    if (key in DEFAULT_PLUGIN_LIMITS) out[key] = v;
  }
  return out;
}

/** limits with defaults applied, validated. */
export function effectiveLimits(partial?: Partial<PluginLimits>): PluginLimits {
  const l: PluginLimits = { ...DEFAULT_PLUGIN_LIMITS };
  // keys present but undefined (an unset config value) keep their default
  for (const k of Object.keys(l) as Array<keyof PluginLimits>) {
    const v = partial?.[k];
    if (v !== undefined && v !== null) l[k] = v;
  }
  for (const [k, v] of Object.entries(l)) {
    if (!Number.isInteger(v) || v <= 0) throw new RangeError(`plugin limit ${k} must be a positive integer, got ${v}`);
  }
  if (l.memoryMaxPages > 65536) throw new RangeError('plugin limit memoryMaxPages must be at most 65536');
  if (l.gasPerHook > 0x7fffffff || l.gasInit > 0x7fffffff) throw new RangeError('gas budgets must fit in an i32');
  return l;
}

/**
 * Loads, validates, meters, compiles and instantiates a plugin (start + plugin_init run here).
 * Rejects with a SiphonError E4xxx naming the file and the reason.
 */
export async function loadPlugin(path: string, options: LoadPluginOptions): Promise<LoadedPlugin> {
  const limits = effectiveLimits(options.limits);
  // known module namespaces without their module link to -6 stubs (loader.ts withUnconfiguredModules)
  const providers = withUnconfiguredModules(options.providers ?? []);
  const validated = await loadAndValidate(path, limits, providers, options.grants);
  const config = Buffer.from(options.config === undefined ? '' : JSON.stringify(options.config), 'utf8');
  return WasmPlugin.create(validated, {
    limits,
    log: options.log,
    config,
    isMyself: options.isMyself,
    providers,
    maxForwardsLimit: options.maxForwardsLimit ?? DEFAULT_MAX_FORWARDS_LIMIT,
  });
}
