#!/usr/bin/env node
/**
 * Per-request cost of a plugin chain (routing.chain, host/wasm/manager.ts) against one plugin, through
 * PluginManager.requestRoute as the server calls it (after `npm run build`):
 *   - one plugin / a chain of 3, every hook empty (what the chain itself costs: per member one more
 *     hook call, its latency sample and metrics, the pass-on check);
 *   - one plugin / a chain of 3, every member reading five headers by name through sip.hdr_get
 *     (a plugin doing some work: the chain costs 3× the work plus the per-member overhead).
 * CHAIN_BENCH_SINGLE=1 runs the one-plugin cases only; CHAIN_BENCH_ROUNDS (default 15) sets the rounds.
 * Members before the last return CONTINUE, so the request passes along the whole chain; the last
 * returns CONTINUE too (the end of routing). Guests are WAT compiled here with binaryen.
 *
 *   node bench/chain.bench.mjs [iterations] [--compare DIR]
 *
 * --compare DIR: also run the one-plugin cases on another build (DIR/dist, e.g. `git archive` of the
 * commit before chains + `npm run build`), alternating rounds in this one process so a loaded machine
 * slows both alike: the single-plugin hot path before and after. Prints the best CPU ns per request.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import binaryen from 'binaryen';
import pino from 'pino';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const cmpAt = args.indexOf('--compare');
const compareDir = cmpAt >= 0 ? path.resolve(args.splice(cmpAt, 2)[1]) : null;
const N = Number(args[0] ?? 200_000);
const ROUNDS = Number(process.env.CHAIN_BENCH_ROUNDS ?? 15);
const HEADERS = ['From', 'To', 'Call-ID', 'CSeq', 'User-Agent'];

async function runtimeOf(root) {
  const dist = (p) => pathToFileURL(path.join(root, 'dist', p)).href;
  if (!existsSync(path.join(root, 'dist/host/wasm/manager.js'))) throw new Error(`${root}/dist/host/wasm/manager.js missing: run \`npm run build\` there first`);
  return { ...(await import(dist('host/wasm/manager.js'))), ...(await import(dist('host/sip/parser.js'))) };
}

function guestWat(name, kind) {
  let data = '';
  const reads = [];
  HEADERS.forEach((h, i) => {
    data += `(data (i32.const ${1024 + i * 32}) "${h}")\n`;
    reads.push(`(drop (call $hdr_get (i32.const ${1024 + i * 32}) (i32.const ${h.length}) (i32.const 0) (i32.const 4096) (i32.const 256)))`);
  });
  return `(module
    (import "env" "memory" (memory 1))
    (import "sip" "hdr_get" (func $hdr_get (param i32 i32 i32 i32 i32) (result i32)))
    ${data}
    (func (export "sip_abi_v1"))
    (func (export "sip_abi_minor") (result i32) (i32.const 0))
    (func (export "request_route") (param i32) (result i32) ${kind === 'reads' ? reads.join('\n') : ''} (i32.const 0)))`;
}

function compile(text, name) {
  const mod = binaryen.parseText(text);
  mod.addCustomSection('sip.plugin', Buffer.from(JSON.stringify({ name, version: '1.0.0' })));
  const bin = mod.emitBinary();
  mod.dispose();
  return bin;
}

const RAW = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.example.com>',
  'User-Agent: bench-ua/1.0',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');

const dir = mkdtempSync(path.join(tmpdir(), 'siphon-chain-bench-'));
const log = pino({ level: 'warn' });

function file(name, kind) {
  const f = path.join(dir, `${name}-${kind}.wasm`);
  if (!existsSync(f)) writeFileSync(f, compile(guestWat(name, kind), name));
  return f;
}

/** a manager routing `kind` through one plugin (members = 1) or a chain of `members`. */
async function setup(rt, kind, members) {
  const r = rt.parseMessage(Buffer.from(RAW));
  const ctx = {
    id: 1, msg: r.message, source: { address: '127.0.0.1', port: 5080, proto: 'udp', family: 4 },
    local: { address: '127.0.0.1', port: 5090, proto: 'udp', family: 4 },
    dstUri: null, vars: new Map(), replied: false, log, slReply: () => true,
  };
  const m = new rt.PluginManager({ log, loadOptions: {} });
  if (members === 1) await m.loadRouting(file('p0', kind));
  else await m.loadChain(Array.from({ length: members }, (_, i) => ({ path: file(`p${i}`, kind), options: {} })));
  return { m, ctx };
}

/** one round: CPU ns per request. */
function round({ m, ctx }) {
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) m.requestRoute(ctx);
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1000) / N;
}

const here = await runtimeOf(ROOT);
const other = compareDir ? await runtimeOf(compareDir) : null;
const cases = [];
for (const kind of ['empty', 'reads']) {
  cases.push({ label: `one plugin, ${kind} hook`, s: await setup(here, kind, 1), best: Infinity });
  if (other) cases.push({ label: `one plugin, ${kind} hook [${path.basename(compareDir)}]`, s: await setup(other, kind, 1), best: Infinity });
  if (!process.env.CHAIN_BENCH_SINGLE) cases.push({ label: `chain of 3, ${kind} hooks`, s: await setup(here, kind, 3), best: Infinity });
}
// warm-up, then rounds alternating between the cases
for (const c of cases) round(c.s);
for (let r = 0; r < ROUNDS; r++) for (const c of cases) c.best = Math.min(c.best, round(c.s));

const calib = (() => {
  const t0 = process.hrtime.bigint();
  let x = 0;
  for (let i = 0; i < 1e7; i++) x = (x + i) | 0;
  return Number(process.hrtime.bigint() - t0) / 1e7 + (x === 1 ? 1 : 0);
})();
console.log(`chain.bench: ${N} requests per round, best of ${ROUNDS} rounds, CPU ns per request (calibration loop ${calib.toFixed(2)} ns/iter)`);
for (const c of cases) console.log(`  ${c.label.padEnd(52)} ${c.best.toFixed(0).padStart(6)} ns`);
const one = (k) => cases.find((c) => c.label === `one plugin, ${k} hook`).best;
const three = (k) => cases.find((c) => c.label === `chain of 3, ${k} hooks`)?.best;
for (const k of ['empty', 'reads']) {
  if (three(k) === undefined) continue;
  console.log(`  ${k}: chain of 3 = ${(three(k) / one(k)).toFixed(2)}× one plugin; per extra member ${((three(k) - one(k)) / 2).toFixed(0)} ns`);
}
for (const c of cases) c.s.m.closeAll();
rmSync(dir, { recursive: true, force: true });
