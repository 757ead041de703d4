/**
 * Wires one siphon node from a validated config: modules → routing plugin → pipeline → transports.
 * No logic of its own; `siphon start`, `siphon check` and the integration tests all go through here.
 */
import type { Logger } from 'pino';
import type { SiphonConfig } from '../config/types.js';
import type { SiphonModule } from '../modules/types.js';
import type { ImportProvider, LoadedPlugin } from '../wasm/types.js';
import { loadPlugin, resolvePluginPath } from '../wasm/runtime.js';
import { MODULE_FACTORIES } from './modules.js';
import { PACKAGE_ROOT } from './version.js';
import { SiphonServer } from './server.js';

/**
 * The plugin file `routing.plugin` names: a bare name is `plugins/<name>/build/<name>.wasm` of the
 * siphon package; a path is relative to the config file's folder (or the working directory for
 * `--plugin` given on the command line, see cli/commands/start.ts).
 */
export function pluginFile(config: SiphonConfig, baseDir = config.source.dir): string {
  const p = config.routing.plugin;
  return resolvePluginPath(p, /^[A-Za-z0-9_.-]+$/.test(p) && !p.endsWith('.wasm') ? PACKAGE_ROOT : baseDir);
}

/** Initialises the modules that have a section in `modules`. */
export async function initModules(config: SiphonConfig, log: Logger): Promise<SiphonModule[]> {
  const started: SiphonModule[] = [];
  try {
    for (const [name, section] of Object.entries(config.modules)) {
      const make = MODULE_FACTORIES[name];
      if (!make) continue; // unreachable: the config schema refuses unknown modules
      const mod = make();
      await mod.init({ config: section, dataDir: config.core.data_dir, log });
      started.push(mod);
    }
  } catch (e) {
    await closeModules(started, log);
    throw e;
  }
  return started;
}

export async function closeModules(modules: readonly SiphonModule[], log: Logger): Promise<void> {
  for (const m of [...modules].reverse()) {
    try {
      await m.close();
    } catch (e) {
      log.warn({ module: m.name, err: (e as Error).message }, 'module close failed');
    }
  }
}

export function loadRoutingPlugin(
  config: SiphonConfig,
  log: Logger,
  opts: { file?: string; isMyself?: (host: string, port: number | undefined) => boolean; providers?: readonly ImportProvider[] } = {},
): Promise<LoadedPlugin> {
  return loadPlugin(opts.file ?? pluginFile(config), {
    limits: { memoryMaxPages: config.routing.memory_max_pages, gasPerHook: config.routing.gas_per_hook },
    config: config.routing.config,
    log,
    isMyself: opts.isMyself,
    providers: opts.providers,
  });
}

export interface SiphonNode {
  readonly config: SiphonConfig;
  readonly server: SiphonServer;
  readonly plugin: LoadedPlugin;
  readonly modules: readonly SiphonModule[];
  /** closes sockets, the plugin and the modules. */
  stop(): Promise<void>;
}

/** Starts a node: modules, plugin (with their imports), then the listen sockets. */
export async function startNode(config: SiphonConfig, log: Logger, opts: { pluginFile?: string } = {}): Promise<SiphonNode> {
  const modules = await initModules(config, log);
  let plugin: LoadedPlugin | null = null;
  const server = new SiphonServer({ config, log, router: null });
  try {
    plugin = await loadRoutingPlugin(config, log, {
      file: opts.pluginFile,
      isMyself: server.isMyself,
      providers: modules.flatMap((m) => m.imports()),
    });
    server.setRouter(plugin);
    await server.start();
  } catch (e) {
    await server.stop();
    plugin?.close();
    await closeModules(modules, log);
    throw e;
  }
  const loaded = plugin;
  log.info({ plugin: `${loaded.info.name}@${loaded.info.version}`, listen: config.core.listen }, 'siphon started');
  let stopping: Promise<void> | null = null;
  return {
    config,
    server,
    plugin: loaded,
    modules,
    stop: () =>
      (stopping ??= (async () => {
        await server.stop();
        loaded.close();
        await closeModules(modules, log);
      })()),
  };
}
