/**
 * Peers that hold connection slots (issue 10, "TCP"): partial headers dribbled forever (slowloris),
 * connections that only ever send CRLF keepalives, one source opening hundreds of connections, and an
 * inbound flood against the slots the proxy needs to forward over TCP. Real sockets on 127.0.0.x
 * (Linux routes 127/8 to lo), ephemeral ports; deadlines are set small and the tests wait for the
 * close events.
 */
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { ReplyingSink, ask, cleanup, closed, connect, listen, request, until } from './tcp-helpers.js';
import { sourceIpKey } from '../../host/transport/tcp-options.js';

afterEach(cleanup);

const PARTIAL = 'OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.9:5060;branch=z9hG4bK-slow\r\nX-Slow: ';

describe('slowloris: partial headers', () => {
  it('a peer dribbling a header one byte at a time is closed msg_read_timeout after its first byte; a good client is answered meanwhile', async () => {
    const sink = new ReplyingSink();
    const l = await listen(sink, { limits: { msgReadTimeout: 0.25, msgDataTimeout: 60 } });
    const dribblers: net.Socket[] = [];
    const timers: NodeJS.Timeout[] = [];
    for (let i = 0; i < 12; i++) {
      const s = await connect(l, `127.0.0.${10 + i}`);
      s.write(PARTIAL);
      // the attack: one more byte every 10 ms, so the idle timer never fires
      timers.push(setInterval(() => s.writable && s.write('a'), 10));
      dribblers.push(s);
    }
    try {
      const good = await connect(l, '127.0.0.2');
      expect(await ask(good, 1)).toMatch(/^SIP\/2\.0 200 OK/);
      const results = await Promise.all(dribblers.map((s) => closed(s, 10_000)));
      expect(results.every(Boolean)).toBe(true);
      expect(l.stats.readTimeouts).toBe(12);
      // the good client, which completed its messages, is still open and answered
      expect(await ask(good, 2)).toMatch(/^SIP\/2\.0 200 OK/);
      expect(l.connectionCount).toBe(1);
    } finally {
      timers.forEach(clearInterval);
    }
  });

  it('a body that never completes is closed the same way', async () => {
    const sink = new ReplyingSink();
    const l = await listen(sink, { limits: { msgReadTimeout: 0.2 } });
    const s = await connect(l);
    const full = request(3, 'x'.repeat(500));
    s.write(full.slice(0, full.length - 10));
    expect(await closed(s)).toBe(true);
    expect(l.stats.readTimeouts).toBe(1);
    expect(sink.received).toBe(0);
  });

  it('a connection that only sends CRLF keepalives is closed after msg_data_timeout; one that sent a message is not', async () => {
    const sink = new ReplyingSink();
    const l = await listen(sink, { limits: { msgDataTimeout: 0.25, msgReadTimeout: 60 } });
    const pinger = await connect(l, '127.0.0.3');
    const timer = setInterval(() => pinger.writable && pinger.write('\r\n\r\n'), 20);
    try {
      const talker = await connect(l, '127.0.0.4');
      expect(await ask(talker, 4)).toMatch(/^SIP\/2\.0 200 OK/);
      expect(await closed(pinger)).toBe(true);
      expect(l.stats.dataTimeouts).toBe(1);
      expect(l.stats.keepalives).toBeGreaterThan(0);
      expect(talker.destroyed).toBe(false);
      expect(await ask(talker, 5)).toMatch(/^SIP\/2\.0 200 OK/);
    } finally {
      clearInterval(timer);
    }
  });

  it('partial-header peers from many sources cannot hold the table: slots come back at the deadline', async () => {
    const sink = new ReplyingSink();
    const l = await listen(sink, { maxConnections: 24, limits: { outboundReserve: 4, acceptIpLimit: 0, msgReadTimeout: 3, msgDataTimeout: 60 } });
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const s = await connect(l, `127.0.1.${1 + i}`);
        if (!s.destroyed) s.write(PARTIAL);
      }),
    );
    // 20 inbound slots (24 less the outbound reserve): the other 20 attackers were refused
    await until(() => l.stats.connectionsRefused === 20, 5000, '20 refusals');
    expect(l.inboundCount).toBe(20);
    const early = await connect(l, '127.0.0.2');
    expect(await closed(early)).toBe(true);
    // ... and the slots free up once the deadline passes: a good client then gets in and is answered
    await until(() => l.inboundCount === 0, 10_000, 'the dribblers to be closed');
    const good = await connect(l, '127.0.0.2');
    expect(await ask(good, 6)).toMatch(/^SIP\/2\.0 200 OK/);
    expect(l.stats.readTimeouts).toBe(20);
    expect(l.stats.connectionsRefused).toBe(21);
  });
});

