/**
 * Reassembly cost (issue 10: no super-linear work on untrusted input): a peer that sends a message one
 * byte per segment must cost O(bytes), not a re-scan of everything buffered per segment. Asserted on
 * the number of framer calls (a counter, not wall time), plus byte-exact delivery under random
 * segmentation. Real sockets on 127.0.0.1, ephemeral ports.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { sipStreamFramer } from '../../host/transport/sip-framer.js';
import type { StreamFramer } from '../../host/transport/framing.js';
import type { Channel, MessageSink } from '../../host/transport/types.js';
import type { Endpoint } from '../../host/core/context.js';
import { cleanup, closed, connect, listen, request, until } from './tcp-helpers.js';

afterEach(cleanup);

class Collect implements MessageSink {
  readonly texts: string[] = [];
  receive(buf: Buffer, _s: Endpoint, _c: Channel): void {
    this.texts.push(buf.toString('latin1'));
  }
}

function counting(): { framer: StreamFramer; calls: () => number } {
  let n = 0;
  return {
    framer: (buf, offset) => {
      n++;
      return sipStreamFramer(buf, offset);
    },
    calls: () => n,
  };
}

/** writes `text` in segments of the given sizes, each its own write (TCP_NODELAY is on). */
async function dribble(s: import('node:net').Socket, text: string, sizes: () => number): Promise<void> {
  let i = 0;
  while (i < text.length) {
    const n = Math.max(1, sizes());
    const ok = s.write(text.slice(i, i + n));
    i += n;
    // let the server read segment by segment now and then (not a timing assumption: only fewer coalesced reads)
    if (!ok || i % 64 === 0) await new Promise((r) => setImmediate(r));
  }
}

describe('TCP reassembly is linear in the bytes received', () => {
  it('a 40 KB message sent one byte per segment is framed a handful of times, not once per segment', async () => {
    const sink = new Collect();
    const c = counting();
    const l = await listen(sink, { framer: c.framer, limits: { msgReadTimeout: 60 } });
    const s = await connect(l);
    const msg = request(1, 'b'.repeat(20_000), `X-Big: ${'h'.repeat(20_000)}\r\n`);
    await dribble(s, msg, () => 1);
    await until(() => sink.texts.length === 1, 20_000, 'the message');
    expect(sink.texts[0]).toBe(msg);
    // the framer runs when the empty line arrives and once the announced body is complete
    expect(c.calls()).toBeLessThanOrEqual(4);
  }, 30_000);

  it('random segmentation of pipelined messages, bodies and keepalives delivers every message byte-exact', async () => {
    const sink = new Collect();
    const l = await listen(sink);
    const s = await connect(l);
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const msgs: string[] = [];
    let stream = '';
    for (let i = 0; i < 200; i++) {
      const m = request(i, 'x'.repeat(Math.floor(rand() * 3000)));
      msgs.push(m);
      stream += (rand() < 0.1 ? '\r\n\r\n' : '') + m;
    }
    const pongs: Buffer[] = [];
    s.on('data', (d: Buffer) => pongs.push(d));
    await dribble(s, stream, () => Math.floor(rand() * (rand() < 0.5 ? 8 : 5000)));
    await until(() => sink.texts.length === msgs.length, 20_000, 'every message');
    expect(sink.texts).toEqual(msgs);
    expect(l.stats.framingErrors).toBe(0);
  }, 30_000);

  it('a Content-Length beyond max_message_size closes at once, without waiting for the body', async () => {
    const sink = new Collect();
    const l = await listen(sink, { maxMessageSize: 4096 });
    const s = await connect(l);
    const head = request(2).replace('Content-Length: 0', 'Content-Length: 999999');
    await dribble(s, head.slice(0, 40), () => 40);
    s.write(head.slice(40));
    expect(await closed(s)).toBe(true);
    expect(l.stats.dropped).toBe(1);
    expect(sink.texts).toHaveLength(0);
  });

  it('a header section with no end is cut off at max_message_size even when it arrives a byte at a time', async () => {
    const sink = new Collect();
    const c = counting();
    const l = await listen(sink, { framer: c.framer, maxMessageSize: 2048, limits: { msgReadTimeout: 60 } });
    const s = await connect(l);
    const flood = 'OPTIONS sip:x SIP/2.0\r\n' + 'X-Filler: yyyyyyyyyyyyyyyyyyyy\r\n'.repeat(200);
    await dribble(s, flood, () => 1).catch(() => {});
    expect(await closed(s)).toBe(true);
    expect(l.stats.dropped).toBe(1);
    expect(c.calls()).toBeLessThanOrEqual(2);
  }, 30_000);
});
