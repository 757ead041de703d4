/**
 * End to end: the real `siphon start` process, driven over real sockets, by sipsak and by SIPp.
 * Ports from freeUdpTcpPort()/freePort() (a four-digit one from freeShortPort() for sipsak).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { optionsRequest, startSiphon, statusOf, tcpRequest, udpRequest, type SiphonProcess } from '../helpers/siphon-process.js';
import { freePort, freeShortPort, freeUdpTcpPort } from '../helpers/ports.js';
import { runSipp } from '../helpers/sipp.js';

const run = promisify(execFile);

describe('siphon start with the default plugin (UDP and TCP)', () => {
  let port = 0;
  // sipsak 0.9.8 truncates five-digit ports in -s URIs (sip:127.0.0.1:15900 becomes :1590), so it gets a four-digit one
  let sipsakPort = 0;
  let srv: SiphonProcess;
  beforeAll(async () => {
    port = await freeUdpTcpPort();
    sipsakPort = await freeShortPort('udp');
    srv = await startSiphon(['-c', 'config/siphon.yaml', '--listen', `udp:127.0.0.1:${port}`, '--listen', `tcp:127.0.0.1:${port}`, '--listen', `udp:127.0.0.1:${sipsakPort}`], {
      readyPorts: [{ proto: 'udp', port }, { proto: 'tcp', port }, { proto: 'udp', port: sipsakPort }],
    });
  });
  afterAll(async () => srv?.stop());

  it('answers OPTIONS to itself with 200 over UDP', async () => {
    const reply = await udpRequest(port, (lp) => optionsRequest(port, 'udp', lp));
    expect(reply).not.toBeNull();
    expect(statusOf(reply!)).toBe(200);
    // stateless reply rules (RFC 3261 §8.2.6): To-tag added, Content-Length 0, Via copied with rport filled
    const text = reply!.toString();
    expect(text).toMatch(/^To: .*;tag=/m);
    expect(text).toMatch(/^Via: SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK-e2e-[^;\r\n]+;rport=\d+/m);
    expect(text).toMatch(/^Content-Length: 0\r$/m);
  });

  it('safe by default: drops an OPTIONS from User-Agent friendly-scanner (secfilter seeded, built-in list)', async () => {
    const scanner = (lp: number) =>
      Buffer.from(
        optionsRequest(port, 'udp', lp)
          .toString('latin1')
          .replace('Content-Length: 0\r\n', 'User-Agent: friendly-scanner\r\nContent-Length: 0\r\n'),
        'latin1',
      );
    expect(await udpRequest(port, scanner, 1000)).toBeNull();
    // the evidence that it was dropped on purpose, not lost: the route's log line (bounded wait)
    const end = Date.now() + 5000;
    while (!/scanner friendly-scanner from 127\.0\.0\.1:\d+ dropped/.test(srv.stdout()) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(srv.stdout()).toMatch(/scanner friendly-scanner from 127\.0\.0\.1:\d+ dropped/);
    // a normal client is still answered
    expect(statusOf((await udpRequest(port, (lp) => optionsRequest(port, 'udp', lp)))!)).toBe(200);
  });

  it('safe by default: pike drops a flooding source (127.0.0.2) past 30 requests per 2 s', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.2', () => r()));
    const lp = sock.address().port;
    let replies = 0;
    sock.on('message', () => replies++);
    try {
      // 60 OPTIONS in two bursts of 30, each burst answered before the next is sent (no socket-buffer loss)
      for (let i = 0; i < 30; i++) sock.send(optionsRequest(port, 'udp', lp).toString('latin1').replaceAll('127.0.0.1:' + lp, '127.0.0.2:' + lp), port, '127.0.0.1');
      const end = Date.now() + 5000;
      while (replies < 29 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < 30; i++) sock.send(optionsRequest(port, 'udp', lp).toString('latin1').replaceAll('127.0.0.1:' + lp, '127.0.0.2:' + lp), port, '127.0.0.1');
      // the node logs the block (E7100); then no further answer comes
      const end2 = Date.now() + 5000;
      while (!srv.stdout().includes('"code":7100') && Date.now() < end2) await new Promise((r) => setTimeout(r, 20));
      expect(srv.stdout()).toMatch(/pike: blocking 127\.0\.0\.2/);
      expect(replies).toBeGreaterThanOrEqual(29);
      expect(replies).toBeLessThan(60);
    } finally {
      sock.close();
    }
    // 127.0.0.1 (the server's own address, like kamailio.cfg's src_ip==myself) is never counted
    expect(statusOf((await udpRequest(port, (lp2) => optionsRequest(port, 'udp', lp2)))!)).toBe(200);
  });

  it('answers OPTIONS to itself with 200 over TCP on the same connection', async () => {
    const reply = await tcpRequest(port, (lp) => optionsRequest(port, 'tcp', lp));
    expect(reply).not.toBeNull();
    expect(statusOf(reply!)).toBe(200);
  });

  it('answers sipsak (a real SIP client) with 200', async () => {
    const { stdout } = await run('sipsak', ['-v', '-H', '127.0.0.1', '-s', `sip:127.0.0.1:${sipsakPort}`, '-l', String(await freePort('udp'))], { timeout: 10_000 }).catch((e) => e);
    expect(String(stdout)).toMatch(/SIP\/2\.0 200/);
  });

  it('sustains a bounded SIPp OPTIONS run with zero failed calls', async () => {
    // runSipp gives SIPp free ports for SIP, media and control, and reads its statistics file
    const r = await runSipp(port, path.join(process.cwd(), 'bench/scenarios/options-keepalive.xml'), { rate: 200, calls: 1000, timeoutS: 30, recvTimeoutMs: 5000 });
    expect(r.successful, r.errors).toBe(1000);
    expect(r.failed).toBe(0);
  });
});

describe('siphon start --plugin hello', () => {
  let port = 0;
  let srv: SiphonProcess;
  beforeAll(async () => {
    port = await freePort('udp');
    srv = await startSiphon(['--plugin', 'hello', '--listen', `udp:127.0.0.1:${port}`], { readyPorts: [{ proto: 'udp', port }] });
  });
  afterAll(async () => srv?.stop());

  it('answers any request with 501 and logs "I got a message"', async () => {
    const reply = await udpRequest(port, (lp) =>
      Buffer.from(
        `MESSAGE sip:alice@127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${lp};branch=z9hG4bK-hello-1\r\n` +
          `Max-Forwards: 70\r\nFrom: <sip:bob@127.0.0.1>;tag=h1\r\nTo: <sip:alice@127.0.0.1>\r\nCall-ID: hello-e2e-1\r\n` +
          `CSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi`,
      ),
    );
    expect(reply).not.toBeNull();
    expect(statusOf(reply!)).toBe(501);
    await new Promise((r) => setTimeout(r, 300));
    const lines = srv.stdout().split('\n').filter((l) => l.includes('I got a message'));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.some((l) => l.includes('hello-e2e-1'))).toBe(true);
  });
});

describe('siphon check', () => {
  it('exits non-zero and names the line of a typo', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'siphon-check-'));
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'core:\n  listen:\n    - udp:127.0.0.1:15920\n  lsten_typo: 3\nrouting:\n  plugin: default\n');
    const res = await run(process.execPath, ['dist/host/cli/siphon.js', 'check', '-c', file]).then(
      () => ({ code: 0, out: '' }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: `${e.stdout}${e.stderr}` }),
    );
    expect(res.code).not.toBe(0);
    expect(res.out).toContain(`${file}:4`);
    expect(res.out).toMatch(/lsten_typo/);
  });

  it('exits 0 on the shipped config', async () => {
    const { stdout, stderr } = await run(process.execPath, ['dist/host/cli/siphon.js', 'check', '-c', 'config/siphon.yaml']);
    expect(`${stdout}${stderr}`).not.toMatch(/error/i);
  });
});
