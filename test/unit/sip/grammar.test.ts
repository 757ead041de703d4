/** URI, name-addr, Via and header-name helpers (RFC 3261 §19.1, §20, §25; RFC 3966; RFC 3581). */
import { describe, expect, test } from 'vitest';
import { formatUri, parseUri } from '../../../host/sip/uri.js';
import { parseNameAddr } from '../../../host/sip/name-addr.js';
import { parseVia } from '../../../host/sip/via.js';
import { COMPACT_FORMS, canonicalHeaderName, headerKey, isListHeader, splitList } from '../../../host/sip/headers.js';

describe('parseUri (RFC 3261 §19.1)', () => {
  test('full SIP URI: user, password, host, port, params, headers', () => {
    const u = parseUri('sip:alice:secret@atlanta.example.com:5070;transport=TCP;lr;Maddr=x?subject=project%20x&priority=urgent')!;
    expect(u).toMatchObject({ scheme: 'sip', user: 'alice', password: 'secret', host: 'atlanta.example.com', port: 5070 });
    expect(u.params).toEqual([['transport', 'TCP'], ['lr', null], ['maddr', 'x']]);
    expect(u.headers).toEqual([['subject', 'project x'], ['priority', 'urgent']]);
    expect(u.raw).toBe('sip:alice:secret@atlanta.example.com:5070;transport=TCP;lr;Maddr=x?subject=project%20x&priority=urgent');
  });
  test('host only, IPv4, IPv6 reference with and without port', () => {
    expect(parseUri('sip:example.com')).toMatchObject({ host: 'example.com', user: undefined, port: undefined });
    expect(parseUri('sips:192.0.2.4:5061')).toMatchObject({ scheme: 'sips', host: '192.0.2.4', port: 5061 });
    expect(parseUri('sip:[2001:db8::10]')).toMatchObject({ host: '[2001:db8::10]', port: undefined });
    expect(parseUri('sip:user@[2001:db8::10]:5070;transport=udp')).toMatchObject({ user: 'user', host: '[2001:db8::10]', port: 5070 });
  });
  test('scheme is case-insensitive; %-escapes are resolved', () => {
    expect(parseUri('SIP:%61lice@Example.COM')).toMatchObject({ scheme: 'sip', user: 'alice', host: 'Example.COM' });
  });
  test('tel URIs (RFC 3966)', () => {
    expect(parseUri('tel:+1-201-555-0123;phone-context=example.com')).toMatchObject({
      scheme: 'tel', user: '+1-201-555-0123', host: '', params: [['phone-context', 'example.com']],
    });
  });
  test.each([
    'http://example.com', 'sip:', 'sip:@host', 'sip:user@', 'sip:user@host:99999', 'sip:user@host:abc',
    'sip:us er@host', 'sip:user@ho st', 'sip:user@host;;lr', 'sip:user@[::1', 'sip:user@host?', 'sip:%zz@host',
    'sip:user@host;a=b c', '<sip:user@host>', 'tel:', 'tel:12 34',
  ])('rejects %s', (text) => {
    expect(parseUri(text)).toBeNull();
  });
  test('formatUri escapes what must be escaped and round-trips', () => {
    const u = parseUri('sip:I%20have%20spaces:p%40ss@example.net:5060;n%61me=v%61lue%25?h=a%26b')!;
    expect(u.user).toBe('I have spaces');
    expect(u.password).toBe('p@ss');
    const text = formatUri(u);
    expect(text).toBe('sip:I%20have%20spaces:p%40ss@example.net:5060;name=value%25?h=a%26b');
    expect(parseUri(text)).toMatchObject({ user: 'I have spaces', password: 'p@ss', params: [['name', 'value%']], headers: [['h', 'a&b']] });
  });
});

describe('parseNameAddr (RFC 3261 §20.10, §25.1)', () => {
  test('quoted display name with quoted-pairs, params, tag', () => {
    expect(parseNameAddr('"Bob \\"the\\" Builder" <sip:bob@biloxi.com;transport=tcp> ;tag=a6c85cf ; q=0.7')).toEqual({
      displayName: 'Bob "the" Builder', uri: 'sip:bob@biloxi.com;transport=tcp', params: [['tag', 'a6c85cf'], ['q', '0.7']], tag: 'a6c85cf',
    });
  });
  test('token display name, no display name, addr-spec with header params', () => {
    expect(parseNameAddr('Alice Liddell <sip:alice@atlanta.com>')).toMatchObject({ displayName: 'Alice Liddell', uri: 'sip:alice@atlanta.com' });
    expect(parseNameAddr('<sip:alice@atlanta.com>')?.displayName).toBeUndefined();
    expect(parseNameAddr('sip:alice@atlanta.com;tag=1928301774')).toMatchObject({ uri: 'sip:alice@atlanta.com', tag: '1928301774' });
  });
  test('Contact star and quoted parameter values', () => {
    expect(parseNameAddr(' * ')).toEqual({ uri: '*', params: [], star: true });
    expect(parseNameAddr('<sip:a@b>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"')?.params).toEqual([
      ['+sip.instance', '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'],
    ]);
  });
  test('non-SIP schemes are kept as opaque URIs', () => {
    expect(parseNameAddr('<urn:service:sos>')?.uri).toBe('urn:service:sos');
  });
  test.each([
    '"unterminated <sip:a@b>', 'Bell, Alexander <sip:a@b>', '< sip:a@b >', '<sip:a@b', 'sip:a@b?x=y',
    '<sip:a@b>;;', '<sip:a@b>;tag=', '<sip:a@b> garbage', '', '<>', '<sip:a b@c>',
  ])('rejects %j', (text) => {
    expect(parseNameAddr(text)).toBeNull();
  });
});

