#!/usr/bin/env node
/**
 * SIP parser throughput on the RFC 3665 §3.1 F1 INVITE (with SDP body).
 *
 *   npm run build && node bench/parser.bench.mjs [--seconds 1.5]
 *
 * Three cases: parse only; parse and read five headers (Via branch, From tag, Call-ID, CSeq,
 * Contact — one of them lazy); parse and serialize after one edit (Max-Forwards decrement, the
 * edit every proxy makes) plus the no-edit toBuffer. Each case runs a warm-up, then batches until
 * the time budget is spent; the best of three rounds is reported.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { parseMessage } = await import(path.join(ROOT, 'dist/host/sip/parser.js'));

const secondsArg = process.argv.indexOf('--seconds');
const SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 1;
const msg = readFileSync(path.join(process.env.SIPHON_SHARED ?? path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../shared'), 'conformance/rfc3261-3665/rfc3665-s3.1-f1-invite.sip'));

let sink = 0;

const cases = {
  'parse only': () => {
    const r = parseMessage(msg);
    sink += r.ok ? 1 : 0;
  },
  'parse + read 5 headers': () => {
    const r = parseMessage(msg);
    const m = r.message;
    sink += m.vias[0].branch.length + (m.from.tag?.length ?? 0) + m.callId.length + m.cseq.seq
      + m.header('contact').length;
  },
  'parse + toBuffer (no edit)': () => {
    const r = parseMessage(msg);
    sink += r.message.toBuffer().length;
  },
  'parse + edit Max-Forwards + toBuffer': () => {
    const r = parseMessage(msg);
    const m = r.message;
    m.setHeader('Max-Forwards', String(m.maxForwards - 1));
    sink += m.toBuffer().length;
  },
};

function run(fn) {
  for (let i = 0; i < 20000; i++) fn(); // warm-up: let V8 optimize
  let best = 0;
  for (let round = 0; round < 3; round++) {
    let n = 0;
    const t0 = process.hrtime.bigint();
    const budget = BigInt(Math.round((SECONDS / 3) * 1e9));
    let elapsed = 0n;
    while (elapsed < budget) {
      for (let i = 0; i < 5000; i++) fn();
      n += 5000;
      elapsed = process.hrtime.bigint() - t0;
    }
    const rate = n / (Number(elapsed) / 1e9);
    if (rate > best) best = rate;
  }
  return best;
}

const check = parseMessage(msg);
if (!check.ok) {
  console.error('the benchmark message does not parse:', check.failure);
  process.exit(1);
}

const rows = [];
for (const [name, fn] of Object.entries(cases)) {
  const rate = run(fn);
  rows.push({ case: name, 'msg/s': Math.round(rate).toLocaleString('en-US'), 'µs/msg': (1e6 / rate).toFixed(2) });
}
// A fixed integer loop, to tell a slow parser from a slow (shared, throttled) machine: about
// 1 ns per iteration on an idle modern core.
function calibrate() {
  let x = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 5e7; i++) x = (Math.imul(x, 31) + i) | 0;
  const ns = Number(process.hrtime.bigint() - t0) / 5e7;
  sink += x & 1;
  return ns;
}
const calib = Math.min(calibrate(), calibrate(), calibrate());
console.log(`SIP parser — ${msg.length}-byte INVITE (rfc3665-s3.1-f1-invite.sip), node ${process.version}`);
console.log(`machine calibration: ${calib.toFixed(2)} ns per loop iteration (≈1 ns when the CPU is idle)`);
console.table(rows);
if (sink === 42) console.log('');
