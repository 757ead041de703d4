/** host/console parts without sockets: trace tap on/off, message summary, filters, passwd parsing bounds, HEPv3 encoding, sessions, limiter. */
import { describe, expect, it } from 'vitest';
import { LoginLimiter, SessionTable, cookieValue } from '../../../host/console/auth.js';
import { encodeHep3 } from '../../../host/console/hep.js';
import { MAX_DROPPED_IN_ROW, SseStream } from '../../../host/console/sse.js';
import { hashPassword, parseHash, parsePasswd, verifyPassword } from '../../../host/console/password.js';
import { matches, summarize, traceFilter, TraceHub } from '../../../host/console/trace.js';
import { sipTap } from '../../../host/transport/tap.js';

const INVITE = 'INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: "A" <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\ni: abc@h\r\nCSeq: 1 INVITE\r\n\r\nv=0\r\n';
const local = { address: '127.0.0.1', port: 5060, proto: 'udp' as const, family: 4 as const };
const peer = { address: '10.0.0.9', port: 5062, proto: 'udp' as const, family: 4 as const };

describe('trace', () => {
  it('the tap is attached only while somebody watches', () => {
    const hub = new TraceHub(10, 1024);
    expect(sipTap.on).toBe(false);
    const seen: string[] = [];
    const stop = hub.watch({ filter: traceFilter('bob'), push: (m) => seen.push(m.method) });
    expect(sipTap.on).toBe(true);
    sipTap.received(Buffer.from(INVITE), local, peer);
    stop();
    expect(sipTap.on).toBe(false);
    expect(seen).toEqual(['INVITE']);
    // nothing is captured while off (the transports check sipTap.on first)
    expect(hub.captured).toBe(1);
  });

  it('with only filtered watchers, a message no filter can match is passed over on its raw bytes and not kept', () => {
    const hub = new TraceHub(10, 1024);
    const seen: string[] = [];
    const stopUser = hub.watch({ filter: traceFilter('bob'), push: (m) => seen.push(`user:${m.callId}`) });
    const stopIp = hub.watch({ filter: traceFilter(null, 'abc@h', '10.0.0.7'), push: (m) => seen.push(`ip:${m.callId}`) });
    hub.message('in', Buffer.from(INVITE), local, peer); // bob: the user filter matches; 10.0.0.9 is not 10.0.0.7
    hub.message('in', Buffer.from(INVITE.replaceAll('bob', 'carol')), local, peer); // neither
    hub.message('out', Buffer.from(INVITE.replaceAll('bob', 'carol')), local, { ...peer, address: '10.0.0.7' }); // Call-ID and IP
    hub.message('out', Buffer.from(INVITE.replaceAll('bob', 'carol').replace('abc@h', 'other')), local, { ...peer, address: '10.0.0.7' }); // IP only
    expect(seen).toEqual(['user:abc@h', 'ip:abc@h']);
    expect([hub.captured, hub.skipped]).toEqual([2, 2]);
    // the ring kept only what a filter could match
    expect(hub.query({}, 10).map((m) => m.toUser)).toEqual(['bob', 'carol']);
    // a watcher without a filter: everything is captured again
    const stopAll = hub.watch({ filter: {}, push: () => {} });
    hub.message('in', Buffer.from(INVITE.replaceAll('bob', 'dave')), local, peer);
    expect([hub.captured, hub.skipped]).toEqual([3, 2]);
    stopAll();
    // and so with the HEP exporter
    hub.setExporter({ export: () => {} });
    hub.message('in', Buffer.from(INVITE.replaceAll('bob', 'erin')), local, peer);
    expect([hub.captured, hub.skipped]).toEqual([4, 2]);
    hub.setExporter(null);
    hub.message('in', Buffer.from(INVITE.replaceAll('bob', 'erin')), local, peer);
    expect([hub.captured, hub.skipped]).toEqual([4, 3]);
    stopUser();
    stopIp();
    expect(sipTap.on).toBe(false);
  });

  it('summarize reads compact headers and responses take the CSeq method', () => {
    expect(summarize(INVITE)).toMatchObject({ method: 'INVITE', status: 0, callId: 'abc@h', fromUser: 'alice', toUser: 'bob', ruriUser: 'bob' });
    expect(summarize('SIP/2.0 180 Ringing\r\nCSeq: 1 INVITE\r\nCall-ID: x\r\n\r\n')).toMatchObject({ method: 'INVITE', status: 180, callId: 'x' });
    expect(summarize('garbage')).toMatchObject({ method: 'garbage', callId: '' });
  });

  it('the ring keeps the newest messages; filters match user, Call-ID and IP', () => {
    const hub = new TraceHub(3, 64);
    const stop = hub.watch({ filter: {}, push: () => {} });
    for (let i = 0; i < 5; i++) hub.message('in', Buffer.from(INVITE.replace('abc@h', `c${i}`)), local, peer);
    stop();
    const all = hub.query({}, 100);
    expect(all.map((m) => m.callId)).toEqual(['c2', 'c3', 'c4']);
    expect(all[0]!.truncated).toBe(true);
    expect(matches(all[0]!, { ip: '10.0.0.9' })).toBe(true);
    expect(matches(all[0]!, { ip: '10.0.0.8' })).toBe(false);
    expect(matches(all[0]!, { user: 'ali' })).toBe(true);
    expect(traceFilter('x'.repeat(1000)).user).toHaveLength(256);
  });
});

