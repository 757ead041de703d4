/**
 * db_mode 3 data integrity on real MariaDB (127.0.0.1:3306, database siphon_test_fanout_reg): a
 * REGISTER whose copy arrives while the first is still waiting for the DB (a UDP retransmission:
 * same Call-ID, CSeq and branch) never stores a second binding, and neither do five identical
 * copies sent at once. Each copy is answered 200 listing the one binding. Before the per-AOR
 * serialisation (host/modules/registrar/aor-gate.ts) both copies read an empty AOR and inserted.
 * Node port from freePort() (a listen address needs a port); the UAs bind port 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mysql from 'mysql2/promise';
import type { SiphonNode } from '../../host/server/app.js';
import { buildPlugins } from '../integration/modules/helpers.js';
import { freePort } from '../helpers/ports.js';
import { registerText, startDefaultNode, Ua, until } from './helpers.js';

let PORT = 0;
const DB_NAME = 'siphon_test_fanout_reg';

let admin: mysql.Connection;
let node: SiphonNode;
let ua: Ua;

beforeAll(async () => {
  await buildPlugins();
  PORT = await freePort('udp');
  admin = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME}`);
  await admin.query(`CREATE DATABASE ${DB_NAME}`);
  node = await startDefaultNode(PORT, [], [`registrar: { db_mode: 3, db_url: "mysql://root@127.0.0.1:3306/${DB_NAME}", nat_received: 0 }`]);
  ua = await Ua.open();
}, 180_000);

afterAll(async () => {
  await ua?.close();
  await node?.stop();
  await admin?.query(`DROP DATABASE IF EXISTS ${DB_NAME}`).catch(() => undefined);
  await admin?.end();
});

async function rows(user: string): Promise<Array<{ contact: string; callid: string; cseq: number }>> {
  const [r] = await admin.query<mysql.RowDataPacket[]>(`SELECT contact, callid, cseq FROM ${DB_NAME}.location WHERE username = ?`, [user]);
  return r as Array<{ contact: string; callid: string; cseq: number }>;
}

describe('db_mode 3: a retransmitted REGISTER stores one binding', () => {
  it('a copy arriving while the first waits for the DB is answered from the stored row', async () => {
    const text = registerText(ua, PORT, 'erin', [`<sip:erin@127.0.0.1:${ua.port}>`], { callId: 'rtx-erin', branch: 'z9hG4bK-rtx-erin', expires: '600' });
    ua.send(text, PORT);
    ua.send(text, PORT); // the retransmission, back to back
    await until(() => ua.responses('rtx-erin').length >= 2, 'two answers');
    for (const g of ua.responses('rtx-erin')) {
      expect(g.msg.status).toBe(200);
      expect(g.msg.headerValues('contact')).toHaveLength(1);
    }
    expect(await rows('erin')).toEqual([{ contact: `sip:erin@127.0.0.1:${ua.port}`, callid: 'rtx-erin', cseq: 1 }]);
  });

  it('five identical REGISTERs sent at once leave one row', async () => {
    const text = registerText(ua, PORT, 'frank', [`<sip:frank@127.0.0.1:${ua.port}>`], { callId: 'rtx-frank', branch: 'z9hG4bK-rtx-frank', expires: '600' });
    for (let i = 0; i < 5; i++) ua.send(text, PORT);
    await until(() => ua.responses('rtx-frank').length >= 5, 'five answers');
    expect(ua.responses('rtx-frank').every((g) => g.msg.status === 200)).toBe(true);
    expect(await rows('frank')).toHaveLength(1);
    // the next REGISTER of the same client (CSeq 2) refreshes that row, still one
    ua.send(registerText(ua, PORT, 'frank', [`<sip:frank@127.0.0.1:${ua.port}>`], { callId: 'rtx-frank', cseq: 2, expires: '900' }), PORT);
    await until(() => ua.responses('rtx-frank').length >= 6, 'the refresh');
    expect((await rows('frank')).map((r) => r.cseq)).toEqual([2]);
    const stats = node.modules.find((m) => m.name === 'registrar')!.statistics();
    expect(stats.held_aors).toBe(0);
    expect(stats.aor_busy).toBe(0);
  });
});
