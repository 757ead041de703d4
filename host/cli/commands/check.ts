/**
 * `siphon check [-c FILE] [--listen URI]... [--plugin NAME|PATH]` (like `kamailio -c`): validates the
 * config, then loads the plugin (validation, metering, plugin_init) and releases it. Opens no socket.
 * Exit 0 when everything is fine, 1 with the error (file:line:col) otherwise.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../../log/logger.js';
import { loadRoutingPlugin } from '../../core/app.js';
import { CONFIG_OPTIONS, configFromArgs, DEFAULT_CONFIG_FILE } from '../config-options.js';

const USAGE = `Usage: siphon check [options]
  -c, --config FILE       config file (default ${DEFAULT_CONFIG_FILE})
  -l, --listen URI        listen address to check, repeatable
  -p, --plugin NAME|PATH  routing plugin to check instead of routing.plugin
  -h, --help              this help
`;

export async function run(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: CONFIG_OPTIONS, allowPositionals: false, strict: true }));
  } catch (e) {
    process.stderr.write(`siphon check: ${(e as Error).message} [E1010 bad command line]\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    const { config, pluginFile } = await configFromArgs(values);
    // plugin_init may log; keep that quiet unless it is a problem
    const log = createLogger({ level: 'warn', destination: process.stderr as unknown as import('pino').DestinationStream });
    const plugin = await loadRoutingPlugin(config, log, { file: pluginFile, isMyself: () => false });
    const info = plugin.info;
    plugin.close();
    process.stdout.write(
      `${config.source.file ?? '<defaults>'}: config OK; plugin ${info.name}@${info.version} (${pluginFile}, sha256 ${info.sha256.slice(0, 12)}) OK\n`,
    );
    return 0;
  } catch (e) {
    process.stderr.write(`siphon check: ${(e as Error).message}\n`);
    return 1;
  }
}