describe('passwords', () => {
  it('hash and verify; parameters out of bounds are refused', async () => {
    const h = await hashPassword('secret-pass');
    expect(await verifyPassword('secret-pass', h)).toBe(true);
    expect(await verifyPassword('secret-pasS', h)).toBe(false);
    expect(parseHash(h.replace('$32768$', '$4194304$'))).toBeNull();
    expect(parseHash('md5$abc')).toBeNull();
    expect(() => parsePasswd(`a:admin:${h}\nb:root:${h}\n`, 'f')).toThrow(/f:2/);
    expect(parsePasswd(`# c\n\na:readonly:${h}\n`, 'f')).toEqual([{ name: 'a', role: 'readonly', hash: h }]);
  });
});

describe('sessions and limiter', () => {
  it('sessions expire when idle and the table is bounded (least recently used ends)', () => {
    let now = 0;
    const t = new SessionTable(1000, 2, () => now);
    const a = t.create('a', 'admin');
    const b = t.create('b', 'readonly');
    now = 500;
    expect(t.get(a.id)?.user).toBe('a'); // a is now the most recent
    t.create('c', 'admin');
    expect(t.get(b.id)).toBeNull();
    now = 1600;
    expect(t.get(a.id)).toBeNull();
    expect(cookieValue('x=1; siphon_console=abc; y=2', 'siphon_console')).toBe('abc');
  });

  it('a source is limited after N failures within the window, and free again after it', () => {
    let now = 0;
    const l = new LoginLimiter(2, 10_000, () => now);
    l.fail('s');
    expect(l.retryAfter('s')).toBe(0);
    l.fail('s');
    expect(l.retryAfter('s')).toBe(10);
    now = 10_000;
    expect(l.retryAfter('s')).toBe(0);
  });
});

describe('HEPv3', () => {
  it('encodes the chunks a collector reads', () => {
    const p = encodeHep3({ payload: Buffer.from(INVITE), src: { address: '10.0.0.9', port: 5062 }, dst: { address: '127.0.0.1', port: 5060 }, proto: 'udp', ts: 1_700_000_000_123, captureId: 7, callId: 'abc@h' })!;
    expect(p.subarray(0, 4).toString()).toBe('HEP3');
    expect(p.readUInt16BE(4)).toBe(p.length);
    const chunks = new Map<number, Buffer>();
    for (let o = 6; o < p.length; ) {
      const len = p.readUInt16BE(o + 4);
      chunks.set(p.readUInt16BE(o + 2), p.subarray(o + 6, o + len));
      o += len;
    }
    expect(chunks.get(1)![0]).toBe(2);
    expect(chunks.get(2)![0]).toBe(17);
    expect([...chunks.get(3)!]).toEqual([10, 0, 0, 9]);
    expect(chunks.get(7)!.readUInt16BE(0)).toBe(5062);
    expect(chunks.get(9)!.readUInt32BE(0)).toBe(1_700_000_000);
    expect(chunks.get(10)!.readUInt32BE(0)).toBe(123_000);
    expect(chunks.get(12)!.readUInt32BE(0)).toBe(7);
    expect(chunks.get(15)!.toString()).toBe(INVITE);
    expect(chunks.get(17)!.toString()).toBe('abc@h');
    const v6 = encodeHep3({ payload: Buffer.from('x'), src: { address: '::1', port: 1 }, dst: { address: 'fe80::1:2', port: 2 }, proto: 'tcp', ts: 0, captureId: 1 })!;
    expect(v6.includes(Buffer.from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2]))).toBe(true);
    expect(encodeHep3({ payload: Buffer.alloc(70_000), src: { address: '::1', port: 1 }, dst: { address: '::1', port: 2 }, proto: 'udp', ts: 0, captureId: 1 })).toBeNull();
  });
});

describe('SSE stream bound', () => {
  it('a stalled browser: events past stream_buffer are dropped and counted, then the stream is closed', () => {
    const written: string[] = [];
    let ended = false;
    const res = { writableLength: 0, writeHead: () => res, write: (x: string) => written.push(x), end: () => (ended = true), once: () => res } as unknown as import('node:http').ServerResponse & { writableLength: number };
    const st = new SseStream(res, 1000, {});
    expect(st.send('trace', { a: 1 })).toBe(true);
    (res as { writableLength: number }).writableLength = 5000; // the socket stopped draining
    for (let i = 0; i < MAX_DROPPED_IN_ROW - 1; i++) expect(st.send('trace', { i })).toBe(false);
    expect(ended).toBe(false);
    st.send('trace', {});
    expect(ended).toBe(true);
    expect(st.dropped).toBe(MAX_DROPPED_IN_ROW);
    expect(written.filter((w) => w.startsWith('event:'))).toHaveLength(1);
  });
});
