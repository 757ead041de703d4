/**
 * auth_db on the real MariaDB, in a database created by kamdbctl's own SQL (test/helpers/kamailio-db.ts):
 * rows written the kamctl way (password + ha1 + ha1b, ha1 only, password only) authenticate through
 * the module with the real digest core; rows written by siphon's store are the rows kamctl would
 * write; a password changed by SQL serves the very next request; and a database that stops answering
 * (a TCP relay black-holed mid-run) makes the authorize functions answer -1 (the route answers 500),
 * never 1.
 */
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveAuthConfig } from '../../../host/modules/auth/config.js';
import { DigestAuth } from '../../../host/modules/auth/digest-auth.js';
import { AuthDbModule, parseAccount } from '../../../host/modules/auth_db/index.js';
import type { SipMessage } from '../../../host/sip/types.js';
import { digestCredentials, sipRequest } from '../../helpers/digest-client.js';
import { createKamailioDb, kamctlRow, type KamailioDb } from '../../helpers/kamailio-db.js';
import { TcpRelay } from '../../helpers/tcp-relay.js';
import { makeCtx } from '../../runtime/helpers.js';

const REALM = 'example.org';
const SECRET = 'k'.repeat(40);
let kdb: KamailioDb;
const auth = new DigestAuth(resolveAuthConfig({ secret: SECRET, algorithms: ['SHA-256', 'MD5'] }), SECRET);
const modules: AuthDbModule[] = [];

async function startModule(section: Record<string, unknown>, db?: { query_timeout?: number; connect_timeout?: number }): Promise<AuthDbModule> {
  const mod = new AuthDbModule();
  await mod.init({ config: section, dataDir: '/nonexistent', log: pino({ level: 'silent' }), db });
  mod.bindDigestAuth(auth);
  modules.push(mod);
  return mod;
}

/** a REGISTER of `user` answering a fresh nonce, prefetched and authorized as the server does. */
async function register(mod: AuthDbModule, user: string, password: string, alg: 'MD5' | 'SHA-256' = 'MD5'): Promise<number> {
  const msg: SipMessage = await sipRequest('REGISTER', { realm: REALM, from: user, extra: [digestCredentials(auth.newNonce(), { username: user, password, realm: REALM, alg })] });
  const p = mod.prefetcher()!;
  expect(p.wants(msg)).toBe(true);
  await p.load(msg);
  try {
    return mod.authorizer.authorize(makeCtx(msg, { level: 'silent' }).ctx, REALM, 'subscriber', 'www');
  } finally {
    p.done?.(msg);
  }
}

beforeAll(async () => {
  kdb = await createKamailioDb('authdb');
  await kdb.addSubscriber('alice', REALM, 'alice-pw'); // kamctl default: password, ha1, ha1b
  await kdb.addSubscriber('bob', REALM, 'bob-pw', { store: 'ha1' }); // STORE_PLAINTEXT_PW=0
  await kdb.addSubscriber('carol', REALM, 'carol-pw', { store: 'password' }); // INSERT ... (username, domain, password)
});

afterEach(async () => {
  while (modules.length > 0) await modules.pop()!.close();
});

afterAll(async () => {
  await kdb?.drop();
});

describe('auth_db on a kamdbctl-created MySQL database', () => {
  it('kamctl rows authenticate: ha1 for MD5, the password for SHA-256 and for rows without ha1', async () => {
    const mod = await startModule({ db_url: kdb.url });
    expect(await register(mod, 'alice', 'alice-pw')).toBe(1);
    expect(await register(mod, 'alice', 'alice-pw', 'SHA-256')).toBe(1);
    expect(await register(mod, 'alice', 'wrong')).toBe(-2);
    expect(await register(mod, 'bob', 'bob-pw')).toBe(1);
    expect(await register(mod, 'bob', 'bob-pw', 'SHA-256')).toBe(-1); // MD5-only row: no SHA-256 HA1 to check with
    expect(await register(mod, 'carol', 'carol-pw')).toBe(1);
    expect(await register(mod, 'nobody', 'x')).toBe(-3);
  });

  it('calculate_ha1 1 with password_column "password" (kamailio.cfg with plain passwords)', async () => {
    const mod = await startModule({ db_url: kdb.url, calculate_ha1: 1, password_column: 'password' });
    expect(await register(mod, 'carol', 'carol-pw')).toBe(1);
    expect(await register(mod, 'carol', 'carol-pw', 'SHA-256')).toBe(1);
    expect(await register(mod, 'bob', 'bob-pw')).toBe(-2); // no password stored: nothing to compute from
  });

  it("siphon's store writes the row kamctl writes, and a password changed by SQL serves the next request", async () => {
    const mod = await startModule({ db_url: kdb.url });
    await mod.store.add('subscriber', parseAccount(`dave@${REALM}`), 'dave-pw');
    expect(await kdb.subscriber('dave', REALM)).toEqual(kamctlRow('dave', REALM, 'dave-pw'));
    await expect(mod.store.add('subscriber', parseAccount(`dave@${REALM}`), 'again')).rejects.toThrow(/E7223/);
    expect(await register(mod, 'dave', 'dave-pw')).toBe(1);
    expect(await kdb.setPassword('dave', REALM, 'dave-new')).toBe(1);
    expect(await register(mod, 'dave', 'dave-pw')).toBe(-2);
    expect(await register(mod, 'dave', 'dave-new')).toBe(1);
    await mod.store.passwd('subscriber', parseAccount(`dave@${REALM}`), 'dave-3');
    expect(await kdb.subscriber('dave', REALM)).toEqual(kamctlRow('dave', REALM, 'dave-3'));
    expect(await kdb.removeSubscriber('dave', REALM)).toBe(1);
    expect(await register(mod, 'dave', 'dave-3')).toBe(-3);
  });

  it('a database that stops answering: -1 within query_timeout, never 1; the next request after it is back authenticates', async () => {
    const relay = await TcpRelay.open({ host: '127.0.0.1', port: 3306 });
    try {
      const url = `mysql://root@127.0.0.1:${relay.port}/${kdb.name}`;
      const mod = await startModule({ db_url: url }, { query_timeout: 400, connect_timeout: 400 });
      expect(await register(mod, 'alice', 'alice-pw')).toBe(1);
      relay.blackhole();
      expect(await register(mod, 'alice', 'alice-pw')).toBe(-1);
      expect(await register(mod, 'alice', 'wrong')).toBe(-1);
      expect(mod.statistics()).toMatchObject({ lookup_errors: 2, errors: 2, authorized: 1 });
      relay.resume();
      // the pool opens fresh connections (the black-holed ones were destroyed at their deadline)
      let code = 0;
      for (let i = 0; i < 20 && code !== 1; i++) code = await register(mod, 'alice', 'alice-pw');
      expect(code).toBe(1);
    } finally {
      await relay.close();
    }
  });
});
