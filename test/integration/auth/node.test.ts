/**
 * Digest authentication through a real node over UDP: the auth-probe plugin runs auth_check
 * (auth_db, embedded store) and auth_challenge (auth) as kamailio.cfg's AUTH block does. Shown:
 * the challenge (401 for REGISTER, 407 otherwise, SHA-256 then MD5, one nonce, qop="auth"), a
 * SHA-256 and an MD5 answer accepted, $au set and the credentials consumed, a replayed nc refused
 * with stale=true, a higher nc accepted, a byte-identical retransmission accepted again, a wrong password and an unknown user refused and counted,
 * and sipsak (a real UA, MD5) registering against the SHA-256-first challenge.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SiphonNode } from '../../../host/server/app.js';
import { digestCredentials } from '../../helpers/digest-client.js';
import { buildAuthProbe, challengeParams, freeUdpPort, startAuthNode, Ua } from './helpers.js';

const run = promisify(execFile);
let node: SiphonNode;
let port: number;
let dir: string;
let ua: Ua;

beforeAll(async () => {
  await buildAuthProbe();
  dir = await mkdtemp(path.join(tmpdir(), 'siphon-auth-node-'));
  port = await freeUdpPort();
  node = await startAuthNode(port, dir, ['auth: {}', 'auth_db: {}']);
  await node.rpc.call('subscriber.add', ['alice@example.com', 'alice-pw']);
  await node.rpc.call('subscriber.add', ['alice@127.0.0.1', 'alice-pw']);
  ua = await Ua.bind();
}, 180_000);

afterAll(async () => {
  await ua?.close();
  await node?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** challenges a REGISTER (or INVITE) and returns the reply's challenge values. */
async function challenge(method = 'REGISTER'): Promise<string[]> {
  const r = await ua.request(port, method, 'alice');
  expect(r?.status).toBe(method === 'REGISTER' ? 401 : 407);
  return r!.headers.get(method === 'REGISTER' ? 'www-authenticate' : 'proxy-authenticate')!;
}

