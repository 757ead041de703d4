/**
 * www_authorize / proxy_authorize / auth_check over the real digest core (host/modules/auth
 * DigestAuth: signed nonces, replay table) and subscriber rows on the embedded store, loaded by the
 * module's prefetcher as the server does before routing. The client side of each digest is computed
 * with node:crypto (test/helpers/digest-client.ts), independently of the host's own digest code.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveAuthConfig } from '../../../host/modules/auth/config.js';
import { DigestAuth } from '../../../host/modules/auth/digest-auth.js';
import { AuthDbImports, AuthDbModule, parseAccount } from '../../../host/modules/auth_db/index.js';
import type { SipMessage } from '../../../host/sip/types.js';
import { parseConfig } from '../../../host/config/load.js';
import { closeModules, initModules } from '../../../host/server/app.js';
import { moduleSchemas } from '../../../host/server/modules.js';
import { makeCtx } from '../../runtime/helpers.js';
import { digestCredentials, sipRequest, type DigestAnswer } from '../../helpers/digest-client.js';

const REALM = 'example.com';
let dir: string;
let auth: DigestAuth;
let mod: AuthDbModule;

async function start(section: Record<string, unknown> = {}): Promise<void> {
  mod = new AuthDbModule();
  await mod.init({ config: section, dataDir: dir, log: pino({ level: 'silent' }) });
  mod.bindDigestAuth(auth);
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'siphon-authz-'));
  auth = new DigestAuth(resolveAuthConfig({ secret: 's'.repeat(40), algorithms: ['SHA-256', 'MD5'] }), 's'.repeat(40));
  await start();
});

afterEach(async () => {
  await mod.close();
  await rm(dir, { recursive: true, force: true });
});

/** a header line answering a fresh nonce of `auth`. */
const credentials = (d: Omit<DigestAnswer, 'realm'> & { realm?: string }): string => digestCredentials(auth.newNonce(), { realm: REALM, ...d });
const request = (method: string, o: { from?: string; to?: string; extra?: string[] } = {}): Promise<SipMessage> => sipRequest(method, { realm: REALM, ...o });

/** prefetch as the server does, then run `f` on a context of the message. */
async function routed(msg: SipMessage, f: (ctx: ReturnType<typeof makeCtx>['ctx']) => number): Promise<number> {
  const p = mod.prefetcher()!;
  if (p.wants(msg)) await p.load(msg);
  try {
    return f(makeCtx(msg, { level: 'silent' }).ctx);
  } finally {
    p.done?.(msg);
  }
}

const www = (msg: SipMessage, realm = REALM, table = 'subscriber') => routed(msg, (ctx) => mod.authorizer.authorize(ctx, realm, table, 'www'));
const proxy = (msg: SipMessage, realm = REALM) => routed(msg, (ctx) => mod.authorizer.authorize(ctx, realm, 'subscriber', 'proxy'));
const check = (msg: SipMessage, flags: number, realm = REALM) => routed(msg, (ctx) => mod.authorizer.check(ctx, realm, 'subscriber', flags));

