/**
 * The digest core: RFC 7616 §3.9.1 and RFC 2617 §3.5 vectors, then DigestAuth end to end with our
 * own nonces: challenge headers, verify for every algorithm and qop, and the refusals (wrong
 * password, forged / expired / future nonces, nc replay, one-time reuse, algorithm downgrade,
 * evicted nonces, opaque), each with its Kamailio return code and counter.
 */
import { describe, expect, it } from 'vitest';
import { digestResponse } from '../../../host/modules/auth/hash.js';
import { DigestAuth } from '../../../host/modules/auth/digest-auth.js';
import { resolveAuthConfig, type AuthConfig } from '../../../host/modules/auth/config.js';
import {
  AUTH_ERROR, AUTH_INVALID_PASSWORD, AUTH_NO_CREDENTIALS, AUTH_NONCE_REUSED, AUTH_OK, AUTH_STALE_NONCE,
  type DigestCredentials,
} from '../../../host/modules/auth/api.js';
import { NonceCodec } from '../../../host/modules/auth/nonce.js';
import { authorization, challengeParams, ctxOf, parse, request, type ClientOpts } from './helpers.js';

const SECRET = 'a-test-secret-of-at-least-32-characters!';

function setup(over: Partial<AuthConfig> = {}) {
  const clock = { t: 1_800_000_000_000 };
  const auth = new DigestAuth(resolveAuthConfig(over), SECRET, { now: () => clock.t });
  const sunk: Array<[string, number]> = [];
  auth.setFailureSink((a, w) => void sunk.push([a, w]));
  return { auth, clock, sunk };
}

/** challenges a REGISTER and returns the nonce of the first header. */
function nonceFrom(auth: DigestAuth, flags = 1): string {
  const ctx = ctxOf(request('REGISTER'));
  expect(auth.challenge(ctx, 'example.com', flags, 'www')).toBe(1);
  return challengeParams(ctx.replies[0]!.headers[0]!).nonce!;
}

/** sends credentials in a request and runs find + verify as auth_db does. */
function attempt(auth: DigestAuth, o: Partial<ClientOpts> & { nonce: string }, password = 'secret', method = 'REGISTER') {
  const full: ClientOpts = { username: 'alice', password: 'secret', realm: 'example.com', method, uri: 'sip:example.com', ...o };
  const ctx = ctxOf(request(method, [`Authorization: ${authorization(full)}`]));
  const found = auth.findCredentials(ctx, 'example.com', 'www');
  if (found.code !== AUTH_OK || found.cred === null) return { code: found.code, ctx };
  return { code: auth.verify(ctx, found.cred, { password }), ctx };
}

describe('digest computations', () => {
  const base = {
    ha1: '', nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    nc: '00000001', qop: 'auth', method: 'GET', uri: '/dir/index.html',
  };
  it('RFC 7616 §3.9.1: MD5 and SHA-256', async () => {
    const { ha1Of } = await import('../../../host/modules/auth/hash.js');
    const realm = 'http-auth@example.org';
    expect(digestResponse({ ...base, algorithm: 'MD5', ha1: ha1Of('MD5', 'Mufasa', realm, 'Circle of Life') })).toBe('8ca523f5e9506fed4657c9700eebdbec');
    expect(digestResponse({ ...base, algorithm: 'SHA-256', ha1: ha1Of('SHA-256', 'Mufasa', realm, 'Circle of Life') })).toBe(
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    );
  });
  it('RFC 2617 §3.5', async () => {
    const { ha1Of } = await import('../../../host/modules/auth/hash.js');
    expect(
      digestResponse({
        algorithm: 'MD5', ha1: ha1Of('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life'), nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
        cnonce: '0a4f113b', nc: '00000001', qop: 'auth', method: 'GET', uri: '/dir/index.html',
      }),
    ).toBe('6629fae49393a05397450978507c4ef1');
  });
});

