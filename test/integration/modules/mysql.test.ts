/**
 * Module stores in MariaDB (127.0.0.1:3306, database siphon_test_modules, tables created with
 * Kamailio's kamdbctl DDL): secfilter rules read by a running node and seen by a plugin
 * (a node on a free port, a client on port 0), and `siphon dispatcher add/show/rm` on the `dispatcher` table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnection, type Connection } from 'mysql2/promise';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run as dispatcherCli } from '../../../host/cli/commands/dispatcher.js';
import { freePort } from '../../helpers/ports.js';
import { buildPlugins, PLUGIN, SipClient, startTestNode, type TestNode } from './helpers.js';

const DB = 'siphon_test_modules';
const URL = `mysql://root@127.0.0.1:3306/${DB}`;

// utils/kamctl/mysql/standard-create.sql, secfilter-create.sql and dispatcher-create.sql (facts: columns, versions)
const KAMAILIO_DDL = [
  `CREATE TABLE version (
     id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
     table_name VARCHAR(32) NOT NULL,
     table_version INT UNSIGNED DEFAULT 0 NOT NULL,
     CONSTRAINT version_t_name_idx UNIQUE (table_name))`,
  `CREATE TABLE secfilter (
     id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
     action SMALLINT DEFAULT 0 NOT NULL,
     type SMALLINT DEFAULT 0 NOT NULL,
     data VARCHAR(64) DEFAULT '' NOT NULL)`,
  `CREATE INDEX secfilter_idx ON secfilter (action, type, data)`,
  `INSERT INTO version (table_name, table_version) VALUES ('secfilter', 1)`,
  `CREATE TABLE dispatcher (
     id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
     setid INT DEFAULT 0 NOT NULL,
     destination VARCHAR(192) DEFAULT '' NOT NULL,
     flags INT DEFAULT 0 NOT NULL,
     priority INT DEFAULT 0 NOT NULL,
     attrs VARCHAR(128) DEFAULT '' NOT NULL,
     description VARCHAR(64) DEFAULT '' NOT NULL)`,
  `INSERT INTO version (table_name, table_version) VALUES ('dispatcher', 4)`,
];

let admin: Connection;
let dir: string;
let node: TestNode;
let client: SipClient;

beforeAll(async () => {
  await buildPlugins();
  admin = await createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin.query(`CREATE DATABASE ${DB}`);
  await admin.query(`USE ${DB}`);
  for (const stmt of KAMAILIO_DDL) await admin.query(stmt);
  const rules: Array<[number, number, string]> = [
    [0, 4, 'mallory'], // blacklisted user
    [0, 0, 'friendly-scanner'],
    [2, 0, '0900'], // destination
  ];
  for (const r of rules) await admin.query('INSERT INTO secfilter (action, type, data) VALUES (?, ?, ?)', r);
  dir = await mkdtemp(path.join(tmpdir(), 'siphon-modules-mysql-'));
  node = await startTestNode(
    await freePort('udp'),
    `  data_dir: ${dir}\nmodules:\n  secfilter:\n    db_url: ${URL}\n    dst_exact_match: 0\nrouting:\n  plugin: ${PLUGIN.secfProbe}`,
  );
  client = await SipClient.open(0);
}, 180_000);

afterAll(async () => {
  await client?.close();
  await node?.node.stop();
  await admin?.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin?.end();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('secfilter rules in MariaDB', () => {
  it('a plugin sees the table rules: From user -2, scanner UA -2, destination prefix -2', async () => {
    const r = await client.request(node.port, { ruri: `sip:09005551234@127.0.0.1:${node.port}`, fromUser: 'mallory', ua: 'friendly-scanner' });
    expect(r?.status).toBe(403);
    expect(r?.headers.get('x-secf-dst')).toBe('-2');
    expect(r?.headers.get('x-secf-from')).toBe('-2');
    expect(r?.headers.get('x-secf-ua')).toBe('-2');
    const ok = await client.request(node.port, { ruri: `sip:0800@127.0.0.1:${node.port}`, fromUser: 'alice', ua: 'Linphone' });
    expect(ok?.status).toBe(200);
    expect(ok?.headers.get('x-secf-from')).toBe('1');
    expect(ok?.headers.get('x-secf-dst')).toBe('1');
  });
});

describe('siphon dispatcher on the dispatcher table', () => {
  it('add, show and rm write the table (kamctl dispatcher add 1 sip:mg1:5060 0 0 "" "Media Gateway 1")', async () => {
    const cfg = path.join(dir, 'siphon.yaml');
    await writeFile(cfg, `core:\n  data_dir: ${dir}\nmodules:\n  dispatcher:\n    db_url: ${URL}\n`);
    const out: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) } };
    expect(await dispatcherCli(['-c', cfg, '--no-reload', 'add', '1', 'sip:127.0.0.1:5080', '0', '0', '', 'Media Gateway 1'], io)).toBe(0);
    expect(await dispatcherCli(['-c', cfg, '--no-reload', 'add', '2', 'sip:127.0.0.1:5090', '8', '5', 'duid=gw2;weight=50'], io)).toBe(0);
    const [rows] = await admin.query('SELECT setid, destination, flags, priority, attrs, description FROM dispatcher ORDER BY id');
    expect(rows).toEqual([
      { setid: 1, destination: 'sip:127.0.0.1:5080', flags: 0, priority: 0, attrs: '', description: 'Media Gateway 1' },
      { setid: 2, destination: 'sip:127.0.0.1:5090', flags: 8, priority: 5, attrs: 'duid=gw2;weight=50', description: '' },
    ]);
    out.length = 0;
    expect(await dispatcherCli(['-c', cfg, 'show'], io)).toBe(0);
    expect(out.join('')).toMatch(/^ID\s+SETID\s+DESTINATION/);
    expect(out.join('')).toMatch(/\n\d+\s+1\s+sip:127\.0\.0\.1:5080\s+0\s+0\s+Media Gateway 1\n/);
    expect(await dispatcherCli(['-c', cfg, '--no-reload', 'rm', '2', 'sip:127.0.0.1:5090'], io)).toBe(0);
    expect(await dispatcherCli(['-c', cfg, '--no-reload', 'rm', '2', 'sip:127.0.0.1:5090'], io)).toBe(1);
    const [left] = await admin.query('SELECT destination FROM dispatcher');
    expect(left).toEqual([{ destination: 'sip:127.0.0.1:5080' }]);
  });
});
