/**
 * Shared pieces of the TCP adversarial tests: a listener on 127.0.0.1 with an ephemeral port whose
 * sink answers every request on its channel (like sl_send_reply), raw clients bound to chosen
 * 127.0.0.x sources (Linux routes all of 127/8 to lo), and waits on events with bounded timeouts.
 */
import net from 'node:net';
import { once } from 'node:events';
import pino from 'pino';
import { TcpListener, TcpConnection } from '../../host/transport/tcp.js';
import { sipStreamFramer } from '../../host/transport/sip-framer.js';
import type { StreamFramer } from '../../host/transport/framing.js';
import type { TcpLimits } from '../../host/transport/tcp-options.js';
import type { Channel, MessageSink } from '../../host/transport/types.js';
import type { Endpoint } from '../../host/core/context.js';

export const silent = pino({ level: 'silent' });

export function request(n: number, body = '', extra = ''): string {
  return (
    `OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-adv${n}\r\nMax-Forwards: 70\r\n` +
    `From: <sip:a@127.0.0.1>;tag=${n}\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: adv-${n}\r\nCSeq: ${n} OPTIONS\r\n${extra}` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** Answers every message with a reply of `replyBytes` (padding in a header), on the channel it came on. */
export class ReplyingSink implements MessageSink {
  received = 0;
  /** the largest write queue seen on a connection when a message arrived. */
  maxQueued = 0;
  private readonly reply: Buffer;
  private waiters: Array<() => void> = [];

  constructor(replyBytes = 300) {
    const head = 'SIP/2.0 200 OK\r\nX-Pad: ';
    const tail = '\r\nContent-Length: 0\r\n\r\n';
    this.reply = Buffer.from(head + 'p'.repeat(Math.max(0, replyBytes - head.length - tail.length)) + tail);
  }

  receive(_buf: Buffer, source: Endpoint, channel: Channel): void {
    this.received++;
    if (channel instanceof TcpConnection) this.maxQueued = Math.max(this.maxQueued, channel.writeQueueBytes);
    channel.send(this.reply, source.address, source.port);
    for (const w of this.waiters.splice(0)) w();
  }

  get replySize(): number {
    return this.reply.length;
  }
}

const listeners: TcpListener[] = [];
const sockets: net.Socket[] = [];

/** closes what the test opened (call from afterEach). */
export async function cleanup(): Promise<void> {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(listeners.splice(0).map((l) => l.close()));
}

export async function listen(
  sink: MessageSink,
  opts: { maxConnections?: number; maxMessageSize?: number; idleTimeout?: number; framer?: StreamFramer; limits?: Partial<TcpLimits> } = {},
): Promise<TcpListener> {
  const l = new TcpListener({
    address: { proto: 'tcp', host: '127.0.0.1', port: 0, family: 4, uri: 'tcp:127.0.0.1:0' },
    sink,
    log: silent,
    framer: opts.framer ?? sipStreamFramer,
    maxMessageSize: opts.maxMessageSize ?? 65535,
    idleTimeout: opts.idleTimeout ?? 120,
    maxConnections: opts.maxConnections ?? 2048,
    limits: opts.limits,
  });
  listeners.push(l);
  await l.start();
  return l;
}

/** A client socket from `from` (a 127.0.0.x address); resolves once connected (or closed by the server). */
export async function connect(l: TcpListener, from = '127.0.0.1'): Promise<net.Socket> {
  const s = net.connect({ port: l.local.port, host: '127.0.0.1', localAddress: from });
  sockets.push(s);
  s.on('error', () => {});
  await Promise.race([once(s, 'connect'), once(s, 'close')]);
  return s;
}

/** resolves true once `s` closed, false after `ms`. */
export function closed(s: net.Socket, ms = 5000): Promise<boolean> {
  if (s.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Waits until `cond()` holds (checked every 5 ms); throws after `ms`. */
export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * The non-reading client: writes `make(i)` 100 per write and never reads, until the connection closes
 * or `serverStopped()` holds while our writes wait (the server stopped reading us). Returns the count.
 */
export async function flood(s: net.Socket, serverStopped: () => boolean, make: (i: number) => string = request, max = 60_000): Promise<number> {
  s.pause(); // never read: the replies pile up in the kernel, then in the server's queue
  let sent = 0;
  let gone = s.destroyed;
  s.once('close', () => (gone = true));
  while (!gone && sent < max) {
    let batch = '';
    for (let i = 0; i < 100; i++) batch += make(sent + i);
    sent += 100;
    if (s.write(batch)) continue;
    const drained = await new Promise<boolean>((resolve) => {
      const done = (v: boolean) => {
        clearInterval(poll);
        s.off('drain', onDrain);
        s.off('close', onClose);
        resolve(v);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      const poll = setInterval(() => serverStopped() && done(false), 10);
      s.on('drain', onDrain);
      s.on('close', onClose);
    });
    if (!drained) break;
  }
  return sent;
}

/** Sends one request and resolves with its whole reply (the sink's replies end with an empty body); rejects after `ms`. */
export async function ask(s: net.Socket, n: number, ms = 5000): Promise<string> {
  const got = new Promise<string>((resolve, reject) => {
    let text = '';
    const onData = (d: Buffer) => {
      text += d.toString('latin1');
      if (!text.endsWith('Content-Length: 0\r\n\r\n')) return;
      clearTimeout(t);
      s.off('data', onData);
      resolve(text);
    };
    const t = setTimeout(() => {
      s.off('data', onData);
      reject(new Error(`no reply (got ${text.length} bytes)`));
    }, ms);
    s.on('data', onData);
  });
  s.write(request(n));
  return got;
}
