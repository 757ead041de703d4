#!/usr/bin/env node
/**
 * WebSocket connections at scale (issue #15 must-show "WebSocket load: many concurrent WS clients
 * register and stay registered; RSS per connection"): the real `siphon start` (dist/, run `npm run build`
 * first) with a ws: listener and plugins/default (registrar, nathelper; auth off), and N WebSocket
 * clients (the `ws` package, the framing a browser sends; `sip` subprotocol) on 127.0.0.1. Each client
 * REGISTERs (Contact `*.invalid;transport=ws`, as JsSIP does) and must get 200; all stay connected for
 * HOLD seconds (the node's keepalive pings answered by the clients), then every client REGISTERs again
 * on its connection and must get 200 again (still registered, same connection).
 *
 * Prints the node's RSS before (idle, after start) and after (N registered connections) and the
 * difference per connection, plus failures; one JSON line at the end for bench/RESULTS.md.
 *
 *   node bench/ws-connections.mjs [N] [HOLD_S]          default 5000 connections, 30 s
 *   node bench/ws-connections.mjs 50 2                   smoke run (seconds)
 * Environment: WS_OPEN_CONCURRENCY (200 handshakes + REGISTERs in flight), WS_KEEPALIVE (s, the
 * node's core.ws.keepalive_interval; default 10 so the hold sees pings), SIPHON_WORKERS (1).
 * N above ~20,000 needs more ephemeral ports / open files than a default machine has (ulimit -n).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.argv[2] ?? 5000);
const HOLD_S = Number(process.argv[3] ?? 30);
const CONCURRENCY = Number(process.env.WS_OPEN_CONCURRENCY ?? 200);
const KEEPALIVE = Number(process.env.WS_KEEPALIVE ?? 10);
const DOMAIN = 'ws-bench.test';
const REPLY_MS = 10_000;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

const dir = mkdtempSync(path.join(tmpdir(), 'siphon-ws-bench-'));
const port = await freePort();
writeFileSync(
  path.join(dir, 'siphon.yaml'),
  [
    'core:',
    `  listen: [ws:127.0.0.1:${port}]`,
    '  ctl: []',
    '  log_level: warn',
    '  warmup: 0',
    `  workers: ${Number(process.env.SIPHON_WORKERS ?? 1)}`,
    `  aliases: [${DOMAIN}]`,
    `  data_dir: ${JSON.stringify(path.join(dir, 'data'))}`,
    `  ws: { max_connections: ${N + 100}, keepalive_interval: ${KEEPALIVE} }`,
    `  tcp: { max_connections: ${N + 100}, accept_iplimit: 0 }`,
    'modules:',
    `  registrar: { db_mode: 0, max_location_contacts: ${Math.max(N * 2, 1000)} }`,
    '  nathelper: { natping_interval: 0 }',
    'routing:',
    '  plugin: default',
    '  config: { auth: "off", log_calls: "off" }',
  ].join('\n'),
);
const node = spawn(process.execPath, [path.join(ROOT, 'dist/host/cli/siphon.js'), 'start', '-c', path.join(dir, 'siphon.yaml')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
let nodeOut = '';
node.stdout.on('data', (d) => (nodeOut = (nodeOut + d).slice(-20000)));
node.stderr.on('data', (d) => (nodeOut = (nodeOut + d).slice(-20000)));
const cleanup = () => {
  if (node.exitCode === null) node.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', cleanup);

// ready: the listener accepts TCP (bounded 60 s)
for (let t = Date.now(); ; ) {
  const ok = await new Promise((r) => {
    const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
    s.on('error', () => r(false));
  });
  if (ok) break;
  if (node.exitCode !== null || Date.now() - t > 60_000) {
    console.error(`siphon did not start:\n${nodeOut}`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 200));
}
await new Promise((r) => setTimeout(r, 1000)); // settle after start
const rssIdle = rssKb(node.pid);

/** one client: connection, REGISTER, waits for its reply (bounded). */
class Client {
  constructor(i) {
    this.i = i;
    this.user = `u${i}`;
    this.host = `c${i}x.invalid`;
    this.cseq = 0;
    this.pending = null;
  }
  open() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(`ws://127.0.0.1:${port}`, ['sip'], { origin: 'https://bench.example.test', perMessageDeflate: false });
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.on('message', (d) => {
        const s = d.toString();
        if (this.pending && s.startsWith('SIP/2.0 ') && s.includes(`Call-ID: bench-${this.i}\r\n`)) {
          const p = this.pending;
          this.pending = null;
          p(Number(s.slice(8, 11)));
        }
      });
      this.ws.on('close', () => (this.closed = true));
    });
  }
  register() {
    this.cseq++;
    const msg =
      `REGISTER sip:${DOMAIN} SIP/2.0\r\nVia: SIP/2.0/WS ${this.host};branch=z9hG4bK${this.i}r${this.cseq}\r\nMax-Forwards: 70\r\n` +
      `From: <sip:${this.user}@${DOMAIN}>;tag=t${this.i}\r\nTo: <sip:${this.user}@${DOMAIN}>\r\nCall-ID: bench-${this.i}\r\nCSeq: ${this.cseq} REGISTER\r\n` +
      `Contact: <sip:${this.user}@${this.host};transport=ws>;expires=600\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n`;
    return new Promise((resolve) => {
      const t = setTimeout(() => ((this.pending = null), resolve(0)), REPLY_MS);
      this.pending = (code) => (clearTimeout(t), resolve(code));
      this.ws.send(msg);
    });
  }
}

