/**
 * `siphon check [-c FILE] [--listen URI]... [--plugin NAME|PATH]` (like `kamailio -c`): validates the
 * config, then loads the plugin (validation, metering, capabilities, plugin_init) and releases it —
 * every member of routing.chain when there is one. Opens no socket.
 * Exit 0 when everything is fine, 1 with the error (file:line:col) otherwise.
 */
import { parseCommandArgs } from '../args.js';
import { readFile } from 'node:fs/promises';
import { createLogger } from '../../log/logger.js';
import { chainMembersFrom, pluginLimitsFrom, routingSlotOptions } from '../../server/app.js';
import { loadPlugin } from '../../wasm/runtime.js';
import { CONFIG_OPTIONS, configFromArgs, DEFAULT_CONFIG_FILE } from '../config-options.js';
import type { HostCallApi, ImportProvider } from '../../wasm/types.js';
import { MODULE_NAMESPACES } from '../../wasm/loader.js';
import { SecFilterImports } from '../../modules/secfilter/abi.js';
import { DispatcherImports } from '../../modules/dispatcher/abi.js';
import { RegistrarImports } from '../../modules/registrar/abi.js';
import { PikeImports } from '../../modules/pike/abi.js';
import { AuthImports } from '../../modules/auth/abi.js';
import { AuthDbImports } from '../../modules/auth_db/abi.js';
import { HtableImports } from '../../modules/htable/abi.js';
import { tmImportProviders } from '../../proxy/abi.js';
import { textImportProviders } from '../../textops/abi.js';
import { UacImports } from '../../modules/uac/abi.js';

// ---- module imports without the modules (additive) -----------------------------------------------

/**
 * The import providers of the modules, built around no module at all: building the function table
 * only captures the module object, which is first used when a function is called, so the names are
 * known without opening a database, a file or a socket.
 */
const MODULE_IMPORT_PROVIDERS: Readonly<Record<string, () => ImportProvider>> = {
  secfilter: () => new SecFilterImports(undefined as never),
  dispatcher: () => new DispatcherImports(undefined as never),
  registrar: () => new RegistrarImports(undefined as never),
  pike: () => new PikeImports(undefined as never),
  auth: () => new AuthImports(undefined as never),
  auth_db: () => new AuthDbImports(undefined as never),
  htable: () => new HtableImports(undefined as never),
  uac: () => new UacImports(undefined as never),
};

/** an API under which no function can do anything (names are all check reads). */
const NAME_PROBE_API: HostCallApi = {
  current: () => null,
  hook: () => 'check',
  readString: () => null,
  writeString: () => -3,
  charge: () => undefined,
};

/** Function names of every module namespace plugins may import, read without initialising a module. */
export function moduleImportNames(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [ns, make] of Object.entries(MODULE_IMPORT_PROVIDERS)) out.set(ns, Object.keys(make().functions(NAME_PROBE_API)));
  return out;
}

/**
 * Providers for `siphon check`: each module namespace with exactly its module's function names, every
 * function answering -6 UNIMPLEMENTED. The loader then refuses a misspelt module import (E4004) as a
 * running node with that module would, whether or not the module is configured.
 */
export function checkProviders(): ImportProvider[] {
  const modules = [...moduleImportNames()].map(([namespace, names]) => {
    const stub = (): number => -6;
    const fns = Object.fromEntries(names.map((n) => [n, stub]));
    return { namespace, functions: () => fns };
  });
  // tm and rr (ABI 1.1, host/proxy/abi.ts): exactly the names a node serves, each answering -6 here
  return [...modules, ...tmImportProviders(null), ...textImportProviders()];
}

/** module namespaces a plugin file imports from. */
async function moduleNamespacesOf(file: string): Promise<string[]> {
  const mod = new WebAssembly.Module(await readFile(file));
  const used = new Set(WebAssembly.Module.imports(mod).map((i) => i.module));
  return MODULE_NAMESPACES.filter((ns) => used.has(ns));
}

const USAGE = `Usage: siphon check [options]
  -c, --config FILE       config file (default ${DEFAULT_CONFIG_FILE})
  -l, --listen URI        listen address to check, repeatable
  -p, --plugin NAME|PATH  routing plugin to check instead of routing.plugin
  -h, --help              this help
`;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs('check', argv, CONFIG_OPTIONS, USAGE);
  if (typeof parsed === 'number') return parsed;
  if (parsed.positionals.length > 0) {
    process.stderr.write(`siphon check: unexpected argument '${parsed.positionals[0]}' [E1010 bad command line]\n\n${USAGE}`);
    return 2;
  }
  const { values } = parsed;
  try {
    const { config, pluginFile } = await configFromArgs(values);
    // plugin_init may log; keep that quiet unless it is a problem
    const log = createLogger({ level: 'warn', destination: process.stderr as unknown as import('pino').DestinationStream });
    // routing.chain: every member with its own config, budget and grants (docs/plugins.md "Chains")
    const members = chainMembersFrom(config);
    const targets = members ?? [{ path: pluginFile, options: routingSlotOptions(config) }];
    if (members !== null) process.stdout.write(`${config.source.file ?? '<defaults>'}: config OK; routing.chain of ${members.length} plugins\n`);
    for (const m of targets) {
      const plugin = await loadPlugin(m.path, {
        limits: { ...pluginLimitsFrom(config), ...m.options.limits },
        config: m.options.config ?? config.routing.config,
        log,
        isMyself: () => false,
        providers: checkProviders(),
        grants: m.options.grants,
      });
      const info = plugin.info;
      plugin.close();
      const caps = `capabilities ${info.capabilities?.join(', ') || 'none'}`;
      process.stdout.write(
        members === null
          ? `${config.source.file ?? '<defaults>'}: config OK; plugin ${info.name}@${info.version} (${m.path}, sha256 ${info.sha256.slice(0, 12)}) OK; ${caps}\n`
          : `  plugin ${info.name}@${info.version} (${m.path}, sha256 ${info.sha256.slice(0, 12)}) OK; ${caps}\n`,
      );
      // module imports: say which ones will answer -6 on this config
      for (const ns of await moduleNamespacesOf(info.path)) {
        const configured = Object.prototype.hasOwnProperty.call(config.modules, ns);
        process.stdout.write(
          configured
            ? `  uses module ${ns}: configured\n`
            : `  uses module ${ns}: not configured (modules.${ns} absent): its functions will return -6\n`,
        );
      }
    }
    return 0;
  } catch (e) {
    process.stderr.write(`siphon check: ${(e as Error).message}\n`);
    return 1;
  }
}
