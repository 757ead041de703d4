/**
 * Dialogs across a restart (db_mode 1 in MariaDB with kamdbctl's own `dialog`/`dialog_vars` DDL,
 * db_mode 3 in the embedded store): the restarted node lists the call, counts its profile, and the
 * caller's BYE still ends it (and removes its rows). Database hp_dialog_persist on 127.0.0.1:3306.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnection, type Connection } from 'mysql2/promise';
import { readFileSync, rmSync } from 'node:fs';
import { freePort } from '../../helpers/ports.js';
import { call, dialogNode, hangUp, Phone, records, shard0CallId, tmpDir, until, type DialogNode } from './helpers.js';

const DB = 'hp_dialog_persist';
const KAMAILIO_SQL = '/usr/share/kamailio/mysql';

const phones: Phone[] = [];
afterAll(() => {
  for (const p of phones) p.close();
});

async function phone(user: string, port: number): Promise<Phone> {
  const p = await Phone.open(user, port);
  phones.push(p);
  expect((await p.register(60))?.status).toBe(200);
  return p;
}

/** a registration again at the restarted node (registrar db_mode 0 forgets). */
async function reRegister(p: Phone): Promise<void> {
  expect((await p.register(60))?.status).toBe(200);
}

describe('db_mode 1 (realtime) in MariaDB, Kamailio schema', () => {
  let admin: Connection;
  const dir = tmpDir();
  let port = 0;
  let n: DialogNode | null = null;
  const dialog = (): string[] => ['profiles_with_value: caller', 'db_mode: 1', `db_url: "mysql://root@127.0.0.1:3306/${DB}"`];

  beforeAll(async () => {
    admin = await createConnection({ host: '127.0.0.1', port: 3306, user: 'root', multipleStatements: true });
    await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
    await admin.query(`CREATE DATABASE ${DB}`);
    await admin.query(`USE ${DB}`);
    // kamdbctl's files: the version table, then dialog + dialog_vars as Kamailio 5.6 creates them
    const standard = readFileSync(`${KAMAILIO_SQL}/standard-create.sql`, 'utf8');
    await admin.query(standard);
    await admin.query(readFileSync(`${KAMAILIO_SQL}/dialog-create.sql`, 'utf8'));
    port = await freePort('udp');
  });
  afterAll(async () => {
    await n?.stop();
    await admin?.query(`DROP DATABASE IF EXISTS ${DB}`);
    await admin?.end();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a confirmed call is a row (state 4, tags, contacts, profile, variables); a restarted node knows it; the BYE removes it', async () => {
    n = await dialogNode({ dialog: dialog(), pbx: '{ max_calls: 5 }', port, dir });
    const alice = await phone('alice', port);
    const bob = await phone('101', port);
    // on shard 0 (SIPHON_WORKERS=2): the test sets a variable on shard 0's table
    const c = await call(alice, bob, '101', 200, { callId: shard0CallId(n, 'p'), port });
    expect(c.final.status).toBe(200);
    await until(async () => records(await n!.rpc('dlg.list'))[0]?.state === 4, 'ACKed');
    const d = [...n.dialog.table.dialogs()][0]!;
    expect(n.dialog.table.setVar(d, 'billing', 'acct-42')).toBe(1);
    let rows: Array<Record<string, unknown>> = [];
    await until(async () => {
      [rows] = (await admin.query(`SELECT * FROM dialog WHERE callid = ?`, [c.callId])) as unknown as [Array<Record<string, unknown>>];
      return rows.length === 1 && rows[0]!.state === 4;
    }, 'the row in state 4');
    const row = rows[0]!;
    expect(row).toMatchObject({ hash_entry: d.hEntry, hash_id: d.hId, from_uri: 'sip:alice@127.0.0.1', from_tag: c.fromTag, to_tag: 'callee-101', callee_contact: bob.contact, caller_contact: alice.contact });
    expect(Number(row.timeout)).toBeGreaterThan(Date.now() / 1000);
    expect(String(row.xdata)).toContain('"caller","alice"');
    await until(async () => {
      const [v] = (await admin.query(`SELECT dialog_key, dialog_value FROM dialog_vars WHERE hash_id = ?`, [d.hId])) as unknown as [Array<Record<string, unknown>>];
      return v.length === 1 && v[0]!.dialog_value === 'acct-42';
    }, 'the variable row');

    await n.stop();
    n = await dialogNode({ dialog: dialog(), pbx: '{ max_calls: 5 }', port, dir });
    const back = records(await n.rpc('dlg.list'));
    expect(back).toHaveLength(1);
    expect(back[0]).toMatchObject({ 'call-id': c.callId, state: 4, h_id: d.hId, variables: [{ billing: 'acct-42' }], profiles: [{ caller: 'alice' }] });
    expect(await n.rpc('dlg.profile_get_size', 'caller', 'alice')).toBe(1);
    await reRegister(bob);
    expect(await hangUp(alice, bob, c)).toBe(200);
    expect(records(await n.rpc('dlg.list'))).toHaveLength(0);
    await until(async () => {
      const [r] = (await admin.query(`SELECT COUNT(*) AS n FROM dialog`)) as unknown as [Array<{ n: number }>];
      const [v] = (await admin.query(`SELECT COUNT(*) AS n FROM dialog_vars`)) as unknown as [Array<{ n: number }>];
      return Number(r[0]!.n) === 0 && Number(v[0]!.n) === 0;
    }, 'rows deleted');
  }, 30_000);
});

describe('db_mode 3 (shutdown) in the embedded store', () => {
  const dir = tmpDir();
  let n: DialogNode | null = null;
  afterAll(async () => {
    await n?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the calls up at stop come back at start with their h_id, profile and absolute timeout; the BYE after the restart ends them', async () => {
    const port = await freePort('udp');
    const cfg = ['profiles_with_value: caller', 'db_mode: 3'];
    n = await dialogNode({ dialog: cfg, pbx: '{ call_timeout: 600 }', port, dir });
    const carol = await phone('carol', port);
    const dave = await phone('201', port);
    const c = await call(carol, dave, '201');
    await until(async () => records(await n!.rpc('dlg.list'))[0]?.state === 4, 'ACKed');
    const before = records(await n.rpc('dlg.list'))[0]!;
    expect(before.lifetime).toBe(600);
    await n.stop();
    n = await dialogNode({ dialog: cfg, pbx: '{ call_timeout: 600 }', port, dir });
    const after = records(await n.rpc('dlg.list'));
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ 'call-id': c.callId, state: 4, h_id: before.h_id, timeout: before.timeout });
    await reRegister(dave);
    expect(await hangUp(carol, dave, c)).toBe(200);
    expect(records(await n.rpc('dlg.list'))).toHaveLength(0);
  }, 30_000);
});
