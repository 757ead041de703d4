#!/usr/bin/env node
/**
 * nathelper micro benchmark (host/modules/nathelper): the CPU a NATed REGISTER's route steps add to
 * a message, through the plugin imports with the real parser (no Wasm: the import wrapper's 20 gas
 * units are not in it).
 *
 *   node bench/nathelper.bench.mjs [--dist DIR]
 *
 * Each case parses the same REGISTER (private Via and Contact) and runs its steps; 7 rounds of
 * 20,000, the cases alternating, the least CPU time per message (process.cpuUsage) of the rounds is
 * printed with the difference to parsing alone.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const i = process.argv.indexOf('--dist');
const dist = path.resolve(i > 0 ? process.argv[i + 1] : path.join(here, '../dist'));
const load = (p) => import(pathToFileURL(path.join(dist, p)).href);
const { parseMessage } = await load('host/sip/parser.js');
const { NathelperImports, NathelperStats, resolveNathelperConfig } = await load('host/modules/nathelper/index.js');

const text = [
  'REGISTER sip:example.com SIP/2.0',
  'Via: SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bK-n1;rport',
  'Max-Forwards: 70',
  'From: <sip:alice@example.com>;tag=f1',
  'To: <sip:alice@example.com>',
  'Call-ID: nat-1',
  'CSeq: 1 REGISTER',
  'Contact: <sip:alice@192.168.1.5:5062;transport=udp>;expires=600',
  'Content-Length: 0',
  '',
  '',
].join('\r\n');
const src = { address: '203.0.113.7', port: 40000, proto: 'udp', family: 4 };
let ctx = null;
const api = { current: () => ctx, hook: () => 'request_route', readString: () => null, writeString: () => -3, charge: () => {} };
const f = new NathelperImports(resolveNathelperConfig({}), new NathelperStats()).functions(api);
const fresh = () => {
  ctx = { id: 1, msg: parseMessage(Buffer.from(text)).message, source: src, local: src, dstUri: null, vars: new Map(), replied: false, log: {}, slReply: () => true };
};
const cases = [
  ['parse only (baseline)', () => fresh()],
  ['+ nat_uac_test(19)', () => { fresh(); f.nat_uac_test(19); }],
  ['+ nat_uac_test(19), fix_nated_register, force_rport', () => { fresh(); f.nat_uac_test(19); f.fix_nated_register(); f.force_rport(); }],
  ['+ fix_nated_contact', () => { fresh(); f.fix_nated_contact(); }],
  ['+ set_contact_alias', () => { fresh(); f.set_contact_alias(0); }],
];
const N = 20_000;
const best = new Map();
for (let round = 0; round < 7; round++) {
  for (const [name, body] of cases) {
    for (let k = 0; k < 2000; k++) body();
    const c0 = process.cpuUsage();
    for (let k = 0; k < N; k++) body();
    const c = process.cpuUsage(c0);
    best.set(name, Math.min(best.get(name) ?? Infinity, ((c.user + c.system) * 1000) / N));
  }
}
const base = best.get(cases[0][0]);
for (const [name] of cases) {
  const ns = best.get(name);
  console.log(`${name.padEnd(55)} ${ns.toFixed(0).padStart(6)} ns CPU per message${name === cases[0][0] ? '' : `  (+${(ns - base).toFixed(0)} ns)`}`);
}
