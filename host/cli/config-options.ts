/**
 * Command-line options shared by `start` and `check`: which config file, and the overrides
 * `--listen URI` (repeatable; replaces core.listen) and `--plugin NAME|PATH` (replaces routing.plugin).
 */
import path from 'node:path';
import { loadConfig } from '../config/load.js';
import type { SiphonConfig } from '../config/types.js';
import { moduleSchemas } from '../server/modules.js';
import { parseListenUri } from '../transport/listen-uri.js';
import { resolvePluginPath } from '../wasm/runtime.js';
import { pluginFile } from '../server/app.js';

export const DEFAULT_CONFIG_FILE = 'config/siphon.yaml';

export const CONFIG_OPTIONS = {
  config: { type: 'string', short: 'c' },
  listen: { type: 'string', short: 'l', multiple: true },
  plugin: { type: 'string', short: 'p' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ConfigArgs {
  config?: string;
  listen?: string[];
  plugin?: string;
}

export interface ResolvedRun {
  config: SiphonConfig;
  /** the plugin file to load. */
  pluginFile: string;
}

/** Loads the config named on the command line and applies the overrides. Throws SiphonError. */
export async function configFromArgs(args: ConfigArgs): Promise<ResolvedRun> {
  const config = await loadConfig(args.config ?? DEFAULT_CONFIG_FILE, { moduleSchemas: moduleSchemas() });
  if (args.listen !== undefined && args.listen.length > 0) {
    config.core.listen = [...args.listen];
    config.core.listenAddresses = args.listen.map((uri) => parseListenUri(uri, 'command line --listen'));
    delete config.core.listenSkipped;
  }
  let file: string;
  if (args.plugin !== undefined) {
    config.routing.plugin = args.plugin;
    // the command line's plugin replaces the routing, a routing.chain included
    delete config.routing.chain;
    // a path given on the command line is relative to the working directory
    const bare = /^[A-Za-z0-9_.-]+$/.test(args.plugin) && !args.plugin.endsWith('.wasm');
    file = bare ? pluginFile(config) : resolvePluginPath(args.plugin, process.cwd());
  } else {
    file = pluginFile(config);
  }
  return { config, pluginFile: path.resolve(file) };
}
