/**
 * Two `siphon start` processes (real binary, plugins/default) sharing one usrloc `location` table
 * in MariaDB with registrar `db_mode: 3` (DB only, Kamailio usrloc's mode for several proxies in
 * front of one table): a phone registers through node A and is called through node B, and a
 * binding removed through B is gone for A. Every lookup goes to the DB through the pipeline's
 * registrar prefetch (host/modules/registrar/README.md, "db_mode 3 and plugins").
 * SIP ports from freePorts(), phones on ephemeral ports; database siphon_test_twonodes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { freePorts } from '../helpers/ports.js';
import { startSiphon, type SiphonProcess } from '../helpers/siphon-process.js';
import { Phone, type SipText } from './pbx-phone.js';

/** each node's SIP port, told to the child before it starts. */
const [NODE_A, NODE_B] = await freePorts(2);
const DB = 'siphon_test_twonodes';

let tmp: string;
let conn: mysql.Connection;
const nodes: SiphonProcess[] = [];
const phones: Phone[] = [];

async function phone(user: string, proxyPort: number): Promise<Phone> {
  const p = await Phone.open(user, proxyPort);
  phones.push(p);
  return p;
}

function configFor(port: number, name: string): string {
  const file = path.join(tmp, `${name}.yaml`);
  writeFileSync(
    file,
    [
      'core:',
      `  node_id: ${name}`,
      `  listen: ["udp:127.0.0.1:${port}"]`,
      '  log_level: info',
      `  data_dir: ${path.join(tmp, name)}`,
      '  ctl: []',
      '  tm: { fr_timer: 2000, fr_inv_timer: 10000, wt_timer: 1000 }',
      'modules:',
      // nat_received 0: the phones' Contact is their real address; timer long (no sweeps mid-test)
      `  registrar: { db_mode: 3, db_url: "mysql://root@127.0.0.1:3306/${DB}", nat_received: 0, timer_interval: 300 }`,
      'routing:',
      '  plugin: default',
    ].join('\n'),
  );
  return file;
}

async function locationRows(user: string): Promise<Array<{ contact: string; username: string }>> {
  const [rows] = await conn.query('SELECT username, contact FROM location WHERE username = ?', [user]);
  return rows as Array<{ contact: string; username: string }>;
}

const isInvite = (m: SipText): boolean => m.method === 'INVITE';
const final = (m: SipText): boolean => m.status >= 200;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'siphon-two-nodes-'));
  conn = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', password: '' });
  await conn.query(`CREATE DATABASE IF NOT EXISTS ${DB}`);
  await conn.query(`USE ${DB}`);
  // a fresh table each run: node A creates it (create_tables) with its `version` row (9)
  await conn.query('DROP TABLE IF EXISTS location');
  await conn.query("DELETE FROM version WHERE table_name = 'location'").catch(() => undefined);
  // one after the other: the first node creates the table, the second finds it at version 9
  nodes.push(await startSiphon(['-c', configFor(NODE_A, 'node-a')], { readyPorts: [{ proto: 'udp', port: NODE_A }] }));
  nodes.push(await startSiphon(['-c', configFor(NODE_B, 'node-b')], { readyPorts: [{ proto: 'udp', port: NODE_B }] }));
}, 60_000);

