/**
 * A hung accounting database never holds SIP up: the node writes to MariaDB (hp_acc_hung) through a
 * TCP relay that is then black-holed. Calls keep being answered and ended at once; the write queue
 * (max_queue 2) fills and the records past it are dropped and counted (E9302).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnection, type Connection } from 'mysql2/promise';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../../host/config/load.js';
import { createLogger } from '../../../host/log/logger.js';
import { AccModule } from '../../../host/modules/acc/index.js';
import { startNode, type SiphonNode } from '../../../host/server/app.js';
import { moduleSchemas } from '../../../host/server/modules.js';
import { freePort } from '../../helpers/ports.js';
import { TcpRelay } from '../../helpers/tcp-relay.js';
import { call, hangUp, Phone, PBX, ROOT, shard0CallId, type DialogNode, until } from '../dialog/helpers.js';

const DB = 'hp_acc_hung';

let admin: Connection;
let relay: TcpRelay;
let node: SiphonNode;
let port = 0;
let dir = '';
const phones: Phone[] = [];
const warnings: string[] = [];

beforeAll(async () => {
  admin = await createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin.query(`CREATE DATABASE ${DB}`);
  relay = await TcpRelay.open({ host: '127.0.0.1', port: 3306 });
  port = await freePort('udp');
  dir = mkdtempSync(path.join(tmpdir(), 'siphon-acc-hung-'));
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${port}]`,
    '  ctl: []',
    '  warmup: 0',
    `  data_dir: ${JSON.stringify(dir)}`,
    'modules:',
    '  registrar: { db_mode: 0, min_expires: 10 }',
    '  dialog: { profiles_with_value: caller }',
    '  acc:',
    `    db_url: "mysql://root@127.0.0.1:${relay.port}/${DB}"`,
    '    cdr_enable: 1',
    '    max_queue: 2',
    'routing:',
    `  plugin: ${JSON.stringify(PBX)}`,
    `  plugin_dirs: [${JSON.stringify(path.join(ROOT, 'plugins'))}]`,
    '  config: {}',
  ].join('\n');
  const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
  node = await startNode(config, createLogger({ level: 'warn', destination: { write: (s: string) => void warnings.push(s) } }), { controlPlane: false });
}, 60_000);

afterAll(async () => {
  for (const p of phones) p.close();
  relay?.resume();
  await node?.stop();
  await relay?.close();
  await admin?.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin?.end();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('acc with a hung database', () => {
  it('calls complete while the DB hangs; past max_queue records are dropped and counted', async () => {
    const acc = node.modules.find((m): m is AccModule => m instanceof AccModule)!;
    const alice = await Phone.open('alice', port);
    const bob = await Phone.open('101', port);
    phones.push(alice, bob);
    expect((await alice.register(60))?.status).toBe(200);
    expect((await bob.register(60))?.status).toBe(200);
    relay.blackhole();
    const self = { node } as unknown as DialogNode;
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const c = await call(alice, bob, '101', 200, { callId: shard0CallId(self, `hung${i}`), port });
      expect(c.final.status).toBe(200);
      await until(() => acc.accounting.inFlight === 1, 'the call up');
      expect(await hangUp(alice, bob, c)).toBe(200);
      // SIP does not wait for the database
      expect(Date.now() - started).toBeLessThan(2000);
    }
    // 3 calls x (INVITE acc row + BYE acc row + CDR) = 9 records, 2 queue places
    const s = acc.statistics();
    expect(s.db_queue).toBe(2);
    expect(s.db_dropped).toBe(7);
    expect(s.db_written).toBe(0);
    expect(warnings.some((l) => l.includes('"code":9302'))).toBe(true);
  });
});
