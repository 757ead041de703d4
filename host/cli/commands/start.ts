/**
 * `siphon start [-c FILE] [--listen URI]... [--plugin NAME|PATH]`: runs the server until SIGINT or
 * SIGTERM, which close every socket, the plugin and the modules before exiting.
 */
import { parseCommandArgs } from '../args.js';
import { createLogger, flushLogs } from '../../log/logger.js';
import { startNode } from '../../server/app.js';
import { CONFIG_OPTIONS, configFromArgs, DEFAULT_CONFIG_FILE } from '../config-options.js';
import { isSiphonError } from '../../errors/registry.js';

const USAGE = `Usage: siphon start [options]
  -c, --config FILE       config file (default ${DEFAULT_CONFIG_FILE})
  -l, --listen URI        listen address, repeatable; replaces core.listen
                          (udp:127.0.0.1:5060, tcp:[::1]:5060)
  -p, --plugin NAME|PATH  routing plugin; replaces routing.plugin
  -h, --help              this help
`;

/** Exit code -1: the server is running (the process stays alive on its sockets). */
export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs('start', argv, CONFIG_OPTIONS, USAGE);
  if (typeof parsed === 'number') return parsed;
  if (parsed.positionals.length > 0) {
    process.stderr.write(`siphon start: unexpected argument '${parsed.positionals[0]}' [E1010 bad command line]\n\n${USAGE}`);
    return 2;
  }
  const { values } = parsed;
  let resolved;
  try {
    resolved = await configFromArgs(values);
  } catch (e) {
    process.stderr.write(`siphon start: ${(e as Error).message}\n`);
    return 1;
  }
  const { config, pluginFile } = resolved;
  const log = createLogger({ level: config.core.log_level, base: { pid: process.pid, node: config.core.node_id } });
  let node;
  try {
    node = await startNode(config, log, { pluginFile });
  } catch (e) {
    log.fatal({ err: (e as Error).message, code: isSiphonError(e) ? e.code : undefined }, 'siphon failed to start');
    flushLogs();
    process.stderr.write(`siphon start: ${(e as Error).message}\n`);
    return 1;
  }
  const running = node;
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      flushLogs();
      process.exit(1);
    }, 5000);
    force.unref();
    running.stop().then(
      () => {
        log.info('stopped');
        flushLogs();
        process.exit(0);
      },
      (e: unknown) => {
        log.error({ err: (e as Error).message }, 'error during shutdown');
        flushLogs();
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  return -1;
}
