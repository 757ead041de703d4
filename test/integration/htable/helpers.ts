/** The htable test plugins (ht-probe v1, ht-reader v2, ht-oracle), built with the repository's build script. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');
const PLUGINS = path.join(import.meta.dirname, 'plugins');
export const HT_PROBE = path.join(PLUGINS, 'ht-probe/build/ht-probe.wasm');
export const HT_READER = path.join(PLUGINS, 'ht-reader/build/ht-reader.wasm');
export const HT_ORACLE = path.join(PLUGINS, 'ht-oracle/build/ht-oracle.wasm');

export async function buildHtPlugins(): Promise<void> {
  await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', PLUGINS], { cwd: ROOT, timeout: 120_000 });
}
