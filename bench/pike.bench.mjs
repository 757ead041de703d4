// pike check cost (host/modules/pike): ns per check and heap growth, for
//   - steady state: 1,000 known sources under the limit (the common case: no allocation expected);
//   - a blocked flooder (the auto: drop path);
//   - a spray of new sources into a full table (eviction path: one Map insert + delete per check).
// Usage: npm run build && node --expose-gc bench/pike.bench.mjs
import { performance } from 'node:perf_hooks';

const { Pike, resolvePikeConfig } = await import('../dist/host/modules/pike/index.js');

const N = 2_000_000;
let clock = 0;
const make = (over = {}) => new Pike(resolvePikeConfig({ reqs_density_per_unit: 1_000_000, ...over }), { now: () => clock });

function run(name, pike, addrOf, n = N) {
  for (let i = 0; i < 100_000; i++) pike.check(addrOf(i)); // warm
  globalThis.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    clock = i >> 10; // ms advance slowly: windows roll during the run
    pike.check(addrOf(i));
  }
  const ms = performance.now() - t0;
  globalThis.gc?.();
  const heap1 = process.memoryUsage().heapUsed; // retained after a GC
  console.log(`${name.padEnd(44)} ${((ms * 1e6) / n).toFixed(1).padStart(6)} ns/check   heap ${((heap1 - heap0) / 1024).toFixed(0).padStart(7)} KiB over ${n.toLocaleString()} checks   tracked ${pike.state.size}`);
}

const known = Array.from({ length: 1000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
run('steady: 1,000 known sources, under limit', make(), (i) => known[i % 1000]);
run('blocked flooder (auto: drop path)', make({ reqs_density_per_unit: 30 }), () => '192.0.2.66');
const spray = Array.from({ length: 200_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
run('spray: new sources into a full 65,536 table', make(), (i) => spray[i % 200_000]);