describe('parseVia (RFC 3261 §20.42, RFC 3581)', () => {
  test('all the interesting parameters', () => {
    const v = parseVia('SIP/2.0/udp pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;received=192.0.2.1;rport=5062;maddr=224.2.0.1;ttl=16;x')!;
    expect(v).toMatchObject({
      protocol: 'SIP/2.0/UDP', transport: 'UDP', host: 'pc33.atlanta.com', port: 5066, branch: 'z9hG4bK776asdhds',
      received: '192.0.2.1', rport: 5062, maddr: '224.2.0.1', ttl: 16,
    });
    expect(v.params.at(-1)).toEqual(['x', null]);
  });
  test('empty rport is null; absent rport is undefined; IPv6 sent-by', () => {
    expect(parseVia('SIP/2.0/TCP [2001:db8::1]:5060;rport;branch=z9hG4bK1')).toMatchObject({ host: '[2001:db8::1]', port: 5060, rport: null });
    expect(parseVia('SIP/2.0/TCP h;branch=z9hG4bK1')?.rport).toBeUndefined();
  });
  test('LWS around slashes, colon and separators (RFC 4475 §3.1.1.1)', () => {
    expect(parseVia('SIP  /   2.0 /UDP    192.0.2.2 : 5070 ;  branch  =  z9hG4bK9')).toMatchObject({
      protocol: 'SIP/2.0/UDP', host: '192.0.2.2', port: 5070, branch: 'z9hG4bK9',
    });
  });
  test('raw is the element as written', () => {
    expect(parseVia(' SIP/2.0/UDP a.example.com;branch=z9hG4bK1 ')?.raw).toBe('SIP/2.0/UDP a.example.com;branch=z9hG4bK1');
  });
  test.each([
    'SIP/2.0/UDP', 'SIP/2.0 host', 'SIP/2.0/UDPhost', 'SIP/2.0/UDP host:', 'SIP/2.0/UDP host:70000',
    'SIP/2.0/UDP host;branch', 'SIP/2.0/UDP host;rport=x', 'SIP/2.0/UDP host;;branch=1', 'SIP/2.0/UDP ho st',
  ])('rejects %j', (text) => {
    expect(parseVia(text)).toBeNull();
  });
  test('lenient mode salvages empty parameters for an error reply', () => {
    expect(parseVia('SIP/2.0/UDP 192.0.2.15;;', true)).toMatchObject({ host: '192.0.2.15' });
  });
});

describe('header names and lists (RFC 3261 §7.3)', () => {
  test('compact forms and case-insensitive names map to one key', () => {
    expect(['v', 'V', 'via', 'VIA', 'Via'].map(headerKey)).toEqual(['via', 'via', 'via', 'via', 'via']);
    for (const [short, long] of Object.entries({ i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', f: 'from', s: 'subject', k: 'supported', t: 'to', c: 'content-type', o: 'event', u: 'allow-events', r: 'refer-to', b: 'referred-by', x: 'session-expires', y: 'identity', a: 'accept-contact' })) {
      expect(COMPACT_FORMS[short]).toBe(long);
      expect(headerKey(short.toUpperCase())).toBe(long);
    }
    expect(headerKey('X-Custom-Thing')).toBe('x-custom-thing');
    expect(canonicalHeaderName('call-id')).toBe('Call-ID');
    expect(canonicalHeaderName('record-route')).toBe('Record-Route');
  });
  test('which headers are lists', () => {
    for (const k of ['via', 'contact', 'route', 'record-route', 'allow', 'supported', 'require', 'proxy-require', 'accept']) expect(isListHeader(k)).toBe(true);
    for (const k of ['authorization', 'proxy-authorization', 'www-authenticate', 'proxy-authenticate', 'date', 'from', 'to', 'call-id', 'cseq', 'subject', 'user-agent', 'x-unknown']) expect(isListHeader(k)).toBe(false);
  });
  test('splitList: commas inside quotes and <> do not split', () => {
    expect(splitList('"Doe, John" <sip:j@x;a=1,2>;q=0.5 , <sip:b@y>,sip:c@z')).toEqual(['"Doe, John" <sip:j@x;a=1,2>;q=0.5', '<sip:b@y>', 'sip:c@z']);
    expect(splitList('"a \\" , b" <sip:x@y>, <sip:z@w>')).toEqual(['"a \\" , b" <sip:x@y>', '<sip:z@w>']);
    expect(splitList(' , a ,, b , ')).toEqual(['a', 'b']);
  });
});
