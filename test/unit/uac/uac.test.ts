/**
 * The uac module's core (host/modules/uac/uac.ts) against hostile input: what uac_replace_* refuses,
 * and the sealed Record-Route parameter refused when changed, truncated, moved to another dialog,
 * sealed under another key or over-long. The UDP round trips are test/integration/uac and
 * test/e2e/baresip-uac.test.ts; here the proxy hooks are a recorder of what the module registers.
 */
import { describe, expect, it } from 'vitest';
import type { MessageContext } from '../../../host/core/context.js';
import { looseRoute, recordRoute } from '../../../host/proxy/record-route.js';
import { setNameAddr, Uac, UAC_DISPLAY_MAX, UAC_URI_MAX, type UacProxy } from '../../../host/modules/uac/index.js';
import { resolveUacConfig } from '../../../host/modules/uac/config.js';
import type { SipMessage } from '../../../host/sip/types.js';
import { rrCtx, rrIsMyself, rrRequest, silentLog } from '../transaction/helpers.js';

/** the two hooks the module uses, recorded (the proxy core's own are exercised over UDP elsewhere). */
class Hooks implements UacProxy {
  fixups: Array<(resp: SipMessage) => void> = [];
  rr: Array<(ctx: MessageContext) => void> = [];
  addReplyFixup(_ctx: MessageContext, fix: (resp: SipMessage) => void): void {
    this.fixups.push(fix);
  }
  onLooseRoute(cb: (ctx: MessageContext) => void): void {
    this.rr.push(cb);
  }
}

function uacWith(passwd = 'k1'): { uac: Uac; hooks: Hooks } {
  const uac = new Uac(resolveUacConfig({ restore_passwd: passwd }), silentLog);
  const hooks = new Hooks();
  uac.attach(hooks);
  return { uac, hooks };
}

/** an initial INVITE through uac_replace_from; returns the sealed vsf value. */
function replaced(uac: Uac): string {
  const ctx = rrCtx(rrRequest([]));
  recordRoute(ctx);
  expect(uac.replace(ctx, 'from', 'Anon', 'sip:anon@anon.invalid')).toBe(1);
  return /;vsf=([^;>]+)/.exec(ctx.msg.headerValues('record-route')[0]!)![1]!;
}

/** the in-dialog BYE from the caller (From tag ft1) through our Route holding `vsf`, after loose_route and the rr callbacks. */
function byeThrough(hooks: Hooks, vsf: string, ftag = 'ft1'): MessageContext {
  const ctx = rrCtx(rrRequest([`Route: <sip:127.0.0.1:19210;lr;ftag=${ftag};vsf=${vsf}>`], 'BYE', undefined, 'tt1', ftag));
  looseRoute(ctx, rrIsMyself);
  for (const cb of hooks.rr) cb(ctx);
  return ctx;
}

describe('uac_replace_from refusals (-1, message unchanged)', () => {
  const cases: Array<[string, (ctx: MessageContext) => void, string | null, string]> = [
    ['without record_route() first', () => {}, 'A', 'sip:a@b'],
    ['an in-dialog request', () => {}, 'A', 'sip:a@b'],
    ['a URI that does not parse', (c) => recordRoute(c), 'A', 'not a uri'],
    ['a URI over UAC_URI_MAX', (c) => recordRoute(c), 'A', `sip:${'a'.repeat(UAC_URI_MAX)}@b`],
    ['a display name with CR/LF', (c) => recordRoute(c), 'A\r\nX-Evil: 1', 'sip:a@b'],
    ['a display name with NUL', (c) => recordRoute(c), 'A\0B', 'sip:a@b'],
    ['a display name over UAC_DISPLAY_MAX', (c) => recordRoute(c), 'd'.repeat(UAC_DISPLAY_MAX + 1), 'sip:a@b'],
  ];
  it.each(cases)('%s', (name, prep, display, uri) => {
    const { uac, hooks } = uacWith();
    const msg = name === 'an in-dialog request' ? rrRequest([], 'INVITE', undefined, 'tt1') : rrRequest([]);
    const ctx = rrCtx(msg);
    prep(ctx);
    const before = msg.toBuffer().toString();
    expect(uac.replace(ctx, 'from', display, uri)).toBe(-1);
    expect(msg.toBuffer().toString()).toBe(before);
    expect(hooks.fixups).toHaveLength(0);
  });
});

describe('the sealed vsf parameter', () => {
  it('round trip: the caller\'s BYE gets the replaced From, its replies the original', () => {
    const { uac, hooks } = uacWith();
    const vsf = replaced(uac);
    hooks.fixups = [];
    const ctx = byeThrough(hooks, vsf);
    expect(ctx.msg.header('from')).toBe('"Anon" <sip:anon@anon.invalid>;tag=ft1');
    expect(uac.stats.restored).toBe(1);
    const reply = rrRequest([], 'BYE', undefined, 'tt1'); // a message with the replaced From, as the reply would carry
    setNameAddr(reply, 'from', 'Anon', 'sip:anon@anon.invalid');
    for (const f of hooks.fixups) f(reply);
    expect(reply.header('from')).toBe('<sip:alice@127.0.0.1>;tag=ft1');
  });

  const tamper: Array<[string, (vsf: string) => string, string?]> = [
    ['one character changed', (v) => v.slice(0, 30) + (v[30] === 'A' ? 'B' : 'A') + v.slice(31)],
    ['truncated', (v) => v.slice(0, v.length - 4)],
    ['cut to the IV', (v) => v.slice(0, 16)],
    ['not base64url', (v) => `${v.slice(0, 10)}%41${v.slice(13)}`],
    ['over-long', (v) => v + 'A'.repeat(5000)],
    ['moved to another dialog (another ftag)', (v) => v, 'other-tag'],
  ];
  it.each(tamper)('%s: refused, nothing restored, counted', (_name, change, ftag) => {
    const { uac, hooks } = uacWith();
    const vsf = replaced(uac);
    const ctx = byeThrough(hooks, change(vsf), ftag);
    expect(ctx.msg.header('from')).toBe(`<sip:alice@127.0.0.1>;tag=${ftag ?? 'ft1'}`);
    expect(uac.stats.refused_params).toBe(1);
    expect(uac.stats.restored).toBe(0);
  });

  it('sealed under another restore_passwd: refused', () => {
    const a = uacWith('one');
    const b = uacWith('two');
    const ctx = byeThrough(b.hooks, replaced(a.uac));
    expect(ctx.msg.header('from')).toBe('<sip:alice@127.0.0.1>;tag=ft1');
    expect(b.uac.stats.refused_params).toBe(1);
  });

  it('two seals of the same pair differ (random IV), and neither holds the original in clear', () => {
    const { uac } = uacWith();
    const x = replaced(uac);
    const y = replaced(uac);
    expect(x).not.toBe(y);
    for (const v of [x, y]) expect(Buffer.from(v, 'base64url').toString('latin1')).not.toMatch(/alice|anon/);
  });
});

describe('setNameAddr', () => {
  it('quotes the display name (quotes and backslashes escaped) and keeps the header parameters', () => {
    const msg = rrRequest([]);
    setNameAddr(msg, 'from', 'Evil" <sip:x@y>\\', 'sip:a@b');
    expect(msg.header('from')).toBe('"Evil\\" <sip:x@y>\\\\" <sip:a@b>;tag=ft1');
    expect(msg.from?.displayName).toBe('Evil" <sip:x@y>\\');
    expect(msg.from?.uri).toBe('sip:a@b');
    expect(msg.from?.tag).toBe('ft1');
  });
});