afterAll(async () => {
  for (const p of phones) p.close();
  await Promise.all(nodes.map((n) => n.stop()));
  await conn?.end();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('two nodes, one location table (registrar db_mode 3)', () => {
  it('registered through A, called through B: INVITE/180/200/ACK/BYE end to end', async () => {
    const [version] = await conn.query("SELECT table_version FROM version WHERE table_name = 'location'");
    expect((version as Array<{ table_version: number }>)[0]?.table_version).toBe(9);

    // the callee answers through B (where its calls come from) but registers through A
    const callee = await phone('2001', NODE_B);
    const reg = await callee.register(300, NODE_A);
    expect(reg?.status).toBe(200);
    expect(reg?.header('Contact')).toContain(`<${callee.contact}>;expires=300`);
    // db_mode 3 answers once the row is committed (registrar README): it is there already
    expect((await locationRows('2001')).map((r) => r.contact)).toEqual([callee.contact]);

    const caller = await phone('3001', NODE_B);
    const call = caller.invite('2001', NODE_B);
    expect(await caller.next((m) => m.status === 100)).not.toBeNull();
    const inv = await callee.next(isInvite);
    expect(inv?.firstLine).toBe(`INVITE ${callee.contact} SIP/2.0`);
    expect(inv?.header('Call-ID')).toBe(call.callId);
    // B record-routed it (RFC 3261 §16.6 step 4): in-dialog requests come back through B
    const rr = inv!.header('Record-Route')!;
    expect(rr).toMatch(new RegExp(`^<sip:127\\.0\\.0\\.1:${NODE_B};lr`));
    callee.reply(inv!, 180, 'Ringing');
    expect((await caller.next((m) => m.status === 180))?.header('Call-ID')).toBe(call.callId);
    callee.reply(inv!, 200, 'OK');
    const ok = await caller.next(final);
    expect(ok?.status).toBe(200);
    expect(ok?.header('Contact')).toContain(callee.contact);

    // RFC 3261 §13.2.2.4 / §12.2.1.1: ACK and BYE go to the remote target through the route set (B)
    const toTag = /;tag=([^;]+)/.exec(ok!.header('To')!)![1];
    const inDialog = (method: string, cseq: number, branch: string): string =>
      `${method} ${callee.contact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=${branch};rport\r\n` +
      `Route: ${rr}\r\nMax-Forwards: 70\r\nFrom: <sip:3001@127.0.0.1>;tag=${call.fromTag}\r\nTo: <sip:2001@127.0.0.1>;tag=${toTag}\r\n` +
      `Call-ID: ${call.callId}\r\nCSeq: ${cseq} ${method}\r\nContent-Length: 0\r\n\r\n`;
    caller.send(inDialog('ACK', 1, `z9hG4bK-ack-${call.callId}`), NODE_B);
    const ack = await callee.next((m) => m.method === 'ACK');
    expect(ack?.firstLine).toBe(`ACK ${callee.contact} SIP/2.0`);
    expect(ack?.header('Call-ID')).toBe(call.callId);

    caller.send(inDialog('BYE', 2, `z9hG4bK-bye-${call.callId}`), NODE_B);
    const bye = await callee.next((m) => m.method === 'BYE');
    expect(bye?.firstLine).toBe(`BYE ${callee.contact} SIP/2.0`);
    callee.reply(bye!, 200, 'OK');
    const byeOk = await caller.next((m) => m.status === 200 && /BYE/.test(m.header('CSeq') ?? ''));
    expect(byeOk).not.toBeNull();
  });

  it('unregistered through B: gone from the table, and a call through A is 404', async () => {
    const callee = await phone('2002', NODE_A);
    expect((await callee.register(300, NODE_A))?.status).toBe(200);
    expect(await locationRows('2002')).toHaveLength(1);
    // reachable through A while registered ...
    const caller = await phone('3002', NODE_A);
    caller.invite('2002', NODE_A);
    const inv = await callee.next(isInvite);
    expect(inv?.firstLine).toBe(`INVITE ${callee.contact} SIP/2.0`);
    callee.reply(inv!, 486, 'Busy Here');
    expect((await caller.next(final))?.status).toBe(486);

    // RFC 3261 §10.2.2: expires=0 through the other node removes the binding from the shared table
    const un = await callee.register(0, NODE_B);
    expect(un?.status).toBe(200);
    expect(un?.header('Contact')).toBeUndefined();
    expect(await locationRows('2002')).toHaveLength(0);

    caller.invite('2002', NODE_A);
    expect((await caller.next(final))?.status).toBe(404);
    expect(callee.peek(isInvite)).toHaveLength(0);
  });
});
