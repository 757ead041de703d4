/**
 * host/textops on real parsed messages (host/sip/parser.ts): Kamailio textops / textopsx / sdpops
 * return codes, what the serialized message looks like after each edit, the bounds.
 */
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../../host/sip/parser.js';
import type { MessageContext } from '../../../host/core/context.js';
import { BODY_MAX_BYTES, Sdp, Textops, Which, codecNames } from '../../../host/textops/index.js';
import { makeCtx } from '../../runtime/helpers.js';

const SDP = [
  'v=0', 'o=alice 1 1 IN IP4 10.0.0.1', 's=-', 'c=IN IP4 10.0.0.1', 't=0 0',
  'm=audio 4000 RTP/AVP 0 8 18 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:18 G729/8000', 'a=fmtp:18 annexb=no',
  'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=sendrecv',
  'm=video 5000 RTP/AVP 96', 'a=rtpmap:96 H264/90000', 'a=ice-ufrag:abc', '',
].join('\r\n');

function invite(body = SDP, extra: string[] = []): MessageContext {
  const raw = [
    'INVITE sip:+15551234@example.com SIP/2.0',
    'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1',
    'Max-Forwards: 70',
    'From: <sip:alice@example.com>;tag=a1',
    'To: <sip:+15551234@example.com>',
    'Call-ID: c1@example.com',
    'CSeq: 1 INVITE',
    'User-Agent: Phone/1.0 (secret build 42)',
    'X-Internal-Id: 7',
    'X-Internal-Route: a',
    ...extra,
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
  const r = parseMessage(Buffer.from(raw));
  if (!r.ok) throw new Error('fixture does not parse');
  return makeCtx(r.message).ctx;
}

function ops(budget = { left: 65_535 }): { t: Textops; gas: { used: number } } {
  const gas = { used: 0 };
  const t = new Textops((u) => { gas.used += u; }, (_c, b) => { if (b > budget.left) return false; budget.left -= b; return true; });
  return { t, gas };
}

const wire = (ctx: MessageContext): string => ctx.msg.toBuffer().toString('latin1');

describe('textops searches', () => {
  it('search, search_body, search_hf, is_present_hf_re: 1 / -1, case-insensitive; -2 for a bad pattern', () => {
    const ctx = invite();
    const { t, gas } = ops();
    expect(t.search(ctx, '^invite sip:\\+1555')).toBe(1);
    expect(t.search(ctx, '^m=video')).toBe(1); // the body is part of the message
    expect(t.search(ctx, 'nothing-here')).toBe(-1);
    expect(t.searchBody(ctx, '^a=rtpmap:18 G729')).toBe(1);
    expect(t.searchBody(ctx, '^User-Agent')).toBe(-1);
    expect(t.searchHf(ctx, 'user-agent', 'secret', Which.ALL)).toBe(1);
    expect(t.searchHf(ctx, 'X-Internal-Route', '^7$', Which.ALL)).toBe(-1);
    expect(t.isPresentHfRe(ctx, '^x-internal-')).toBe(1);
    expect(t.isPresentHfRe(ctx, '^X-Other')).toBe(-1);
    expect(t.search(ctx, '(unclosed')).toBe(-2);
    expect(gas.used).toBeGreaterThan(0);
  });

  it('search_hf flags: first and last field of a name', () => {
    const ctx = invite(SDP, ['X-Hop: one', 'X-Hop: two']);
    const { t } = ops();
    expect(t.searchHf(ctx, 'X-Hop', 'two', Which.FIRST)).toBe(-1);
    expect(t.searchHf(ctx, 'X-Hop', 'two', Which.LAST)).toBe(1);
    expect(t.searchHf(ctx, 'X-Hop', 'one', Which.FIRST)).toBe(1);
  });
});

describe('textops substitutions and removals', () => {
  it('subst_hf rewrites a header value; Content-Length and other fields untouched', () => {
    const ctx = invite();
    const { t } = ops();
    expect(t.substHf(ctx, 'User-Agent', '/ \\(secret.*\\)$//', Which.ALL)).toBe(1);
    expect(ctx.msg.header('user-agent')).toBe('Phone/1.0');
    expect(t.substHf(ctx, 'User-Agent', '/nomatch/x/', Which.ALL)).toBe(-1);
    expect(wire(ctx)).toContain('\r\nUser-Agent: Phone/1.0\r\n');
    expect(wire(ctx)).toContain('\r\nCall-ID: c1@example.com\r\n');
  });

  it('subst works on whole header lines: rename a header, remove one by emptying its line, refuse a broken line', () => {
    const ctx = invite();
    const { t } = ops();
    expect(t.substHeaders(ctx, '/^X-Internal-Id: (.*)$/X-Ref: id-\\1/')).toBe(1);
    expect(ctx.msg.header('x-ref')).toBe('id-7');
    expect(ctx.msg.header('x-internal-id')).toBeUndefined();
    expect(t.substHeaders(ctx, '/^X-Internal-Route:.*$//')).toBe(1);
    expect(ctx.msg.header('x-internal-route')).toBeUndefined();
    const before = wire(ctx);
    expect(t.substHeaders(ctx, '/^CSeq: /no colon here /')).toBe(-2);
    expect(wire(ctx)).toBe(before);
    // g: every line; without g only the first match of the first matching line
    expect(t.substHeaders(ctx, '/example\\.com/example.net/')).toBe(1);
    expect(ctx.msg.header('from')).toBe('<sip:alice@example.net>;tag=a1');
    expect(ctx.msg.header('to')).toBe('<sip:+15551234@example.com>');
    expect(t.substHeaders(ctx, '/example\\.com/example.net/g')).toBe(1);
    expect(ctx.msg.header('to')).toBe('<sip:+15551234@example.net>');
  });

  it('remove_hf_re removes every header whose name matches, returning how many', () => {
    const ctx = invite();
    const { t } = ops();
    expect(t.removeHfRe(ctx, '^X-Internal-')).toBe(2);
    expect(t.removeHfRe(ctx, '^X-Internal-')).toBe(-1);
    expect(wire(ctx)).not.toContain('X-Internal');
  });

  it('subst_uri and subst_user rewrite the R-URI', () => {
    const ctx = invite();
    const { t } = ops();
    expect(t.substUri(ctx, '/@example\\.com/@gw.example.net:5080/', false)).toBe(1);
    expect(ctx.msg.requestUri).toBe('sip:+15551234@gw.example.net:5080');
    expect(t.substUri(ctx, '/^\\+1/001/', true)).toBe(1);
    expect(ctx.msg.requestUri).toBe('sip:0015551234@gw.example.net:5080');
    expect(t.substUri(ctx, '/^.*$/not a uri/', false)).toBe(-2);
  });

  it('subst_body edits the body and Content-Length follows', () => {
    const ctx = invite();
    const { t } = ops();
    expect(t.substBody(ctx, '/^a=sendrecv$/a=sendonly/s')).toBe(1);
    expect(t.substBody(ctx, '/10\\.0\\.0\\.1/192.0.2.7/g')).toBe(1);
    const body = ctx.msg.body.toString('latin1');
    expect(body).toContain('\r\na=sendonly\r\n');
    expect(body).toContain('c=IN IP4 192.0.2.7\r\n');
    expect(ctx.msg.header('content-length')).toBe(String(ctx.msg.body.length));
    expect(wire(ctx).endsWith(`\r\n\r\n${body}`)).toBe(true);
  });
});

describe('body', () => {
  it('has_body, set_body, remove_body, set_reply_body', () => {
    const ctx = invite();
    const { t } = ops();
    expect(t.hasBody(ctx, '')).toBe(1);
    expect(t.hasBody(ctx, 'application/SDP')).toBe(1);
    expect(t.hasBody(ctx, 'text/plain')).toBe(-1);
    expect(t.setBody(ctx, Buffer.from('hello'), 'text/plain;charset=utf-8')).toBe(1);
    expect(wire(ctx)).toMatch(/Content-Type: text\/plain;charset=utf-8\r\n[^]*Content-Length: 5\r\n\r\nhello$/);
    expect(t.setBody(ctx, Buffer.from('x'), 'text/plain\r\nX-Injected: 1')).toBe(-2);
    expect(t.setBody(ctx, Buffer.from('x'), 'nonsense')).toBe(-2);
    expect(t.removeBody(ctx)).toBe(1);
    expect(t.removeBody(ctx)).toBe(-1);
    expect(t.hasBody(ctx, '')).toBe(-1);
    expect(ctx.msg.header('content-type')).toBeUndefined();
    expect(wire(ctx)).toMatch(/Content-Length: 0\r\n\r\n$/);
    expect(t.setReplyBody(ctx, Buffer.from('<x/>'), 'application/xml')).toBe(1);
    expect(ctx.replyBody?.contentType).toBe('application/xml');
  });

  it('bounds: a body over 65,535 bytes and growth past the edit budget are refused (-5), message unchanged', () => {
    const ctx = invite();
    const budget = { left: 1000 };
    const { t } = ops(budget);
    expect(t.setBody(ctx, Buffer.alloc(BODY_MAX_BYTES + 1, 97), 'text/plain')).toBe(-5);
    expect(t.setBody(ctx, Buffer.alloc(5000, 97), 'text/plain')).toBe(-5);
    expect(ctx.msg.body.toString()).toBe(SDP);
    // a global substitution that grows the body past BODY_MAX_BYTES stops before building it
    expect(t.substBody(ctx, `/./${'x'.repeat(100)}/g`)).toBe(-5);
    expect(ctx.msg.body.toString()).toBe(SDP);
  });

  it('a short search pays for the steps it ran, not a whole 1,024-step chunk', () => {
    const ctx = invite();
    const { t, gas } = ops();
    expect(t.searchBody(ctx, 'G729|G723')).toBe(1);
    // the body scan (~50) plus a few dozen steps at 16: far below one chunk (16,384)
    expect(gas.used).toBeGreaterThan(0);
    expect(gas.used).toBeLessThan(4000);
  });

  it('a pathological pattern on a 60 KB body costs gas in proportion to the work, and stops when gas throws', () => {
    const ctx = invite(`${'a'.repeat(60_000)}\r\n`);
    let used = 0;
    const t = new Textops((u) => { used += u; if (used > 2_000_000) throw new Error('gas'); }, () => true);
    expect(() => t.searchBody(ctx, '(a*)*b')).toThrow('gas');
    expect(used).toBeLessThan(2_000_000 + 10_000);
  });
});

describe('sdpops', () => {
  it('sdp_with_media and sdp_get_line_startswith', () => {
    const sdp = Sdp.of(invite())!;
    expect(sdp.withMedia('audio')).toBe(true);
    expect(sdp.withMedia('VIDEO')).toBe(true);
    expect(sdp.withMedia('image')).toBe(false);
    expect(sdp.lineStartingWith('c=')).toBe('c=IN IP4 10.0.0.1');
    expect(sdp.lineStartingWith('a=x-')).toBeNull();
  });

  it('remove codecs by name: m= line, rtpmap and fmtp lines (static payload types by RFC 3551 name)', () => {
    const ctx = invite();
    const sdp = Sdp.of(ctx)!;
    expect(sdp.filterCodecs(codecNames('g729, PCMU'), '', false)).toBe(2);
    sdp.store(ctx);
    const body = ctx.msg.body.toString();
    expect(body).toContain('m=audio 4000 RTP/AVP 8 101\r\n');
    expect(body).not.toMatch(/rtpmap:0 |rtpmap:18 |fmtp:18 /);
    expect(body).toContain('a=fmtp:101 0-15');
    expect(ctx.msg.header('content-length')).toBe(String(ctx.msg.body.length));
  });

  it('keep codecs by name in one media type; remove lines by prefix', () => {
    const ctx = invite();
    const sdp = Sdp.of(ctx)!;
    expect(sdp.filterCodecs(codecNames('PCMA,telephone-event'), 'audio', true)).toBe(2);
    expect(sdp.removeLinesByPrefix('a=ice-', 'audio')).toBe(0);
    expect(sdp.removeLinesByPrefix('a=ice-', '')).toBe(1);
    sdp.store(ctx);
    const body = ctx.msg.body.toString();
    expect(body).toContain('m=audio 4000 RTP/AVP 8 101\r\n');
    expect(body).toContain('m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n');
    expect(body).not.toContain('ice-ufrag');
  });

  it('no SDP: another content type, or more lines than the parser takes', () => {
    const ctx = invite();
    ctx.msg.setBody(Buffer.from('v=0\r\n'), 'text/plain');
    expect(Sdp.of(ctx)).toBeNull();
    ctx.msg.setBody(Buffer.from('a=x\r\n'.repeat(5000)), 'application/sdp');
    expect(Sdp.of(ctx)).toBeNull();
  });
});
