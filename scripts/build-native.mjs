#!/usr/bin/env node
// Builds the native watchdog addon (host/wasm/watchdog, the wall-clock guard of plugin hooks) with
// node-gyp, unless the built file is newer than its sources. A machine without a C++ toolchain
// still gets a working siphon: the build warns, and hooks run with the gas meter alone (E4031 at
// start). SIPHON_REQUIRE_WATCHDOG=1 (set by .ci/run) makes a failed build fatal.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'host', 'wasm', 'watchdog');
const out = join(dir, 'build', 'Release', 'watchdog.node');
const sources = ['watchdog.cc', 'binding.gyp'].map((f) => join(dir, f));

const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs));
if (existsSync(out) && statSync(out).mtimeMs >= newest) process.exit(0);

// npm hands scripts the path of its bundled node-gyp; otherwise look for npm's copy next to node
function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  const candidates = [join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not installed locally
  }
  return candidates.find((p) => existsSync(p)) ?? null;
}

const gyp = nodeGyp();
const args = ['rebuild', '--directory', dir];
// Debian's nodejs keeps its headers under /usr/include/node: build against them, no download
if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node.h')) args.push('--nodedir=/usr');
const result = gyp === null ? { status: -1, stderr: 'node-gyp not found' } : spawnSync(process.execPath, [gyp, ...args], { encoding: 'utf8' });
if (result.status === 0) {
  console.log(`build-native: watchdog built -> ${out}`);
  process.exit(0);
}
const tail = String(result.stderr ?? '').split('\n').filter((l) => /error/i.test(l)).slice(-5).join('\n');
console.error(`build-native: the watchdog addon did not build; plugin hooks will run without the wall-clock guard (E4031).\n${tail}`);
process.exit(process.env.SIPHON_REQUIRE_WATCHDOG === '1' ? 1 : 0);
