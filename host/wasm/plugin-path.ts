/**
 * Which files `plugin.load` / `plugin.reload` may read: the path policy at the RPC entry, in the spirit
 * of Kamailio's `mpath` (loadmodule finds modules only in the configured module folders).
 *
 *   - only inside the plugin directories (config `routing.plugin_dirs`; default the package's
 *     `plugins/` folder) and the folder of the configured `routing.plugin`;
 *   - `..` is resolved lexically first: a path that is not under a plugin directory by its text is
 *     refused without touching the file system (so nothing about files elsewhere can be learned, not
 *     even from timing);
 *   - then realpath(): a symlink inside a plugin directory that leads out of it is refused;
 *   - regular files only, opened without blocking (core/regular-file.ts: a FIFO or a device is refused
 *     before it is opened), at most `routing.max_module_bytes` (checked before a byte is read; the
 *     loader applies its own load-time limits after);
 *   - one refusal text for every reason (missing, outside, symlink escape, FIFO, device, unreadable),
 *     so a caller learns nothing about files outside the directories; the server log gets the reason.
 *
 * Residual: the loader reads the file again by its (resolved) path after this check. Swapping the file
 * in between takes write access to a plugin directory, which already allows loading any plugin.
 */
import { realpath } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { FileRefusal, readRegularFile } from '../core/regular-file.js';
import { SiphonError } from '../errors/registry.js';

/** The pre-read size bound of a plugin file (the built plugins are 8-30 KB). */
export const DEFAULT_MAX_MODULE_BYTES = 8 * 1024 * 1024;

export interface PluginPathPolicy {
  /** absolute folders plugin files may come from. */
  readonly dirs: readonly string[];
  /** largest plugin file, bytes. */
  readonly maxBytes: number;
}

/** The default plugin directories: the package's plugins/ and the configured plugin's folder. */
export function pluginPathPolicy(opts: { dirs?: readonly string[] | null; packageRoot: string; configuredPlugin?: string | null; also?: readonly string[]; maxBytes?: number | null }): PluginPathPolicy {
  const dirs = [...(opts.dirs ?? [join(opts.packageRoot, 'plugins')])].map((d) => resolve(d));
  // the started plugin's folder, and those of the routing.chain members
  for (const f of [opts.configuredPlugin, ...(opts.also ?? [])]) if (f) dirs.push(dirname(resolve(f)));
  return { dirs: [...new Set(dirs)], maxBytes: opts.maxBytes ?? DEFAULT_MAX_MODULE_BYTES };
}

function inside(path: string, dir: string): boolean {
  return path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** A refusal as the caller sees it: the same sentence whatever the reason. */
function refused(given: string, reason: string): SiphonError {
  const shown = given.length > 256 ? `${given.slice(0, 256)}...` : given;
  const e = new SiphonError('PLUGIN_PATH_REFUSED', `"${shown}" is not a regular file inside the plugin directories (routing.plugin_dirs)`);
  (e as SiphonError & { reason?: string }).reason = reason;
  return e;
}

/** The reason behind a PLUGIN_PATH_REFUSED, for the server log only. */
export function refusalReason(e: unknown): string | undefined {
  return (e as { reason?: string } | null)?.reason;
}

/**
 * Checks `file` (absolute, as resolvePluginPath made it) against the policy and returns its real path,
 * which the loader must then read. Throws SiphonError E4060 (refused) or E4061 (too large).
 */
export async function checkPluginFile(file: string, policy: PluginPathPolicy, given: string = file): Promise<string> {
  if (file.includes('\0')) throw refused(given, 'NUL byte in the path');
  const abs = resolve(file);
  // real forms of the directories (a directory may itself be a symlink, e.g. /opt/siphon/current)
  const realDirs: string[] = [];
  for (const d of policy.dirs) {
    try {
      realDirs.push(await realpath(d));
    } catch {
      // a plugin directory that does not exist (yet) allows nothing
    }
  }
  if (!policy.dirs.some((d) => inside(abs, d)) && !realDirs.some((d) => inside(abs, d))) {
    throw refused(given, `outside the plugin directories (${policy.dirs.join(', ')})`);
  }
  let real: string;
  try {
    real = await realpath(abs);
  } catch (e) {
    throw refused(given, `realpath: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (!realDirs.some((d) => inside(real, d))) throw refused(given, `resolves to ${real}, outside the plugin directories`);
  try {
    await readRegularFile(real, policy.maxBytes, false);
  } catch (e) {
    if (e instanceof FileRefusal && e.problem === 'too-large') {
      // inside the plugin directories: the size is the operator's own business to know
      throw new SiphonError('PLUGIN_FILE_TOO_LARGE', `${e.detail} (routing.max_module_bytes)`, { where: real });
    }
    throw refused(given, e instanceof FileRefusal ? e.detail : String(e));
  }
  return real;
}
