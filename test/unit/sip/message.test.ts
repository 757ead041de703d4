/** parseMessage, header access, edits and serialization (RFC 3261 §7, §8.2, §16.6, §18.3, §20). */
import { describe, expect, test } from 'vitest';
import { parseMessage } from '../../../host/sip/parser.js';
import { frameStream } from '../../../host/sip/framing.js';
import type { SipMessage } from '../../../host/sip/types.js';
import { isSiphonError } from '../../../host/errors/registry.js';

function req(method: string, extra = '', body = '', opts: { cl?: boolean; cseqMethod?: string } = {}): Buffer {
  const cl = opts.cl === false ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  return Buffer.from(
    `${method} sip:bob@biloxi.example.com SIP/2.0\r\n`
    + 'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport\r\n'
    + 'Max-Forwards: 70\r\n'
    + 'To: Bob <sip:bob@biloxi.example.com>\r\n'
    + 'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    + 'Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n'
    + `CSeq: 314159 ${opts.cseqMethod ?? method}\r\n`
    + extra + cl + '\r\n' + body,
  );
}

function ok(buf: Buffer): SipMessage {
  const r = parseMessage(buf);
  if (!r.ok) throw new Error(`${r.failure.status} ${r.failure.reason}: ${r.failure.detail}`);
  return r.message;
}

function failure(buf: Buffer, limits?: { maxMessageSize?: number; maxHeaders?: number }) {
  const r = parseMessage(buf, limits);
  if (r.ok) throw new Error('expected a failure');
  return r.failure;
}