describe('challenges', () => {
  it('one header per algorithm, SHA-256 first, one shared nonce, qop per flags', () => {
    const { auth } = setup();
    const ctx = ctxOf(request('INVITE'));
    expect(auth.challenge(ctx, 'example.com', 1, 'proxy')).toBe(1);
    const r = ctx.replies[0]!;
    expect(r.code).toBe(407);
    expect(r.headers).toHaveLength(2);
    expect(r.headers[0]).toMatch(/^Proxy-Authenticate: Digest realm="example.com", nonce="[A-Za-z0-9_-]{39}", algorithm=SHA-256, qop="auth"$/);
    const [a, b] = r.headers.map(challengeParams);
    expect(b!.algorithm).toBe('MD5');
    expect(a!.nonce).toBe(b!.nonce);
    expect(ctx.replied).toBe(true);
    expect(auth.stats.challenges_proxy).toBe(1);
  });

  it('flag 2 offers auth-int, 16 says stale, no flag no qop; the realm defaults to the To / From host', () => {
    const { auth } = setup({ algorithms: ['MD5'] });
    const ctx = ctxOf(request('REGISTER'));
    auth.challenge(ctx, '', 2 | 16, 'www');
    expect(ctx.replies[0]!.code).toBe(401);
    expect(ctx.replies[0]!.headers[0]).toMatch(/realm="example.com", nonce="[^"]+", stale=true, algorithm=MD5, qop="auth-int"$/);
    const c2 = ctxOf(request('OPTIONS'));
    auth.challenge(c2, 'r', 0, 'www');
    expect(c2.replies[0]!.headers[0]).not.toMatch(/qop|stale/);
  });

  it('a realm with control characters is refused: 500, or nothing with flag 4', () => {
    const { auth } = setup();
    const ctx = ctxOf(request('INVITE'));
    expect(auth.challenge(ctx, 'a\r\nX-Evil: 1', 1, 'proxy')).toBe(-2);
    expect(ctx.replies[0]!.code).toBe(500);
    const c2 = ctxOf(request('INVITE'));
    expect(auth.challenge(c2, 'a\u0000', 1 | 4, 'proxy')).toBe(-2);
    expect(c2.replies).toHaveLength(0);
  });

  it('quotes the realm', () => {
    const { auth } = setup();
    const ctx = ctxOf(request('INVITE'));
    auth.challenge(ctx, 'a"b\\c', 0, 'proxy');
    expect(ctx.replies[0]!.headers[0]).toContain('realm="a\\"b\\\\c"');
  });
});

