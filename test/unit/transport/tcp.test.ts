/**
 * TCP listener over real sockets on 127.0.0.1 (listeners bind port 0): Content-Length framing across
 * partial writes and coalesced messages, keepalives, size cap, bad frames, idle timeout, connection cap,
 * replies on the same connection and on a new one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { once } from 'node:events';
import pino from 'pino';
import { TcpListener } from '../../../host/transport/tcp.js';
import { sipStreamFramer } from '../../../host/transport/sip-framer.js';
import type { Channel, MessageSink } from '../../../host/transport/types.js';
import type { Endpoint } from '../../../host/core/context.js';

const silent = pino({ level: 'silent' });

class CollectingSink implements MessageSink {
  readonly messages: Array<{ text: string; source: Endpoint; channel: Channel }> = [];
  private waiters: Array<() => void> = [];
  receive(buf: Buffer, source: Endpoint, channel: Channel): void {
    this.messages.push({ text: buf.toString('latin1'), source, channel });
    for (const w of this.waiters.splice(0)) w();
  }
  async waitFor(n: number, ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.messages.length < n) {
      if (Date.now() > deadline) throw new Error(`expected ${n} messages, got ${this.messages.length}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
}

function request(n: number, body = ''): string {
  return (
    `OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-t${n}\r\nMax-Forwards: 70\r\n` +
    `From: <sip:a@127.0.0.1>;tag=${n}\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: tcp-${n}\r\nCSeq: ${n} OPTIONS\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

const listeners: TcpListener[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(listeners.splice(0).map((l) => l.close()));
});

async function listen(sink: MessageSink, opts: { idleTimeout?: number; maxConnections?: number; maxMessageSize?: number; outboundReserve?: number } = {}): Promise<TcpListener> {
  const l = new TcpListener({
    address: { proto: 'tcp', host: '127.0.0.1', port: 0, family: 4, uri: 'tcp:127.0.0.1:0' }, // port 0: the OS picks, local.port reports it
    sink,
    log: silent,
    framer: sipStreamFramer,
    maxMessageSize: opts.maxMessageSize ?? 65535,
    idleTimeout: opts.idleTimeout ?? 120,
    maxConnections: opts.maxConnections ?? 2048,
    limits: { outboundReserve: opts.outboundReserve ?? 128 },
  });
  listeners.push(l);
  await l.start();
  return l;
}

async function connect(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  sockets.push(s);
  s.on('error', () => {});
  await once(s, 'connect');
  return s;
}

function closed(s: net.Socket, ms = 3000): Promise<boolean> {
  if (s.destroyed || s.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

const tick = () => new Promise((r) => setTimeout(r, 15));

describe('TCP framing by Content-Length (RFC 3261 §18.3)', () => {
  it('reassembles a message written a few bytes at a time', async () => {
    const sink = new CollectingSink();
    const l = await listen(sink);
    const s = await connect(l.local.port);
    const msg = request(1, 'hello body');
    for (let i = 0; i < msg.length; i += 7) {
      s.write(msg.slice(i, i + 7));
      if (i % 70 === 0) await tick();
    }
    await sink.waitFor(1);
    expect(sink.messages).toHaveLength(1);
    expect(sink.messages[0]!.text).toBe(msg);
    expect(sink.messages[0]!.source).toMatchObject({ address: '127.0.0.1', port: s.localPort, proto: 'tcp', family: 4 });
  });

  it('splits two messages sent in one write, and a third split across the boundary', async () => {
    const sink = new CollectingSink();
    const l = await listen(sink);
    const s = await connect(l.local.port);
    const a = request(1, 'aaa');
    const b = request(2);
    const c = request(3, 'ccccc');
    s.write(a + b + c.slice(0, 20));
    await tick();
    s.write(c.slice(20));
    await sink.waitFor(3);
    expect(sink.messages.map((m) => m.text)).toEqual([a, b, c]);
    // the same connection is the channel of every message on it
    expect(sink.messages[0]!.channel).toBe(sink.messages[2]!.channel);
  });

  it('answers a CRLFCRLF keepalive with CRLF (RFC 5626 §4.4.1) and keeps framing', async () => {
    const sink = new CollectingSink();
    const l = await listen(sink);
    const s = await connect(l.local.port);
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.write('\r\n\r\n');
    await new Promise((r) => setTimeout(r, 100));
    expect(Buffer.concat(got).toString()).toBe('\r\n');
    s.write(request(4));
    await sink.waitFor(1);
    expect(l.stats.keepalives).toBe(1);
  });

  it('closes a connection whose message exceeds max_message_size, and only that one', async () => {
    const sink = new CollectingSink();
    const l = await listen(sink, { maxMessageSize: 1024 });
    const bad = await connect(l.local.port);
    const good = await connect(l.local.port);
    bad.write(request(5, 'x'.repeat(2000)));
    expect(await closed(bad)).toBe(true);
    good.write(request(6));
    await sink.waitFor(1);
    expect(sink.messages[0]!.text).toContain('Call-ID: tcp-6');
    expect(l.stats.framingErrors + l.stats.dropped).toBeGreaterThan(0);
  });

  it('closes a connection sending endless headers', async () => {
    const sink = new CollectingSink();
    const l = await listen(sink, { maxMessageSize: 1024 });
    const s = await connect(l.local.port);
    s.write('OPTIONS sip:x SIP/2.0\r\n');
    for (let i = 0; i < 40 && !s.destroyed; i++) s.write(`X-Filler-${i}: ${'y'.repeat(60)}\r\n`);
    expect(await closed(s)).toBe(true);
    expect(sink.messages).toHaveLength(0);
  });

  it('closes a connection with a frame that has no usable Content-Length; others keep working', async () => {
    const sink = new CollectingSink();
    const l = await listen(sink);
    const bad = await connect(l.local.port);
    const good = await connect(l.local.port);
    bad.write('OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nContent-Length: banana\r\n\r\n');
    expect(await closed(bad)).toBe(true);
    expect(l.stats.framingErrors).toBe(1);
    good.write(request(7));
    await sink.waitFor(1);
  });
});

describe('TCP connection management', () => {
  it('closes a connection idle longer than idle_timeout', async () => {
    const sink = new CollectingSink();
    const l = await listen(sink, { idleTimeout: 0.2 });
    const s = await connect(l.local.port);
    s.write(request(8));
    await sink.waitFor(1);
    expect(await closed(s, 5000)).toBe(true);
    expect(l.stats.idleTimeouts).toBe(1);
    expect(l.connectionCount).toBe(0);
  });

  it('refuses connections beyond max_connections and accepts again once one closes', async () => {
    const sink = new CollectingSink();
    const l = await listen(sink, { maxConnections: 2, outboundReserve: 0 });
    const a = await connect(l.local.port);
    const b = await connect(l.local.port);
    a.write(request(9));
    b.write(request(10));
    await sink.waitFor(2);
    const c = await connect(l.local.port);
    expect(await closed(c)).toBe(true);
    expect(l.stats.connectionsRefused).toBe(1);
    a.destroy();
    for (let i = 0; i < 100 && l.connectionCount > 1; i++) await tick();
    const d = await connect(l.local.port);
    d.write(request(11));
    await sink.waitFor(3);
    expect(sink.messages[2]!.text).toContain('tcp-11');
  });

  it('sends a reply on the connection the request came on', async () => {
    const sink = new CollectingSink();
    const l = await listen(sink);
    const s = await connect(l.local.port);
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.write(request(12));
    await sink.waitFor(1);
    const m = sink.messages[0]!;
    m.channel.send(Buffer.from('SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'), m.source.address, 9);
    await new Promise((r) => setTimeout(r, 100));
    expect(Buffer.concat(got).toString()).toMatch(/^SIP\/2\.0 200 OK/);
  });

  it('opens a new connection to the reply address when the request connection is gone (RFC 3261 §18.2.2)', async () => {
    const sink = new CollectingSink();
    const l = await listen(sink);
    const peer = net.createServer();
    const accepted = new Promise<Buffer>((resolve) => {
      peer.on('connection', (sock) => sock.once('data', (d: Buffer) => resolve(d)));
    });
    await new Promise<void>((r) => peer.listen(0, '127.0.0.1', () => r()));
    try {
      const s = await connect(l.local.port);
      s.write(request(13));
      await sink.waitFor(1);
      const m = sink.messages[0]!;
      s.destroy();
      for (let i = 0; i < 50; i++) await tick();
      m.channel.send(Buffer.from('SIP/2.0 404 Not Found\r\nContent-Length: 0\r\n\r\n'), '127.0.0.1', (peer.address() as net.AddressInfo).port);
      const data = await accepted;
      expect(data.toString()).toMatch(/^SIP\/2\.0 404/);
    } finally {
      peer.close();
      peer.unref();
    }
  });
});
