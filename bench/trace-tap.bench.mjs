#!/usr/bin/env node
/**
 * Cost of the console's SIP trace tap (host/transport/tap.ts, host/console/trace.ts) on the real UDP
 * path: a node with the default plugin answers OPTIONS on 127.0.0.1; an in-process client sends them in
 * windows of 64 and waits for the replies. Rounds alternate between three states so all see the same
 * machine load:
 *
 *   off        nobody watches: the transports read one boolean per message (the console's normal state)
 *   filtered   a live-trace watcher whose filter matches nothing (every message copied + summarized)
 *   watching   a watcher that matches everything (also pushed to the watcher)
 *
 * Run on an idle machine:  npm run build && node scripts/build-plugins.mjs default && node bench/trace-tap.bench.mjs [--seconds 2 --rounds 6]
 * The `cpu µs/msg` column (client + server CPU per message, best round) is the figure to compare; "off"
 * must equal the OPTIONS figure of a build without the console (bench/pipeline.bench.mjs --udp) within noise.
 */
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pino from 'pino';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg('--seconds', 2);
const ROUNDS = arg('--rounds', 6);
const PORT = 19931;
const CLIENT_PORT = 19930;
const dist = (p) => pathToFileURL(path.join(ROOT, 'dist', p)).href;
const { parseConfig } = await import(dist('host/config/load.js'));
const { startNode } = await import(dist('host/server/app.js'));
const { TraceHub } = await import(dist('host/console/trace.js'));

function options(n) {
  return Buffer.from(
    `OPTIONS sip:127.0.0.1:${PORT} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${CLIENT_PORT};branch=z9hG4bK-12345-${n}-0\r\nMax-Forwards: 70\r\n`
      + `From: <sip:sipp@127.0.0.1:${CLIENT_PORT}>;tag=12345O${n}\r\nTo: <sip:127.0.0.1:${PORT}>\r\nCall-ID: ${n}-12345@127.0.0.1\r\nCSeq: 1 OPTIONS\r\n`
      + `Contact: <sip:sipp@127.0.0.1:${CLIENT_PORT}>\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n`,
    'latin1',
  );
}
const pool = Array.from({ length: 1024 }, (_, i) => options(100000 + i));
const config = parseConfig(['core:', `  listen: [ "udp:127.0.0.1:${PORT}" ]`, '  log_level: warn', '  warmup: 0', '  data_dir: /tmp/siphon-bench-data', 'routing:', '  plugin: default'].join('\n'), null);
const node = await startNode(config, pino({ level: 'warn' }), { controlPlane: false });
const hub = new TraceHub(2000, 8192);
const client = dgram.createSocket('udp4');
await new Promise((r) => client.bind(CLIENT_PORT, '127.0.0.1', r));
let got = 0;
let sent = 0;
let resolveWindow = null;
client.on('message', () => {
  got++;
  if (got === sent && resolveWindow) resolveWindow();
});

async function run(seconds) {
  got = 0;
  sent = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() - t0 < budget) {
    const done = new Promise((r) => (resolveWindow = r));
    for (let i = 0; i < 64; i++) client.send(pool[(sent + i) & 1023], PORT, '127.0.0.1');
    sent += 64;
    let timer;
    await Promise.race([done, new Promise((r) => (timer = setTimeout(r, 500)))]);
    clearTimeout(timer);
    if (got < sent) sent = got;
  }
  const cpu = process.cpuUsage(c0);
  return { wall: Number(process.hrtime.bigint() - t0) / 1e3 / got, cpu: (cpu.user + cpu.system) / got };
}

let pushed = 0;
const STATES = {
  off: () => () => {},
  filtered: () => hub.watch({ filter: { callId: 'nothing-matches' }, push: () => pushed++ }),
  watching: () => hub.watch({ filter: {}, push: () => pushed++ }),
};
await run(1); // warm-up
const best = Object.fromEntries(Object.keys(STATES).map((k) => [k, { wall: Infinity, cpu: Infinity }]));
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, start] of Object.entries(STATES)) {
    const stop = start();
    const m = await run(SECONDS / ROUNDS * 3);
    stop();
    best[name].wall = Math.min(best[name].wall, m.wall);
    best[name].cpu = Math.min(best[name].cpu, m.cpu);
  }
}
console.table(Object.entries(best).map(([state, b]) => ({ state, 'µs/msg': b.wall.toFixed(2), 'cpu µs/msg (client+server)': b.cpu.toFixed(2) })));
console.log(`messages pushed to watchers: ${pushed}; captured: ${hub.captured}`);
client.close();
await node.stop();
