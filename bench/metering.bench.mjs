#!/usr/bin/env node
/**
 * What gas metering (host/wasm/metering.ts) costs in time on a tight loop: the same guest, plain and
 * metered, CPU time of one call, best of `--rounds` after a warm-up, rounds alternating so a loaded
 * machine slows both alike (wasm-host.md §4.2 measured +0–50 %, +0–14 % on tight loops). The test
 * suite checks what bounds this by count instead (test/runtime/metering.test.ts: nine call-free
 * instructions per unit of gas, no import added); the ratio is measured here only (issue #12).
 *
 *   npm run build && node bench/metering.bench.mjs [--outer 200] [--inner 2000] [--rounds 15]
 *
 * Run it on an idle machine: the ratio of two CPU times is only as good as the machine is quiet.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import binaryen from 'binaryen';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const METERING = path.join(ROOT, 'dist/host/wasm/metering.js');
if (!existsSync(METERING)) {
  console.error('dist/host/wasm/metering.js missing: run `npm run build` first');
  process.exit(1);
}
const { meterModule } = await import(pathToFileURL(METERING).href);

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const OUTER = arg('--outer', 200);
const INNER = arg('--inner', 2000);
const ROUNDS = arg('--rounds', 15);

// run(outer, inner): `outer` calls of a function whose loop runs `inner` times (a call and a loop
// header per outer step, a loop header per inner step: the checkpoints metering adds)
const GUEST = `(module
  (func $step (param $n i32) (param $seed i32) (result i32)
    (loop $l
      (local.set $seed (i32.add (i32.mul (local.get $seed) (i32.const 1103515245)) (i32.const 12345)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (i32.gt_s (local.get $n) (i32.const 0))))
    (local.get $seed))
  (func (export "run") (param $outer i32) (param $inner i32) (result i32)
    (local $acc i32)
    (loop $o
      (local.set $acc (call $step (local.get $inner) (local.get $acc)))
      (local.set $outer (i32.sub (local.get $outer) (i32.const 1)))
      (br_if $o (i32.gt_s (local.get $outer) (i32.const 0))))
    (local.get $acc)))`;

const mod = binaryen.parseText(GUEST);
const bytes = mod.emitBinary();
mod.dispose();
const metered = await meterModule(bytes, 'bench.wasm', { initialGas: 2_000_000_000 });
const plain = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports;
const gasEx = new WebAssembly.Instance(new WebAssembly.Module(metered.binary)).exports;

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const once = (f) => {
  const t0 = cpuUs();
  f();
  return cpuUs() - t0;
};
const runPlain = () => plain.run(OUTER, INNER);
const runMetered = () => {
  gasEx.__gas.value = 2_000_000_000;
  gasEx.run(OUTER, INNER);
};

gasEx.__gas.value = 2_000_000_000;
if (plain.run(OUTER, INNER) !== gasEx.run(OUTER, INNER)) throw new Error('metered result differs from the plain one');
const charged = 2_000_000_000 - gasEx.__gas.value;
for (let k = 0; k < 3; k++) {
  runPlain();
  runMetered();
}
let bestPlain = Infinity;
let bestMetered = Infinity;
for (let r = 0; r < ROUNDS; r++) {
  bestPlain = Math.min(bestPlain, once(runPlain));
  bestMetered = Math.min(bestMetered, once(runMetered));
}
console.log(`checkpoints inserted: ${metered.checkpoints}; gas per call: ${charged} (1 + ${OUTER} × (2 + ${INNER}) expected)`);
console.log(`plain   ${bestPlain} µs CPU per call (best of ${ROUNDS})`);
console.log(`metered ${bestMetered} µs CPU per call`);
console.log(`overhead ${(((bestMetered / bestPlain) - 1) * 100).toFixed(1)} %`);
