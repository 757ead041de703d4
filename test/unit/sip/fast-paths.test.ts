/**
 * The parser's fast paths (usual spellings recognised with native compares, interned methods,
 * transports and parameter names, in-place setHeader) must give exactly what the generic paths give.
 */
import { describe, expect, test } from 'vitest';
import { parseMessage } from '../../../host/sip/parser.js';
import { parseVia } from '../../../host/sip/via.js';
import { parseNameAddr } from '../../../host/sip/name-addr.js';
import type { SipMessage } from '../../../host/sip/types.js';

function parse(lines: string[]): SipMessage {
  const r = parseMessage(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'));
  if (!r.ok) throw new Error(`${r.failure.reason}: ${r.failure.detail}`);
  return r.message;
}

const BASE = [
  'Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1',
  'Max-Forwards: 70',
  'From: <sip:a@127.0.0.1>;tag=f1',
  'To: <sip:127.0.0.1>',
  'Call-ID: c1@x',
  'CSeq: 1 OPTIONS',
];

describe('header name recognition', () => {
  test('usual spelling, other case, compact form and SP before the colon give the same keys', () => {
    const m = parse(['OPTIONS sip:127.0.0.1 SIP/2.0', 'Via : SIP/2.0/UDP h1;branch=z9hG4bK-a', 'v: SIP/2.0/UDP h2;branch=z9hG4bK-b',
      'VIA:SIP/2.0/UDP h3;branch=z9hG4bK-c', 'Max-Forwards: 70', 'f: <sip:a@x>;tag=1', 'TO :<sip:b@x>', 'i: c@x', 'CSeq: 1 OPTIONS',
      'Contact-Info: not a contact', 'Contact: <sip:a@x>', 'content-length: 0']);
    expect(m.vias.map((v) => v.host)).toEqual(['h1', 'h2', 'h3']);
    expect(m.fields().map((f) => f.key)).toEqual(['via', 'via', 'via', 'max-forwards', 'from', 'to', 'call-id', 'cseq', 'contact-info', 'contact', 'content-length']);
    expect(m.fields()[0]!.name).toBe('Via');
    expect(m.fields()[6]!.name).toBe('i');
    expect(m.header('contact')).toBe('<sip:a@x>');
    expect(m.header('contact-info')).toBe('not a contact');
    expect(m.to?.uri).toBe('sip:b@x');
    expect(m.contentLength).toBe(0);
  });

  test('a known name followed by junk before the colon is still a bad header name', () => {
    const r = parseMessage(Buffer.from(`OPTIONS sip:x SIP/2.0\r\n${BASE.join('\r\n')}\r\nContact x: <sip:a@x>\r\n\r\n`, 'latin1'));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.failure.detail).toBe('bad header name "Contact x"');
  });
});

describe('start line', () => {
  test('methods are taken as written; usual ones and SIP/2.0 are recognised', () => {
    expect(parse(['OPTIONS sip:x SIP/2.0', ...BASE]).method).toBe('OPTIONS');
    const ext = parse(['FOO sip:x SIP/2.0', ...BASE.slice(0, 5), 'CSeq: 1 FOO']);
    expect(ext.method).toBe('FOO');
    const lower = parse(['OPTIONS sip:x sip/2.0', ...BASE]);
    expect(lower.version).toBe('sip/2.0');
    const r = parseMessage(Buffer.from(`options sip:x SIP/2.0\r\n${BASE.join('\r\n')}\r\n\r\n`, 'latin1'));
    // RFC 3261 §7.1: methods are case-sensitive, so "options" differs from the CSeq method
    expect(r.ok).toBe(false);
  });
});

describe('Via, name-addr and parameters', () => {
  test('transport in any case is upper-cased; protocol normalised only for SIP/2.0', () => {
    const v = parseVia('SIP/2.0/udp 10.0.0.1:5070;BRANCH=z9hG4bK-x;rport;received=1.2.3.4')!;
    expect(v).toMatchObject({ protocol: 'SIP/2.0/UDP', transport: 'UDP', host: '10.0.0.1', port: 5070, branch: 'z9hG4bK-x', rport: null, received: '1.2.3.4' });
    expect(v.params).toEqual([['branch', 'z9hG4bK-x'], ['rport', null], ['received', '1.2.3.4']]);
    expect(parseVia('sip/2.0/Tcp h')!).toMatchObject({ protocol: 'sip/2.0/TCP', transport: 'TCP' });
    expect(parseVia('SIP/2.0/QUIC h')!).toMatchObject({ protocol: 'SIP/2.0/QUIC', transport: 'QUIC' });
    expect(parseVia('SIP/2.0/UDP h:99999')).toBeNull();
  });

  test('name-addr: tag and display name, one shape whatever is present', () => {
    const a = parseNameAddr('<sip:a@x>;tag=abc;Tagx=1')!;
    expect(a.tag).toBe('abc');
    expect(a.displayName).toBeUndefined();
    expect(a.params).toEqual([['tag', 'abc'], ['tagx', '1']]);
    const b = parseNameAddr('"Bob" <sip:b@x>')!;
    expect(b.displayName).toBe('Bob');
    expect(b.tag).toBeUndefined();
    expect(Object.keys(a)).toEqual(Object.keys(b));
  });
});

describe('setHeader', () => {
  test('one field of the name is replaced in place; several collapse to the first position', () => {
    const m = parse(['OPTIONS sip:x SIP/2.0', ...BASE, 'X-A: 1', 'Accept: a', 'X-A: 2']);
    m.setHeader('Max-Forwards', '69');
    expect(m.maxForwards).toBe(69);
    expect(m.fields().map((f) => f.key)).toEqual(['via', 'max-forwards', 'from', 'to', 'call-id', 'cseq', 'x-a', 'accept', 'x-a']);
    m.setHeader('X-A', '3');
    expect(m.fields().map((f) => `${f.key}=${f.value}`).slice(6)).toEqual(['x-a=3', 'accept=a']);
    expect(m.toBuffer().toString('latin1')).toContain('Max-Forwards: 69\r\nFrom: <sip:a@127.0.0.1>;tag=f1\r\n');
  });
});
