/**
 * Two nodes on one MariaDB database (siphon_t_authcl_<random>, dropped at the end): started at the
 * same time, they agree on one nonce secret (the siphon_auth_secret row with the lowest id), so a UA
 * challenged by node A is accepted by node B and the other way round. The nc state is per node (as
 * in Kamailio): the answer B accepted is accepted once more by A (README "Cluster" documents the gap),
 * then refused by A as a replay. A node with another secret refuses A's nonces (-4, stale).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SiphonNode } from '../../../host/server/app.js';
import { digestCredentials } from '../../helpers/digest-client.js';
import { createKamailioDb, type KamailioDb } from '../../helpers/kamailio-db.js';
import { buildAuthProbe, challengeParams, freeUdpPort, startAuthNode, Ua, type Reply } from './helpers.js';

let kdb: KamailioDb;
const nodes: SiphonNode[] = [];
const dirs: string[] = [];
let a: { node: SiphonNode; port: number };
let b: { node: SiphonNode; port: number };
let ua: Ua;

async function start(modules: string[]): Promise<{ node: SiphonNode; port: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'siphon-auth-cl-'));
  dirs.push(dir);
  const port = await freeUdpPort();
  const node = await startAuthNode(port, dir, modules);
  nodes.push(node);
  return { node, port };
}

beforeAll(async () => {
  await buildAuthProbe();
  kdb = await createKamailioDb('authcl');
  await kdb.addSubscriber('alice', 'example.com', 'alice-pw');
  const shared = [`auth: { db_url: ${JSON.stringify(kdb.url)} }`, `auth_db: { db_url: ${JSON.stringify(kdb.url)} }`];
  [a, b] = await Promise.all([start(shared), start(shared)]);
  ua = await Ua.bind();
}, 180_000);

afterAll(async () => {
  await ua?.close();
  for (const n of nodes) await n.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  await kdb?.drop();
});

async function nonceFrom(port: number): Promise<string> {
  const r = await ua.request(port, 'REGISTER', 'alice');
  expect(r?.status).toBe(401);
  return challengeParams(r!.headers.get('www-authenticate')![0]!).nonce!;
}

const answer = (nonce: string, nc = 1): string =>
  digestCredentials(nonce, { username: 'alice', password: 'alice-pw', realm: 'example.com', alg: 'SHA-256', nc });

function rc(r: Reply | null): string | undefined {
  return r?.headers.get('x-auth-rc')?.[0];
}

describe('two nodes on one database', () => {
  it('share one secret row', async () => {
    const [rows] = await kdb.conn.query(`SELECT id, secret FROM siphon_auth_secret ORDER BY id`);
    const list = rows as Array<{ id: number; secret: string }>;
    expect(list.length).toBeGreaterThanOrEqual(1);
    expect(list[0]!.secret).toMatch(/^[0-9a-f]{64}$/);
  });

  it("accept each other's nonces", async () => {
    expect(rc(await ua.request(b.port, 'REGISTER', 'alice', [answer(await nonceFrom(a.port))]))).toBe('1');
    expect(rc(await ua.request(a.port, 'REGISTER', 'alice', [answer(await nonceFrom(b.port))]))).toBe('1');
  });

  it('keep nc state per node: an answer B accepted passes A once, then A refuses it as a replay', async () => {
    const n = await nonceFrom(a.port);
    expect(rc(await ua.request(b.port, 'REGISTER', 'alice', [answer(n)]))).toBe('1');
    expect(rc(await ua.request(b.port, 'REGISTER', 'alice', [answer(n)]))).toBe('-4');
    expect(rc(await ua.request(a.port, 'REGISTER', 'alice', [answer(n)]))).toBe('1'); // the documented gap
    expect(rc(await ua.request(a.port, 'REGISTER', 'alice', [answer(n)]))).toBe('-4');
  });

  it('a node with another secret refuses them (-4: challenged again with stale=true, never accepted)', async () => {
    const c = await start([`auth: { secret: ${JSON.stringify('another-secret-another-secret-another')} }`, `auth_db: { db_url: ${JSON.stringify(kdb.url)} }`]);
    expect(rc(await ua.request(c.port, 'REGISTER', 'alice', [answer(await nonceFrom(a.port))]))).toBe('-4');
  });
});
