import { describe, expect, it } from 'vitest';
import { looseRoute, recordRoute, LR_NO_ROUTE, LR_PRELOADED, LR_ROUTED } from '../../../host/proxy/record-route.js';
import { pickBestResponse, responseRank } from '../../../host/proxy/best-response.js';
import { ensureMaxForwardsProcessed, statelessBranch } from '../../../host/proxy/proxy.js';
import { nextHopOf } from '../../../host/proxy/resolver.js';
import { parse, rrCtx, rrIsMyself, rrLocal, rrRequest } from './helpers.js';

const local = rrLocal;
const isMyself = rrIsMyself;
const ctxOf = rrCtx;
const req = rrRequest;

describe('record_route / loose_route (Kamailio rr, RFC 3261 §16.4, §16.12)', () => {
  it('record_route inserts <sip:ip:port;lr;ftag=...> above existing Record-Route headers', () => {
    const msg = req(['Record-Route: <sip:10.0.0.5;lr>']);
    expect(recordRoute(ctxOf(msg))).toBe(1);
    expect(msg.headerValues('record-route')).toEqual(['<sip:127.0.0.1:19210;lr;ftag=ft1>', '<sip:10.0.0.5;lr>']);
  });

  it('no Route: -1', () => {
    expect(looseRoute(ctxOf(req([], 'BYE', undefined, 'tt')), isMyself)).toBe(LR_NO_ROUTE);
  });

  it('in-dialog, our Route on top and a loose next hop: Route removed, $du = next hop, 1', () => {
    const msg = req(['Route: <sip:127.0.0.1:19210;lr;ftag=ft1>, <sip:10.0.0.7:5070;lr>'], 'BYE', undefined, 'tt');
    const ctx = ctxOf(msg);
    expect(looseRoute(ctx, isMyself)).toBe(LR_ROUTED);
    expect(msg.headerValues('route')).toEqual(['<sip:10.0.0.7:5070;lr>']);
    expect(ctx.dstUri).toBe('sip:10.0.0.7:5070;lr');
    expect(msg.requestUri).toBe('sip:bob@127.0.0.1:19212');
  });

  it('in-dialog, only our Route: removed, next hop is the R-URI, 1', () => {
    const msg = req(['Route: <sip:127.0.0.1:19210;lr>'], 'ACK', undefined, 'tt');
    const ctx = ctxOf(msg);
    expect(looseRoute(ctx, isMyself)).toBe(LR_ROUTED);
    expect(msg.headerCount('route')).toBe(0);
    expect(ctx.dstUri).toBeNull();
  });

  it('out-of-dialog with a single Route to us: Route removed, -1 (Kamailio)', () => {
    const msg = req(['Route: <sip:127.0.0.1:19210;lr>']);
    expect(looseRoute(ctxOf(msg), isMyself)).toBe(LR_NO_ROUTE);
    expect(msg.headerCount('route')).toBe(0);
  });

  it('out-of-dialog with a foreign Route on top: preloaded, $du set, -3', () => {
    const msg = req(['Route: <sip:10.0.0.8;lr>']);
    const ctx = ctxOf(msg);
    expect(looseRoute(ctx, isMyself)).toBe(LR_PRELOADED);
    expect(ctx.dstUri).toBe('sip:10.0.0.8;lr');
  });

  it('strict router upstream: R-URI is ours → R-URI = last Route, which is removed (§16.4)', () => {
    const msg = req(['Route: <sip:10.0.0.7;lr>, <sip:carol@10.0.0.9>'], 'BYE', 'sip:127.0.0.1:19210;lr', 'tt');
    const ctx = ctxOf(msg);
    expect(looseRoute(ctx, isMyself)).toBe(LR_ROUTED);
    expect(msg.requestUri).toBe('sip:carol@10.0.0.9');
    expect(msg.headerValues('route')).toEqual(['<sip:10.0.0.7;lr>']);
    expect(ctx.dstUri).toBe('sip:10.0.0.7;lr');
  });

  it('strict next hop (no lr): R-URI appended as last Route, R-URI = the strict router (§16.6 step 6)', () => {
    const msg = req(['Route: <sip:127.0.0.1:19210;lr>, <sip:10.0.0.7>'], 'BYE', 'sip:bob@10.0.0.20', 'tt');
    const ctx = ctxOf(msg);
    expect(looseRoute(ctx, isMyself)).toBe(LR_ROUTED);
    expect(msg.requestUri).toBe('sip:10.0.0.7');
    expect(msg.headerValues('route')).toEqual(['<sip:bob@10.0.0.20>']);
    expect(ctx.dstUri).toBeNull();
  });
});

