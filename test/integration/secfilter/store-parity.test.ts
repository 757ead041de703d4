/**
 * secfilter over both stores: the same rules loaded from the embedded store and from MariaDB (tables
 * created with Kamailio's own kamdbctl DDL) answer identically; MariaDB going away (closed port, proxy
 * cut, KILLed connection) never disturbs the checks, and secfilter.reload reports a clear error.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createConnection, type Connection } from 'mysql2/promise';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../host/db/index.js';
import { SecFilterModule, TableRuleSource } from '../../../host/modules/secfilter/index.js';
import type { SecFilter } from '../../../host/modules/secfilter/secfilter.js';
import type { RpcValue } from '../../../host/rpc/types.js';
import { isSiphonError } from '../../../host/errors/registry.js';
import { run as secfilterCli } from '../../../host/cli/commands/secfilter.js';
import { run as dbCli } from '../../../host/cli/commands/db.js';
import { freePort } from '../../helpers/ports.js';

const DB = 'siphon_test_secfilter';
const URL = `mysql://root@127.0.0.1:3306/${DB}`;
const log = pino({ level: 'silent' });

// utils/kamctl/mysql/standard-create.sql and secfilter-create.sql, as kamdbctl runs them
const KAMAILIO_DDL = [
  `CREATE TABLE version (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    table_name VARCHAR(32) NOT NULL,
    table_version INT UNSIGNED DEFAULT 0 NOT NULL,
    CONSTRAINT table_name_idx UNIQUE (table_name)
)`,
  `INSERT INTO version (table_name, table_version) values ('version','1')`,
  `CREATE TABLE secfilter (
    id INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    action SMALLINT DEFAULT 0 NOT NULL,
    type SMALLINT DEFAULT 0 NOT NULL,
    data VARCHAR(64) DEFAULT '' NOT NULL
)`,
  `CREATE INDEX secfilter_idx ON secfilter (action, type, data)`,
  `INSERT INTO version (table_name, table_version) values ('secfilter','1')`,
];

// action, type, data
const RULES: Array<[number, number, string]> = [
  [0, 0, 'friendly-scanner'],
  [0, 0, 'sipvicious'],
  [1, 0, 'sipvicious-audit'],
  [0, 1, 'ru'],
  [1, 1, 'es'],
  [0, 2, 'evil.com'],
  [1, 2, 'partner.net'],
  [0, 3, '10.66.'],
  [1, 3, '10.66.1.1'],
  [0, 4, 'attacker'],
  [0, 4, 'Mallory'],
  [1, 4, 'boss'],
  [2, 0, '0900'],
  [2, 0, '+4412345'],
  [2, 4, '1111'], // #3694: a destination, not a user
];

/** every check over a table of inputs, as one comparable list. */
function answers(sf: SecFilter): Array<[string, string, number]> {
  const out: Array<[string, string, number]> = [];
  for (const ua of ['Friendly-Scanner 1', 'sipvicious-audit/2', 'SIPVICIOUS', 'Linphone', '']) out.push(['ua', ua, sf.checkUa(ua)]);
  for (const ip of ['10.66.0.1', '10.66.1.10', '10.6.1.1', '::ffff:10.66.9.9']) out.push(['ip', ip, sf.checkIp(ip)]);
  for (const cc of ['RU', 'es', 'us', 'r']) out.push(['country', cc, sf.checkCountry(cc)]);
  for (const n of ['0900', '09001', '+4412345', '1111', '555']) out.push(['dst', n, sf.checkDst(n)]);
  const hdrs = [
    '"Boss" <sip:attacker@evil.com>',
    '<sip:boss@evil.com>',
    '"mallory" <sip:joe@partner.net>',
    'sip:attacker2@partner.net',
    '<sip:joe@partner.net.example>',
    '"Joe" <sip:joe@EVIL.COM;transport=tcp>',
    '"attacker" <sip:attacker@x.org>',
    '<sip:1111@x.org>',
    '<sip:evil.com>',
    '"broken <sip:a@b>',
  ];
  for (const h of hdrs) {
    out.push(['from', h, sf.checkFromHdr(h)], ['to', h, sf.checkToHdr(h)], ['contact', h, sf.checkContactHdr(h)]);
    out.push(['username_from', h, sf.checkUsernameFromHdr(h)], ['name_to', h, sf.checkNameToHdr(h)], ['domain_contact', h, sf.checkDomainContactHdr(h)]);
  }
  return out;
}

