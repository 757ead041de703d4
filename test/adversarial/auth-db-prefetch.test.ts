/**
 * The subscriber lookups a network peer can cause (host/modules/auth_db/prefetch.ts): credentials
 * are looked up before routing, so a peer spraying made-up Authorization headers must not turn each
 * datagram into a database query. Forged and expired nonces cost no lookup (the auth module refuses
 * them before any row would be read) and never authenticate; a request carrying many credentials costs
 * at most max_credentials lookups; an over-long username costs none and is nobody (-3).
 * The subscriber table is the embedded store; `lookups` counts what MySQL would have been asked.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveAuthConfig } from '../../host/modules/auth/config.js';
import { DigestAuth } from '../../host/modules/auth/digest-auth.js';
import { AuthDbModule, parseAccount } from '../../host/modules/auth_db/index.js';
import type { SipMessage } from '../../host/sip/types.js';
import { digestCredentials, sipRequest } from '../helpers/digest-client.js';
import { makeCtx } from '../runtime/helpers.js';

const REALM = 'example.net';
const SECRET = 'a'.repeat(48);
let dir: string;
let mod: AuthDbModule;
const auth = new DigestAuth(resolveAuthConfig({ secret: SECRET, algorithms: ['MD5'] }), SECRET);

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'siphon-authdb-adv-'));
  mod = new AuthDbModule();
  await mod.init({ config: { max_credentials: 3, max_username_length: 40 }, dataDir: dir, log: pino({ level: 'silent' }) });
  mod.bindDigestAuth(auth);
  await mod.store.add('subscriber', parseAccount(`alice@${REALM}`), 'alice-pw');
});

afterAll(async () => {
  await mod?.close();
  await rm(dir, { recursive: true, force: true });
});

/** prefetches and authorizes as the server does; the code www_authorize answers. */
async function attempt(msg: SipMessage): Promise<number> {
  const p = mod.prefetcher()!;
  if (p.wants(msg)) await p.load(msg);
  try {
    return mod.authorizer.authorize(makeCtx(msg, { level: 'silent' }).ctx, REALM, 'subscriber', 'www');
  } finally {
    p.done?.(msg);
  }
}

const register = (user: string, lines: string[]): Promise<SipMessage> => sipRequest('REGISTER', { realm: REALM, from: user, extra: lines });

/**
 * a nonce with one character changed (the signature no longer matches). The last character is left
 * alone: 29 bytes in 39 base64url characters leave its 2 low bits unused, so some changes there
 * decode to the same bytes (the same, valid nonce; the digest response covers the text anyway).
 */
function mutate(nonce: string, i: number): string {
  const at = i % (nonce.length - 1);
  const c = nonce[at] === 'A' ? 'B' : 'A';
  return nonce.slice(0, at) + c + nonce.slice(at + 1);
}

describe('auth_db lookups a peer can cause', () => {
  it('1,000 REGISTERs with forged nonces: no lookup, never authenticated', async () => {
    const before = mod.statistics();
    const codes = new Map<number, number>();
    for (let i = 0; i < 1000; i++) {
      // a real user and the right password, on a nonce this node never signed
      const nonce = mutate(auth.newNonce(), i);
      const code = await attempt(await register('alice', [digestCredentials(nonce, { username: i % 2 ? 'alice' : `u${i}`, password: 'alice-pw', realm: REALM })]));
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    expect(codes.get(1)).toBeUndefined();
    const after = mod.statistics();
    expect(after.lookups! - before.lookups!).toBe(0);
    expect(after.nonce_skipped! - before.nonce_skipped!).toBe(1000);
  });

  it('an expired nonce costs no lookup and answers stale (-4)', async () => {
    const past = new DigestAuth(resolveAuthConfig({ secret: SECRET, algorithms: ['MD5'] }), SECRET, { now: () => Date.now() - 3_600_000 });
    const before = mod.statistics().lookups!;
    expect(await attempt(await register('alice', [digestCredentials(past.newNonce(), { username: 'alice', password: 'alice-pw', realm: REALM })]))).toBe(-4);
    expect(mod.statistics().lookups! - before).toBe(0);
  });

  it('many credentials in one request: at most max_credentials lookups', async () => {
    const lines = Array.from({ length: 8 }, (_, i) => digestCredentials(auth.newNonce(), { username: `user${i}`, password: 'x', realm: REALM }));
    const before = mod.statistics();
    await attempt(await register('user0', lines));
    const after = mod.statistics();
    expect(after.lookups! - before.lookups!).toBe(3);
    expect(after.credentials_skipped! - before.credentials_skipped!).toBe(5);
  });

  it('a username over max_username_length is nobody (-3) without a lookup', async () => {
    const long = 'x'.repeat(41);
    const before = mod.statistics().lookups!;
    expect(await attempt(await register(long, [digestCredentials(auth.newNonce(), { username: long, password: 'x', realm: REALM })]))).toBe(-3);
    expect(mod.statistics().lookups! - before).toBe(0);
  });

  it('the genuine answer still authenticates after all that', async () => {
    expect(await attempt(await register('alice', [digestCredentials(auth.newNonce(), { username: 'alice', password: 'alice-pw', realm: REALM })]))).toBe(1);
  });
});
