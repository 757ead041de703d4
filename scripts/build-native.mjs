#!/usr/bin/env node
// Builds the native addons with node-gyp, each unless its built file is newer than its sources:
//  - host/wasm/watchdog: the wall-clock guard of plugin hooks. Without it siphon still works: hooks
//    run with the gas meter alone (E4031 at start).
//  - host/transport/udp-native (Linux): batched UDP receive and send (recvmmsg/sendmmsg). Without it
//    the UDP listeners use Node's dgram (E3034 at start when core.udp_batch asks for it).
// A machine without a C++ toolchain still gets a working siphon: the build warns.
// SIPHON_REQUIRE_WATCHDOG=1 (set by .ci/run) makes a failed build of either fatal.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const addons = [
  { name: 'watchdog', dir: join(root, 'host', 'wasm', 'watchdog'), sources: ['watchdog.cc', 'binding.gyp'], without: 'plugin hooks will run without the wall-clock guard (E4031)' },
  { name: 'udp_batch', dir: join(root, 'host', 'transport', 'udp-native'), sources: ['udp_batch.cc', 'binding.gyp'], without: "UDP listeners will use Node's dgram (E3034)", linuxOnly: true },
];

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

let failed = false;
for (const addon of addons) {
  if (addon.linuxOnly && process.platform !== 'linux') continue;
  const out = join(addon.dir, 'build', 'Release', `${addon.name}.node`);
  const newest = Math.max(...addon.sources.map((f) => statSync(join(addon.dir, f)).mtimeMs));
  if (existsSync(out) && statSync(out).mtimeMs >= newest) continue;
  const gyp = nodeGyp();
  const args = ['rebuild', '--directory', addon.dir];
  // Debian's nodejs keeps its headers under /usr/include/node: build against them, no download
  if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node.h')) args.push('--nodedir=/usr');
  const result = gyp === null ? { status: -1, stderr: 'node-gyp not found' } : spawnSync(process.execPath, [gyp, ...args], { encoding: 'utf8' });
  if (result.status === 0) {
    console.log(`build-native: ${addon.name} built -> ${out}`);
    continue;
  }
  const tail = String(result.stderr ?? '').split('\n').filter((l) => /error/i.test(l)).slice(-5).join('\n');
  console.error(`build-native: the ${addon.name} addon did not build; ${addon.without}.\n${tail}`);
  failed = true;
}
process.exit(failed && process.env.SIPHON_REQUIRE_WATCHDOG === '1' ? 1 : 0);