let admin: Connection;
let dataDir: string;

beforeAll(async () => {
  admin = await createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin.query(`CREATE DATABASE ${DB}`);
  await admin.query(`USE ${DB}`);
  for (const stmt of KAMAILIO_DDL) await admin.query(stmt);
  for (const [a, t, d] of RULES) await admin.query('INSERT INTO secfilter (action, type, data) VALUES (?, ?, ?)', [a, t, d]);
  dataDir = await mkdtemp(path.join(tmpdir(), 'siphon-secf-'));
  const emb = await openDatabase(undefined, { dataDir });
  const src = new TableRuleSource(emb);
  for (const [action, type, data] of RULES) await src.add({ action, type, data });
  await emb.close();
});

afterAll(async () => {
  await admin?.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin?.end();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function startModule(config: Record<string, unknown>): Promise<SecFilterModule> {
  const m = new SecFilterModule();
  await m.init({ config, dataDir, log });
  return m;
}

function rpc(m: SecFilterModule): (name: string, ...p: RpcValue[]) => Promise<RpcValue> {
  return async (name, ...p) => m.rpcMethods().find((x) => x.name === name)!.handler(p);
}

describe('embedded vs MariaDB', () => {
  it('the same rules give identical answers', async () => {
    const emb = await startModule({});
    const my = await startModule({ db_url: URL });
    try {
      const a = answers(emb.secfilter);
      const b = answers(my.secfilter);
      expect(b).toEqual(a);
      // and the answers are Kamailio's
      const get = (check: string, input: string) => a.find(([c, i]) => c === check && i === input)![2];
      expect(get('ua', 'Friendly-Scanner 1')).toBe(-2);
      expect(get('ua', 'sipvicious-audit/2')).toBe(2);
      expect(get('ip', '10.66.1.10')).toBe(2);
      expect(get('country', 'r')).toBe(1);
      expect(get('dst', '09001')).toBe(1); // dst_exact_match defaults to 1
      expect(get('dst', '1111')).toBe(-2);
      expect(get('from', '"Boss" <sip:attacker@evil.com>')).toBe(4);
      expect(get('from', '"mallory" <sip:joe@partner.net>')).toBe(-4);
      expect(get('contact', '"mallory" <sip:joe@partner.net>')).toBe(3);
      expect(get('from', '"attacker" <sip:attacker@x.org>')).toBe(-2);
      expect(get('from', '"broken <sip:a@b>')).toBe(-1);
      expect(await rpc(my)('secfilter.print', 'user')).toEqual({ Username: { Blacklisted: ['attacker', 'Mallory'], Whitelisted: ['boss'] } });
      expect(my.statistics()['Blacklist-From-Name']).toBe(emb.statistics()['Blacklist-From-Name']);
    } finally {
      await emb.close();
      await my.close();
    }
  });

  it('reload picks up rows written to the table, and drops RPC additions', async () => {
    const my = await startModule({ db_url: URL, reload_delta: 0 });
    try {
      const call = rpc(my);
      await call('secfilter.add_bl', 'ua', 'memory-only');
      expect(my.secfilter.checkUa('memory-only')).toBe(-2);
      await admin.query(`INSERT INTO ${DB}.secfilter (action, type, data) VALUES (0, 0, 'newscanner')`);
      expect(await call('secfilter.reload')).toBe('Data reloaded');
      expect(my.secfilter.checkUa('newscanner/1')).toBe(-2);
      expect(my.secfilter.checkUa('memory-only')).toBe(1);
    } finally {
      await admin.query(`DELETE FROM ${DB}.secfilter WHERE data = 'newscanner'`);
      await my.close();
    }
  });

  it('the CLI writes to MariaDB and a reload applies it', async () => {
    const out: string[] = [];
    const io = { stdout: { write: (x: string) => out.push(x) }, stderr: { write: (x: string) => out.push(x) } };
    const cfg = path.join(dataDir, 'empty.yaml');
    await writeFile(cfg, '{}\n');
    expect(await dbCli(['migrate', '-c', cfg, '--db-url', URL], io)).toBe(0); // Kamailio-created tables are accepted
    expect(out.join('')).toContain('secfilter\tversion 1\tup to date');
    const my = await startModule({ db_url: URL, reload_delta: 0 });
    try {
      expect(await secfilterCli(['-c', cfg, '--db-url', URL, 'add', 'bl', 'domain', 'spam.example'], io)).toBe(0);
      expect(my.secfilter.checkFromHdr('<sip:x@spam.example>')).toBe(1);
      expect(await rpc(my)('secfilter.reload')).toBe('Data reloaded');
      expect(my.secfilter.checkFromHdr('<sip:x@spam.example>')).toBe(-3);
      expect(await secfilterCli(['-c', cfg, '--db-url', URL, 'rm', 'bl', 'domain', 'spam.example'], io)).toBe(0);
      const [rows] = await admin.query(`SELECT COUNT(*) AS n FROM ${DB}.secfilter WHERE data = 'spam.example'`);
      expect((rows as Array<{ n: number }>)[0]!.n).toBe(0);
    } finally {
      await my.close();
    }
  });

  it('refuses a table at another version, like Kamailio', async () => {
    await admin.query(`UPDATE ${DB}.version SET table_version = 2 WHERE table_name = 'secfilter'`);
    try {
      await expect(startModule({ db_url: URL })).rejects.toThrow(/version 2.*E5005/);
    } finally {
      await admin.query(`UPDATE ${DB}.version SET table_version = 1 WHERE table_name = 'secfilter'`);
    }
  });
});

describe('MariaDB unreachable', () => {
  it('a closed port fails the start with E5002 (redacted URL)', async () => {
    // a port the OS just handed out and took back: nothing listens there
    const err = await startModule({ db_url: `mysql://root:hunter2@127.0.0.1:${await freePort('tcp')}/x` }).catch((e) => e);
    expect(isSiphonError(err, 'DB_UNREACHABLE')).toBe(true);
    expect(err.message).not.toContain('hunter2');
  });

  it('when the server goes away, checks keep answering and reload returns a clear error', async () => {
    // a TCP relay on 127.0.0.1 (port 0: the OS picks) that we can cut, standing in for the database host going away
    const sockets = new Set<net.Socket>();
    const relay = net.createServer((client) => {
      const upstream = net.connect(3306, '127.0.0.1');
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const relayPort = (relay.address() as net.AddressInfo).port;
    const m = await startModule({ db_url: `mysql://root@127.0.0.1:${relayPort}/${DB}`, reload_delta: 0 });
    try {
      expect(m.secfilter.checkUa('sipvicious')).toBe(-2);
      await new Promise<void>((r) => {
        relay.close(() => r());
        for (const s of sockets) s.destroy();
      });
      const fault = await rpc(m)('secfilter.reload').catch((e) => e);
      expect(fault.faultCode).toBe(500);
      expect(fault.message).toMatch(new RegExp(`^Error loading data from database: .*mysql://root@127\\.0\\.0\\.1:${relayPort}.*E5002`, 's'));
      expect(m.secfilter.checkUa('sipvicious')).toBe(-2);
      expect(m.secfilter.checkDst('0900')).toBe(-2);
    } finally {
      await m.close();
      relay.close();
    }
  });

  it('a connection KILLed mid-reload fails that reload only', async () => {
    const m = await startModule({ db_url: URL, reload_delta: 0 });
    const locker = await createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database: DB });
    try {
      await locker.query('LOCK TABLES secfilter WRITE');
      const pending = rpc(m)('secfilter.reload').catch((e) => e);
      // find the reload's connection waiting for the lock, then kill it
      let victim: number | undefined;
      for (let i = 0; i < 200 && victim === undefined; i++) {
        const [rows] = await admin.query(
          `SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE 'SELECT%secfilter%' AND ID <> CONNECTION_ID()`,
          [DB],
        );
        victim = (rows as Array<{ ID: number }>)[0]?.ID;
        if (victim === undefined) await new Promise((r) => setTimeout(r, 25));
      }
      expect(victim).toBeDefined();
      await admin.query(`KILL ${victim}`);
      const fault = await pending;
      expect(fault.faultCode).toBe(500);
      expect(fault.message).toMatch(/Error loading data from database: .*E500[23]/s);
      expect(m.secfilter.checkUa('sipvicious')).toBe(-2); // old rules still answer
      await locker.query('UNLOCK TABLES');
      expect(await rpc(m)('secfilter.reload')).toBe('Data reloaded'); // the pool reconnects
    } finally {
      await locker.end();
      await m.close();
    }
  });
});