describe('verify', () => {
  it.each(['MD5', 'SHA-256', 'MD5-sess', 'SHA-256-sess'] as const)('accepts %s with qop=auth, sets the marked credentials', (alg) => {
    const { auth } = setup({ algorithms: [alg] });
    const { code, ctx } = attempt(auth, { nonce: nonceFrom(auth), algorithm: alg });
    expect(code).toBe(AUTH_OK);
    expect(ctx.auth?.authorized).toBe(true);
    expect(ctx.auth?.cred?.username).toBe('alice');
    expect(auth.stats.ok).toBe(1);
  });

  it('accepts qop=auth-int over the body, and no qop at all (RFC 2069)', () => {
    const { auth } = setup();
    const n = nonceFrom(auth, 2);
    const full = { username: 'alice', password: 'secret', realm: 'example.com', method: 'MESSAGE', uri: 'sip:bob@example.com', nonce: n, qop: 'auth-int' as const, body: 'hello' };
    const ctx = ctxOf(request('MESSAGE', [`Authorization: ${authorization(full)}`, 'Content-Type: text/plain'], 'hello'));
    const f = auth.findCredentials(ctx, 'example.com', 'www');
    expect(auth.verify(ctx, f.cred!, { password: 'secret' })).toBe(AUTH_OK);
    // the same credentials over another body fail
    const ctx2 = ctxOf(request('MESSAGE', [`Authorization: ${authorization({ ...full, nc: 2 })}`, 'Content-Type: text/plain'], 'HELLO'));
    expect(auth.verify(ctx2, auth.findCredentials(ctx2, 'example.com', 'www').cred!, { password: 'secret' })).toBe(AUTH_INVALID_PASSWORD);
    expect(attempt(auth, { nonce: nonceFrom(auth, 0), qop: null }).code).toBe(AUTH_OK);
  });

  it('takes precomputed HA1s by algorithm, refuses an algorithm the secret cannot serve', async () => {
    const { ha1Of } = await import('../../../host/modules/auth/hash.js');
    const { auth } = setup();
    const md5 = ha1Of('MD5', 'alice', 'example.com', 'secret');
    const sha = ha1Of('SHA-256', 'alice', 'example.com', 'secret');
    const run = (alg: string, secret: object) => {
      const full = { username: 'alice', password: 'secret', realm: 'example.com', method: 'REGISTER', uri: 'sip:example.com', nonce: nonceFrom(auth), algorithm: alg };
      const ctx = ctxOf(request('REGISTER', [`Authorization: ${authorization(full)}`]));
      return auth.verify(ctx, auth.findCredentials(ctx, 'example.com', 'www').cred!, secret);
    };
    expect(run('MD5', { ha1: md5.toUpperCase() })).toBe(AUTH_OK);
    expect(run('SHA-256', { ha1: md5, ha1Sha256: sha })).toBe(AUTH_OK);
    expect(run('SHA-256', { ha1: md5 })).toBe(AUTH_ERROR);
    expect(run('MD5', { ha1: 'zz' + md5.slice(2) })).toBe(AUTH_ERROR);
  });

  it('wrong password: -2, counted into pike with the weight and per user', () => {
    const { auth, sunk } = setup();
    expect(attempt(auth, { nonce: nonceFrom(auth) }, 'other').code).toBe(AUTH_INVALID_PASSWORD);
    expect(sunk).toEqual([['192.0.2.10', 10]]);
    expect(auth.failures.top(5)).toEqual([expect.objectContaining({ username: 'alice', failures: 1 })]);
    expect(auth.stats.failed_password).toBe(1);
  });

  it('a forged or foreign-secret nonce: -4 (stale, a fresh challenge) before any lookup, counted', () => {
    const { auth, sunk, clock } = setup();
    const good = nonceFrom(auth);
    const flipped = good.slice(0, 20) + (good[20] === 'A' ? 'B' : 'A') + good.slice(21);
    expect(attempt(auth, { nonce: flipped }).code).toBe(AUTH_STALE_NONCE);
    const other = new NonceCodec('another-secret-another-secret-another!').encode({ expiry: Math.floor(clock.t / 1000) + 100, origin: 1, id: 1 });
    expect(attempt(auth, { nonce: other }).code).toBe(AUTH_STALE_NONCE);
    expect(attempt(auth, { nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093' }).code).toBe(AUTH_STALE_NONCE);
    expect(auth.stats.failed_nonce).toBe(3);
    expect(sunk).toHaveLength(3);
  });

  it('an expired nonce, or one from beyond the drift, is stale (-4) and marks the next challenge stale', () => {
    const { auth, clock } = setup();
    const n = nonceFrom(auth);
    clock.t += 301_000;
    const { code, ctx } = attempt(auth, { nonce: n });
    expect(code).toBe(AUTH_STALE_NONCE);
    expect(ctx.auth?.stale).toBe(true);
    auth.challenge(ctx, 'example.com', 1, 'www');
    expect(ctx.replies[0]!.headers[0]).toContain('stale=true');
    const future = new NonceCodec(SECRET).encode({ expiry: Math.floor(clock.t / 1000) + 300 + 10, origin: 7, id: 7 });
    expect(attempt(auth, { nonce: future }).code).toBe(AUTH_STALE_NONCE);
    const near = new NonceCodec(SECRET).encode({ expiry: Math.floor(clock.t / 1000) + 300 + 2, origin: 7, id: 8 });
    expect(attempt(auth, { nonce: near }).code).toBe(AUTH_OK);
    expect(auth.stats.stale).toBe(2);
  });

  it('nonce_count: a higher nc is accepted, the same or a lower one is a replay (-4 stale)', () => {
    const { auth, sunk } = setup();
    const n = nonceFrom(auth);
    expect(attempt(auth, { nonce: n, nc: 1 }).code).toBe(AUTH_OK);
    expect(attempt(auth, { nonce: n, nc: 1 }).code).toBe(AUTH_STALE_NONCE);
    expect(attempt(auth, { nonce: n, nc: 3 }).code).toBe(AUTH_OK);
    expect(attempt(auth, { nonce: n, nc: 2 }).code).toBe(AUTH_STALE_NONCE);
    expect(attempt(auth, { nonce: n, nc: 0 }).code).toBe(AUTH_STALE_NONCE);
    expect(auth.stats.replayed).toBe(3);
    // a wrong password does not consume an nc
    expect(attempt(auth, { nonce: n, nc: 4 }, 'bad').code).toBe(AUTH_INVALID_PASSWORD);
    expect(attempt(auth, { nonce: n, nc: 4 }).code).toBe(AUTH_OK);
    expect(sunk).toHaveLength(1); // replays are not counted into pike (UDP retransmissions look the same)
  });

  it('a byte-identical copy of an accepted request (UDP retransmission) passes within retransmission_window, a new request with the same nc does not', () => {
    const { auth, clock } = setup();
    const n = nonceFrom(auth);
    const text = (cseq: number) => [
      'REGISTER sip:example.com SIP/2.0', `Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-rt${cseq}`, 'From: <sip:alice@example.com>;tag=1',
      'To: <sip:alice@example.com>', 'Call-ID: rt@192.0.2.10', `CSeq: ${cseq} REGISTER`, 'Max-Forwards: 70',
      `Authorization: ${authorization({ username: 'alice', password: 'secret', realm: 'example.com', method: 'REGISTER', uri: 'sip:example.com', nonce: n, nc: 1 })}`,
      'Content-Length: 0', '', '',
    ].join('\r\n');
    const run = (t: string) => {
      const ctx = ctxOf(parse(t));
      const f = auth.findCredentials(ctx, 'example.com', 'www');
      return f.code !== AUTH_OK ? f.code : auth.verify(ctx, f.cred!, { password: 'secret' });
    };
    expect(run(text(1))).toBe(AUTH_OK);
    expect(run(text(1))).toBe(AUTH_OK); // the retransmission
    expect(auth.stats.retransmissions).toBe(1); // counted once, by verify
    expect(run(text(2))).toBe(AUTH_STALE_NONCE); // another request with the captured nc
    clock.t += 33_000;
    expect(run(text(1))).toBe(AUTH_STALE_NONCE); // past the window
    // retransmission_window 0: every copy is a replay (Kamailio without tm)
    const off = setup({ retransmission_window: 0 });
    const m = nonceFrom(off.auth);
    const go = (t: string) => {
      const ctx = ctxOf(parse(t));
      const f = off.auth.findCredentials(ctx, 'example.com', 'www');
      return f.code !== AUTH_OK ? f.code : off.auth.verify(ctx, f.cred!, { password: 'secret' });
    };
    const t1 = text(1).replace(/Authorization: .*/, `Authorization: ${authorization({ username: 'alice', password: 'secret', realm: 'example.com', method: 'REGISTER', uri: 'sip:example.com', nonce: m, nc: 1 })}`);
    expect(go(t1)).toBe(AUTH_OK);
    expect(go(t1)).toBe(AUTH_STALE_NONCE);
  });

  it('add_authinfo_hdr: Authentication-Info with rspauth over ":" uri and a fresh nextnonce', async () => {
    const { createHash } = await import('node:crypto');
    const { auth } = setup({ add_authinfo_hdr: true, algorithms: ['SHA-256'] });
    const n = nonceFrom(auth);
    const { code, ctx } = attempt(auth, { nonce: n, algorithm: 'SHA-256', cnonce: 'abc', nc: 1 });
    expect(code).toBe(AUTH_OK);
    const line = ctx.replyHeaders![0]!;
    const H = (x: string) => createHash('sha256').update(x).digest('hex');
    const rspauth = H(`${H('alice:example.com:secret')}:${n}:00000001:abc:auth:${H(':sip:example.com')}`);
    expect(line).toMatch(new RegExp(`^Authentication-Info: nextnonce="([A-Za-z0-9_-]{39})", qop=auth, rspauth="${rspauth}", cnonce="abc", nc=00000001$`));
    const next = /nextnonce="([^"]+)"/.exec(line)![1]!;
    expect(next).not.toBe(n);
    expect(attempt(auth, { nonce: next, algorithm: 'SHA-256' }).code).toBe(AUTH_OK);
    // off by default (Kamailio 0), and never for a failed verification
    const plain = setup();
    expect(attempt(plain.auth, { nonce: nonceFrom(plain.auth) }).ctx.replyHeaders).toBeUndefined();
    expect(attempt(auth, { nonce: nonceFrom(auth), algorithm: 'SHA-256' }, 'bad').ctx.replyHeaders).toBeUndefined();
  });

  it('one_time_nonce: a response without nc is accepted once (-6 after)', () => {
    const { auth } = setup();
    const n = nonceFrom(auth, 0);
    expect(attempt(auth, { nonce: n, qop: null }).code).toBe(AUTH_OK);
    expect(attempt(auth, { nonce: n, qop: null }).code).toBe(AUTH_NONCE_REUSED);
    expect(auth.stats.reused).toBe(1);
  });

  it('with both checks off a nonce is reusable until it expires (Kamailio defaults)', () => {
    const { auth } = setup({ nonce_count: false, one_time_nonce: false });
    const n = nonceFrom(auth);
    expect(attempt(auth, { nonce: n, nc: 1 }).code).toBe(AUTH_OK);
    expect(attempt(auth, { nonce: n, nc: 1 }).code).toBe(AUTH_OK);
  });

  it('a nonce whose slot a newer nonce took is stale (nc) / reused (one-time)', () => {
    const { auth } = setup({ nc_array_size: 1024 });
    const n = nonceFrom(auth);
    const m = nonceFrom(auth, 0);
    for (let i = 0; i < 1024; i++) auth.newNonce();
    expect(auth.table.evicted).toBe(2);
    expect(attempt(auth, { nonce: n, nc: 1 }).code).toBe(AUTH_STALE_NONCE);
    expect(attempt(auth, { nonce: m, qop: null }).code).toBe(AUTH_NONCE_REUSED);
  });

  it('a foreign nonce (another node, same secret) is accepted and then tracked', () => {
    const a = setup();
    const b = new DigestAuth(resolveAuthConfig({}), SECRET, { now: () => a.clock.t });
    const n = nonceFrom(b);
    expect(attempt(a.auth, { nonce: n, nc: 1 }).code).toBe(AUTH_OK);
    expect(attempt(a.auth, { nonce: n, nc: 1 }).code).toBe(AUTH_STALE_NONCE);
    expect(attempt(a.auth, { nonce: n, nc: 2 }).code).toBe(AUTH_OK);
  });

  it('algorithm downgrade: credentials in an algorithm not configured are refused (-1)', () => {
    const { auth } = setup({ algorithms: ['SHA-256'] });
    expect(attempt(auth, { nonce: nonceFrom(auth), algorithm: 'MD5' }).code).toBe(AUTH_ERROR);
    // no algorithm parameter means MD5 (RFC 7616 §3.3)
    const full = { username: 'alice', password: 'secret', realm: 'example.com', method: 'REGISTER', uri: 'sip:example.com', nonce: nonceFrom(auth) };
    const noAlg = authorization(full).replace(', algorithm=MD5', '');
    const ctx = ctxOf(request('REGISTER', [`Authorization: ${noAlg}`]));
    expect(auth.findCredentials(ctx, 'example.com', 'www').code).toBe(AUTH_ERROR);
    expect(attempt(auth, { nonce: nonceFrom(auth), algorithm: 'SHA-512-256' }).code).toBe(AUTH_ERROR);
  });

  it('qop without nc or cnonce, unknown qop, missing opaque: -1', () => {
    const { auth } = setup({ opaque: 'op1' });
    const base = { username: 'alice', password: 'secret', realm: 'example.com', method: 'REGISTER', uri: 'sip:example.com', opaque: 'op1' };
    const run = (v: string) => {
      const ctx = ctxOf(request('REGISTER', [`Authorization: ${v}`]));
      return auth.findCredentials(ctx, 'example.com', 'www').code;
    };
    expect(run(authorization({ ...base, nonce: nonceFrom(auth) }))).toBe(AUTH_OK);
    expect(run(authorization({ ...base, nonce: nonceFrom(auth) }).replace(/, nc=\w+/, ''))).toBe(AUTH_ERROR);
    expect(run(authorization({ ...base, nonce: nonceFrom(auth) }).replace(/, cnonce="\w+"/, ''))).toBe(AUTH_ERROR);
    expect(run(authorization({ ...base, nonce: nonceFrom(auth) }).replace('qop=auth', 'qop=auth-conf'))).toBe(AUTH_ERROR);
    expect(run(authorization({ ...base, nonce: nonceFrom(auth) }).replace('nc=00000001', 'nc=1'))).toBe(AUTH_ERROR);
    expect(run(authorization({ ...base, opaque: 'other', nonce: nonceFrom(auth) }))).toBe(AUTH_ERROR);
  });
});

describe('findCredentials / has / consume', () => {
  it('picks the header of the realm, -5 without one, -1 when only garbage is there; ACK/CANCEL pass', () => {
    const { auth } = setup();
    const n = nonceFrom(auth);
    const mine = authorization({ username: 'alice', password: 'secret', realm: 'example.com', nonce: n, method: 'INVITE', uri: 'sip:bob@example.com' });
    const other = authorization({ username: 'x', password: 'y', realm: 'other.net', nonce: 'abc', method: 'INVITE', uri: 'sip:bob@example.com' });
    const ctx = ctxOf(request('INVITE', [`Proxy-Authorization: ${other}`, `Proxy-Authorization: ${mine}`]));
    const f = auth.findCredentials(ctx, 'example.com', 'proxy');
    expect(f.code).toBe(AUTH_OK);
    expect((f.cred as DigestCredentials).index).toBe(1);
    expect(auth.findCredentials(ctx, 'example.com', 'www').code).toBe(AUTH_NO_CREDENTIALS);
    expect(auth.findCredentials(ctx, 'nowhere', 'proxy').code).toBe(AUTH_NO_CREDENTIALS);
    expect(auth.findCredentials(ctxOf(request('INVITE', ['Proxy-Authorization: Digest garbage'])), 'example.com', 'proxy').code).toBe(AUTH_ERROR);
    expect(auth.findCredentials(ctxOf(request('CANCEL')), 'example.com', 'proxy')).toEqual({ code: AUTH_OK, cred: null });
    expect(auth.hasCredentials(ctx, 'other.net')).toBe(1);
    expect(auth.hasCredentials(ctx, 'nowhere')).toBe(-1);
  });

  it('consume_credentials removes the marked header once', () => {
    const { auth } = setup();
    const a = authorization({ username: 'alice', password: 'secret', realm: 'example.com', nonce: nonceFrom(auth), method: 'INVITE', uri: 'sip:bob@example.com' });
    const ctx = ctxOf(request('INVITE', ['Proxy-Authorization: Digest username="z", realm="zz"', `Proxy-Authorization: ${a}`]));
    expect(auth.consumeCredentials(ctx)).toBe(-1);
    auth.findCredentials(ctx, 'example.com', 'proxy');
    expect(auth.consumeCredentials(ctx)).toBe(1);
    expect(ctx.msg.headerValues('Proxy-Authorization')).toEqual(['Digest username="z", realm="zz"']);
    expect(auth.consumeCredentials(ctx)).toBe(-1);
  });

  it('peekCredentials lists both kinds, bounded', () => {
    const { auth } = setup();
    const many = Array.from({ length: 20 }, (_, i) => `Authorization: Digest username="u${i}", realm="r"`);
    const msg = request('INVITE', [...many, 'Proxy-Authorization: Digest username="p", realm="r"']);
    const got = auth.peekCredentials(msg);
    expect(got.map((c) => c.username)).toEqual([...Array.from({ length: 8 }, (_, i) => `u${i}`), 'p']);
  });
});
