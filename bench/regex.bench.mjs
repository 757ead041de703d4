// The linear regex engine (host/core/regex) and textops' gas price for it (GAS_PER_STEP in
// host/textops/textops.ts): ns per VM step, warm and cold, for the patterns plugins write and for
// catastrophic-backtracking ones, plus what one typical textops call costs. A guest loop iteration
// (~1.7 ns) is one gas unit: GAS_PER_STEP should stay >= warm ns/step / 1.7 so gas, not the 100 ms
// time guard, bounds a pathological search. Run on an idle machine.
// Usage: npm run build && node bench/regex.bench.mjs   (env N repetitions, default 200)
import { performance } from 'node:perf_hooks';

const { compile, exec, parseSubst, substitute } = await import('../dist/host/core/regex/index.js');
const { GAS_PER_STEP } = await import('../dist/host/textops/index.js');

const N = Number(process.env.N ?? 200);
const sdp = ['v=0', 'o=- 1 1 IN IP4 10.0.0.1', 's=-', 'c=IN IP4 10.0.0.1', 't=0 0', 'm=audio 4000 RTP/AVP 0 8 18 101',
  'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:18 G729/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', ''].join('\r\n');
const cases = [
  ['search ^a=rtpmap:18 (SDP, icase, newline)', '^a=rtpmap:18 ', sdp, { icase: true, newline: true }],
  ['search G729|G723 (SDP)', 'G729|G723', sdp, { icase: true, newline: true }],
  ['header value sip:([^@]+)@(.*)', 'sip:([^@]+)@(.*)', '<sip:alice@example.com>;tag=abc', {}],
  ['(a*)*b on 64 KB', '(a*)*b', 'a'.repeat(65_536), {}],
  ['(x+x+)+y on 64 KB', '(x+x+)+y', 'x'.repeat(65_536), {}],
  ['(a|aa)+$ on 64 KB', '(a|aa)+$', 'a'.repeat(65_536) + '!', {}],
];

console.log(`GAS_PER_STEP ${GAS_PER_STEP}; a gas unit ~1.7 ns of guest work`);
for (const [name, p, text, opts] of cases) {
  const prog = compile(p, opts);
  let steps = 0;
  const meter = (n) => { steps += n; };
  const t0 = performance.now();
  exec(prog, text, 0, meter, false);
  const cold = performance.now() - t0;
  const coldSteps = Math.max(steps, 1);
  // short texts get more rounds (V8 optimizes the VM after a few thousand calls)
  const rounds = Math.max(N, Math.ceil(2_000_000 / text.length));
  for (let i = 0; i < rounds; i++) exec(prog, text, 0, undefined, false);
  steps = 0;
  const t1 = performance.now();
  for (let i = 0; i < rounds; i++) exec(prog, text, 0, meter, false);
  const warm = (performance.now() - t1) / rounds;
  const per = steps / rounds;
  console.log(`${name.padEnd(44)} ${per.toFixed(0).padStart(8)} steps  warm ${(warm * 1e3).toFixed(1).padStart(9)} µs  ${((warm * 1e6) / Math.max(per, 1)).toFixed(1).padStart(6)} ns/step  cold ${((cold * 1e6) / coldSteps).toFixed(1).padStart(6)} ns/step`);
}

const e = parseSubst('/^a=sendrecv$/a=sendonly/s');
for (let i = 0; i < 1000; i++) substitute(e, sdp, 65_535);
const t2 = performance.now();
for (let i = 0; i < N * 50; i++) substitute(e, sdp, 65_535);
console.log(`subst_body /^a=sendrecv$/a=sendonly/s on a ${sdp.length}-byte SDP: ${(((performance.now() - t2) * 1e3) / (N * 50)).toFixed(2)} µs`);
