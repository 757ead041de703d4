/**
 * Attacks on digest authentication (issue 11):
 *   - password guessing over real UDP sockets: each wrong response weighs `pike_weight` requests in
 *     pike, so the guesser (127.0.0.2) is answered 503 by the host check after a few attempts while
 *     a well-behaved UA (127.0.0.3) keeps registering;
 *   - forged nonces (bit flips, another secret, a nonce from the far future) are refused (-1 / -4)
 *     before any password check, and forgeries count into pike too;
 *   - garbage credentials: seeded mutations of a valid Authorization value, and hand-made hostile
 *     shapes (huge values, 5,000 parameters, duplicate realms, unterminated quotes, backslash runs,
 *     NULs, 20 headers) never authenticate, never throw, and are refused in one bounded pass;
 *   - an answer computed for MD5 but labelled SHA-256 (and the reverse) is refused.
 * Windows are made long (sampling_time_unit 60 s) so the outcome depends on counts, not on timing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SiphonNode } from '../../host/server/app.js';
import { AUTH_ERROR, AUTH_OK, AUTH_STALE_NONCE, DIGEST_LIMITS, parseDigestCredentials } from '../../host/modules/auth/api.js';
import { DigestAuth } from '../../host/modules/auth/digest-auth.js';
import { resolveAuthConfig } from '../../host/modules/auth/config.js';
import { NonceCodec } from '../../host/modules/auth/nonce.js';
import { digestCredentials } from '../helpers/digest-client.js';
import { mulberry32, mutateOnce } from '../helpers/mutate.js';
import { authorization, challengeParams as paramsOf, ctxOf, request } from '../unit/auth/helpers.js';
import { buildAuthProbe, challengeParams, freeUdpPort, startAuthNode, Ua } from '../integration/auth/helpers.js';

const SECRET = 'adversarial-secret-adversarial-secret!!';

describe('password guessing over UDP is blocked by pike', () => {
  let node: SiphonNode;
  let port: number;
  let dir: string;
  let guesser: Ua;
  let user: Ua;

  beforeAll(async () => {
    await buildAuthProbe();
    dir = await mkdtemp(path.join(tmpdir(), 'siphon-auth-adv-'));
    port = await freeUdpPort();
    node = await startAuthNode(port, dir, [
      `auth: { secret: ${JSON.stringify(SECRET)}, pike_weight: 10 }`,
      'auth_db: {}',
      'pike: { auto: "503", sampling_time_unit: 60, reqs_density_per_unit: 30 }',
    ]);
    await node.rpc.call('subscriber.add', ['alice@example.com', 'alice-pw']);
    await node.rpc.call('subscriber.add', ['carol@example.com', 'carol-pw']);
    guesser = await Ua.bind('127.0.0.2');
    user = await Ua.bind('127.0.0.3');
  }, 180_000);

  afterAll(async () => {
    await guesser?.close();
    await user?.close();
    await node?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the guesser is refused with 503 after a few wrong passwords; the other UA still registers', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const c = await guesser.request(port, 'REGISTER', 'alice');
      statuses.push(c?.status ?? 0);
      if (c?.status !== 401) continue;
      const nonce = challengeParams(c.headers.get('www-authenticate')![0]!).nonce!;
      const r = await guesser.request(port, 'REGISTER', 'alice', [digestCredentials(nonce, { username: 'alice', password: `guess-${i}`, realm: 'example.com', alg: 'SHA-256' })]);
      statuses.push(r?.status ?? 0);
    }
    // 1 + (1 + 10) per round: the third wrong answer takes the source to 36 > 30 hits
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(6)).toEqual(statuses.slice(6).map(() => 503));
    expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(3);
    const stats = (await node.rpc.call('stats.get_statistics', ['all'])) as string[];
    expect(stats).toContain('auth:failed_password = 3');
    expect(stats).toContain('auth:pike_counted = 3');
    expect(stats).toContain('pike:auth_failures = 3');

    // the well-behaved UA on another address is not affected
    const c = await user.request(port, 'REGISTER', 'carol');
    expect(c?.status).toBe(401);
    const nonce = challengeParams(c!.headers.get('www-authenticate')![0]!).nonce!;
    const ok = await user.request(port, 'REGISTER', 'carol', [digestCredentials(nonce, { username: 'carol', password: 'carol-pw', realm: 'example.com', alg: 'SHA-256' })]);
    expect(ok?.status).toBe(200);
  });
});

describe('forged nonces and garbage credentials (in process)', () => {
  const clock = { t: 1_800_000_000_000 };
  const auth = new DigestAuth(resolveAuthConfig({}), SECRET, { now: () => clock.t });
  const counted: string[] = [];
  auth.setFailureSink((a) => void counted.push(a));

  function fresh(): string {
    const ctx = ctxOf(request('REGISTER'));
    auth.challenge(ctx, 'example.com', 1, 'www');
    return paramsOf(ctx.replies[0]!.headers[0]!).nonce!;
  }
  const base = { username: 'alice', password: 'pw', realm: 'example.com', method: 'REGISTER', uri: 'sip:example.com', algorithm: 'SHA-256' };
  function tryValue(v: string): number {
    const ctx = ctxOf(request('REGISTER', [`Authorization: ${v}`]));
    const f = auth.findCredentials(ctx, 'example.com', 'www');
    if (f.code !== AUTH_OK || f.cred === null) return f.code;
    return auth.verify(ctx, f.cred, { password: 'pw' });
  }

  it('every single-character change of a valid nonce is refused (-4 stale: not ours), counted into pike', () => {
    const n = fresh();
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const before = counted.length;
    let refused = 0;
    for (let i = 0; i < n.length; i++) {
      const c = alphabet[(alphabet.indexOf(n[i]!) + 1 + (i % 7)) % alphabet.length]!;
      const forged = n.slice(0, i) + c + n.slice(i + 1);
      if (tryValue(authorization({ ...base, nonce: forged })) === AUTH_STALE_NONCE) refused++;
    }
    // the last character carries 2 spare bits in base64url: changes there may decode to the same bytes
    expect(refused).toBeGreaterThanOrEqual(n.length - 1);
    expect(counted.length - before).toBe(refused);
    expect(tryValue(authorization({ ...base, nonce: n }))).toBe(AUTH_OK);
  });

  it('a nonce signed with another secret is stale (-4, never accepted); one expiring an hour ahead (forged clock) too', () => {
    const exp = Math.floor(clock.t / 1000) + 100;
    expect(tryValue(authorization({ ...base, nonce: new NonceCodec('x'.repeat(40)).encode({ expiry: exp, origin: 1, id: 1 }) }))).toBe(AUTH_STALE_NONCE);
    expect(tryValue(authorization({ ...base, nonce: new NonceCodec(SECRET).encode({ expiry: exp + 3600, origin: 1, id: 2 }) }))).toBe(AUTH_STALE_NONCE);
  });

  it('an answer computed with one algorithm but labelled with the other is refused', () => {
    const md5Answer = authorization({ ...base, algorithm: 'MD5', nonce: fresh() }).replace('algorithm=MD5', 'algorithm=SHA-256');
    expect(tryValue(md5Answer)).toBe(-2);
    const shaAnswer = authorization({ ...base, nonce: fresh() }).replace('algorithm=SHA-256', 'algorithm=MD5');
    expect(tryValue(shaAnswer)).toBe(-2);
  });

  it('2,000 seeded mutations of a valid value: nothing throws, nothing but the untouched value passes', () => {
    const rng = mulberry32(11);
    let passed = 0;
    for (let i = 0; i < 2000; i++) {
      const valid = authorization({ ...base, nonce: fresh() });
      const bad = mutateOnce(Buffer.from(valid, 'latin1'), rng).toString('latin1');
      const v = bad.replace(/[\r\n]/g, ' ');
      let code: number;
      try {
        code = tryValue(v);
      } catch (e) {
        throw new Error(`iteration ${i} threw on ${JSON.stringify(v)}: ${(e as Error).message}`);
      }
      if (code === AUTH_OK) {
        passed++;
        // a mutation that still authenticates carries the same digest (whitespace, or the case of a hex digit)
        const c = parseDigestCredentials(v)!;
        expect(c.response!.toLowerCase()).toBe(parseDigestCredentials(valid)!.response);
      }
    }
    expect(passed).toBeLessThan(2000);
  });

  it('hostile shapes are refused in one bounded pass', () => {
    const n = fresh();
    const ok = authorization({ ...base, nonce: n });
    const hostile = [
      ok + ', realm="example.com"', // duplicate realm
      ok.replace('realm="example.com"', 'realm="example.com", REALM="evil"'),
      'Digest ' + Array.from({ length: 5_000 }, (_, k) => `p${k}=1`).join(','),
      'Digest username="' + '\\'.repeat(3000) + '", realm="example.com"',
      'Digest username="alice", realm="example.com", nonce="' + 'A'.repeat(DIGEST_LIMITS.maxNonce + 1) + '"',
      'Digest username="alice", realm="example.com", uri="' + 'x'.repeat(5000),
      'Digest username="al\u0000ice", realm="example.com"',
      'Digest ' + ','.repeat(4000),
      'Digest username=alice realm=example.com',
      ok.replace('nc=00000001', 'nc=ffffffffff'),
      ok.replace(/response="[0-9a-f]+"/, 'response=""'),
      ok.replace('qop=auth', 'qop=auth,auth-int'),
    ];
    for (const v of hostile) expect(tryValue(v), v.slice(0, 80)).not.toBe(AUTH_OK);
    // 20 Authorization headers: only the first 8 are looked at, a valid 9th is never reached
    const many = Array.from({ length: 8 }, () => 'Authorization: Digest username="x", realm="other"');
    const ctx = ctxOf(request('REGISTER', [...many, `Authorization: ${authorization({ ...base, nonce: fresh() })}`]));
    expect(auth.findCredentials(ctx, 'example.com', 'www').code).toBe(-5);
  });
});
