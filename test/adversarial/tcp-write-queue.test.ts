/**
 * Peers that do not read (issue 10, "TCP"): a client that sends requests but never reads its replies
 * must not make the server buffer every reply. Real sockets on 127.0.0.1, ephemeral ports.
 *
 * The kernel absorbs a few MB on loopback (the client's receive and the server's send buffers) before
 * the server's own queue grows; the clients keep writing until the server stops reading them, which
 * it does once its queue to them passes the socket's high-water mark (backpressure).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ReplyingSink, cleanup, closed, connect, flood, listen, request, until, ask } from './tcp-helpers.js';


afterEach(cleanup);

describe('a client that never reads its replies', () => {
  it('is closed once its write queue would pass conn_wq_max; the queue never grew past conn_wq_max plus one reply', async () => {
    const sink = new ReplyingSink(5000);
    // conn_wq_max at the socket's high-water mark (16 KiB): the limit is met before reading would pause;
    // send_timeout is only the backstop for a read that ends just at the mark
    const l = await listen(sink, { limits: { connWqMax: 16 * 1024, sendTimeout: 0.5 } });
    const rssBefore = process.memoryUsage().rss;
    const s = await connect(l);
    const sent = await flood(s, () => l.connectionCount === 0);
    await until(() => l.connectionCount === 0, 10_000, 'the server to close the connection');

    expect(l.stats.writeQueueFull + l.stats.sendTimeouts).toBe(1);
    expect(sink.maxQueued).toBeLessThanOrEqual(16 * 1024 + sink.replySize);
    expect(l.writeQueueBytes).toBe(0);
    // it stopped answering long before the client stopped sending
    expect(sink.received).toBeLessThan(sent);
    // generous: kernel buffers are not ours, our queue was bounded at ~21 KB
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(128 * 1024 * 1024);
    expect(await closed(s, 10_000)).toBe(true);
  }, 30_000);

  it('reading pauses at the high-water mark; a queue stalled below conn_wq_max is closed after send_timeout', async () => {
    const sink = new ReplyingSink(8192);
    const l = await listen(sink, { limits: { connWqMax: 64 * 1024 * 1024, sendTimeout: 0.3 } });
    const s = await connect(l);
    const sent = await flood(s, () => l.stats.readPauses > 0);
    await until(() => l.connectionCount === 0, 10_000, 'send_timeout');
    expect(l.stats.readPauses).toBe(1);
    expect(l.stats.sendTimeouts).toBe(1);
    expect(l.stats.writeQueueFull).toBe(0);
    // reading paused at 16 KiB: the queue grew by at most the replies to the rest of one read
    // (64 KiB of requests), not by one reply per request sent
    const perRead = Math.ceil(65536 / Buffer.byteLength(request(0))) + 1;
    expect(sink.maxQueued).toBeLessThanOrEqual(16384 + perRead * sink.replySize);
    expect(sink.received).toBeLessThan(sent);
  }, 30_000);

  it('wq_max bounds all queues together: with several non-readers, one that would pass it is closed', async () => {
    const sink = new ReplyingSink(8192);
    const l = await listen(sink, { limits: { connWqMax: 16 * 1024 * 1024, wqMax: 40 * 1024, sendTimeout: 60 } });
    const clients = await Promise.all([1, 2, 3, 4].map(() => connect(l)));
    await Promise.all(clients.map((c) => flood(c, () => l.stats.writeQueueFull > 0, request, 30_000)));
    expect(l.stats.writeQueueFull).toBeGreaterThanOrEqual(1);
    expect(l.connectionCount).toBeLessThanOrEqual(3);
    // a connection may always start a queue with one reply; beyond that the total stays under wq_max
    expect(l.writeQueueBytes).toBeLessThanOrEqual(40 * 1024 + 4 * sink.replySize);
  }, 45_000);

  it('a well-behaved client on the same listener is answered throughout', async () => {
    const sink = new ReplyingSink(8192);
    const l = await listen(sink, { limits: { connWqMax: 32 * 1024, sendTimeout: 0.5 } });
    const bad = await connect(l);
    const good = await connect(l, '127.0.0.2');
    const flooding = flood(bad, () => l.stats.writeQueueFull + l.stats.sendTimeouts > 0);
    for (let i = 0; i < 20; i++) expect(await ask(good, 900_000 + i)).toMatch(/^SIP\/2\.0 200 OK/);
    await flooding;
    await until(() => l.connectionCount === 1, 10_000, 'the non-reader to be closed');
    expect(await ask(good, 999_999)).toMatch(/^SIP\/2\.0 200 OK/);
  }, 30_000);
});