describe('start lines (RFC 3261 §7.1, §7.2)', () => {
  test.each(['INVITE', 'ACK', 'BYE', 'CANCEL', 'REGISTER', 'OPTIONS', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE', 'FOOBAR', 'x-Ext.method'])('method %s', (method) => {
    const m = ok(req(method));
    expect(m.kind).toBe('request');
    expect(m.method).toBe(method);
    expect(m.requestUri).toBe('sip:bob@biloxi.example.com');
    expect(m.uri).toMatchObject({ scheme: 'sip', user: 'bob', host: 'biloxi.example.com' });
    expect(m.version).toBe('SIP/2.0');
  });
  test('responses take their method from CSeq', () => {
    const m = ok(Buffer.from(req('INVITE').toString().replace(/^.*\r\n/, 'SIP/2.0 486 Busy Here\r\n')));
    expect([m.kind, m.status, m.reason, m.method, m.requestUri, m.uri]).toEqual(['response', 486, 'Busy Here', 'INVITE', '', undefined]);
  });
  test('tel and sips Request-URIs', () => {
    expect(ok(Buffer.from(req('INVITE').toString().replace('sip:bob@biloxi.example.com SIP', 'tel:+15551234 SIP'))).uri?.user).toBe('+15551234');
    expect(ok(Buffer.from(req('INVITE').toString().replace('sip:bob@biloxi.example.com SIP', 'sips:bob@[2001:db8::1]:5061 SIP'))).uri).toMatchObject({ scheme: 'sips', host: '[2001:db8::1]', port: 5061 });
  });
  test('version other than 2.0 → 505 with a partial; unknown scheme → 416; bad method → drop', () => {
    const v = failure(Buffer.from(req('OPTIONS').toString().replace('SIP/2.0\r\n', 'SIP/3.0\r\n')));
    expect([v.status, v.partial?.callId]).toEqual([505, 'a84b4c76e66710@pc33.atlanta.example.com']);
    expect(failure(Buffer.from(req('OPTIONS').toString().replace('sip:bob@biloxi.example.com SIP', 'http://x.com SIP'))).status).toBe(416);
    expect(failure(Buffer.from(req('OPTIONS').toString().replace('OPTIONS sip', 'OPT<IONS sip'))).status).toBe(0);
    expect(failure(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')).status).toBe(0);
  });
  test('bad status lines are dropped', () => {
    for (const line of ['SIP/2.0 20 OK', 'SIP/2.0 2000 OK', 'SIP/2.0 099 x', 'SIP/1.0 200 OK', 'SIP/2.0']) {
      const f = failure(Buffer.from(req('INVITE').toString().replace(/^.*\r\n/, `${line}\r\n`)));
      expect(f.status).toBe(0);
      expect(f.partial).toBeUndefined();
    }
  });
  test('CRLFs before the start line are ignored (RFC 3261 §7.5); a bare-LF message is accepted', () => {
    expect(ok(Buffer.concat([Buffer.from('\r\n\r\n'), req('OPTIONS')])).toBuffer().equals(req('OPTIONS'))).toBe(true);
    const lf = ok(Buffer.from(req('MESSAGE', 'Content-Type: text/plain\r\n', 'hi\r\n\r\nthere').toString().replace(/\r\n/g, '\n').replace('Content-Length: 11', 'Content-Length: 9')));
    expect([lf.callId, lf.body.toString()]).toEqual(['a84b4c76e66710@pc33.atlanta.example.com', 'hi\n\nthere']);
  });
});

describe('headers (RFC 3261 §7.3, §20)', () => {
  const m = ok(req('INVITE',
    'v: SIP/2.0/TCP proxy.example.com;branch=z9hG4bKp1, SIP/2.0/UDP second.example.com;branch=z9hG4bKp2\r\n'
    + 'ROUTE: <sip:r1.example.com;lr>, <sip:r2.example.com;lr>\r\n'
    + 'Route: <sip:r3.example.com;lr>\r\n'
    + 'Subject: lunch,\r\n  tomorrow?\r\n'
    + 'Authorization: Digest username="alice", realm="atlanta.com", nonce="84a4cc6f", uri="sip:bob@biloxi.com", response="7587245234b3434cc3412213e5f113a5"\r\n'
    + 'Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n'
    + 'm: "Alice, A." <sip:alice@pc33.atlanta.example.com>;expires=60, <sip:alice@backup.example.com>\r\n'
    + 'Supported: replaces\r\nsupported: timer, 100rel\r\n'
    + 'X-Empty:\r\n'));
  test('Via from a compact field joins the Via list in order', () => {
    expect(m.vias.map((v) => v.host)).toEqual(['pc33.atlanta.example.com', 'proxy.example.com', 'second.example.com']);
    expect(m.vias[0]?.rport).toBeNull();
    expect(m.headerValues('Via')).toEqual([
      'SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport',
      'SIP/2.0/TCP proxy.example.com;branch=z9hG4bKp1',
      'SIP/2.0/UDP second.example.com;branch=z9hG4bKp2',
    ]);
    expect(m.headerCount('v')).toBe(3);
  });
  test('comma lists and repeated fields give one value each', () => {
    expect(m.headerValues('route')).toEqual(['<sip:r1.example.com;lr>', '<sip:r2.example.com;lr>', '<sip:r3.example.com;lr>']);
    expect(m.header('Route')).toBe('<sip:r1.example.com;lr>');
    expect(m.headerValues('supported')).toEqual(['replaces', 'timer', '100rel']);
    expect(m.headerValues('contact')).toEqual(['"Alice, A." <sip:alice@pc33.atlanta.example.com>;expires=60', '<sip:alice@backup.example.com>']);
  });
  test('authentication headers and Date are never split on commas', () => {
    expect(m.headerCount('authorization')).toBe(1);
    expect(m.header('authorization')).toMatch(/^Digest username="alice", realm=.*response="7587245234b3434cc3412213e5f113a5"$/);
    expect(m.headerValues('date')).toEqual(['Sat, 13 Nov 2010 23:29:00 GMT']);
  });
  test('folded values are collapsed to one space; empty values are kept for non-list headers', () => {
    expect(m.header('SUBJECT')).toBe('lunch, tomorrow?');
    expect(m.header('x-empty')).toBe('');
    expect(m.header('x-absent')).toBeUndefined();
    expect(m.headerValues('x-absent')).toEqual([]);
  });
  test('fields() lists every field in order with name as written and canonical key', () => {
    const f = m.fields();
    expect(f[0]).toEqual({ name: 'Via', key: 'via', value: 'SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds;rport' });
    expect(f.find((x) => x.name === 'v')?.key).toBe('via');
    expect(f.find((x) => x.name === 'ROUTE')?.key).toBe('route');
    expect(f.length).toBe(17);
  });
  test('UTF-8 values are decoded', () => {
    const u = ok(req('MESSAGE', 'Subject: café ☕\r\n'));
    expect(u.header('subject')).toBe('café ☕');
  });
});

describe('body and Content-Length (RFC 3261 §18.3, §20.14)', () => {
  test('Content-Length governs; extra datagram bytes are ignored', () => {
    const buf = Buffer.concat([req('MESSAGE', 'Content-Type: text/plain\r\n', 'hello'), Buffer.from('garbage')]);
    const m = ok(buf);
    expect([m.contentLength, m.body.toString()]).toEqual([5, 'hello']);
    expect(m.toBuffer().toString().endsWith('\r\n\r\nhello')).toBe(true);
  });
  test('without Content-Length the datagram rest is the body', () => {
    const m = ok(req('MESSAGE', 'Content-Type: text/plain\r\n', 'hello world', { cl: false }));
    expect([m.contentLength, m.body.toString()]).toEqual([undefined, 'hello world']);
  });
  test('declared length larger than the bytes → 400 with partial', () => {
    const f = failure(Buffer.from(req('MESSAGE', '', 'hello').toString().replace('Content-Length: 5', 'Content-Length: 50')));
    expect([f.status, f.reason]).toEqual([400, 'Bad Request - Content-Length Larger Than Body']);
    expect(f.partial?.vias[0]?.branch).toBe('z9hG4bK776asdhds');
  });
  test('compact l: works', () => {
    expect(ok(Buffer.from(req('MESSAGE', '', 'abc').toString().replace('Content-Length:', 'l:'))).body.toString()).toBe('abc');
  });
});

describe('defects and limits', () => {
  test.each([
    ['Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n', '', 'Bad Request - Missing Call-ID'],
    ['CSeq: 314159 OPTIONS\r\n', '', 'Bad Request - Missing CSeq'],
    ['CSeq: 314159 OPTIONS\r\n', 'CSeq: abc OPTIONS\r\n', 'Bad Request - Bad CSeq'],
    ['CSeq: 314159 OPTIONS\r\n', 'CSeq: 4294967296 OPTIONS\r\n', 'Bad Request - Bad CSeq'],
    ['From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n', '', 'Bad Request - Missing From'],
    ['To: Bob <sip:bob@biloxi.example.com>\r\n', 'To: Bob <sip:bob@biloxi.example.com\r\n', 'Bad Request - Bad To'],
    ['Max-Forwards: 70\r\n', 'Max-Forwards: seventy\r\n', 'Bad Request - Bad Max-Forwards'],
    ['Max-Forwards: 70\r\n', 'Max-Forwards: 70\r\nBroken header line\r\n', 'Bad Request - Malformed Header Line'],
  ])('%j → %j gives 400', (from, to, reason) => {
    const f = failure(Buffer.from(req('OPTIONS').toString().replace(from, to)));
    expect(f.status).toBe(400);
    expect(f.reason.toLowerCase()).toBe(reason.toLowerCase());
    expect(f.partial?.header('via')).toBeDefined();
  });
  test('no Via, or a response with a defect → drop', () => {
    const noVia = failure(Buffer.from(req('OPTIONS').toString().replace(/Via: .*\r\n/, '')));
    expect([noVia.status, noVia.partial]).toEqual([0, undefined]);
    const resp = failure(Buffer.from(req('OPTIONS').toString().replace(/^.*\r\n/, 'SIP/2.0 200 OK\r\n').replace(/Call-ID: .*\r\n/, '')));
    expect([resp.status, resp.partial]).toEqual([0, undefined]);
  });
  test('size limit → 513, header count limit → 400', () => {
    const big = req('MESSAGE', '', 'x'.repeat(2000));
    expect(failure(big, { maxMessageSize: 1000 })).toMatchObject({ status: 513, reason: 'Message Too Large' });
    let many = '';
    for (let i = 0; i < 30; i++) many += `X-H${i}: ${i}\r\n`;
    const f = failure(req('OPTIONS', many), { maxHeaders: 20 });
    expect([f.status, f.reason, f.partial?.method]).toEqual([400, 'Bad Request - Too Many Headers', 'OPTIONS']);
    expect(parseMessage(req('OPTIONS', many)).ok).toBe(true);
  });
  test('garbage never throws', () => {
    for (const s of ['', '\r\n', 'INVITE', 'INVITE sip:a@b SIP/2.0', 'SIP/2.0 200 OK\r\n\r\n', '\0\0\0', ':::\r\n\r\n']) {
      expect(parseMessage(Buffer.from(s)).ok).toBe(false);
    }
  });
});

describe('serializing and edits (RFC 3261 §16.6)', () => {
  const raw = Buffer.from(
    'INVITE sip:bob@biloxi.example.com SIP/2.0\r\n'
    + 'via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\n'
    + 'MAX-FORWARDS: 70\r\n'
    + 'f: <sip:alice@a.example.com>;tag=1\r\n'
    + 't: <sip:bob@b.example.com>\r\n'
    + 'i: call-1\r\n'
    + 'CSeq: 1 INVITE\r\n'
    + 'X-Folded: one\r\n   two\r\n'
    + 'Supported: a, b, c\r\n'
    + 'c: text/plain\r\n'
    + 'l: 4\r\n\r\nbody',
  );
  test('untouched message is byte-exact (casing, compact names, folding)', () => {
    expect(ok(raw).toBuffer().equals(raw)).toBe(true);
  });
  test('setHeader keeps untouched lines exact and updates eager fields', () => {
    const m = ok(raw);
    m.setHeader('Max-Forwards', '69');
    expect(m.maxForwards).toBe(69);
    const out = m.toBuffer().toString();
    expect(out).toBe(raw.toString().replace('MAX-FORWARDS: 70', 'Max-Forwards: 69'));
    expect(ok(Buffer.from(out)).maxForwards).toBe(69);
  });
  test('addHeader first/last, Via pushed on top like a proxy (RFC 3261 §16.6 step 8)', () => {
    const m = ok(raw);
    m.addHeader('Via', 'SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp', 'first');
    m.addHeader('Record-Route', '<sip:proxy.example.com;lr>', 'first');
    m.addHeader('X-Last', 'yes');
    expect(m.vias.map((v) => v.host)).toEqual(['proxy.example.com', 'a.example.com']);
    const text = m.toBuffer().toString();
    expect(text.startsWith('INVITE sip:bob@biloxi.example.com SIP/2.0\r\nRecord-Route: <sip:proxy.example.com;lr>\r\nVia: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp\r\nvia: SIP/2.0/UDP a.example.com')).toBe(true);
    expect(text).toContain('l: 4\r\nX-Last: yes\r\n\r\nbody');
    expect(ok(Buffer.from(text)).vias.length).toBe(2);
  });
  test('removeHeader: one element of a list, a whole field, all', () => {
    const m = ok(raw);
    expect(m.removeHeader('supported', 1)).toBe(1);
    expect(m.headerValues('supported')).toEqual(['a', 'c']);
    expect(m.toBuffer().toString()).toContain('Supported: a, c\r\n');
    expect(m.removeHeader('Supported')).toBe(2);
    expect(m.removeHeader('x-folded', 5)).toBe(0);
    expect(m.removeHeader('v', 0)).toBe(1);
    expect(m.vias).toEqual([]);
    expect(m.toBuffer().toString()).not.toMatch(/supported|via:/i);
  });
  test('setRequestUri rewrites the start line only', () => {
    const m = ok(raw);
    m.setRequestUri('sip:bob@192.0.2.4:5070;transport=tcp');
    expect(m.uri).toMatchObject({ host: '192.0.2.4', port: 5070 });
    expect(m.toBuffer().toString()).toBe(raw.toString().replace('sip:bob@biloxi.example.com', 'sip:bob@192.0.2.4:5070;transport=tcp'));
    expect(() => m.setRequestUri('sip:a b')).toThrow(/E2004/);
  });
  test('setBody keeps Content-Length right (and its compact name)', () => {
    const m = ok(raw);
    m.setBody(Buffer.from('héllo wörld'), 'text/plain;charset=utf-8');
    const out = m.toBuffer();
    const again = ok(out);
    expect(again.body.toString()).toBe('héllo wörld');
    expect(again.contentLength).toBe(13);
    expect(out.toString()).toContain('l: 13\r\n');
    expect(again.header('content-type')).toBe('text/plain;charset=utf-8');
  });
  test('edits refuse CR/LF injection with a registry error', () => {
    const m = ok(raw);
    try {
      m.addHeader('X-Evil', 'a\r\nVia: injected');
      throw new Error('no throw');
    } catch (e) {
      expect(isSiphonError(e, 'SIP_BAD_EDIT')).toBe(true);
    }
    expect(() => m.setHeader('Bad Name', 'x')).toThrow(/E2005/);
  });
});

describe('frameStream (RFC 3261 §18.3)', () => {
  const a = req('MESSAGE', '', 'hello');
  const b = req('OPTIONS');
  test('cuts back-to-back messages and asks for more on partial ones', () => {
    const stream = Buffer.concat([Buffer.from('\r\n\r\n'), a, b]);
    const f1 = frameStream(stream, 0);
    expect(f1).toEqual({ length: 4 + a.length });
    const f2 = frameStream(stream, 4 + a.length);
    expect(f2).toEqual({ length: b.length });
    expect(frameStream(stream.subarray(0, 4 + a.length - 1), 0)).toEqual({ need: 'more' });
    expect(frameStream(a.subarray(0, 30), 0)).toEqual({ need: 'more' });
    expect(frameStream(Buffer.from('\r\n\r\n'), 0)).toEqual({ need: 'more' });
  });
  test('compact l:, any case, and value on a folded line', () => {
    const compact = Buffer.from(a.toString().replace('Content-Length: 5', 'L :\r\n 5'));
    expect(frameStream(compact, 0)).toEqual({ length: compact.length });
  });
  test('missing or malformed Content-Length is a framing error', () => {
    expect(frameStream(req('OPTIONS', '', '', { cl: false }), 0)).toHaveProperty('error');
    expect(frameStream(Buffer.from(a.toString().replace('Content-Length: 5', 'Content-Length: -5')), 0)).toHaveProperty('error');
    expect(frameStream(Buffer.from(a.toString().replace('Content-Length: 5', 'Content-Length: 5\r\nl: 6')), 0)).toHaveProperty('error');
    expect(frameStream(Buffer.alloc(70000, 65), 0)).toHaveProperty('error');
  });
});
