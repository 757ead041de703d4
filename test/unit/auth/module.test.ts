/**
 * The auth module around its digest core: the nonce secret (config, embedded store kept across
 * restarts), the plugin imports (namespace `auth`), the RPC methods, the statistics, the $au & co
 * pseudo-variables and the pike hook (a failed verification weighs pike_weight requests).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import pino from 'pino';
import { AuthModule, AUTH_OK, authConfigSchema, loadSecret } from '../../../host/modules/auth/index.js';
import { DigestAuth } from '../../../host/modules/auth/digest-auth.js';
import { AuthImports } from '../../../host/modules/auth/abi.js';
import { resolveAuthConfig } from '../../../host/modules/auth/config.js';
import { Pike } from '../../../host/modules/pike/pike.js';
import { resolvePikeConfig } from '../../../host/modules/pike/config.js';
import { PIKE_BLOCKED } from '../../../host/modules/pike/table.js';
import { evalPv } from '../../../host/core/pv.js';
import type { MessageContext } from '../../../host/core/context.js';
import type { HostCallApi } from '../../../host/wasm/types.js';
import { authorization, challengeParams, ctxOf, request } from './helpers.js';

const log = pino({ level: 'silent' });
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'siphon-auth-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function api(ctx: MessageContext | null, strings: Map<number, string>, hook = 'request_route'): HostCallApi & { charged: number } {
  const a = {
    charged: 0,
    current: () => ctx,
    hook: () => hook,
    readString: (p: number, l: number) => {
      const s = strings.get(p);
      return s !== undefined && Buffer.byteLength(s) === l ? s : null;
    },
    writeString: () => -3,
    charge(u: number) {
      a.charged += u;
    },
  };
  return a;
}

describe('nonce secret', () => {
  it('config first; else one row in the embedded store, the same after a restart', async () => {
    const fromCfg = await loadSecret({ secret: 'x'.repeat(32), db_url: null }, { dataDir: dir, log });
    expect(fromCfg).toEqual({ secret: 'x'.repeat(32), origin: 'config' });
    const a = await loadSecret({ secret: null, db_url: null }, { dataDir: dir, log });
    const b = await loadSecret({ secret: null, db_url: null }, { dataDir: dir, log });
    expect(a.origin).toBe('embedded');
    expect(a.secret).toMatch(/^[0-9a-f]{64}$/);
    expect(b.secret).toBe(a.secret);
  });

  it('a nonce issued before a restart is still accepted after it', async () => {
    const m1 = new AuthModule();
    await m1.init({ config: {}, dataDir: dir, log });
    const ctx = ctxOf(request('REGISTER'));
    m1.digestAuth!.challenge(ctx, 'example.com', 1, 'www');
    const nonce = challengeParams(ctx.replies[0]!.headers[0]!).nonce!;
    await m1.close();
    const m2 = new AuthModule();
    await m2.init({ config: {}, dataDir: dir, log });
    const v = authorization({ username: 'alice', password: 'pw', realm: 'example.com', nonce, method: 'REGISTER', uri: 'sip:example.com', algorithm: 'SHA-256' });
    const c2 = ctxOf(request('REGISTER', [`Authorization: ${v}`]));
    const f = m2.api.findCredentials(c2, 'example.com', 'www');
    expect(f.code).toBe(AUTH_OK);
    expect(m2.api.verify(c2, f.cred!, { password: 'pw' })).toBe(AUTH_OK);
    await m2.close();
  });

  it('the schema takes the defaults and refuses a short secret, an unknown algorithm, a non-MySQL db_url', () => {
    const ajv = new Ajv({ useDefaults: true });
    const validate = ajv.compile(authConfigSchema);
    const cfg: Record<string, unknown> = {};
    expect(validate(cfg)).toBe(true);
    expect(cfg).toMatchObject({ nonce_expire: 300, algorithms: ['SHA-256', 'MD5'], nonce_count: true, one_time_nonce: true });
    expect(validate({ secret: 'short' })).toBe(false);
    expect(validate({ algorithms: ['SHA-512'] })).toBe(false);
    expect(validate({ db_url: 'postgres://x' })).toBe(false);
    expect(resolveAuthConfig({ nc_array_size: 5000 }).nc_array_size).toBe(4096);
  });
});

describe('plugin imports', () => {
  const auth = () => new DigestAuth(resolveAuthConfig({}), 's'.repeat(32));

  it('auth_challenge answers 401 to REGISTER and 407 otherwise; realm and flags pass through', () => {
    const a = auth();
    const strings = new Map([[100, 'example.com']]);
    const reg = ctxOf(request('REGISTER'));
    const f = new AuthImports(a).functions(api(reg, strings));
    expect((f.auth_challenge as (p: number, l: number, fl: number) => number)(100, 11, 1)).toBe(1);
    expect(reg.replies[0]!.code).toBe(401);
    expect(reg.replies[0]!.headers[0]).toContain('realm="example.com"');
    const inv = ctxOf(request('INVITE'));
    const g = new AuthImports(a).functions(api(inv, strings));
    expect((g.auth_challenge as (p: number, l: number, fl: number) => number)(0, 0, 0)).toBe(1);
    expect(inv.replies[0]!.code).toBe(407);
    expect(inv.replies[0]!.headers[0]).toContain('realm="example.com"'); // '' = the From host
    expect(a.stats.challenges_www).toBe(1);
    expect(a.stats.challenges_proxy).toBe(1);
  });

  it('host statuses: -4 outside request_route / without a message, -3 realm unreadable or too long', () => {
    const a = auth();
    const ctx = ctxOf(request('INVITE'));
    const init = new AuthImports(a).functions(api(null, new Map()));
    expect((init.www_challenge as (p: number, l: number, f: number) => number)(0, 0, 0)).toBe(-4);
    expect((init.consume_credentials as () => number)()).toBe(-4);
    const branch = new AuthImports(a).functions(api(ctx, new Map(), 'branch_route'));
    expect((branch.proxy_challenge as (p: number, l: number, f: number) => number)(0, 0, 0)).toBe(-4);
    const f = new AuthImports(a).functions(api(ctx, new Map()));
    expect((f.proxy_challenge as (p: number, l: number, fl: number) => number)(5, 3, 0)).toBe(-3);
    expect((f.proxy_challenge as (p: number, l: number, fl: number) => number)(5, 129, 0)).toBe(-3);
    expect((f.has_credentials as (p: number, l: number) => number)(5, 129)).toBe(-3);
    expect(ctx.replies).toHaveLength(0);
  });

  it('auth_get_www_authenticate / auth_get_proxy_authenticate: header lines, Kamailio build flags, the same text on the snprintf retry', () => {
    const a = auth();
    const ctx = ctxOf(request('INVITE'));
    const written: string[] = [];
    const host = { ...api(ctx, new Map([[1, 'example.com']])), writeString: (_o: number, cap: number, v: string) => (cap >= v.length && written.push(v), v.length) };
    const f = new AuthImports(a).functions(host);
    const www = f.auth_get_www_authenticate as (p: number, l: number, fl: number, o: number, c: number) => number;
    const n = www(1, 11, 4 | 16, 0, 0);
    expect(n).toBeGreaterThan(100);
    expect(www(1, 11, 4 | 16, 0, n)).toBe(n);
    expect(written).toHaveLength(1);
    const lines = written[0]!.split('\r\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('');
    expect(lines[0]).toMatch(/^WWW-Authenticate: Digest realm="example.com", nonce="[^"]+", stale=true, algorithm=SHA-256, qop="auth"$/);
    expect(lines[1]).toMatch(/algorithm=MD5, qop="auth"$/);
    expect(a.stats.challenges_built).toBe(1);
    const proxy = f.auth_get_proxy_authenticate as (p: number, l: number, fl: number, o: number, c: number) => number;
    proxy(1, 11, 8, 0, 10_000);
    expect(written[1]).toMatch(/^Proxy-Authenticate: .*qop="auth-int"\r\n/);
    expect(a.stats.challenges_built).toBe(2);
    expect(ctx.replies).toHaveLength(0);
  });

  it('has_credentials and consume_credentials', () => {
    const a = auth();
    const ctx = ctxOf(request('INVITE', ['Proxy-Authorization: Digest username="bob", realm="example.com", nonce="n", uri="sip:x", response="r"']));
    const f = new AuthImports(a).functions(api(ctx, new Map([[1, 'example.com'], [2, 'other']])));
    expect((f.has_credentials as (p: number, l: number) => number)(1, 11)).toBe(1);
    expect((f.has_credentials as (p: number, l: number) => number)(2, 5)).toBe(-1);
    expect((f.consume_credentials as () => number)()).toBe(-1); // nothing marked yet
    a.findCredentials(ctx, 'example.com', 'proxy');
    expect((f.consume_credentials as () => number)()).toBe(1);
    expect(ctx.msg.headerCount('Proxy-Authorization')).toBe(0);
  });
});

describe('pseudo-variables', () => {
  it('$au $ad $aU $ar $adu $aa $adn $adc $adr $ado: the marked credentials, else the first Proxy-Authorization / Authorization', () => {
    const v = 'Digest username="bob@example.net", realm="example.com", nonce="N1", uri="sip:x", response="R1", algorithm=SHA-256, cnonce="C1", opaque="O1", qop=auth, nc=00000001';
    const ctx = ctxOf(request('INVITE', ['Authorization: Digest username="w", realm="wr"', `Proxy-Authorization: ${v}`]));
    const got = ['$au', '$ad', '$aU', '$ar', '$adu', '$aa', '$adn', '$adc', '$adr', '$ado'].map((n) => evalPv(n, ctx));
    expect(got).toEqual(['bob', 'example.net', 'bob@example.net', 'example.com', 'sip:x', 'SHA-256', 'N1', 'C1', 'R1', 'O1']);
    const a = new DigestAuth(resolveAuthConfig({}), 's'.repeat(32));
    a.findCredentials(ctx, 'wr', 'www');
    expect(evalPv('$au', ctx)).toBe('w');
    expect(evalPv('$ad', ctx)).toBeNull();
    expect(evalPv('$au', ctxOf(request('OPTIONS')))).toBeNull();
  });
});

describe('RPC, statistics, pike', () => {
  it('auth.stats, auth.failures (most first, limit), auth.failures_reset; stats.get_statistics names', async () => {
    const m = new AuthModule({ now: () => 1_800_000_000_000 });
    await m.init({ config: { secret: 'k'.repeat(32) }, dataDir: dir, log });
    const a = m.digestAuth!;
    for (const [user, n] of [['alice', 3], ['bob', 1]] as const) {
      for (let i = 0; i < n; i++) a.countFailure(ctxOf(request('INVITE')), { username: user } as never, -3);
    }
    const call = (name: string, params: unknown[] = []) => m.rpcMethods().find((x) => x.name === name)!.handler(params as never);
    expect(await call('auth.failures')).toEqual({
      list: [{ username: 'alice', failures: 3, last: 1_800_000_000 }, { username: 'bob', failures: 1, last: 1_800_000_000 }],
      number_of_rows: 2,
    });
    expect(((await call('auth.failures', [1])) as { number_of_rows: number }).number_of_rows).toBe(1);
    await expect(async () => call('auth.failures', ['x'])).rejects.toThrow(/positive integer/);
    expect(await call('auth.stats')).toMatchObject({ failed_user: 4, ok: 0, challenges_www: 0 });
    expect(m.statistics()).toMatchObject({ failed_user: 4, failure_users: 2, nonces_evicted: 0 });
    expect(await call('auth.failures_reset')).toBe('ok');
    expect(m.statistics().failure_users).toBe(0);
    await m.close();
  });

  it('failed verifications block the source in pike after density / weight failures; own and trusted addresses are never counted', () => {
    const pike = new Pike(resolvePikeConfig({ reqs_density_per_unit: 30, trusted: ['192.0.2.99'] }), { now: () => 1000 });
    const a = new DigestAuth(resolveAuthConfig({ pike_weight: 10 }), 's'.repeat(32));
    a.setFailureSink((addr, w) => void pike.penalize(addr, w));
    const fail = (addr: string) => a.countFailure(ctxOf(request('INVITE'), addr), null, -3);
    fail('192.0.2.10');
    fail('192.0.2.10');
    expect(pike.check('192.0.2.10')).toBe(1); // 21 hits
    fail('192.0.2.10');
    expect(pike.check('192.0.2.10')).toBe(PIKE_BLOCKED);
    for (let i = 0; i < 10; i++) fail('192.0.2.99');
    expect(pike.check('192.0.2.99')).toBe(1);
    expect(pike.statistics().auth_failures).toBe(3);
  });
});
