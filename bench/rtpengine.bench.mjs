#!/usr/bin/env node
/**
 * rtpengine micro benchmark (host/modules/rtpengine): what holding a call for its media relay costs —
 * the wall time of an ng offer + answer + delete round (the time an INVITE and its 200 wait in the
 * media gate) and the host CPU per round (bencode, the ng client), against a real rtpengine
 * (userspace, started here on 127.0.0.1 random ports and killed by PID at the end).
 *
 *   node bench/rtpengine.bench.mjs [--dist DIR] [--calls N] [--concurrency C]
 *
 * Prints p50/p99/max ms of offer, answer and delete, calls/s for C calls at a time, and host CPU µs
 * per call (process.cpuUsage; rtpengine's own CPU is not in it). Needs an idle machine for stable numbers.
 */
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};
const dist = path.resolve(arg('--dist', path.join(here, '../dist')));
const calls = Number(arg('--calls', '2000'));
const concurrency = Number(arg('--concurrency', '20'));
const load = (p) => import(pathToFileURL(path.join(dist, p)).href);
const { Rtpengine, RtpengineStats, resolveRtpengineConfig, parseSocks } = await load('host/modules/rtpengine/index.js');

const free = () => new Promise((r) => { const s = createSocket('udp4'); s.bind(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
const ngPort = await free();
const base = 30000 + Math.floor(Math.random() * 50) * 600;
const proc = spawn('/usr/bin/rtpengine', ['--config-file=none', '--table=-1', '--interface=127.0.0.1', `--listen-ng=127.0.0.1:${ngPort}`, '--foreground', '--log-stderr',
  `--port-min=${base}`, `--port-max=${base + 599}`, '--delete-delay=0', '--log-level=3', '--num-threads=2'], { stdio: ['ignore', 'ignore', 'pipe'] });
await new Promise((resolve, reject) => {
  let log = '';
  proc.stderr.on('data', (d) => { log += d; if (log.includes('Startup complete')) resolve(); });
  proc.once('exit', (c) => reject(new Error(`rtpengine exited ${c}: ${log}`)));
  setTimeout(resolve, 3000); // log-level 3 may not print the startup line
});

const cfg = resolveRtpengineConfig({ rtpengine_sock: `udp:127.0.0.1:${ngPort}`, max_pending: 10_000 });
const log = { warn() {}, info() {}, error() {}, debug() {}, child() { return log; } };
const engine = new Rtpengine(cfg, parseSocks(cfg.rtpengine_sock), new RtpengineStats(), log);
const sdp = (port) => `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n`;
const times = { offer: [], answer: [], delete: [] };
const timed = async (what, dict, id) => {
  const t = process.hrtime.bigint();
  const a = await engine.command(dict, id, what === 'offer');
  times[what].push(Number(process.hrtime.bigint() - t) / 1e6);
  if (a === null || a.result !== 'ok') throw new Error(`${what} failed: ${JSON.stringify(a)}`);
};
let next = 0;
const one = async () => {
  while (next < calls) {
    const n = next++;
    const id = `bench-${process.pid}-${n}`;
    await timed('offer', { command: 'offer', 'call-id': id, 'from-tag': 'a', sdp: sdp(4000 + (n % 1000) * 2), replace: ['origin', 'session-connection'] }, id);
    await timed('answer', { command: 'answer', 'call-id': id, 'from-tag': 'a', 'to-tag': 'b', sdp: sdp(6000 + (n % 1000) * 2) }, id);
    await timed('delete', { command: 'delete', 'call-id': id, 'from-tag': 'a' }, id);
  }
};
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
try {
  await Promise.all(Array.from({ length: concurrency }, one));
} finally {
  engine.close();
  proc.kill('SIGTERM');
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
const pct = (a, p) => a.sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))].toFixed(3);
for (const [k, a] of Object.entries(times)) console.log(`${k.padEnd(7)} p50 ${pct(a, 0.5)} ms  p99 ${pct(a, 0.99)} ms  max ${pct(a, 1)} ms`);
console.log(`${calls} calls (offer+answer+delete), ${concurrency} at a time: ${(calls / secs).toFixed(0)} calls/s; host CPU ${(((cpu.user + cpu.system) / calls)).toFixed(1)} µs per call`);
