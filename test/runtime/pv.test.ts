/**
 * Pseudo-variables (host/core/pv.ts), Kamailio semantics, against a parsed message.
 */
import { describe, expect, it, vi } from 'vitest';
import { compileFormat, evalPv, expandFormat, setPv } from '../../host/core/pv.js';
import { INVITE, makeCtx, parseSip } from './helpers.js';

const REPLY = [
  'SIP/2.0 486 Busy Here',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
  'To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: reply-1',
  'CSeq: 314159 INVITE',
  'Content-Length: 0',
  '', '',
].join('\r\n');

describe('evalPv', () => {
  it('reads request variables', async () => {
    const { ctx } = makeCtx(await parseSip(INVITE));
    const v = (n: string) => evalPv(n, ctx);
    expect(v('$rm')).toBe('INVITE');
    expect(v('$ru')).toBe('sip:bob@biloxi.example.com:5062;transport=udp');
    expect(v('$rU')).toBe('bob');
    expect(v('$rd')).toBe('biloxi.example.com');
    expect(v('$rp')).toBe('5062');
    expect(v('$rz')).toBe('sip');
    expect(v('$du')).toBeNull();
    expect(v('$si')).toBe('127.0.0.1');
    expect(v('$sp')).toBe('5080');
    expect(v('$pr')).toBe('udp');
    expect(v('$proto')).toBe('udp');
    expect(v('$Ri')).toBe('127.0.0.1');
    expect(v('$Rp')).toBe('5090');
    expect(v('$fu')).toBe('sip:alice@atlanta.example.com');
    expect(v('$fU')).toBe('alice');
    expect(v('$fd')).toBe('atlanta.example.com');
    expect(v('$fn')).toBe('Alice A');
    expect(v('$ft')).toBe('1928301774');
    expect(v('$tu')).toBe('sip:bob@biloxi.example.com');
    expect(v('$tU')).toBe('bob');
    expect(v('$td')).toBe('biloxi.example.com');
    expect(v('$tn')).toBe('Bob');
    expect(v('$tt')).toBeNull();
    expect(v('$ua')).toBe('test-ua/1.0');
    expect(v('$ci')).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(v('$cs')).toBe('314159');
    expect(v('$ct')).toBe('<sip:alice@pc33.atlanta.example.com>');
    expect(v('$hdr(x-test)')).toBe('hello world');
    expect(v('$(hdr(X-Test))')).toBe('hello world');
    expect(v('$hdrc(X-Multi)')).toBe('2');
    expect(v('$hdrc(X-None)')).toBe('0');
    expect(v('$hdr(i)')).toBe('a84b4c76e66710@pc33.atlanta.example.com');
    expect(v('$rb')).toBe('v=0\n');
    expect(Number(v('$ml'))).toBe(ctx.msg.raw.length);
    expect(v('$rs')).toBeNull();
    // $Ts is the wall clock in whole seconds: read on a fake Date set to a known instant
    vi.useFakeTimers({ toFake: ['Date'], now: Date.UTC(2026, 0, 2, 3, 4, 5, 678) });
    try {
      expect(v('$Ts')).toBe(String(Date.UTC(2026, 0, 2, 3, 4, 5) / 1000));
    } finally {
      vi.useRealTimers();
    }
    expect(v('$TV(s)')).toBe(v('$Ts'));
    expect(v('$TV(sn)')).toMatch(/^\d+\.\d{6}$/);
    expect(v('$unknown')).toBeNull();
    expect(v('$hdr')).toBeNull(); // needs an argument
  });

  it('reads reply variables', async () => {
    const { ctx } = makeCtx(await parseSip(REPLY));
    expect(evalPv('$rs', ctx)).toBe('486');
    expect(evalPv('$rr', ctx)).toBe('Busy Here');
    expect(evalPv('$tt', ctx)).toBe('a6c85cf');
    expect(evalPv('$ru', ctx)).toBeNull();
    expect(setPv('$rU', 'x', ctx)).toBe(-4);
  });
});

describe('setPv', () => {
  it('rewrites R-URI parts, $du and $var', async () => {
    const { ctx } = makeCtx(await parseSip(INVITE));
    expect(setPv('$rU', 'carol', ctx)).toBe(0);
    expect(ctx.msg.requestUri).toBe('sip:carol@biloxi.example.com:5062;transport=udp');
    expect(setPv('$rp', '5070', ctx)).toBe(0);
    expect(setPv('$rd', 'atlanta.example.com', ctx)).toBe(0);
    expect(ctx.msg.requestUri).toBe('sip:carol@atlanta.example.com:5070;transport=udp');
    expect(evalPv('$rU', ctx)).toBe('carol');
    expect(setPv('$rU', '', ctx)).toBe(0);
    expect(ctx.msg.requestUri).toBe('sip:atlanta.example.com:5070;transport=udp');
    expect(setPv('$rU', 'dave', ctx)).toBe(0);
    expect(ctx.msg.requestUri).toBe('sip:dave@atlanta.example.com:5070;transport=udp');
    expect(setPv('$ru', 'sip:eve@10.1.1.1', ctx)).toBe(0);
    expect(ctx.msg.requestUri).toBe('sip:eve@10.1.1.1');
    expect(setPv('$rp', '5071', ctx)).toBe(0);
    expect(ctx.msg.requestUri).toBe('sip:eve@10.1.1.1:5071');
    expect(setPv('$ru', 'not a uri', ctx)).toBe(-2);
    expect(setPv('$rd', '', ctx)).toBe(-2);
    expect(setPv('$du', 'sip:10.0.0.1', ctx)).toBe(0);
    expect(evalPv('$du', ctx)).toBe('sip:10.0.0.1');
    expect(setPv('$var(a)', 'b', ctx)).toBe(0);
    expect(evalPv('$var(a)', ctx)).toBe('b');
    expect(setPv('$fu', 'x', ctx)).toBe(-4);
    expect(setPv('$bogus', 'x', ctx)).toBe(-6);
  });
});

describe('expandFormat (xlog)', () => {
  it('expands variables, prints <null> for unknown or unset ones, keeps literal $', async () => {
    const { ctx } = makeCtx(await parseSip(INVITE));
    ctx.vars.set('x', '42');
    expect(expandFormat('$rm from $si:$sp ($ci) x=$var(x) y=$var(y) h=$hdr(X-Test) z=$zz cost $ 5', ctx))
      .toBe('INVITE from 127.0.0.1:5080 (a84b4c76e66710@pc33.atlanta.example.com) x=42 y=<null> h=hello world z=<null> cost $ 5');
    expect(expandFormat('$(ru)|$rU|', ctx)).toBe('sip:bob@biloxi.example.com:5062;transport=udp|bob|');
    expect(expandFormat('no variables', ctx)).toBe('no variables');
    expect(expandFormat('$rm', null)).toBe('<null>');
  });

  it('compiles each format once', () => {
    const a = compileFormat('cached $rm $ci');
    expect(compileFormat('cached $rm $ci')).toBe(a);
    expect(a).toHaveLength(4);
  });
});
