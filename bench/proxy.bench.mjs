#!/usr/bin/env node
/**
 * In-process cost of one stateful proxied call: INVITE → 100 (local) → 180 → 200 → ACK (by Route)
 * → BYE (by Route) → 200, six received and eight sent messages through parse, the transaction layer,
 * the proxy (record_route, loose_route, t_relay) and the serializer, as host/server/warmup.ts drives
 * them (a JS route, no plugin, no sockets: socket costs and the plugin are left out; see
 * bench/RESULTS.md for the socket-level figures). Every round builds a fresh throwaway server, so
 * transactions (kept wt_timer after their final reply) pile up within a round as in a real run.
 *
 *   npm run build && node bench/proxy.bench.mjs [--calls 20000] [--rounds 5]
 *
 * Prints per round µs of wall and of process CPU per call; the best round is the figure to compare.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const CALLS = arg('--calls', 20000);
const ROUNDS = arg('--rounds', 5);

const { parseConfig } = await import(path.join(ROOT, 'dist/host/config/load.js'));
const { warmUp } = await import(path.join(ROOT, 'dist/host/server/warmup.js'));
const config = parseConfig('core:\n  listen: [udp:127.0.0.1:19950]\n  warmup: 0\n', null);

// calibration: ns per trivial loop iteration (≈1 ns on an idle core) to compare runs between machines
let x = 0;
const c0 = process.hrtime.bigint();
for (let i = 0; i < 1e8; i++) x = (x + i) | 0;
const calibration = Number(process.hrtime.bigint() - c0) / 1e8;

await warmUp(config, 3000, null); // JIT first
let best = Infinity;
for (let r = 0; r < ROUNDS; r++) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const rep = await warmUp(config, CALLS, null);
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuUs = (cpu.user + cpu.system) / CALLS;
  best = Math.min(best, cpuUs);
  console.log(`round ${r + 1}: ${CALLS} calls (${rep.messages} messages in, ${rep.relayed} relayed) wall ${((wall * 1000) / CALLS).toFixed(1)} µs/call, cpu ${cpuUs.toFixed(1)} µs/call`);
}
console.log(`best: ${best.toFixed(1)} µs CPU per proxied call (6 messages in, 8 out) — calibration ${calibration.toFixed(2)} ns (x=${x & 1})`);