describe('auth through a node', () => {
  it('challenges REGISTER with 401: SHA-256 then MD5, one nonce, qop="auth"; no credentials is -5', async () => {
    const r = await ua.request(port, 'REGISTER', 'alice');
    expect(r?.status).toBe(401);
    expect(r!.headers.get('x-auth-rc')).toEqual(['-5']);
    const [sha, md5] = r!.headers.get('www-authenticate')!.map(challengeParams);
    expect(r!.headers.get('www-authenticate')).toHaveLength(2);
    expect(sha).toMatchObject({ realm: 'example.com', algorithm: 'SHA-256', qop: 'auth' });
    expect(md5).toMatchObject({ realm: 'example.com', algorithm: 'MD5', qop: 'auth' });
    expect(sha!.nonce).toBe(md5!.nonce);
  });

  it('a SHA-256 answer registers; $au is the user; consume_credentials removed the header', async () => {
    const nonce = challengeParams((await challenge())[0]!).nonce!;
    const line = digestCredentials(nonce, { username: 'alice', password: 'alice-pw', realm: 'example.com', alg: 'SHA-256', uri: 'sip:example.com' });
    const r = await ua.request(port, 'REGISTER', 'alice', [line]);
    expect(r?.status).toBe(200);
    expect(r!.headers.get('x-auth-rc')).toEqual(['1']);
    expect(r!.headers.get('x-auth-user')).toEqual(['alice 1']);
    expect(r!.headers.get('x-consumed')).toEqual(['1 0']);
  });

  it('the same nc again is a replay: 401 stale=true (-4); a higher nc passes', async () => {
    const nonce = challengeParams((await challenge())[0]!).nonce!;
    const cred = (nc: number) => digestCredentials(nonce, { username: 'alice', password: 'alice-pw', realm: 'example.com', alg: 'SHA-256', uri: 'sip:example.com', nc });
    expect((await ua.request(port, 'REGISTER', 'alice', [cred(1)]))?.status).toBe(200);
    const replay = await ua.request(port, 'REGISTER', 'alice', [cred(1)]);
    expect(replay?.status).toBe(401);
    expect(replay!.headers.get('x-auth-rc')).toEqual(['-4']);
    expect(challengeParams(replay!.headers.get('www-authenticate')![0]!).stale).toBe('true');
    expect((await ua.request(port, 'REGISTER', 'alice', [cred(2)]))?.status).toBe(200);
  });

  it('a UDP retransmission of an accepted REGISTER (byte-identical, 200 sent statelessly) gets 200 again, not a replay 401', async () => {
    const nonce = challengeParams((await challenge())[0]!).nonce!;
    const { text, callId } = ua.build(port, 'REGISTER', 'alice', [digestCredentials(nonce, { username: 'alice', password: 'alice-pw', realm: 'example.com', alg: 'SHA-256' })]);
    const before = ((await node.rpc.call('auth.stats', [])) as Record<string, number>).retransmissions!;
    expect((await ua.send(port, text, callId))?.status).toBe(200);
    expect((await ua.send(port, text, callId))?.status).toBe(200);
    expect(((await node.rpc.call('auth.stats', [])) as Record<string, number>).retransmissions! - before).toBe(1);
  });

  it('INVITE gets 407 and an MD5 Proxy-Authorization answer passes', async () => {
    const md5 = challengeParams((await challenge('INVITE'))[1]!);
    expect(md5.algorithm).toBe('MD5');
    const line = digestCredentials(md5.nonce!, { username: 'alice', password: 'alice-pw', realm: 'example.com', alg: 'MD5', method: 'INVITE', uri: 'sip:bob@example.com', header: 'Proxy-Authorization' });
    const r = await ua.request(port, 'INVITE', 'alice', [line]);
    expect(r?.status).toBe(200);
    expect(r!.headers.get('x-auth-user')).toEqual(['alice 1']);
  });

  it('a wrong password (-2) and an unknown user (-3) are challenged again and counted', async () => {
    const before = (await node.rpc.call('auth.stats', [])) as Record<string, number>;
    const n1 = challengeParams((await challenge())[0]!).nonce!;
    const wrong = await ua.request(port, 'REGISTER', 'alice', [digestCredentials(n1, { username: 'alice', password: 'guess', realm: 'example.com', alg: 'SHA-256', uri: 'sip:example.com' })]);
    expect(wrong?.status).toBe(401);
    expect(wrong!.headers.get('x-auth-rc')).toEqual(['-2']);
    const n2 = challengeParams((await challenge())[0]!).nonce!;
    const unknown = await ua.request(port, 'REGISTER', 'mallory', [digestCredentials(n2, { username: 'mallory', password: 'x', realm: 'example.com', alg: 'SHA-256', uri: 'sip:example.com' })]);
    expect(unknown!.headers.get('x-auth-rc')).toEqual(['-3']);
    const after = (await node.rpc.call('auth.stats', [])) as Record<string, number>;
    expect(after.failed_password! - before.failed_password!).toBe(1);
    expect(after.failed_user! - before.failed_user!).toBe(1);
    const failures = (await node.rpc.call('auth.failures', [])) as { list: Array<{ username: string }> };
    expect(failures.list.map((r) => r.username).sort()).toEqual(['alice', 'mallory']);
  });

  it('a stateful challenge (auth_append_challenge + t_reply): a retransmission gets the same 401, same nonce', async () => {
    const { text, callId } = ua.build(port, 'REGISTER', 'alice', ['X-Stateful: 1']);
    const first = await ua.send(port, text, callId);
    expect(first?.status).toBe(401);
    const again = await ua.send(port, text, callId);
    expect(again?.status).toBe(401);
    const n1 = first!.headers.get('www-authenticate')!.map((v) => challengeParams(v).nonce);
    const n2 = again!.headers.get('www-authenticate')!.map((v) => challengeParams(v).nonce);
    expect(first!.headers.get('www-authenticate')).toHaveLength(2);
    expect(n2).toEqual(n1);
    const ok = await ua.request(port, 'REGISTER', 'alice', [digestCredentials(n1[0]!, { username: 'alice', password: 'alice-pw', realm: 'example.com', alg: 'SHA-256' })]);
    expect(ok?.status).toBe(200);
    expect(((await node.rpc.call('auth.stats', [])) as Record<string, number>).challenges_built).toBe(1);
  });

  it('sipsak (MD5 only, reads the first challenge): refused by SHA-256 first, registers with algorithms [MD5, SHA-256]', async () => {
    const sipsak = async (p: number): Promise<string> => {
      const args = ['-U', '-i', '-C', `sip:alice@127.0.0.1:${ua.port + 1}`, '-s', `sip:alice@127.0.0.1:${p}`, '-a', 'alice-pw', '-u', 'alice', '-vv'];
      return run('sipsak', args, { timeout: 20_000 }).then(
        (o) => o.stdout + o.stderr,
        (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}`,
      );
    };
    expect(await sipsak(port)).toMatch(/unsupported authentication algorithm/);
    const dir2 = await mkdtemp(path.join(tmpdir(), 'siphon-auth-node2-'));
    const port2 = await freeUdpPort();
    const md5First = await startAuthNode(port2, dir2, ['auth: { algorithms: [MD5, SHA-256] }', 'auth_db: {}']);
    try {
      await md5First.rpc.call('subscriber.add', ['alice@127.0.0.1', 'alice-pw']);
      const out = await sipsak(port2);
      expect(out).toMatch(/usrloc tests completed successful/);
      expect(((await md5First.rpc.call('auth.stats', [])) as Record<string, number>).ok).toBeGreaterThanOrEqual(1);
    } finally {
      await md5First.stop();
      await rm(dir2, { recursive: true, force: true });
    }
  });
});
