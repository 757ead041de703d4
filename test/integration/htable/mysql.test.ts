/**
 * htable's dbtable in MariaDB, created by Kamailio's own SQL (kamdbctl's standard-create.sql and
 * htable-create.sql): rows of every kind loaded at start (strings, integers, arrays, expires with
 * db_expires), a bad integer row skipped, htable.reload after the table changed, write-back at
 * shutdown (dbmode=1); and the same table read and written by a real Kamailio 5.6 htable (ctl +
 * kamcmd): what siphon wrote back Kamailio loads, what Kamailio wrote back siphon loads.
 * The database is hp_htable_<random>, dropped at the end.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HtableModule } from '../../../host/modules/htable/index.js';
import { KAMAILIO_SQL_DIR } from '../../helpers/kamailio-db.js';
import { kamailioModulesDir, startKamailio } from '../../helpers/kamailio-process.js';

const log = pino({ level: 'silent' });
const NAME = `hp_htable_${randomBytes(4).toString('hex')}`;
const URL = `mysql://root@127.0.0.1:3306/${NAME}`;
let conn: mysql.Connection;
let dir = '';

beforeAll(async () => {
  conn = await mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', multipleStatements: true });
  await conn.query(`CREATE DATABASE \`${NAME}\``);
  await conn.query(`USE \`${NAME}\``);
  for (const m of ['standard', 'htable']) await conn.query(readFileSync(path.join(KAMAILIO_SQL_DIR, `${m}-create.sql`), 'utf8'));
  dir = mkdtempSync(path.join(tmpdir(), 'siphon-htmysql-'));
});

afterAll(async () => {
  await conn?.query(`DROP DATABASE IF EXISTS \`${NAME}\``).catch(() => undefined);
  await conn?.end().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

const config = { db_url: URL, db_expires: 1, tables: ['calls=>size=6;autoexpire=3600;dbtable=htable;dbmode=1;'] };

async function rows(): Promise<Array<Record<string, unknown>>> {
  const [r] = await conn.query('SELECT key_name, key_type, value_type, key_value, expires FROM htable ORDER BY key_name');
  return r as Array<Record<string, unknown>>;
}

async function insert(name: string, keyType: number, valueType: number, value: string, expires = 0): Promise<void> {
  await conn.query('INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES (?,?,?,?,?)', [name, keyType, valueType, value, expires]);
}

function kamcmd(sock: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/sbin/kamcmd', ['-s', `unixs:${sock}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
  const p = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return p;
}

describe('htable with a MariaDB dbtable', () => {
  it('loads every kind of row, reloads over RPC, writes back at shutdown', async () => {
    const now = Math.floor(Date.now() / 1000);
    await insert('alice', 0, 1, '3');
    await insert('motd', 0, 0, 'hello world');
    await insert('gw', 1, 0, 'sip:a.example.com');
    await insert('gw', 1, 0, 'sip:b.example.com');
    await insert('old', 0, 1, '1', now - 10); // expired while stored
    await insert('soon', 0, 1, '9', now + 100);
    await insert('bad', 0, 1, 'x12'); // value_type 1 that is no integer
    const m = new HtableModule();
    await m.init({ config, dataDir: dir, log });
    const ht = m.htable;
    const v = (k: string) => ht.get('calls', k)?.value ?? null;
    expect(v('alice')).toBe(3);
    expect(v('motd')).toBe('hello world');
    expect([v('gw[0]'), v('gw[1]'), v('gw::size')]).toEqual(['sip:a.example.com', 'sip:b.example.com', 2]);
    expect(v('old')).toBeNull();
    expect(v('bad')).toBeNull();
    expect(Math.round((ht.get('calls', 'soon')!.expires - Date.now()) / 1000)).toBeGreaterThan(95);
    expect(m.statistics()).toMatchObject({ db_loaded: 6, db_skipped: 1, items: 6 });

    // the table changes under the node; htable.reload takes it as it is now
    await conn.query("UPDATE htable SET key_value = '5' WHERE key_name = 'alice'");
    await conn.query("DELETE FROM htable WHERE key_name = 'motd'");
    ht.set('calls', 'runtime', 'gone after reload');
    const reload = m.rpcMethods().find((r) => r.name === 'htable.reload')!;
    await reload.handler(['calls']);
    expect(v('alice')).toBe(5);
    expect(v('motd')).toBeNull();
    expect(v('runtime')).toBeNull();

    // write-back (dbmode=1) at shutdown: every row replaced by the live items, expires kept (db_expires)
    ht.set('calls', 'dave', 'x'.repeat(200)); // too long for key_value VARCHAR(128): skipped, counted
    ht.inc('calls', 'erin', 7);
    await m.close();
    const after = await rows();
    expect(after.map((r) => r.key_name)).toEqual(['alice', 'erin', 'gw::size', 'gw[0]', 'gw[1]', 'soon']);
    const erin = after.find((r) => r.key_name === 'erin')!;
    expect(erin).toMatchObject({ key_type: 0, value_type: 1, key_value: '7' });
    expect(Number(erin.expires)).toBeGreaterThan(now + 3500);
    expect(after.find((r) => r.key_name === 'soon')!.expires).toBe(now + 100);
  });

  it('refuses a dbtable at another version, as Kamailio does (E5005)', async () => {
    await conn.query("UPDATE version SET table_version = 1 WHERE table_name = 'htable'");
    const m = new HtableModule();
    await expect(m.init({ config, dataDir: dir, log })).rejects.toThrow(/E5005/);
    await conn.query("UPDATE version SET table_version = 2 WHERE table_name = 'htable'");
  });

  it('Kamailio 5.6 loads what siphon wrote back, and siphon loads what Kamailio wrote back', async () => {
    const port = await freeUdpPort();
    const ctl = path.join(dir, 'kam.sock');
    const cfg = path.join(import.meta.dirname, 'kamailio/htable.cfg');
    const mpath = kamailioModulesDir(['htable.so', 'db_mysql.so', 'ctl.so']);
    const kam = await startKamailio(cfg, port, { KAM_PORT: String(port), MPATH: `"${mpath}/"`, DBURL: `"${URL}"`, CTL: `"unix:${ctl}"` });
    try {
      expect(await kamcmd(ctl, ['htable.get', 'calls', 'erin'])).toMatch(/name: erin\n\t\tvalue: 7\n\t\tflags: 0\n/);
      expect(await kamcmd(ctl, ['htable.get', 'calls', 'gw[1]'])).toContain('value: sip:b.example.com');
      await kamcmd(ctl, ['htable.seti', 'calls', 'frank', '11']);
      await kamcmd(ctl, ['htable.sets', 'calls', 'note', 'from kamailio']);
    } finally {
      await kam.stop(); // dbmode=1: Kamailio writes the table back
    }
    const m = new HtableModule();
    await m.init({ config, dataDir: dir, log });
    try {
      expect(m.htable.get('calls', 'frank')?.value).toBe(11);
      expect(m.htable.get('calls', 'note')?.value).toBe('from kamailio');
      expect(m.htable.get('calls', 'erin')?.value).toBe(7);
    } finally {
      await m.close();
    }
  });
});
