/**
 * The UDP queue probe of core.overload (host/transport/queue-probe.ts) on a real listener: probes
 * come back measured and never reach the message path; what a probe measures includes the time the
 * loop could not read the socket; a 16-byte datagram from anyone else is an ordinary message.
 */
import { afterEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import pino from 'pino';
import { UdpListener } from '../../../host/transport/udp.js';
import { parseListenUri } from '../../../host/transport/listen-uri.js';
import { PROBE_BYTES, probeHost, type QueueProbeSink } from '../../../host/transport/queue-probe.js';
import type { MessageSink } from '../../../host/transport/types.js';
import { freePort } from '../../helpers/ports.js';

const silent = pino({ level: 'silent' });
const opened: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
});

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // the loop cannot read the socket meanwhile
  }
}

async function probedListener(sink: QueueProbeSink): Promise<{ l: UdpListener; port: number; received: Buffer[] }> {
  const received: Buffer[] = [];
  const messages: MessageSink = { receive: (buf) => void received.push(buf) };
  const port = await freePort();
  const l = new UdpListener({ address: parseListenUri(`udp:127.0.0.1:${port}`), sink: messages, log: silent });
  opened.push(l);
  await l.start();
  await l.startProbe(5, sink);
  return { l, port, received };
}

describe('UDP queue probe', () => {
  it('probes come back measured, and are neither counted nor handed to the message path', async () => {
    const delays: number[] = [];
    let lags = 0;
    const { l, received } = await probedListener({ probeDelay: (ms) => void delays.push(ms), loopLag: () => void lags++ });
    await until(() => delays.length >= 5);
    expect(received).toHaveLength(0);
    expect(l.stats.received).toBe(0);
    expect(lags).toBeGreaterThanOrEqual(5);
    for (const d of delays) expect(d).toBeGreaterThanOrEqual(0);
  });

  it('a probe waiting while the loop is blocked measures at least the block', async () => {
    const delays: number[] = [];
    let armed = false;
    const sink: QueueProbeSink = {
      probeDelay: (ms) => void delays.push(ms),
      // called in the probe's tick just before it sends: block the loop right after the send
      loopLag: () => {
        if (!armed) return;
        armed = false;
        delays.length = 0;
        queueMicrotask(() => busy(120));
      },
    };
    await probedListener(sink);
    await until(() => delays.length >= 1);
    armed = true;
    await until(() => !armed && delays.length >= 1);
    expect(delays[0]).toBeGreaterThanOrEqual(120);
  });

  it('a 16-byte datagram from another socket is an ordinary message', async () => {
    const { port, received, l } = await probedListener({ probeDelay: () => undefined, loopLag: () => undefined });
    const s = dgram.createSocket('udp4');
    opened.push({ close: () => new Promise<void>((r) => s.close(() => r())) });
    s.send(Buffer.alloc(PROBE_BYTES, 0x41), port, '127.0.0.1');
    await until(() => received.length === 1);
    expect(received[0]!.length).toBe(PROBE_BYTES);
    expect(l.stats.received).toBe(1);
  });

  it('probes a wildcard listener over loopback', () => {
    expect(probeHost('0.0.0.0', 4)).toBe('127.0.0.1');
    expect(probeHost('::', 6)).toBe('::1');
    expect(probeHost('[2001:db8::1]', 6)).toBe('2001:db8::1');
    expect(probeHost('192.0.2.7', 4)).toBe('192.0.2.7');
  });
});
