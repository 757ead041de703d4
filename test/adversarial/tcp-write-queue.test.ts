/**
 * Peers that do not read (issue 10, "TCP"): a client that sends requests but never reads its replies
 * must not make the server buffer every reply. Real sockets on 127.0.0.1, ephemeral ports.
 *
 * The kernel absorbs a few MB on loopback (the client's receive and the server's send buffers) before
 * the server's own queue grows; the clients keep writing until the server stops reading them, which
 * it does once its queue to them passes the socket's high-water mark (backpressure).
 */
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { ReplyingSink, cleanup, closed, connect, listen, request, until, ask } from './tcp-helpers.js';

afterEach(cleanup);

/**
 * Writes requests (100 per write) without ever reading, until the server closes the connection or
 * stops reading (our own writes no longer drain). Returns how many were written.
 */
async function flood(s: net.Socket, max = 60_000): Promise<number> {
  s.pause(); // never read: the replies pile up in the kernel, then in the server's queue
  let sent = 0;
  let gone = false;
  s.once('close', () => (gone = true));
  while (!gone && sent < max) {
    let batch = '';
    for (let i = 0; i < 100; i++) batch += request(sent + i);
    sent += 100;
    if (!s.write(batch) && !(await drainedOrStuck(s))) break; // the server stopped reading us (or closed)
  }
  return sent;
}

/** true on 'drain'; false on 'close' or when our writes have not drained for 1.5 s (the server stopped reading). */
function drainedOrStuck(s: net.Socket): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      clearTimeout(t);
      s.off('drain', onDrain);
      s.off('close', onClose);
      resolve(v);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const t = setTimeout(() => done(false), 1500);
    s.on('drain', onDrain);
    s.on('close', onClose);
  });
}

describe('a client that never reads its replies', () => {
  it('is closed when its write queue passes conn_wq_max; the queue never grew past conn_wq_max plus one reply', async () => {
    const sink = new ReplyingSink(8192);
    const l = await listen(sink, { limits: { connWqMax: 32 * 1024, sendTimeout: 60 } });
    const rssBefore = process.memoryUsage().rss;
    const s = await connect(l);
    const sent = await flood(s);
    expect(await closed(s, 15_000)).toBe(true);
    await until(() => l.connectionCount === 0, 5000, 'the server to forget the connection');

    expect(l.stats.writeQueueFull).toBe(1);
    expect(l.stats.readPauses).toBeGreaterThanOrEqual(1);
    expect(sink.maxQueued).toBeLessThanOrEqual(32 * 1024 + sink.replySize);
    expect(l.writeQueueBytes).toBe(0);
    // it stopped answering long before the client stopped sending
    expect(sink.received).toBeLessThan(sent);
    // generous: kernel buffers are not ours, our queue was bounded at ~40 KB
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(128 * 1024 * 1024);
  }, 30_000);

  it('is closed after send_timeout when its queue stalls below conn_wq_max (reading paused meanwhile)', async () => {
    const sink = new ReplyingSink(8192);
    const l = await listen(sink, { limits: { connWqMax: 64 * 1024 * 1024, sendTimeout: 0.3 } });
    const s = await connect(l);
    const sent = await flood(s);
    expect(await closed(s, 15_000)).toBe(true);
    expect(l.stats.sendTimeouts).toBe(1);
    expect(l.stats.writeQueueFull).toBe(0);
    expect(l.stats.readPauses).toBeGreaterThanOrEqual(1);
    // reading paused at the high-water mark (16 KiB): the queue grew by at most the replies to one read
    // (64 KiB of requests), not by one reply per request sent
    const perRead = Math.ceil(65536 / Buffer.byteLength(request(0))) + 1;
    expect(sink.maxQueued).toBeLessThanOrEqual(16384 + perRead * sink.replySize);
    expect(sink.received).toBeLessThan(sent);
  }, 30_000);

  it('wq_max bounds all queues together: several non-readers, each below conn_wq_max, get closed', async () => {
    const sink = new ReplyingSink(8192);
    const l = await listen(sink, { limits: { connWqMax: 16 * 1024 * 1024, wqMax: 64 * 1024, sendTimeout: 60 } });
    const clients = await Promise.all([1, 2, 3, 4].map(() => connect(l)));
    await Promise.all(clients.map((c) => flood(c, 30_000)));
    const results = await Promise.all(clients.map((c) => closed(c, 15_000)));
    expect(results.filter(Boolean).length).toBeGreaterThanOrEqual(1);
    expect(l.stats.writeQueueFull).toBeGreaterThanOrEqual(1);
    expect(l.writeQueueBytes).toBeLessThanOrEqual(64 * 1024 + 4 * 16 * 1024 + 4 * sink.replySize);
  }, 45_000);

  it('a well-behaved client on the same listener is answered throughout', async () => {
    const sink = new ReplyingSink(8192);
    const l = await listen(sink, { limits: { connWqMax: 32 * 1024 } });
    const bad = await connect(l);
    const good = await connect(l, '127.0.0.2');
    const flooding = flood(bad);
    for (let i = 0; i < 20; i++) expect(await ask(good, 900_000 + i)).toMatch(/^SIP\/2\.0 200 OK/);
    await flooding;
    expect(await closed(bad, 15_000)).toBe(true);
    expect(await ask(good, 999_999)).toMatch(/^SIP\/2\.0 200 OK/);
  }, 30_000);
});
