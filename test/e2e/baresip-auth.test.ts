/**
 * A real softphone (baresip 1.0, test/helpers/baresip.ts) registering with digest authentication through
 * an in-process node: modules auth + auth_db (kamctl rows in MariaDB, kamdbctl's own table) + registrar,
 * routed by bench/plugins/register-auth (auth_check on the From domain, auth_challenge with qop=auth,
 * save). The right password: 401 answered, REGISTER_OK. A wrong one: REGISTER_FAIL with 401 (the
 * second REGISTER is challenged again, nothing is saved).
 *
 * Interoperability limit pinned here: baresip 1.0 (libre) gives up on a 401 carrying any challenge
 * whose algorithm it does not implement ("Function not implemented"), even next to an MD5 one. With
 * modules.auth.algorithms offering SHA-256 (siphon's default: SHA-256, MD5) it cannot register; with
 * [MD5] (what Kamailio 5.6 offers) it does. SIPp 3.6 computes MD5 only as well.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseConfig } from '../../host/config/load.js';
import { createLogger } from '../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../host/server/app.js';
import { moduleSchemas } from '../../host/server/modules.js';
import { Baresip, registerFailed, registered, statusOfParam } from '../helpers/baresip.js';
import { createKamailioDb, type KamailioDb } from '../helpers/kamailio-db.js';
import { freePort } from '../helpers/ports.js';
import { ROOT } from '../helpers/siphon-process.js';

const DOMAIN = 'siphon.test';
const BENCH_PLUGINS = path.join(ROOT, 'bench/plugins');
const PLUGIN = path.join(BENCH_PLUGINS, 'register-auth/build/register-auth.wasm');

let db: KamailioDb;
let tmp: string;
const uas: Baresip[] = [];
const nodes: SiphonNode[] = [];

/** a node on an ephemeral port whose challenges offer `algorithms`. */
async function node(algorithms: string[]): Promise<number> {
  const port = await freePort('udp');
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${port}]`,
    '  ctl: []',
    '  warmup: 0',
    `  aliases: [${DOMAIN}]`,
    `  data_dir: ${JSON.stringify(path.join(tmp, `data-${port}`))}`,
    'modules:',
    '  registrar: { db_mode: 0 }',
    `  auth: { algorithms: [${algorithms.join(', ')}] }`,
    `  auth_db: { db_url: ${JSON.stringify(db.url)} }`,
    'routing:',
    `  plugin: ${JSON.stringify(PLUGIN)}`,
  ].join('\n');
  const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
  nodes.push(await startNode(config, createLogger({ level: 'error', destination: { write: () => {} } }), { controlPlane: false }));
  return port;
}

async function ua(user: string, password: string, proxyPort: number): Promise<Baresip> {
  const u = await Baresip.start({ user, domain: DOMAIN, proxyPort, password });
  uas.push(u);
  return u;
}

/** the first registration outcome of `u`. */
const outcome = (u: Baresip) => u.waitFor((e) => registered()(e) || registerFailed()(e));

beforeAll(async () => {
  await promisify(execFile)(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', BENCH_PLUGINS], { cwd: ROOT, timeout: 120_000 });
  db = await createKamailioDb('baresipauth');
  await db.addSubscriber('alice', DOMAIN, 'alice-pw-1');
  await db.addSubscriber('bob', DOMAIN, 'bob-pw-2', { store: 'ha1' });
  tmp = mkdtempSync(path.join(tmpdir(), 'siphon-baresip-auth-'));
}, 180_000);

afterAll(async () => {
  await Promise.all(uas.map((u) => u.stop()));
  for (const n of nodes) await n.stop();
  await db?.drop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('baresip REGISTER with digest (MD5 challenges)', () => {
  let port: number;
  beforeAll(async () => {
    port = await node(['MD5']);
  });

  it('the right password: the 401 is answered and the REGISTER saved (kamctl rows: password+ha1, ha1 only)', async () => {
    const [alice, bob] = await Promise.all([ua('alice', 'alice-pw-1', port), ua('bob', 'bob-pw-2', port)]);
    const [a, b] = await Promise.all([outcome(alice), outcome(bob)]);
    expect(a.type, alice.describe()).toBe('REGISTER_OK');
    expect(b.type, bob.describe()).toBe('REGISTER_OK');
  });

  it("a wrong password: REGISTER_FAIL 401, nothing saved (alice keeps her one binding)", async () => {
    const contacts = async (): Promise<number> => {
      const r = (await nodes[0]!.rpc.call('ul.lookup', ['location', `alice@${DOMAIN}`])) as { Contacts: unknown[] };
      return r.Contacts.length;
    };
    expect(await contacts()).toBe(1);
    const mallory = await ua('alice', 'not-her-password', port);
    const e = await outcome(mallory);
    expect(e.type).toBe('REGISTER_FAIL');
    expect(statusOfParam(e)).toBe(401);
    expect(await contacts()).toBe(1);
  });
});

describe("baresip 1.0 and siphon's default challenges (SHA-256 and MD5)", () => {
  it('gives up ("Function not implemented"): it cannot answer the SHA-256 challenge next to the MD5 one', async () => {
    const port = await node(['SHA-256', 'MD5']);
    const carol = await ua('alice', 'alice-pw-1', port);
    const e = await outcome(carol);
    expect(e.type).toBe('REGISTER_FAIL');
    expect(e.param).toBe('Function not implemented');
  });
});
