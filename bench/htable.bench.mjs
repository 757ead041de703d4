// htable operation cost (host/modules/htable): ns per operation and heap growth, for
//   - $shtinc on 10,000 users (a call counter: the common case, no allocation expected);
//   - $sht reads of the same keys;
//   - a table with autoexpire: every write refiles the item in the expiry wheel;
//   - the sweep of a mass expiry (N items at once), per item and per loop turn.
// Usage: npm run build && node --expose-gc bench/htable.bench.mjs   (env N operations, EXPIRE items)
import { performance } from 'node:perf_hooks';
import pino from 'pino';

const { Htable, resolveHtableConfig, SWEEP_BUDGET } = await import('../dist/host/modules/htable/index.js');

const N = Number(process.env.N ?? 2_000_000);
const EXPIRE = Number(process.env.EXPIRE ?? 500_000);
const log = pino({ level: 'silent' });
let clock = 1_700_000_000_000;
const make = (t) => new Htable(resolveHtableConfig({ tables: [{ max_entries: 4_000_000, max_bytes: 1 << 30, ...t }] }).tables, { log, now: () => clock });
const users = Array.from({ length: 10_000 }, (_, i) => `user${i}@example.com`);

function run(name, op) {
  for (let i = 0; i < 100_000; i++) op(i); // warm
  globalThis.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) op(i);
  const ms = performance.now() - t0;
  globalThis.gc?.();
  const heap1 = process.memoryUsage().heapUsed;
  console.log(`${name.padEnd(46)} ${((ms * 1e6) / N).toFixed(1).padStart(6)} ns/op   heap ${((heap1 - heap0) / 1024).toFixed(0).padStart(7)} KiB over ${N.toLocaleString()} ops`);
}

const calls = make({ name: 'calls' });
run('sht_inc: 10,000 users', (i) => calls.inc('calls', users[i % 10_000], 1));
run('sht_get: 10,000 users', (i) => calls.get('calls', users[i % 10_000]));
const ban = make({ name: 'ban', autoexpire: 300 });
run('set with autoexpire (wheel refile): 10,000 keys', (i) => {
  clock += i & 1; // time moves: items change wheel seconds
  ban.set('ban', users[i % 10_000], 1);
});

const exp = make({ name: 'e', autoexpire: 10 });
for (let i = 0; i < EXPIRE; i++) exp.set('e', `k${i}`, i);
clock += 11_000;
let turns = 0;
let stop = false;
const spin = () => { if (!stop) { turns++; setImmediate(spin); } };
setImmediate(spin);
const t0 = performance.now();
const removed = await exp.sweepAll();
const ms = performance.now() - t0;
stop = true;
console.log(`sweep of ${removed.toLocaleString()} expired items: ${ms.toFixed(0)} ms (${((ms * 1e6) / removed).toFixed(0)} ns/item), ${turns} loop turns (budget ${SWEEP_BUDGET.toLocaleString()} per turn)`);