describe('accept_iplimit (Kamailio tcp_accept_iplimit; here it counts the connections we open too)', () => {
  it('one source cannot take more than accept_iplimit connections; others still get in and are answered', async () => {
    const sink = new ReplyingSink();
    const l = await listen(sink, { maxConnections: 40, limits: { outboundReserve: 4, acceptIpLimit: 8, msgReadTimeout: 60, msgDataTimeout: 60 } });
    const attackers = [];
    for (let i = 0; i < 60; i++) {
      const s = await connect(l, '127.0.0.5');
      if (!s.destroyed) s.write(PARTIAL);
      attackers.push(s);
    }
    await until(() => l.stats.ipLimitRefused === 52, 5000, '52 refusals');
    expect(l.stats.connectionsRefused).toBe(52);
    expect(l.inboundCount).toBe(8);
    const good = await connect(l, '127.0.0.6');
    expect(await ask(good, 7)).toMatch(/^SIP\/2\.0 200 OK/);
    // a slot of the limited source comes back when one of its connections closes
    attackers.find((s) => !s.destroyed)!.destroy();
    await until(() => l.inboundCount === 8, 5000, 'the close to be seen');
    const again = await connect(l, '127.0.0.5');
    expect(await ask(again, 8)).toMatch(/^SIP\/2\.0 200 OK/);
  });

  it('counts the connections we open too: replies sent to ports a peer chooses cannot fill the table', async () => {
    // a peer that closes its connection gets replies on new connections to its address and the
    // Via sent-by port it chose (RFC 3261 §18.2.2): six such ports, a limit of four
    const hops = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const srv = net.createServer((c) => c.on('data', () => {}));
        await new Promise<void>((r) => srv.listen(0, '127.0.0.7', () => r()));
        return srv;
      }),
    );
    try {
      const sink = new ReplyingSink();
      const l = await listen(sink, { limits: { acceptIpLimit: 4 } });
      for (const h of hops) l.sendTo(Buffer.from(request(20)), '127.0.0.7', (h.address() as net.AddressInfo).port);
      expect(l.connectionCount).toBe(4);
      expect(l.stats.ipLimitRefused).toBe(2);
      expect(l.stats.sendErrors).toBe(2);
      // ... and the peer's own connections count against the same limit
      const late = await connect(l, '127.0.0.7');
      expect(await closed(late)).toBe(true);
      expect(l.stats.ipLimitRefused).toBe(3);
      // another address is not affected
      const other = await connect(l, '127.0.0.8');
      expect(await ask(other, 21)).toMatch(/^SIP\/2\.0 200 OK/);
    } finally {
      hops.forEach((h) => h.close());
    }
  });

  it('counts IPv4-mapped addresses as IPv4 and IPv6 sources per /64', () => {
    expect(sourceIpKey('192.0.2.7')).toBe('192.0.2.7');
    expect(sourceIpKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(sourceIpKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(sourceIpKey('2001:0db8:0001:0002:ffff:0:0:9')).toBe('2001:db8:1:2::/64');
    expect(sourceIpKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(sourceIpKey('::1')).toBe('0:0:0:0::/64');
    expect(sourceIpKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });
});

describe('outbound connections are not starved by inbound ones', () => {
  it('with every inbound slot taken, the proxy still opens a connection to forward over TCP', async () => {
    const sink = new ReplyingSink();
    const l = await listen(sink, { maxConnections: 12, limits: { outboundReserve: 2, acceptIpLimit: 0, msgReadTimeout: 60, msgDataTimeout: 60 } });
    for (let i = 0; i < 14; i++) {
      const s = await connect(l, `127.0.2.${1 + i}`);
      if (!s.destroyed) s.write(PARTIAL);
    }
    await until(() => l.stats.connectionsRefused === 4, 5000, 'the flood to fill the inbound share');
    expect(l.inboundCount).toBe(10);

    // the next hop: a plain TCP server that records what arrives
    const hop = net.createServer();
    const arrived = new Promise<string>((resolve) => hop.on('connection', (c) => c.once('data', (d: Buffer) => resolve(d.toString('latin1')))));
    await new Promise<void>((r) => hop.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (hop.address() as net.AddressInfo).port;
      // what ProxyCore does to relay a request (channelTo + send)
      l.channelTo(`127.0.0.1`, port).send(Buffer.from(request(9)), '127.0.0.1', port);
      expect(await arrived).toContain('Call-ID: adv-9');
      expect(l.connectionCount).toBe(11);
      expect(l.stats.sendErrors).toBe(0);
      // still no room for inbound
      const late = await connect(l, '127.0.3.1');
      expect(await closed(late)).toBe(true);
    } finally {
      hop.close();
    }
  });

  it('an outbound connect that hangs (next hop not accepting) is abandoned after connect_timeout', async () => {
    // a next hop whose accept queue is full: a listen(0) socket nobody accepts on, with one connection
    // queued; the kernel then drops our SYNs and the connect stays pending
    const py = spawn('python3', ['-c', "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()"], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
        py.once('error', reject);
      });
      const filler = net.connect(port, '127.0.0.1');
      filler.on('error', () => {});
      await new Promise((r) => filler.once('connect', r));
      const sink = new ReplyingSink();
      const l = await listen(sink, { limits: { connectTimeout: 0.3 } });
      l.channelTo('127.0.0.1', port).send(Buffer.from(request(10)), '127.0.0.1', port);
      expect(l.connectionCount).toBe(1);
      await until(() => l.connectionCount === 0, 5000, 'the connect to be abandoned');
      expect(l.stats.connectTimeouts).toBe(1);
      expect(l.stats.connectFailed).toBe(1);
      filler.destroy();
    } finally {
      py.stdin.end();
      py.kill();
    }
  });
});
