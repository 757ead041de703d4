#!/usr/bin/env node
/**
 * The whole in-process message path for an OPTIONS keepalive, as SIPp's options-keepalive.xml
 * sends it: datagram bytes → SiphonServer.receive (parse → sanity → plugin request_route →
 * sl_reply → reply bytes) → channel.send. The node is started with the real wiring (startNode:
 * modules, plugin manager, default plugin) and one UDP listener on 127.0.0.1 (19901) that is never
 * sent to: the bench calls receive() directly with a channel that only keeps the reply bytes, so
 * socket costs are left out (--udp measures the socket path). Also reported: the parse alone.
 *
 *   npm run build && node scripts/build-plugins.mjs && node bench/pipeline.bench.mjs [--seconds 3]
 *   node bench/pipeline.bench.mjs --compare /tmp/old-siphon  # this build against another one (*)
 *   node bench/pipeline.bench.mjs --udp                      # real UDP sockets on loopback
 *   node --cpu-prof bench/pipeline.bench.mjs --only receive  # profile the path alone
 *
 * (*) a built export of another commit (`git archive <rev> | tar -x -C DIR`, node_modules linked,
 * `npx tsc -p DIR` and its plugins built); both builds run in this process, their rounds
 * alternating, so both see the same machine load.
 *
 * Wall time suffers from teammates' load on a shared machine; the `cpu µs/msg` column (process CPU
 * time per message, best round) is the steadier number to compare before/after.
 */
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pino from 'pino';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};
const SECONDS = Number(arg('--seconds', 3));
const ROUNDS = Number(arg('--rounds', 6));
const ONLY = arg('--only', '');
const COMPARE = arg('--compare', '');
const UDP = process.argv.includes('--udp');
const CLIENT_PORT = 19900;

/** An OPTIONS exactly as SIPp's options-keepalive.xml renders it; `n` varies branch/tag/Call-ID. */
function options(n, port) {
  return Buffer.from(
    `OPTIONS sip:127.0.0.1:${port} SIP/2.0\r\n`
    + `Via: SIP/2.0/UDP 127.0.0.1:${CLIENT_PORT};branch=z9hG4bK-12345-${n}-0\r\n`
    + 'Max-Forwards: 70\r\n'
    + `From: <sip:sipp@127.0.0.1:${CLIENT_PORT}>;tag=12345O${n}\r\n`
    + `To: <sip:127.0.0.1:${port}>\r\n`
    + `Call-ID: ${n}-12345@127.0.0.1\r\n`
    + 'CSeq: 1 OPTIONS\r\n'
    + `Contact: <sip:sipp@127.0.0.1:${CLIENT_PORT}>\r\n`
    + 'Accept: application/sdp\r\n'
    + 'Content-Length: 0\r\n\r\n',
    'latin1',
  );
}

let sink = 0;

/** Starts the node of one siphon build (dir holds dist/ and plugins/) listening on `port`. */
async function loadBuild(label, dir, port) {
  const dist = (p) => pathToFileURL(path.join(dir, 'dist', p)).href;
  const { parseConfig } = await import(dist('host/config/load.js'));
  const { startNode } = await import(dist('host/server/app.js'));
  const { parseMessage } = await import(dist('host/sip/parser.js'));
  // a pool of distinct datagrams, as real traffic has (no single-string caches win by accident)
  const pool = Array.from({ length: 1024 }, (_, i) => options(100000 + i, port));
  const config = parseConfig(
    ['core:', `  listen: [ "udp:127.0.0.1:${port}" ]`, '  log_level: warn', `  node_id: bench-${port}`,
      '  data_dir: /tmp/siphon-bench-data', 'routing:', '  plugin: default'].join('\n'),
    null,
  );
  const log = pino({ level: 'warn' }, pino.destination({ dest: 2, sync: false }));
  const node = await startNode(config, log, { controlPlane: false });
  const server = node.server;
  const build = { label, port, pool, node, lastReply: null };
  const channel = {
    proto: 'udp',
    local: { address: '127.0.0.1', port, proto: 'udp', family: 4 },
    send(buf) {
      build.lastReply = buf;
    },
  };
  const source = { address: '127.0.0.1', port: CLIENT_PORT, proto: 'udp', family: 4 };
  build.cases = {
    'parse OPTIONS only': (i) => {
      sink += parseMessage(pool[i & 1023]).ok ? 1 : 0;
    },
    'receive → plugin → reply bytes': (i) => server.receive(pool[i & 1023], source, channel),
  };
  const first = parseMessage(pool[0]);
  if (!first.ok) throw new Error(`${label}: the benchmark OPTIONS does not parse: ${first.failure.detail}`);
  server.receive(pool[0], source, channel);
  if (build.lastReply === null || !build.lastReply.toString('latin1').startsWith('SIP/2.0 200')) {
    throw new Error(`${label}: the default plugin did not answer 200: ${build.lastReply?.toString('latin1')}`);
  }
  return build;
}

