/** host/rpc/http-guard.ts: Host parsing, the same-origin rule and the Content-Type test on their own. */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { HttpGuard, isJsonContentType, parseHostHeader } from '../../../host/rpc/http-guard.js';

const req = (headers: Record<string, string>, method = 'POST'): IncomingMessage => ({ headers, method }) as unknown as IncomingMessage;

describe('parseHostHeader', () => {
  it('splits name, IPv4 and bracketed IPv6 with and without a port, lower-cased', () => {
    expect(parseHostHeader('LocalHost:8080')).toEqual({ host: 'localhost', port: '8080' });
    expect(parseHostHeader('127.0.0.1')).toEqual({ host: '127.0.0.1', port: '' });
    expect(parseHostHeader('[::1]:9')).toEqual({ host: '::1', port: '9' });
    expect(parseHostHeader('[::1]')).toEqual({ host: '::1', port: '' });
  });
  it('refuses malformed values (an empty port is allowed, RFC 3986 §3.2.3)', () => {
    expect(parseHostHeader('[::1]:')).toEqual({ host: '::1', port: '' });
    for (const v of ['', ':80', '::1', '[::1', '[::1]x', '[evil.example]:80', 'a:b', 'a:123456', 'a:8080:1']) {
      expect(parseHostHeader(v), v).toBeNull();
    }
  });
});

describe('HttpGuard.check', () => {
  const g = new HttpGuard({ listenHost: '127.0.0.1', token: null });
  it('loopback Host without Origin passes; the listener\'s own address passes', () => {
    expect(g.check(req({ host: '127.0.0.2:1' }))).toBeNull();
    expect(g.check(req({ host: '[::ffff:127.0.0.1]:8080' }))).toBeNull();
    expect(new HttpGuard({ listenHost: '10.1.2.3', token: null }).check(req({ host: '10.1.2.3:8080' }))).toBeNull();
  });
  it('Origin must be http:// + the Host value; port 80 may be implicit on either side', () => {
    expect(g.check(req({ host: 'localhost', origin: 'http://localhost:80' }))).toBeNull();
    expect(g.check(req({ host: 'localhost:80', origin: 'http://localhost' }))).toBeNull();
    expect(g.check(req({ host: 'localhost:8080', origin: 'http://127.0.0.1:8080' }))?.status).toBe(403);
    expect(g.check(req({ host: 'localhost:8080', origin: 'HTTP://LOCALHOST:8080' }))).toBeNull();
  });
  it('64 KiB hostile Host and Origin values are refused (indexOf/slice scans, no regex)', () => {
    const long = 'a'.repeat(65536);
    expect(g.check(req({ host: `${long}:1` }))?.status).toBe(421);
    expect(g.check(req({ host: '127.0.0.1', origin: `http://${'['.repeat(65536)}` }))?.status).toBe(403);
    expect(g.check(req({ host: `[${':'.repeat(65536)}` }))?.status).toBe(421);
  });
});

describe('isJsonContentType', () => {
  it('application/json with optional UTF-8 charset and other parameters', () => {
    for (const v of ['application/json', 'Application/JSON', 'application/json;charset=utf-8', 'application/json; charset="UTF-8"', 'application/json; foo=bar']) {
      expect(isJsonContentType(v), v).toBe(true);
    }
    for (const v of [undefined, '', 'text/plain', 'application/jsonx', 'application/json; charset=latin1', 'text/plain; a=application/json']) {
      expect(isJsonContentType(v), String(v)).toBe(false);
    }
  });
});
