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
import { formatIpv6, udpBatchUnavailable } from '../../../host/transport/udp-native/index.js';

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

// both receive/send paths: the batched native socket (core.udp_batch, the default where the addon is built) and Node's dgram
describe.each([{ batch: true }, { batch: false }])('UDP listener (udp_batch $batch)', ({ batch }) => {
  it('delivers datagrams with their source and replies from the listen socket', async () => {
    const sink = new Sink();
    const port = await freePort('udp');
    const l = new UdpListener({ address: parseListenUri(`udp:127.0.0.1:${port}`), sink, log: silent, batch });
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
    const l = new UdpListener({ address: { proto: 'udp', host: '127.0.0.1', port: 0, family: 4, uri: 'udp:127.0.0.1:0' }, sink, log: silent, batch });
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
    const l = new UdpListener({ address: parseListenUri(`udp:[::1]:${port}`), sink, log: silent, batch });
    opened.push(l);
    await l.start();
    const c = await client('udp6', '::1');
    c.send('v6', port, '::1');
    await until(() => sink.got.length === 1);
    expect(sink.got[0]!.source).toMatchObject({ address: '::1', family: 6 });
  });

  it('a port already in use is E3002', async () => {
    const port = await freePort('udp');
    const a = new UdpListener({ address: parseListenUri(`udp:127.0.0.1:${port}`), sink: new Sink(), log: silent, batch });
    opened.push(a);
    await a.start();
    const b = new UdpListener({ address: parseListenUri(`udp:127.0.0.1:${port}`), sink: new Sink(), log: silent, batch });
    opened.push(b);
    const err = await b.start().catch((e: unknown) => e);
    expect(isSiphonError(err, 'TRANSPORT_BIND')).toBe(true);
    expect((err as Error).message).toContain(`udp:127.0.0.1:${port}: `);
    expect((err as Error).message).toMatch(/EADDRINUSE/);
  });
});

describe('batched UDP (host/transport/udp-native)', () => {
  it.skipIf(udpBatchUnavailable() !== '')('a burst of 2,000 datagrams arrives whole, in order per sender, and 2,000 replies leave in sendmmsg batches', async () => {
    const sink = new Sink();
    const l = new UdpListener({ address: { proto: 'udp', host: '127.0.0.1', port: 0, family: 4, uri: 'udp:127.0.0.1:0' }, sink, log: silent, batch: true });
    opened.push(l);
    await l.start();
    const c = await client('udp4', '127.0.0.1');
    c.setRecvBufferSize(4 * 1024 * 1024); // 2,000 replies at once (the default ~200 KB would drop some)
    const back: string[] = [];
    c.on('message', (m) => back.push(m.toString()));
    // sent back to back: recvmmsg takes up to 32 per call, the listener answers from the same turn
    for (let i = 0; i < 2000; i++) c.send(`m${i}`.padEnd(200 + (i % 7) * 100, '.'), l.local.port, '127.0.0.1');
    await until(() => sink.got.length === 2000, 10_000).catch((e) => { throw new Error(`${e.message}: ${sink.got.length} received, sizes ${JSON.stringify(l.socketBufferSizes())}`); });
    expect(sink.got.map((g) => g.buf.toString().replace(/\.+$/, ''))).toEqual(Array.from({ length: 2000 }, (_, i) => `m${i}`));
    expect(sink.got.every((g, i) => g.buf.length === 200 + (i % 7) * 100)).toBe(true);
    for (const g of sink.got) g.channel.send(Buffer.from(`r${g.buf.toString().replace(/\.+$/, '').slice(1)}`), g.source.address, g.source.port);
    await until(() => back.length === 2000, 10_000).catch((e) => { throw new Error(`${e.message}: ${back.length} replies`); });
    expect(back).toEqual(Array.from({ length: 2000 }, (_, i) => `r${i}`));
    expect(l.stats).toMatchObject({ received: 2000, sent: 2000, sendErrors: 0 });
  });

  it.skipIf(udpBatchUnavailable() !== '')('a send to a bad port or an unresolvable name is a counted send error, and the rest of the batch leaves', async () => {
    const l = new UdpListener({ address: { proto: 'udp', host: '127.0.0.1', port: 0, family: 4, uri: 'udp:127.0.0.1:0' }, sink: new Sink(), log: silent, batch: true });
    opened.push(l);
    await l.start();
    const c = await client('udp4', '127.0.0.1');
    const back: string[] = [];
    c.on('message', (m) => back.push(m.toString()));
    const port = c.address().port;
    l.send(Buffer.from('a'), '127.0.0.1', port);
    l.send(Buffer.from('x'), '127.0.0.1', 0);
    l.send(Buffer.from('y'), 'no-such-host.invalid', port);
    l.send(Buffer.from('b'), '127.0.0.1', port);
    await until(() => back.length === 2 && l.stats.sendErrors === 2, 5000);
    expect(back).toEqual(['a', 'b']);
  });

  it('IPv6 source addresses read as RFC 5952 text (what inet_ntop gives)', () => {
    const b = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex.replace(/:/g, ''), 'hex'));
    expect(formatIpv6(b('0000:0000:0000:0000:0000:0000:0000:0001'))).toBe('::1');
    expect(formatIpv6(b('2001:0db8:0000:0000:0000:0000:0000:0010'))).toBe('2001:db8::10');
    expect(formatIpv6(b('2001:0db8:0000:0001:0000:0000:0000:0001'))).toBe('2001:db8:0:1::1');
    expect(formatIpv6(b('2001:0db8:0001:0002:0003:0004:0005:0006'))).toBe('2001:db8:1:2:3:4:5:6');
    expect(formatIpv6(b('2001:0000:0000:0001:0000:0000:0000:0001'))).toBe('2001:0:0:1::1');
    expect(formatIpv6(b('fe80:0000:0000:0000:0000:0000:0000:0000'))).toBe('fe80::');
    expect(formatIpv6(b('0000:0000:0000:0000:0000:0000:0000:0000'))).toBe('::');
    expect(formatIpv6(b('2001:0db8:0000:0001:0001:0001:0001:0001'))).toBe('2001:db8:0:1:1:1:1:1');
  });
});
