#!/usr/bin/env node
/**
 * TCP listener micro benchmark (host/transport/tcp.ts): what the hostile-peer limits cost on the
 * normal path, and what a byte-by-byte sender costs the server.
 *
 *   node bench/tcp.bench.mjs [--dist DIR] [--port N]
 *
 * --dist: the compiled host to load (default dist/ of this checkout), so a build of another commit can
 * be measured the same way. Clients run in a child process; the CPU figures are this (server) process's.
 *
 * 1. pipelined OPTIONS: 16 connections each send 20,000 requests in batches of 100 and read the
 *    replies; the listener answers every request with a 200 of ~300 bytes (no parsing: the transport only).
 * 2. dribble: one 40 KB message (20 KB header, 20 KB body) sent one byte per write (TCP_NODELAY).
 */
import { fork } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};

function request(n, body = '', extra = '') {
  return (
    `OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-b${n}\r\nMax-Forwards: 70\r\n` +
    `From: <sip:a@127.0.0.1>;tag=${n}\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: bench-${n}\r\nCSeq: ${n} OPTIONS\r\n${extra}` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

const REPLY = Buffer.from(`SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-b\r\nX-Pad: ${'p'.repeat(180)}\r\nContent-Length: 0\r\n\r\n`);

// ---- client side (child process) ------------------------------------------------------------------
if (process.argv[2] === '--client') {
  const [mode, port, conns, perConn] = process.argv.slice(3).map((v, i) => (i === 0 ? v : Number(v)));
  if (mode === 'pipeline') {
    let done = 0;
    for (let c = 0; c < conns; c++) {
      const s = net.connect(port, '127.0.0.1');
      let got = 0;
      let sent = 0;
      const sendBatch = () => {
        let batch = '';
        for (let i = 0; i < 100 && sent < perConn; i++) batch += request(c * perConn + sent++);
        s.write(batch);
      };
      s.on('connect', () => {
        sendBatch();
        sendBatch();
      });
      s.on('data', (d) => {
        const before = Math.floor(got / REPLY.length / 100);
        got += d.length;
        const after = Math.floor(got / REPLY.length / 100);
        for (let k = before; k < after && sent < perConn; k++) sendBatch();
        if (got >= perConn * REPLY.length) {
          s.destroy();
          if (++done === conns) process.send('done');
        }
      });
    }
  } else {
    const s = net.connect(port, '127.0.0.1');
    s.setNoDelay(true);
    const msg = request(1, 'b'.repeat(20_000), `X-Big: ${'h'.repeat(20_000)}\r\n`);
    s.on('connect', async () => {
      for (let i = 0; i < msg.length; i++) {
        if (!s.write(msg[i])) await new Promise((r) => s.once('drain', r));
        await new Promise((r) => setImmediate(r));
      }
    });
    s.on('data', () => {
      s.destroy();
      process.send('done');
    });
  }
} else {
  // ---- server side ---------------------------------------------------------------------------------
  const dist = path.resolve(arg('--dist', path.join(here, '..', 'dist')));
  const port = Number(arg('--port', '17770'));
  const { TcpListener } = await import(pathToFileURL(path.join(dist, 'host/transport/tcp.js')).href);
  const { sipStreamFramer } = await import(pathToFileURL(path.join(dist, 'host/transport/sip-framer.js')).href);
  const { default: pino } = await import('pino');
  let framerCalls = 0;
  const sink = {
    received: 0,
    receive(_buf, source, channel) {
      this.received++;
      channel.send(REPLY, source.address, source.port);
    },
  };
  const l = new TcpListener({
    address: { proto: 'tcp', host: '127.0.0.1', port, family: 4, uri: `tcp:127.0.0.1:${port}` },
    sink,
    log: pino({ level: 'silent' }),
    framer: (b, o) => {
      framerCalls++;
      return sipStreamFramer(b, o);
    },
    maxMessageSize: 65535,
    idleTimeout: 120,
    maxConnections: 2048,
  });
  await l.start();

  async function run(label, args) {
    framerCalls = 0;
    sink.received = 0;
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const child = fork(fileURLToPath(import.meta.url), ['--client', ...args.map(String)]);
    await new Promise((r) => child.once('message', r));
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu = process.cpuUsage(cpu0);
    child.kill();
    const cpuMs = (cpu.user + cpu.system) / 1000;
    console.log(
      `${label.padEnd(40)} ${String(sink.received).padStart(7)} msgs  ${ms.toFixed(0).padStart(6)} ms wall` +
        `  ${cpuMs.toFixed(0).padStart(6)} ms server CPU  ${((sink.received / cpuMs) * 1000).toFixed(0).padStart(7)} msgs/CPU-s  framer calls ${framerCalls}`,
    );
  }

  console.log(`dist: ${dist}`);
  await run('pipelined OPTIONS, 16 conns x 20000', ['pipeline', port, 16, 20000]);
  await run('pipelined OPTIONS, 16 conns x 20000', ['pipeline', port, 16, 20000]);
  await run('dribble: 40 KB message, 1 byte/write', ['dribble', port, 1, 1]);
  await l.close();
}
