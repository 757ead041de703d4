/**
 * auth with several shards (core.workers; host/modules/auth/shard.ts): real AuthModule instances for
 * shard 0 and two worker shards linked by linkedShards(). A nonce any shard issued verifies on every
 * other; the nc / one-time state is shard 0's, so a captured response replayed with another Call-ID
 * (another shard) is refused, while a wrong response consumes nothing and a retransmission on the
 * same shard is still accepted.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { AuthModule, AUTH_INVALID_PASSWORD, AUTH_NONCE_REUSED, AUTH_OK, AUTH_STALE_NONCE } from '../../../host/modules/auth/index.js';
import { linkedShards } from '../../../host/shards/link.js';
import type { SipMessage } from '../../../host/sip/types.js';
import { authorization, challengeParams, ctxOf, parse, request, type ClientOpts } from './helpers.js';

const log = pino({ level: 'silent' });
let dir: string;
let shards: Awaited<ReturnType<typeof linkedShards>>;
let m0: AuthModule;
let w1: AuthModule;
let w2: AuthModule;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'smallshard-auth-'));
  shards = await linkedShards(2);
  m0 = new AuthModule();
  // the secret is generated into shard 0's embedded store; the workers must get it from shard 0
  await m0.init({ config: {}, dataDir: dir, log, shard: shards.main });
  w1 = new AuthModule();
  w2 = new AuthModule();
  await w1.init({ config: {}, dataDir: path.join(dir, 'w1-never-used'), log, shard: shards.workers[0]! });
  await w2.init({ config: {}, dataDir: path.join(dir, 'w2-never-used'), log, shard: shards.workers[1]! });
});

afterEach(async () => {
  await Promise.all([m0.close(), w1.close(), w2.close()]);
  shards.close();
  await rm(dir, { recursive: true, force: true });
});

function nonceFrom(m: AuthModule): string {
  const ctx = ctxOf(request('REGISTER'));
  expect(m.digestAuth!.challenge(ctx, 'example.com', 1, 'www')).toBe(1);
  return challengeParams(ctx.replies[0]!.headers[0]!).nonce!;
}

function registerWith(o: Partial<ClientOpts> & { nonce: string }, callId = 'c1@192.0.2.10'): SipMessage {
  const full: ClientOpts = { username: 'alice', password: 'secret', realm: 'example.com', method: 'REGISTER', uri: 'sip:example.com', ...o };
  const text = request('REGISTER', [`Authorization: ${authorization(full)}`]).raw.toString();
  return parse(text.replace('Call-ID: c1@192.0.2.10', `Call-ID: ${callId}`));
}

/** what the node does with a request on a shard: the prefetchers, then find + verify as auth_db does, then done. */
async function route(m: AuthModule, msg: SipMessage, password = 'secret'): Promise<number> {
  const p = m.prefetcher();
  if (p !== null && p.wants(msg)) await p.load(msg);
  try {
    const ctx = ctxOf(msg);
    const found = m.api.findCredentials(ctx, 'example.com', 'www');
    if (found.code !== AUTH_OK || found.cred === null) return found.code;
    return m.api.verify(ctx, found.cred, { password });
  } finally {
    p?.done?.(msg);
  }
}

describe('auth with core.workers', () => {
  it('workers take shard 0 secret: a nonce from any shard verifies on every other', async () => {
    expect(m0.prefetcher()).toBeNull();
    expect(w1.prefetcher()).not.toBeNull();
    const fromW1 = nonceFrom(w1);
    expect(await route(w2, registerWith({ nonce: fromW1 }))).toBe(AUTH_OK);
    expect(await route(m0, registerWith({ nonce: nonceFrom(w2) }))).toBe(AUTH_OK);
    expect(await route(w1, registerWith({ nonce: nonceFrom(m0) }))).toBe(AUTH_OK);
  });

  it('a response accepted on one worker and replayed with another Call-ID on another worker is refused (nc: stale)', async () => {
    const nonce = nonceFrom(w1);
    const sent = registerWith({ nonce, nc: 1 });
    expect(await route(w1, sent)).toBe(AUTH_OK);
    const replay = registerWith({ nonce, nc: 1 }, 'attacker@203.0.113.5');
    expect(await route(w2, replay)).toBe(AUTH_STALE_NONCE);
    expect(await route(m0, registerWith({ nonce, nc: 1 }, 'other@203.0.113.5'))).toBe(AUTH_STALE_NONCE);
    // the UA itself goes on with a higher nc, wherever its next Call-ID lands
    expect(await route(w2, registerWith({ nonce, nc: 2 }, 'next@192.0.2.10'))).toBe(AUTH_OK);
    expect(w2.statistics()['replayed']).toBeGreaterThanOrEqual(1);
  });

  it('one-time nonces (no qop): a second use on another worker is refused (-6)', async () => {
    const nonce = nonceFrom(w2);
    expect(await route(w2, registerWith({ nonce, qop: null }))).toBe(AUTH_OK);
    expect(await route(w1, registerWith({ nonce, qop: null }, 'attacker@203.0.113.5'))).toBe(AUTH_NONCE_REUSED);
  });

  it('a use held by one worker is refused on another until it is settled; a wrong response consumes nothing', async () => {
    const nonce = nonceFrom(m0);
    const guess = registerWith({ nonce, nc: 1 }, 'guess@203.0.113.5');
    const p1 = w1.prefetcher()!;
    await p1.load(guess);
    // while w1 routes the guess, the same nc on w2 cannot be proven new
    expect(await route(w2, registerWith({ nonce, nc: 1 }, 'ua@192.0.2.10'))).toBe(AUTH_STALE_NONCE);
    const ctx = ctxOf(guess);
    const found = w1.api.findCredentials(ctx, 'example.com', 'www');
    expect(w1.api.verify(ctx, found.cred!, { password: 'wrong' })).toBe(AUTH_INVALID_PASSWORD);
    p1.done!(guess);
    // the release went before the failure batch on w1's port: once that is answered, the hold is gone
    await w1.workerReplay!.flushFailures();
    expect(m0.replayOwner!.held).toBe(0);
    expect(m0.digestAuth!.failures.top(10).map((r) => r.username)).toEqual(['alice']);
    expect(await route(w2, registerWith({ nonce, nc: 1 }, 'ua@192.0.2.10'))).toBe(AUTH_OK);
  });

  it('a retransmission (same bytes, same shard) is accepted again; worker statistics leave shared gauges to shard 0', async () => {
    const nonce = nonceFrom(w1);
    const text = registerWith({ nonce, nc: 1 }).raw.toString();
    expect(await route(w1, parse(text))).toBe(AUTH_OK);
    expect(await route(w1, parse(text))).toBe(AUTH_OK);
    expect(w1.statistics()['retransmissions']).toBe(1);
    expect(w1.statistics()).not.toHaveProperty('nonces_evicted');
    expect(w1.statistics()).not.toHaveProperty('failure_users');
    expect(m0.statistics()).toHaveProperty('failure_users');
  });

  it('a worker with modules.auth.secret uses it; shard 0 unreachable answers stale, not ok', async () => {
    const solo = await linkedShards(1);
    const lone = new AuthModule();
    // no shard 0 service behind this link: the claim fails
    await lone.init({ config: { secret: 's'.repeat(40) }, dataDir: dir, log, shard: solo.workers[0]! });
    const nonce = nonceFrom(lone);
    expect(await route(lone, registerWith({ nonce }))).toBe(AUTH_STALE_NONCE);
    expect(lone.statistics()['replay_unavailable']).toBe(1);
    await lone.close();
    solo.close();
  });
});
