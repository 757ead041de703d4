/**
 * The operator console's entry (README.md): builds it from `core.http.console` for a node's control
 * HTTP listener. Absent section: null, and the listener serves no /console path at all.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { SiphonConfig } from '../config/types.js';
import { PACKAGE_ROOT } from '../core/version.js';
import type { RpcRegistry } from '../rpc/types.js';
import { resolveConsoleConfig } from './config.js';
import { OperatorConsole } from './console.js';
import { startHep } from './hep.js';

export { OperatorConsole } from './console.js';

/** the UI's folder (committed as source, served as is: no build step). */
export const UI_DIR = path.join(PACKAGE_ROOT, 'host', 'console', 'ui');

/** default passwd file: <data_dir>/console.passwd. */
export function consolePasswdFile(config: SiphonConfig): string {
  const c = config.core.http?.console;
  return c?.passwd_file !== undefined ? path.resolve(config.source.dir, c.passwd_file) : path.join(config.core.data_dir, 'console.passwd');
}

export async function consoleFromConfig(config: SiphonConfig, registry: RpcRegistry, log: Logger, pluginDirs: readonly string[]): Promise<OperatorConsole | null> {
  const c = config.core.http?.console;
  if (c === undefined) return null;
  const cfg = resolveConsoleConfig(c, consolePasswdFile(config));
  const con = new OperatorConsole({ config: cfg, registry, uiDir: UI_DIR, pluginDirs, log });
  const hep = cfg.hep ? await startHep(cfg.hep, log) : null;
  con.start(hep);
  log.info({ passwd: cfg.passwdFile, hep: cfg.hep?.address }, 'operator console on /console');
  return con;
}
