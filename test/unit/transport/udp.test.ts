/** UDP listener over real sockets on 127.0.0.1 / ::1 (ports from freePort(), or port 0: the listener reports the port bound in channel.local). */
import { afterEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import pino from 'pino';
import { UdpListener } from '../../../host/transport/udp.js';
import { parseListenUri } from '../../../host/transport/listen-uri.js';
import { isSiphonError } from '../../../host/errors/registry.js';
import type { Channel, MessageSink } from '../../../host/transport/types.js';
import type { Endpoint } from '../../../host/core/context.js';
import { freePort } from '../../helpers/ports.js';

const silent = pino({ level: 'silent' });
const opened: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
});

class Sink implements MessageSink {
  got: Array<{ buf: Buffer; source: Endpoint; channel: Channel }> = [];
  receive(buf: Buffer, source: Endpoint, channel: Channel): void {
    this.got.push({ buf, source, channel });
  }
}

async function client(type: 'udp4' | 'udp6', host: string): Promise<dgram.Socket> {
  const s = dgram.createSocket(type);
  await new Promise<void>((r) => s.bind(0, host, () => r()));
  opened.push({ close: () => new Promise<void>((r) => s.close(() => r())) });
  return s;
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('UDP listener', () => {
  it('delivers datagrams with their source and replies from the listen socket', async () => {
    const sink = new Sink();
    const port = await freePort('udp');
    const l = new UdpListener({ address: parseListenUri(`udp:127.0.0.1:${port}`), sink, log: silent });
    opened.push(l);
    await l.start();
    const c = await client('udp4', '127.0.0.1');
    const replies: Array<{ msg: Buffer; port: number }> = [];
    c.on('message', (msg, rinfo) => replies.push({ msg, port: rinfo.port }));
    c.send('hello', port, '127.0.0.1');
    await until(() => sink.got.length === 1);
    const { buf, source, channel } = sink.got[0]!;
    expect(buf.toString()).toBe('hello');
    expect(source).toEqual({ address: '127.0.0.1', port: c.address().port, proto: 'udp', family: 4 });
    expect(channel.local).toEqual({ address: '127.0.0.1', port, proto: 'udp', family: 4 });
    channel.send(Buffer.from('back'), source.address, source.port);
    await until(() => replies.length === 1);
    expect(replies[0]!.msg.toString()).toBe('back');
    expect(replies[0]!.port).toBe(port);
    expect(l.stats).toMatchObject({ received: 1, sent: 1 });
  });

  it('listening on port 0, reports the port the OS bound in local (as TcpListener does)', async () => {
    const sink = new Sink();
    // a listen URI in the config never says 0 (listen-uri.ts refuses it): only code builds this address
    const l = new UdpListener({ address: { proto: 'udp', host: '127.0.0.1', port: 0, family: 4, uri: 'udp:127.0.0.1:0' }, sink, log: silent });
    opened.push(l);
    expect(l.local.port).toBe(0);
    await l.start();
    expect(l.local.port).toBeGreaterThan(0);
    expect(l.local).toEqual({ address: '127.0.0.1', port: l.local.port, proto: 'udp', family: 4 });
    // the reported port is the one that receives
    const c = await client('udp4', '127.0.0.1');
    c.send('to the bound port', l.local.port, '127.0.0.1');
    await until(() => sink.got.length === 1);
    expect(sink.got[0]!.buf.toString()).toBe('to the bound port');
    expect(sink.got[0]!.channel.local.port).toBe(l.local.port);
  });

  it('works over IPv6 [::1]', async () => {
    const sink = new Sink();
    // a port free on ::1 (freePort() checks 127.0.0.1): bind [::1]:0, read it back, close
    const probe = dgram.createSocket('udp6');
    await new Promise<void>((r) => probe.bind(0, '::1', () => r()));
    const port = probe.address().port;
    await new Promise<void>((r) => probe.close(() => r()));
    const l = new UdpListener({ address: parseListenUri(`udp:[::1]:${port}`), sink, log: silent });
    opened.push(l);
    await l.start();
    const c = await client('udp6', '::1');
    c.send('v6', port, '::1');
    await until(() => sink.got.length === 1);
    expect(sink.got[0]!.source).toMatchObject({ address: '::1', family: 6 });
  });

  it('a port already in use is E3002', async () => {
    const port = await freePort('udp');
    const a = new UdpListener({ address: parseListenUri(`udp:127.0.0.1:${port}`), sink: new Sink(), log: silent });
    opened.push(a);
    await a.start();
    const b = new UdpListener({ address: parseListenUri(`udp:127.0.0.1:${port}`), sink: new Sink(), log: silent });
    opened.push(b);
    const err = await b.start().catch((e: unknown) => e);
    expect(isSiphonError(err, 'TRANSPORT_BIND')).toBe(true);
    expect((err as Error).message).toContain(`udp:127.0.0.1:${port}: `);
    expect((err as Error).message).toMatch(/EADDRINUSE/);
  });
});
