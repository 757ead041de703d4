import { describe, expect, it } from 'vitest';
import { parseListenUri } from '../../../host/transport/listen-uri.js';
import { isSiphonError } from '../../../host/errors/registry.js';

describe('listen URIs (proto:host[:port])', () => {
  it.each([
    ['udp:127.0.0.1:5060', { proto: 'udp', host: '127.0.0.1', port: 5060, family: 4, uri: 'udp:127.0.0.1:5060' }],
    ['tcp:[::1]:5060', { proto: 'tcp', host: '::1', port: 5060, family: 6, uri: 'tcp:[::1]:5060' }],
    ['udp:0.0.0.0:5070', { proto: 'udp', host: '0.0.0.0', port: 5070, family: 4, uri: 'udp:0.0.0.0:5070' }],
    ['UDP:127.0.0.1', { proto: 'udp', host: '127.0.0.1', port: 5060, family: 4, uri: 'udp:127.0.0.1:5060' }],
    ['tcp:[2001:db8::1]', { proto: 'tcp', host: '2001:db8::1', port: 5060, family: 6, uri: 'tcp:[2001:db8::1]:5060' }],
    ['tls:127.0.0.1', { proto: 'tls', host: '127.0.0.1', port: 5061, family: 4, uri: 'tls:127.0.0.1:5061' }],
    ['wss:127.0.0.1', { proto: 'wss', host: '127.0.0.1', port: 443, family: 4, uri: 'wss:127.0.0.1:443' }],
  ])('%s', (text, expected) => {
    expect(parseListenUri(text)).toEqual(expected);
  });

  it.each([
    ['127.0.0.1:5060', /missing transport prefix/],
    ['sctp:127.0.0.1:5060', /unsupported transport 'sctp'/],
    ['udp:', /missing host/],
    ['udp::::1:5060', /IPv6 addresses must be written in brackets/],
    ['udp:[::1:5060', /unterminated IPv6 reference/],
    ['udp:[::1]5060', /unexpected '5060' after the IPv6 address/],
    ['udp:[127.0.0.1]:5060', /'127\.0\.0\.1' is not an IPv6 address/],
    ['udp:localhost:5060', /'localhost' is not an IPv4 address/],
    ['udp:127.0.0.1:70000', /port 70000 out of range/],
    ['udp:127.0.0.1:0', /port 0 out of range/],
    ['udp:127.0.0.1:50a', /bad port '50a'/],
  ])('refuses %s', (text, why) => {
    let err: unknown;
    try {
      parseListenUri(text, 'here');
    } catch (e) {
      err = e;
    }
    expect(isSiphonError(err, 'TRANSPORT_LISTEN_URI')).toBe(true);
    expect((err as Error).message).toMatch(why);
    expect((err as Error).message).toMatch(/^here: /);
    expect((err as Error).message).toContain('[E3001 bad listen address]');
  });
});