/** runs fn over items, `limit` at a time; returns the failures as strings. */
async function pool(items, limit, fn) {
  const failures = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const it = items[next++];
        try {
          await fn(it);
        } catch (e) {
          failures.push(`${it.i}: ${e.message}`);
        }
      }
    }),
  );
  return failures;
}

const clients = Array.from({ length: N }, (_, i) => new Client(i));
const t0 = Date.now();
const openFail = await pool(clients, CONCURRENCY, async (c) => {
  await c.open();
  const code = await c.register();
  if (code !== 200) throw new Error(`REGISTER answered ${code || 'nothing'}`);
});
const openS = (Date.now() - t0) / 1000;
console.log(`opened and registered ${N - openFail.length}/${N} in ${openS.toFixed(1)} s${openFail.length ? `; first failures: ${openFail.slice(0, 3).join('; ')}` : ''}`);

await new Promise((r) => setTimeout(r, HOLD_S * 1000));
const rssHeld = rssKb(node.pid);
const live = clients.filter((c) => c.ws && !c.closed);
const reFail = await pool(live, CONCURRENCY, async (c) => {
  const code = await c.register();
  if (code !== 200) throw new Error(`re-REGISTER answered ${code || 'nothing'}`);
});
const stillRegistered = live.length - reFail.length;
const perConnKb = N > 0 ? (rssHeld - rssIdle) / N : 0;
console.log(`after ${HOLD_S} s: ${live.length}/${N} connections open, ${stillRegistered} re-REGISTERed with 200 on the same connection`);
console.log(`siphon RSS idle ${rssIdle} kB, with ${N} registered connections ${rssHeld} kB: ${perConnKb.toFixed(2)} kB per connection`);
console.log(
  JSON.stringify({
    bench: 'ws-connections',
    connections: N,
    hold_s: HOLD_S,
    workers: Number(process.env.SIPHON_WORKERS ?? 1),
    registered: N - openFail.length,
    open_after_hold: live.length,
    reregistered: stillRegistered,
    open_s: Number(openS.toFixed(1)),
    rss_idle_kb: rssIdle,
    rss_kb: rssHeld,
    rss_per_conn_kb: Number(perConnKb.toFixed(2)),
  }),
);
for (const c of clients) c.ws?.terminate();
cleanup();
process.exit(openFail.length + reFail.length + (N - live.length) > 0 ? 1 : 0);
