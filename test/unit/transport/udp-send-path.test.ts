/** UDP send path of the listener: literal addresses skip dns.lookup, large socket buffers (listener and client on port 0: the OS picks). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import dgram from 'node:dgram';
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { UdpListener } from '../../../host/transport/udp.js';
import { SOCKET_BUFFER_BYTES, type MessageSink } from '../../../host/transport/types.js';

const silent = pino({ level: 'silent' });
const opened: Array<{ close(): unknown }> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const o of opened.splice(0)) await o.close();
});

const nullSink: MessageSink = { receive: () => undefined };

/** a listener on 127.0.0.1, port 0: it reports the port bound in local.port. */
async function listener(): Promise<UdpListener> {
  const l = new UdpListener({ address: { proto: 'udp', host: '127.0.0.1', port: 0, family: 4, uri: 'udp:127.0.0.1:0' }, sink: nullSink, log: silent });
  opened.push(l);
  await l.start();
  return l;
}

async function client(): Promise<{ socket: dgram.Socket; port: number; got: string[] }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  opened.push({ close: () => new Promise<void>((r) => socket.close(() => r())) });
  const got: string[] = [];
  socket.on('message', (m) => got.push(m.toString()));
  return { socket, port: socket.address().port, got };
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('UDP listener send path', () => {
  it('sends to an IP literal without dns.lookup, and still resolves names through it', async () => {
    const l = await listener();
    const c = await client();
    const lookup = vi.spyOn(dns, 'lookup');
    l.send(Buffer.from('literal'), '127.0.0.1', c.port);
    await until(() => c.got.length === 1);
    expect(c.got[0]).toBe('literal');
    expect(lookup).not.toHaveBeenCalled();

    l.send(Buffer.from('by name'), 'localhost', c.port);
    await until(() => c.got.length === 2);
    expect(c.got[1]).toBe('by name');
    expect(lookup).toHaveBeenCalledTimes(1);
    expect(l.stats).toMatchObject({ sent: 2, sendErrors: 0 });
  });

  it('asks the kernel for large socket buffers (capped by net.core.rmem_max / wmem_max)', async () => {
    const l = await listener();
    const sizes = l.socketBufferSizes();
    const cap = (file: string): number => Number(readFileSync(file, 'utf8').trim());
    // Linux reports twice the granted size (bookkeeping overhead included)
    expect(sizes.recv).toBeGreaterThanOrEqual(Math.min(SOCKET_BUFFER_BYTES, cap('/proc/sys/net/core/rmem_max')));
    expect(sizes.send).toBeGreaterThanOrEqual(Math.min(SOCKET_BUFFER_BYTES, cap('/proc/sys/net/core/wmem_max')));
  });
});