describe('www_authorize / proxy_authorize', () => {
  it('1 for the right password (MD5 ha1, SHA-256 from the stored password), -2 wrong, -3 unknown, -5 none', async () => {
    await mod.store.add('subscriber', parseAccount(`alice@${REALM}`), 's3cret');
    expect(await www(await request('REGISTER', { extra: [credentials({ username: 'alice', password: 's3cret' })] }))).toBe(1);
    expect(await www(await request('REGISTER', { extra: [credentials({ username: 'alice', password: 's3cret', alg: 'SHA-256' })] }))).toBe(1);
    expect(await www(await request('REGISTER', { extra: [credentials({ username: 'alice', password: 'wrong' })] }))).toBe(-2);
    expect(await www(await request('REGISTER', { from: 'mallory', extra: [credentials({ username: 'mallory', password: 'x' })] }))).toBe(-3);
    expect(await www(await request('REGISTER'))).toBe(-5);
    const s = mod.statistics();
    expect(s).toMatchObject({ authorized: 2, invalid_password: 1, user_unknown: 1 });
  });

  it('proxy_authorize reads Proxy-Authorization only', async () => {
    await mod.store.add('subscriber', parseAccount(`alice@${REALM}`), 's3cret');
    const line = credentials({ username: 'alice', password: 's3cret', method: 'INVITE', uri: `sip:bob@${REALM}`, header: 'Proxy-Authorization' });
    expect(await proxy(await request('INVITE', { extra: [line] }))).toBe(1);
    expect(await www(await request('INVITE', { extra: [line] }))).toBe(-5);
  });

  it('a "user@domain" username is checked against ha1b (Kamailio password_column_2)', async () => {
    await mod.store.add('subscriber', parseAccount(`alice@${REALM}`), 's3cret');
    // the MD5 path with an empty password column: only ha1b can answer
    await mod.store.db.table(mod.store['tables'].get('subscriber')!.def).update({ username: 'alice' }, { password: '' });
    expect(await www(await request('REGISTER', { extra: [credentials({ username: `alice@${REALM}`, password: 's3cret' })] }))).toBe(1);
  });

  it('an MD5-only row (store_password off) answers MD5 credentials, and -1 for SHA-256 ones', async () => {
    await mod.close();
    await start({ store_password: 0 });
    await mod.store.add('subscriber', parseAccount(`alice@${REALM}`), 's3cret');
    expect(await www(await request('REGISTER', { extra: [credentials({ username: 'alice', password: 's3cret' })] }))).toBe(1);
    expect(await www(await request('REGISTER', { extra: [credentials({ username: 'alice', password: 's3cret', alg: 'SHA-256' })] }))).toBe(-1);
  });

  it('calculate_ha1 1: the HA1 is computed from password_column for either algorithm', async () => {
    await mod.close();
    await start({ calculate_ha1: 1, password_column: 'password' });
    await mod.store.add('subscriber', parseAccount(`alice@${REALM}`), 's3cret');
    expect(await www(await request('REGISTER', { extra: [credentials({ username: 'alice', password: 's3cret' })] }))).toBe(1);
    expect(await www(await request('REGISTER', { extra: [credentials({ username: 'alice', password: 's3cret', alg: 'SHA-256' })] }))).toBe(1);
    expect(await www(await request('REGISTER', { extra: [credentials({ username: 'alice', password: 'nope' })] }))).toBe(-2);
  });

  it('an empty realm is the To domain for REGISTER', async () => {
    await mod.store.add('subscriber', parseAccount(`alice@${REALM}`), 's3cret');
    expect(await www(await request('REGISTER', { extra: [credentials({ username: 'alice', password: 's3cret' })] }), '')).toBe(1);
  });

  it('fails closed: a table not loaded, a lookup that failed, no auth module all answer -1', async () => {
    await mod.store.add('subscriber', parseAccount(`alice@${REALM}`), 's3cret');
    const good = () => request('REGISTER', { extra: [credentials({ username: 'alice', password: 's3cret' })] });
    // not prefetched: the table is not in modules.auth_db.tables
    expect(await www(await good(), REALM, 'other_table')).toBe(-1);
    // the message was never loaded (no prefetch)
    const msg = await good();
    expect(mod.authorizer.authorize(makeCtx(msg, { level: 'silent' }).ctx, REALM, 'subscriber', 'www')).toBe(-1);
    // the lookup fails (the database: a stand-in for an outage; MySQL outages in test/integration/auth_db)
    const store = mod.store;
    const lookup = store.lookup.bind(store);
    store.lookup = () => Promise.reject(new Error('connection lost'));
    expect(await www(await good())).toBe(-1);
    store.lookup = lookup;
    expect(mod.statistics().lookup_errors).toBe(1);
    // no auth module bound
    mod.bindDigestAuth(null);
    expect(await www(await good())).toBe(-1);
  });

  it('requests that need a row while its query is in flight share that query', async () => {
    await mod.store.add('subscriber', parseAccount(`alice@${REALM}`), 's3cret');
    const before = mod.statistics();
    const msgs = await Promise.all([0, 1, 2].map(() => request('REGISTER', { extra: [credentials({ username: 'alice', password: 's3cret' })] })));
    const p = mod.prefetcher()!;
    await Promise.all(msgs.map((m) => p.load(m)));
    const codes = msgs.map((m) => mod.authorizer.authorize(makeCtx(m, { level: 'silent' }).ctx, REALM, 'subscriber', 'www'));
    for (const m of msgs) p.done?.(m);
    expect(codes).toEqual([1, 1, 1]);
    const after = mod.statistics();
    expect(after.lookups! - before.lookups!).toBe(1);
    expect(after.lookups_shared! - before.lookups_shared!).toBe(2);
    // settled: the next request queries again (a change made meanwhile is seen)
    await mod.store.passwd('subscriber', parseAccount(`alice@${REALM}`), 'changed');
    expect(await www(await request('REGISTER', { extra: [credentials({ username: 'alice', password: 's3cret' })] }))).toBe(-2);
  });

  it('looks up at most max_credentials credentials of one request', async () => {
    await mod.close();
    await start({ max_credentials: 2 });
    const lines = Array.from({ length: 6 }, (_, i) => credentials({ username: `u${i}`, password: 'x' }));
    const msg = await request('REGISTER', { extra: lines });
    await mod.prefetcher()!.load(msg);
    expect(mod.statistics()).toMatchObject({ lookups: 2, credentials_skipped: 4 });
  });
});

