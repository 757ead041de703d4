/**
 * Route parameters (Kamailio rr add_rr_param / check_route_param / is_direction / $route_uri, ABI 1.3)
 * and the per-transaction AVP store's bounds (host/core/avp.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  addRrParam, checkRouteParam, doubleRecordRoute, isDirection, looseRoute, recordRoute, RR_PARAMS_MAX,
} from '../../../host/proxy/record-route.js';
import { evalPv, setPv } from '../../../host/core/pv.js';
import { AVP_MAX_ENTRIES, TxData } from '../../../host/core/avp.js';
import { rrCtx, rrIsMyself, rrLocal, rrRequest } from './helpers.js';

const local = rrLocal;
const isMyself = rrIsMyself;
const ctxOf = rrCtx;
const req = (lines: string[], method = 'INVITE', from = 'ft1', toTag?: string) => rrRequest(lines, method, undefined, toTag, from);

describe('add_rr_param', () => {
  it('before record_route(): the parameters go into the header it inserts', () => {
    const msg = req([]);
    const ctx = ctxOf(msg);
    expect(addRrParam(ctx, ';p=1')).toBe(1);
    expect(recordRoute(ctx)).toBe(1);
    expect(msg.headerValues('record-route')).toEqual(['<sip:127.0.0.1:19210;lr;ftag=ft1;p=1>']);
  });

  it('after record_route(): our header is rewritten, another proxy\'s stays', () => {
    const msg = req(['Record-Route: <sip:10.0.0.5;lr>']);
    const ctx = ctxOf(msg);
    recordRoute(ctx);
    expect(addRrParam(ctx, ';a=b;flag')).toBe(1);
    expect(addRrParam(ctx, ';c=d')).toBe(1);
    expect(msg.headerValues('record-route')).toEqual(['<sip:127.0.0.1:19210;lr;ftag=ft1;a=b;flag;c=d>', '<sip:10.0.0.5;lr>']);
  });

  it('refuses what would break the header or grow it without bound', () => {
    const ctx = ctxOf(req([]));
    for (const bad of ['p=1', ';p=1>', ';p=1, <sip:evil>', ';p=a\r\nX: y', ';', ';p="q"']) expect(addRrParam(ctx, bad)).toBe(-1);
    const chunk = `;x=${'a'.repeat(500)}`;
    let added = 0;
    while (addRrParam(ctx, chunk) === 1) added++;
    expect(added).toBe(Math.floor(RR_PARAMS_MAX / chunk.length));
  });

  it('double Record-Route keeps the parameters on both entries', () => {
    const msg = req([]);
    const ctx = ctxOf(msg);
    recordRoute(ctx);
    addRrParam(ctx, ';p=1');
    expect(doubleRecordRoute(msg, local, { address: '127.0.0.1', port: 19220, proto: 'tcp', family: 4 })).toBe(true);
    expect(msg.headerValues('record-route')).toEqual([
      '<sip:127.0.0.1:19220;transport=tcp;r2=on;lr;ftag=ft1;p=1>',
      '<sip:127.0.0.1:19210;r2=on;lr;ftag=ft1;p=1>',
    ]);
  });
});

describe('check_route_param / is_direction / $route_uri after loose_route()', () => {
  const route = 'Route: <sip:127.0.0.1:19210;lr;ftag=ft1;p=1;vsf=abc>';

  it('downstream: the From tag is the Route\'s ftag', () => {
    const ctx = ctxOf(req([route], 'BYE', 'ft1', 'tt1'));
    expect(looseRoute(ctx, isMyself)).toBe(1);
    expect(isDirection(ctx, 'downstream')).toBe(1);
    expect(isDirection(ctx, 'upstream')).toBe(-1);
    expect(isDirection(ctx, 'sideways')).toBe(-2);
    expect(evalPv('$route_uri', ctx)).toBe('sip:127.0.0.1:19210;lr;ftag=ft1;p=1;vsf=abc');
  });

  it('upstream: the callee\'s request carries the ftag as its To tag', () => {
    const ctx = ctxOf(req([route], 'BYE', 'tt1', 'ft1'));
    looseRoute(ctx, isMyself);
    expect(isDirection(ctx, 'upstream')).toBe(1);
    expect(isDirection(ctx, 'downstream')).toBe(-1);
  });

  it('check_route_param: a POSIX ERE (case-insensitive) on the linear engine; one that does not compile is -2', () => {
    const ctx = ctxOf(req([route], 'BYE', 'ft1', 'tt1'));
    expect(checkRouteParam(ctx, 'p=1')).toBe(-1); // no Route consumed yet
    looseRoute(ctx, isMyself);
    expect(checkRouteParam(ctx, 'p=1')).toBe(1);
    expect(checkRouteParam(ctx, ';vsf=abc$')).toBe(1);
    expect(checkRouteParam(ctx, '^;lr')).toBe(1);
    expect(checkRouteParam(ctx, 'p=[0-9];VSF=')).toBe(1);
    expect(checkRouteParam(ctx, 'p=2')).toBe(-1);
    expect(checkRouteParam(ctx, '(a+)+$')).toBe(-1); // catastrophic for a backtracking engine, linear here
    expect(checkRouteParam(ctx, 'p=(1')).toBe(-2);
  });

  it('no Route of ours: unknown direction, no $route_uri', () => {
    const ctx = ctxOf(req(['Route: <sip:10.0.0.9;lr>'], 'BYE', 'ft1', 'tt1'));
    looseRoute(ctx, isMyself);
    expect(isDirection(ctx, 'downstream')).toBe(-1);
    expect(isDirection(ctx, 'upstream')).toBe(-1);
    expect(evalPv('$route_uri', ctx)).toBeNull();
  });
});

describe('message flags and AVPs (host/core/avp.ts)', () => {
  it('$avp is a stack, [*] replaces or deletes, $cnt counts; $xavp items and fields', () => {
    const ctx = ctxOf(req([]));
    expect(evalPv('$avp(a)', ctx)).toBeNull();
    expect(setPv('$avp(a)', '1', ctx)).toBe(0);
    expect(setPv('$avp(a)', '2', ctx)).toBe(0);
    expect(evalPv('$avp(a)', ctx)).toBe('2');
    expect(evalPv('$(avp(a)[1])', ctx)).toBe('1');
    expect(evalPv('$(avp(a)[2])', ctx)).toBeNull();
    expect(evalPv('$cnt($avp(a))', ctx)).toBe('2');
    expect(setPv('$(avp(a)[*])', 'only', ctx)).toBe(0);
    expect(evalPv('$cnt($avp(a))', ctx)).toBe('1');
    expect(setPv('$(avp(a)[*])', '', ctx)).toBe(0);
    expect(evalPv('$avp(a)', ctx)).toBeNull();
    expect(setPv('$(avp(a)[1])', 'x', ctx)).toBe(-2);
    expect(setPv('$xavp(r=>k)', 'v1', ctx)).toBe(0);
    expect(setPv('$xavp(r[0]=>j)', 'w1', ctx)).toBe(0);
    expect(setPv('$xavp(r=>k)', 'v2', ctx)).toBe(0);
    expect(evalPv('$xavp(r=>k)', ctx)).toBe('v2');
    expect(evalPv('$xavp(r[1]=>k)', ctx)).toBe('v1');
    expect(evalPv('$xavp(r[1]=>j)', ctx)).toBe('w1');
    expect(evalPv('$xavp(r=>j)', ctx)).toBeNull();
    expect(evalPv('$cnt($xavp(r))', ctx)).toBe('2');
    expect(setPv('$mf', '9', ctx)).toBe(0);
    expect(evalPv('$mf', ctx)).toBe('9');
    expect(setPv('$mf', '-1', ctx)).toBe(-2);
    expect(setPv('$mf', '4294967296', ctx)).toBe(-2);
  });

  it('stops at AVP_MAX_ENTRIES values and keeps the store as it was; freed values make room again', () => {
    const tx = new TxData();
    let n = 0;
    while (tx.avpPush('k', 'v') === 0) n++;
    expect(n).toBe(AVP_MAX_ENTRIES);
    expect(tx.xavpSet('x', null, 'k', 'v')).toBe(-5);
    expect(tx.avpCount('k')).toBe(AVP_MAX_ENTRIES);
    expect(tx.avpReplaceAll('k', '')).toBe(0);
    expect(tx.xavpSet('x', null, 'k', 'v')).toBe(0);
  });

  it('malformed names are not variables', () => {
    const ctx = ctxOf(req([]));
    for (const bad of ['$xavp(r)', '$xavp(=>k)', '$xavp(r[a]=>k)', '$(avp(a)[-1])', '$cnt($var(a))', '$avp()']) {
      expect(setPv(bad, 'v', ctx)).toBe(-6);
    }
  });
});