/** One timed round of `fn`: wall and CPU µs per call. */
function round(fn, seconds) {
  let n = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < 5000; i++) fn(n + i);
    n += 5000;
    elapsed = process.hrtime.bigint() - t0;
  }
  const cpu = process.cpuUsage(c0);
  return { wall: Number(elapsed) / 1e3 / n, cpu: (cpu.user + cpu.system) / n };
}

function calibrate() {
  let x = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 5e7; i++) x = (Math.imul(x, 31) + i) | 0;
  const ns = Number(process.hrtime.bigint() - t0) / 5e7;
  sink += x & 1;
  return ns;
}

/** Real sockets: a client socket sends the pool in windows of `window` and waits for the replies. */
async function runUdp(build, seconds, window = 64) {
  const client = dgram.createSocket('udp4');
  await new Promise((r) => client.bind(CLIENT_PORT, '127.0.0.1', r));
  let got = 0;
  let sent = 0;
  let resolveWindow = null;
  client.on('message', () => {
    got++;
    if (got === sent && resolveWindow) resolveWindow();
  });
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() - t0 < budget) {
    const done = new Promise((r) => (resolveWindow = r));
    for (let i = 0; i < window; i++) client.send(build.pool[(sent + i) & 1023], build.port, '127.0.0.1');
    sent += window;
    let timer;
    const timeout = new Promise((r) => (timer = setTimeout(r, 500)));
    await Promise.race([done, timeout]);
    clearTimeout(timer);
    if (got < sent) sent = got; // lost datagrams: resynchronise
  }
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e3;
  const cpu = process.cpuUsage(c0);
  client.close();
  return { wall: elapsed / got, cpu: (cpu.user + cpu.system) / got };
}

const builds = [await loadBuild('this build', ROOT, 19901)];
if (COMPARE !== '') builds.push(await loadBuild(path.basename(COMPARE), path.resolve(COMPARE), 19902));

const rows = [];
const calib = Math.min(calibrate(), calibrate(), calibrate());
if (UDP) {
  for (const b of builds) {
    const r = await runUdp(b, SECONDS);
    rows.push({ build: b.label, case: 'UDP loopback, client in-process (window 64)', 'µs/msg': r.wall.toFixed(2), 'cpu µs/msg (client+server)': r.cpu.toFixed(2) });
  }
} else {
  for (const name of Object.keys(builds[0].cases)) {
    if (ONLY !== '' && !name.startsWith(ONLY)) continue;
    for (const b of builds) for (let i = 0; i < 30000; i++) b.cases[name](i); // warm-up: let V8 optimize
    const best = builds.map(() => ({ wall: Infinity, cpu: Infinity }));
    for (let r = 0; r < ROUNDS; r++) {
      builds.forEach((b, k) => {
        const m = round(b.cases[name], SECONDS / ROUNDS / builds.length);
        best[k].wall = Math.min(best[k].wall, m.wall);
        best[k].cpu = Math.min(best[k].cpu, m.cpu);
      });
    }
    builds.forEach((b, k) => {
      rows.push({ build: b.label, case: name, 'msg/s': Math.round(1e6 / best[k].wall).toLocaleString('en-US'), 'µs/msg': best[k].wall.toFixed(2), 'cpu µs/msg': best[k].cpu.toFixed(2) });
    });
  }
}
console.log(`siphon message path — ${builds[0].pool[0].length}-byte OPTIONS, default plugin, node ${process.version}`);
console.log(`machine calibration: ${calib.toFixed(2)} ns per loop iteration (≈1 ns when the CPU is idle)`);
console.table(rows);
console.log(`reply (${builds[0].lastReply.length} bytes):\n${builds[0].lastReply.toString('latin1').trimEnd()}`);
if (sink === 42) console.log('');
for (const b of builds) await b.node.stop();