describe('auth_check', () => {
  beforeEach(async () => {
    await mod.store.add('subscriber', parseAccount(`alice@${REALM}`), 's3cret');
  });

  it('flag 1: REGISTER must register the authenticated user (To, and From = To)', async () => {
    const cred = () => credentials({ username: 'alice', password: 's3cret' });
    expect(await check(await request('REGISTER', { extra: [cred()] }), 1)).toBe(1);
    expect(await check(await request('REGISTER', { from: 'bob', to: 'bob', extra: [cred()] }), 1)).toBe(-8);
    expect(await check(await request('REGISTER', { from: 'alice', to: 'bob', extra: [cred()] }), 1)).toBe(-8);
    expect(await check(await request('REGISTER', { from: 'bob', to: 'bob', extra: [cred()] }), 0)).toBe(1);
    expect(mod.statistics().user_mismatch).toBe(2);
  });

  it('flag 1: other requests must come From the authenticated user; flag 2 lets INVITE through anonymous', async () => {
    const cred = () => credentials({ username: 'alice', password: 's3cret', method: 'INVITE', uri: `sip:bob@${REALM}`, header: 'Proxy-Authorization' });
    expect(await check(await request('INVITE', { extra: [cred()] }), 1)).toBe(1);
    expect(await check(await request('INVITE', { from: 'anonymous', extra: [cred()] }), 1)).toBe(-8);
    expect(await check(await request('INVITE', { from: 'anonymous', extra: [cred()] }), 3)).toBe(1);
    const opt = credentials({ username: 'alice', password: 's3cret', method: 'OPTIONS', uri: `sip:bob@${REALM}`, header: 'Proxy-Authorization' });
    expect(await check(await request('OPTIONS', { from: 'anonymous', extra: [opt] }), 3)).toBe(-8);
  });

  it('ACK and CANCEL pass without credentials', async () => {
    expect(await check(await request('ACK'), 1)).toBe(1);
    expect(await check(await request('CANCEL'), 1)).toBe(1);
  });
});

describe('wiring (initModules)', () => {
  const yaml = (modules: string): string => `core:\n  data_dir: ${JSON.stringify(path.join(dir, 'node'))}\n  ctl: []\nmodules:\n${modules}`;

  it('a node with modules.auth_db but no modules.auth does not start (E1003)', async () => {
    const config = parseConfig(yaml('  auth_db: {}\n'), null, { moduleSchemas: moduleSchemas() });
    await expect(initModules(config, pino({ level: 'silent' }))).rejects.toThrow(/modules\.auth_db needs modules\.auth.*E1003/);
  });

  it('with modules.auth the authorize functions use its digest core', async () => {
    const config = parseConfig(yaml(`  auth:\n    secret: ${JSON.stringify('w'.repeat(40))}\n  auth_db: {}\n`), null, { moduleSchemas: moduleSchemas() });
    const mods = await initModules(config, pino({ level: 'silent' }));
    try {
      const adb = mods.find((m): m is AuthDbModule => m instanceof AuthDbModule)!;
      const msg = await request('REGISTER');
      expect(adb.authorizer.authorize(makeCtx(msg, { level: 'silent' }).ctx, REALM, 'subscriber', 'www')).toBe(-5);
    } finally {
      await closeModules(mods, pino({ level: 'silent' }));
    }
  });
});

describe('imports (namespace auth_db)', () => {
  it('answer the function codes, and -1 for every host-side failure; 200 gas per call', async () => {
    await mod.store.add('subscriber', parseAccount(`alice@${REALM}`), 's3cret');
    const msg = await request('REGISTER', { extra: [credentials({ username: 'alice', password: 's3cret' })] });
    await mod.prefetcher()!.load(msg);
    const ctx = makeCtx(msg, { level: 'silent' }).ctx;
    // guest "memory": pointer -> string; an unknown pointer is outside memory
    const mem = new Map<number, string>([[1, REALM], [2, 'subscriber'], [3, 'x'.repeat(129)], [4, 't'.repeat(65)]]);
    let current: typeof ctx | null = ctx;
    let gas = 0;
    const api = {
      current: () => current,
      hook: () => 'request_route',
      readString: (p: number, l: number) => (mem.get(p)?.length === l ? mem.get(p)! : null),
      writeString: () => -3,
      charge: (u: number) => void (gas += u),
    };
    const f = new AuthDbImports(mod.authorizer).functions(api) as Record<string, (...a: number[]) => number>;
    expect(Object.keys(f).sort()).toEqual(['auth_check', 'proxy_authenticate', 'proxy_authorize', 'www_authenticate', 'www_authorize']);
    expect(f.www_authorize!(1, REALM.length, 2, 10)).toBe(1);
    expect(gas).toBe(200);
    expect(f.proxy_authorize!(1, REALM.length, 2, 10)).toBe(-5); // no Proxy-Authorization
    expect(f.auth_check!(1, REALM.length, 2, 10, 1)).toBe(1); // already verified in this request (Kamailio: AUTHENTICATED)
    expect(f.www_authorize!(3, 129, 2, 10)).toBe(-1); // realm over 128 bytes
    expect(f.www_authorize!(1, REALM.length, 4, 65)).toBe(-1); // table over 64 bytes
    expect(f.www_authorize!(99, 5, 2, 10)).toBe(-1); // outside memory
    expect(f.www_authorize!(1, REALM.length, 2, 0)).toBe(-1); // no table
    current = null;
    expect(f.www_authorize!(1, REALM.length, 2, 10)).toBe(-1); // no message in this hook
    mod.prefetcher()!.done?.(msg);
  });
});
