#!/usr/bin/env node
/**
 * What dialog tracking costs per call over real sockets: a node (in this process) routing SIPp calls
 * with plugins/pbx — INVITE/100/180/200/ACK/BYE/200 through record_route, lookup, t_relay — to a
 * SIPp UAS registered as extension 101, once without modules.dialog and once with it (dlg_manage,
 * a `caller` profile per call with the max_calls check, the state machine, in-dialog matching).
 * The node's process CPU per call is the figure (SIPp runs in its own processes); rounds alternate
 * the two configurations so machine noise hits both.
 *
 * First a micro figure: the table's own work per call without sockets (--micro stops there).
 *
 *   npm run build && npm run build:plugins && node bench/dialog.bench.mjs [--micro] [--calls 3000] [--rate 300] [--rounds 2]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import dgram from 'node:dgram';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const CALLS = arg('--calls', 3000);
const RATE = arg('--rate', 300);
const ROUNDS = arg('--rounds', 2);
const SCENARIOS = process.env.SIPHON_SHARED ? path.join(process.env.SIPHON_SHARED, 'bench/scenarios') : path.resolve(ROOT, '../shared/bench/scenarios');

const { parseConfig } = await import(path.join(ROOT, 'dist/host/config/load.js'));
const { createLogger } = await import(path.join(ROOT, 'dist/host/log/logger.js'));
const { startNode } = await import(path.join(ROOT, 'dist/host/server/app.js'));
const { moduleSchemas } = await import(path.join(ROOT, 'dist/host/server/modules.js'));

function freePort() {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function round(withDialog) {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'siphon-dlgbench-'));
  const yaml = [
    'core:', `  listen: [udp:127.0.0.1:${port}]`, '  ctl: []', '  warmup: 0', `  data_dir: ${dir}`, '  workers: 1', '  log_level: error',
    'modules:', '  registrar: { db_mode: 0 }',
    ...(withDialog ? ['  dialog: { profiles_with_value: caller }'] : []),
    'routing:', `  plugin: ${path.join(ROOT, 'plugins/pbx/build/pbx.wasm')}`, `  config: { max_calls: ${withDialog ? 1000000 : 0} }`,
  ].join('\n');
  const node = await startNode(parseConfig(yaml, null, { moduleSchemas: moduleSchemas() }), createLogger({ level: 'error', destination: { write: () => {} } }), { controlPlane: false });
  const uasPort = await freePort();
  const uas = spawn('sipp', ['-sf', path.join(SCENARIOS, 'uas.xml'), '-i', '127.0.0.1', '-p', String(uasPort), '-mp', String(await freePort()), '-cp', String(await freePort()), '-nostdin', '-bind_local'], { cwd: dir, stdio: 'ignore' });
  // register the UAS socket as 101
  const reg = dgram.createSocket('udp4');
  await new Promise((r) => reg.bind(0, '127.0.0.1', r));
  const got = once(reg, 'message');
  reg.send(`REGISTER sip:127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${reg.address().port};branch=z9hG4bK-bench-${Date.now()}\r\nMax-Forwards: 70\r\nFrom: <sip:101@127.0.0.1>;tag=b\r\nTo: <sip:101@127.0.0.1>\r\nCall-ID: bench-reg-${Date.now()}\r\nCSeq: 1 REGISTER\r\nContact: <sip:101@127.0.0.1:${uasPort}>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n`, port, '127.0.0.1');
  await got;
  reg.close();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const uac = spawn('sipp', [`127.0.0.1:${port}`, '-sf', path.join(SCENARIOS, 'invite.xml'), '-s', '101', '-i', '127.0.0.1', '-p', String(await freePort()), '-mp', String(await freePort()), '-cp', String(await freePort()), '-r', String(RATE), '-m', String(CALLS), '-l', String(RATE * 5), '-nostdin', '-recv_timeout', '10000'], { cwd: dir, stdio: 'ignore' });
  const [code] = await once(uac, 'exit');
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const stats = node.modules.find((m) => m.name === 'dialog')?.statistics() ?? {};
  uas.kill('SIGKILL');
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
  return { code, cpuUs: (cpu.user + cpu.system) / CALLS, wallS: wall / 1000, processed: stats.processed_dialogs ?? '-', left: stats.dialogs ?? '-' };
}

// calibration: ns per trivial loop iteration (≈1 ns on an idle core): a loaded machine shows here
let x = 0;
const c0 = process.hrtime.bigint();
for (let i = 0; i < 1e8; i++) x = (x + i) | 0;
console.log(`calibration: ${(Number(process.hrtime.bigint() - c0) / 1e8).toFixed(2)} ns per loop iteration (x=${x & 1})`);

// ---- micro: the table's own work per call, no sockets (create + profile + 180 + 200 + ACK + BYE) ----
{
  const { parseMessage } = await import(path.join(ROOT, 'dist/host/sip/parser.js'));
  const { DialogTable } = await import(path.join(ROOT, 'dist/host/modules/dialog/table.js'));
  const { ProfileCounts, profileDefs } = await import(path.join(ROOT, 'dist/host/modules/dialog/profiles.js'));
  const { resolveDialogConfig } = await import(path.join(ROOT, 'dist/host/modules/dialog/config.js'));
  const pino = (await import('pino')).default;
  const cfg = resolveDialogConfig({ profiles_with_value: 'caller' });
  const defs = profileDefs(cfg.profiles_with_value, []);
  const table = new DialogTable({ cfg, log: pino({ level: 'silent' }), profiles: defs, counts: new ProfileCounts(defs), isMyself: (h) => h === '127.0.0.1' });
  const parse = (t) => parseMessage(Buffer.from(t.replace(/\n/g, '\r\n'), 'latin1')).message;
  const ctxOf = (m) => ({ id: 1, msg: m, source: { address: '192.0.2.1', port: 5061, proto: 'udp', family: 4 }, local: { address: '127.0.0.1', port: 5060, proto: 'udp', family: 4 }, dstUri: null, vars: new Map(), replied: false, slReply: () => false });
  const N = 50_000;
  const msgs = (i) => {
    const h = `From: <sip:u${i % 100}@a>;tag=f${i}\nCall-ID: micro-${i}\n`;
    return {
      inv: parse(`INVITE sip:b@192.0.2.2 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-${i}\n${h}To: <sip:b@b>\nCSeq: 1 INVITE\nContact: <sip:a@192.0.2.1>\nContent-Length: 0\n\n`),
      ok: parse(`SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-${i}\nRecord-Route: <sip:127.0.0.1:5060;lr>\n${h}To: <sip:b@b>;tag=t${i}\nCSeq: 1 INVITE\nContact: <sip:b@192.0.2.2>\nContent-Length: 0\n\n`),
      ack: parse(`ACK sip:b@192.0.2.2 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-a${i}\n${h}To: <sip:b@b>;tag=t${i}\nCSeq: 1 ACK\nContent-Length: 0\n\n`),
      bye: parse(`BYE sip:b@192.0.2.2 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK-b${i}\n${h}To: <sip:b@b>;tag=t${i}\nCSeq: 2 BYE\nContent-Length: 0\n\n`),
    };
  };
  // parsed in batches of 1,000 outside the timed part (a node never holds 50,000 parsed messages)
  const BATCH = 1000;
  let bestMicro = Infinity;
  for (let r = 0; r < 5; r++) {
    let ns = 0n;
    for (let b = 0; b < N; b += BATCH) {
    const all = Array.from({ length: BATCH }, (_, k) => msgs(b + k));
    const t0 = process.hrtime.bigint();
    for (let i = b; i < b + BATCH; i++) {
      const m = all[i - b];
      let obs = null;
      const c = ctxOf(m.inv);
      const d = table.create(c, (_c, o) => (obs = o));
      table.setProfile(d, 'caller', `u${i % 100}`);
      table.counts.size('caller', `u${i % 100}`);
      obs.onUpstreamResponse(null, 180, null, `t${i}`);
      obs.onUpstreamResponse(null, 200, m.ok, `t${i}`);
      table.onSequentialRequest(ctxOf(m.ack));
      table.onSequentialRequest(ctxOf(m.bye));
    }
    ns += process.hrtime.bigint() - t0;
    }
    const us = Number(ns) / 1000 / N;
    bestMicro = Math.min(bestMicro, us);
    if (table.size !== 0) throw new Error(`dialogs left: ${table.size}`);
  }
  table.close();
  console.log(`micro: ${bestMicro.toFixed(2)} µs per call of table work (dlg_manage, set/get profile, 180, 200 with Record-Route, ACK, BYE), best of 5 x ${N}`);
}
if (process.argv.includes('--micro')) process.exit(0);

const best = { off: Infinity, on: Infinity };
for (let r = 0; r < ROUNDS; r++) {
  for (const on of [false, true]) {
    const res = await round(on);
    const key = on ? 'on' : 'off';
    best[key] = Math.min(best[key], res.cpuUs);
    console.log(`round ${r + 1} dialog ${key}: ${CALLS} calls at ${RATE}/s, sipp exit ${res.code}, ${res.wallS.toFixed(1)} s, node CPU ${res.cpuUs.toFixed(1)} µs/call (dialogs processed ${res.processed}, left ${res.left})`);
  }
}
console.log(`best: ${best.off.toFixed(1)} µs/call without dialog, ${best.on.toFixed(1)} µs/call with dialog (+${(best.on - best.off).toFixed(1)} µs, ${(((best.on - best.off) / best.off) * 100).toFixed(1)} %)`);
process.exit(0);
