// secfilter check cost with 10 and with 100,000 rules (the large set must stay within 2x the small).
// Usage: npm run build && node bench/secfilter.bench.mjs
// Imports the compiled host from dist/. Prints ns/check per check kind and overall.
import { performance } from 'node:perf_hooks';

const { SecFilter, RuleSet } = await import('../dist/host/modules/secfilter/index.js');

let seed = 12345;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff);
const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';
const word = (n) => Array.from({ length: n }, () => ALNUM[Math.floor(rnd() * ALNUM.length)]).join('');

function rules(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    switch (i % 6) {
      case 0: out.push({ action: 0, type: 0, data: `${word(6)}-scanner/${word(2)}` }); break;
      case 1: out.push({ action: 0, type: 3, data: `${Math.floor(rnd() * 223) + 1}.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.` }); break;
      case 2: out.push({ action: 0, type: 4, data: word(8) }); break;
      case 3: out.push({ action: 0, type: 2, data: `${word(7)}.com` }); break;
      case 4: out.push({ action: 2, type: 0, data: String(Math.floor(rnd() * 1e9)) }); break;
      default: out.push({ action: 1, type: 4, data: word(9) }); break;
    }
  }
  // the entries the inputs hit, present in both sets
  out.push({ action: 0, type: 0, data: 'friendly-scanner' }, { action: 0, type: 3, data: '10.66.' }, { action: 0, type: 4, data: 'attacker' }, { action: 2, type: 0, data: '0900123' });
  return out;
}

const INPUTS = {
  ua: ['friendly-scanner 1.0', 'Linphone/5.2.0 (belle-sip/5.2.0)', 'Zoiper rv2.10', 'sipvicious'],
  ip: ['10.66.1.2', '192.168.1.20', '203.0.113.7', '2001:db8::1'],
  from: ['"Alice" <sip:alice@example.com>;tag=1', '<sip:attacker@evil.org>;tag=2', '"Bob Smith" <sip:bob@example.net:5070;transport=tcp>;tag=x', 'sip:carol@[2001:db8::2]'],
  dst: ['0900123', '+34600111222', '5551234', '18005550199'],
};

function bench(sf, kind, iterations) {
  const values = INPUTS[kind];
  const check = kind === 'ua' ? (v) => sf.checkUa(v) : kind === 'ip' ? (v) => sf.checkIp(v) : kind === 'from' ? (v) => sf.checkFromHdr(v) : (v) => sf.checkDst(v);
  let sink = 0;
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) sink += check(values[i & 3]);
  const ns = ((performance.now() - t0) * 1e6) / iterations;
  if (sink === 42) console.log('');
  return ns;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const ITER = 400_000;
const ROUNDS = 7;
const sets = {};
for (const n of [10, 100_000]) {
  const t0 = performance.now();
  const sf = new SecFilter({ dstExactMatch: false });
  sf.setRules(RuleSet.fromRules(rules(n)));
  const buildMs = performance.now() - t0;
  for (const k of Object.keys(INPUTS)) bench(sf, k, ITER); // warm up
  sets[n] = { sf, buildMs };
}

const results = {};
for (const kind of Object.keys(INPUTS)) {
  const per = { 10: [], 100000: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const n of [10, 100_000]) per[n].push(bench(sets[n].sf, kind, ITER));
  }
  results[kind] = { small: median(per[10]), large: median(per[100000]) };
}

console.log(`secfilter check cost (median of ${ROUNDS} rounds x ${ITER} checks)`);
console.log(`rule set build: 10 rules ${sets[10].buildMs.toFixed(1)} ms, 100,000 rules ${sets[100000].buildMs.toFixed(0)} ms`);
console.log('check            10 rules   100k rules   ratio');
let sumSmall = 0;
let sumLarge = 0;
for (const [kind, { small, large }] of Object.entries(results)) {
  sumSmall += small;
  sumLarge += large;
  console.log(`${kind.padEnd(14)} ${small.toFixed(1).padStart(8)} ns ${large.toFixed(1).padStart(9)} ns  ${(large / small).toFixed(2)}x`);
}
const ratio = sumLarge / sumSmall;
console.log(`${'all'.padEnd(14)} ${(sumSmall / 4).toFixed(1).padStart(8)} ns ${(sumLarge / 4).toFixed(1).padStart(9)} ns  ${ratio.toFixed(2)}x  (limit 2x)`);
process.exitCode = ratio <= 2 ? 0 : 1;