describe('best response (RFC 3261 §16.7 step 6)', () => {
  it('6xx wins, then the lowest class; 401/407 preferred in 4xx; 503 last in 5xx', () => {
    expect(pickBestResponse([486, 603, 302])).toBe(1);
    expect(pickBestResponse([500, 404, 302])).toBe(2);
    expect(pickBestResponse([503, 480, 0])).toBe(1);
    expect(pickBestResponse([486, 407])).toBe(1);
    expect(pickBestResponse([503, 500])).toBe(1);
    expect(pickBestResponse([0, 0])).toBe(-1);
    expect(pickBestResponse([480, 480])).toBe(0);
    expect(responseRank(404)).toBeLessThan(responseRank(486));
  });
});

describe('forwarding helpers', () => {
  it('Max-Forwards: decremented once; left alone when the plugin already did it; 70 added when absent', () => {
    const a = req([]);
    ensureMaxForwardsProcessed(a);
    expect(a.maxForwards).toBe(69);
    ensureMaxForwardsProcessed(a); // already differs from the received value
    expect(a.maxForwards).toBe(69);
    const b = req([]);
    b.setHeader('Max-Forwards', '9'); // maxfwd_process(10) lowered and decremented it
    ensureMaxForwardsProcessed(b);
    expect(b.maxForwards).toBe(9);
    const c = req([]);
    c.removeHeader('max-forwards');
    ensureMaxForwardsProcessed(c);
    expect(c.maxForwards).toBe(70);
  });

  it('stateless branch: stable for retransmissions, shared by ACK/CANCEL of the same INVITE, different for another request', () => {
    const b1 = statelessBranch(req([]));
    expect(b1).toMatch(/^z9hG4bK/);
    expect(statelessBranch(req([]))).toBe(b1);
    expect(statelessBranch(req([], 'CANCEL'))).toBe(b1);
    const other = parse(req([]).toBuffer().toString().replace('z9hG4bK-r1', 'z9hG4bK-r2'));
    expect(statelessBranch(other)).not.toBe(b1);
  });

  it('next hop of a URI: host, port (default 5060), transport, maddr', () => {
    // portGiven / transportGiven / secure drive RFC 3263 §4 (port: A/AAAA only; transport: SRV of it; else NAPTR)
    expect(nextHopOf('sip:bob@127.0.0.1:19212')).toEqual({ host: '127.0.0.1', port: 19212, proto: 'udp', portGiven: true, transportGiven: false, secure: false });
    expect(nextHopOf('sip:example.com;transport=tcp')).toEqual({ host: 'example.com', port: 5060, proto: 'tcp', portGiven: false, transportGiven: true, secure: false });
    // RFC 5630 / RFC 3261 §26.2.2: sips is TLS on every hop, 5061 by default; sips over UDP does not exist
    expect(nextHopOf('sips:[::1]')).toEqual({ host: '::1', port: 5061, proto: 'tls', portGiven: false, transportGiven: false, secure: true });
    expect(nextHopOf('sips:b@h;transport=tcp')).toMatchObject({ host: 'h', port: 5061, proto: 'tls' });
    expect(nextHopOf('sip:b@h;transport=TLS')).toMatchObject({ host: 'h', port: 5061, proto: 'tls' });
    expect(nextHopOf('sips:b@h;transport=udp')).toBeNull();
    expect(nextHopOf('sip:x@h;maddr=10.1.1.1')).toMatchObject({ host: '10.1.1.1', port: 5060, proto: 'udp' });
    expect(nextHopOf('tel:+123')).toBeNull();
    expect(nextHopOf('sip:h;transport=sctp')).toBeNull();
  });
});
