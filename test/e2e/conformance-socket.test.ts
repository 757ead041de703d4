/**
 * Every conformance message (RFC 4475 torture tests, RFC 3261/3665 examples, npm examples) sent to a
 * running `siphon start`, over UDP and over TCP: the server never falls over, and an OPTIONS sent after
 * each message is still answered. What each message must produce is asserted in the parser's unit
 * tests (test/unit/sip); here the point is the running server. The port (UDP and TCP) from freeUdpTcpPort().
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import net from 'node:net';
import { once } from 'node:events';
import { answersOptions, startSiphon, type SiphonProcess } from '../helpers/siphon-process.js';
import { conformanceMessages } from '../helpers/shared.js';
import { freeUdpTcpPort } from '../helpers/ports.js';

/** siphon's UDP and TCP listen port (freeUdpTcpPort(): the child is told it before it starts) */
let port = 0;
let srv: SiphonProcess;

beforeAll(async () => {
  port = await freeUdpTcpPort();
  srv = await startSiphon(['--listen', `udp:127.0.0.1:${port}`, '--listen', `tcp:127.0.0.1:${port}`], {
    readyPorts: [{ proto: 'udp', port }, { proto: 'tcp', port }],
  });
});
afterAll(async () => srv?.stop());

describe('conformance corpus against a running server', () => {
  const messages = conformanceMessages();

  it('finds the corpus', () => {
    expect(messages.length).toBeGreaterThanOrEqual(70);
  });

  it('survives every message over UDP and still answers OPTIONS after each', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    try {
      for (const [name, bytes] of messages) {
        sock.send(bytes, port, '127.0.0.1');
        const alive = await answersOptions('udp', port);
        expect(alive, `after ${name} over UDP`).toBe(true);
      }
    } finally {
      sock.close();
    }
    expect(srv.proc.exitCode).toBeNull();
  });

  it('survives every message over TCP and still answers OPTIONS after each', async () => {
    for (const [name, bytes] of messages) {
      const c = net.connect(port, '127.0.0.1');
      await once(c, 'connect');
      c.on('error', () => {});
      c.on('data', () => {});
      c.end(bytes);
      await new Promise((r) => setTimeout(r, 5));
      c.destroy();
      const alive = await answersOptions('tcp', port);
      expect(alive, `after ${name} over TCP`).toBe(true);
    }
    expect(srv.proc.exitCode).toBeNull();
  });
});
