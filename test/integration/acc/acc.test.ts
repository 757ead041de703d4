/**
 * Accounting and CDRs from real calls: plugins/pbx with registrar + dialog + acc over UDP on
 * 127.0.0.1, scripted phones (test/e2e/pbx-phone.ts), MariaDB at 127.0.0.1:3306 (database
 * hp_acc_cdr) and the embedded store. An answered call → an `acc` row for the INVITE and the BYE
 * and one `acc_cdrs` row whose duration is the call's; a busy call → a `missed_calls` row; CDRs as
 * JSON log lines and over `acc.cdrs`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnection, type Connection } from 'mysql2/promise';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../../host/config/load.js';
import { createLogger } from '../../../host/log/logger.js';
import { AccModule } from '../../../host/modules/acc/index.js';
import { openDatabase } from '../../../host/db/index.js';
import { startNode, type SiphonNode } from '../../../host/server/app.js';
import { moduleSchemas } from '../../../host/server/modules.js';
import type { RpcValue } from '../../../host/rpc/types.js';
import { freePort } from '../../helpers/ports.js';
import { run as runCdr } from '../../../host/cli/commands/cdr.js';
import { call, hangUp, Phone, PBX, records, ROOT, shard0CallId, type DialogNode, until } from '../dialog/helpers.js';

const DB = 'hp_acc_cdr';

interface AccNode {
  node: SiphonNode;
  port: number;
  dir: string;
  acc: AccModule;
  lines: Array<Record<string, unknown>>;
  rpc(name: string, ...params: RpcValue[]): Promise<RpcValue>;
  stop(): Promise<void>;
}

async function accNode(acc: string[], ctl?: string): Promise<AccNode> {
  const port = await freePort('udp');
  const dir = mkdtempSync(path.join(tmpdir(), 'siphon-acc-'));
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${port}]`,
    `  ctl: [${ctl ? JSON.stringify(`unix:${ctl}`) : ''}]`,
    '  warmup: 0',
    `  data_dir: ${JSON.stringify(dir)}`,
    '  tm: { fr_timer: 2000, fr_inv_timer: 20000, wt_timer: 500 }',
    'modules:',
    '  registrar: { db_mode: 0, min_expires: 10 }',
    '  dialog: { profiles_with_value: caller }',
    '  acc:',
    ...acc.map((l) => `    ${l}`),
    'routing:',
    `  plugin: ${JSON.stringify(PBX)}`,
    `  plugin_dirs: [${JSON.stringify(path.join(ROOT, 'plugins'))}]`,
    '  config: { max_calls: 5 }',
  ].join('\n');
  const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: 'info', destination: { write: (s: string) => { for (const l of s.split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>); } } });
  const node = await startNode(config, log, { controlPlane: ctl !== undefined });
  const mod = node.modules.find((m): m is AccModule => m instanceof AccModule)!;
  return {
    node, port, dir, acc: mod, lines,
    rpc: (name, ...params) => node.rpc.call(name, params),
    stop: async () => {
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

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

type Rows = Array<Record<string, unknown>>;

describe('acc in MariaDB (Kamailio acc / missed_calls / acc_cdrs)', () => {
  let admin: Connection;
  let n: AccNode | null = null;
  const ctlDir = mkdtempSync(path.join(tmpdir(), 'siphon-acc-ctl-'));
  const ctl = path.join(ctlDir, 'ctl.sock');

  beforeAll(async () => {
    admin = await createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
    await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
    await admin.query(`CREATE DATABASE ${DB}`);
    await admin.query(`USE ${DB}`);
    n = await accNode([
      `db_url: "mysql://root@127.0.0.1:3306/${DB}"`,
      'db_extra: "src_user=$fU;dst_user=$tU;src_ip=$si"',
      'cdr_enable: 1',
      'cdr_log: 1',
      'cdr_extra: "caller=$fU"',
    ], ctl);
  });
  afterAll(async () => {
    await n?.stop();
    await admin?.query(`DROP DATABASE IF EXISTS ${DB}`);
    await admin?.end();
    rmSync(ctlDir, { recursive: true, force: true });
  });

  const select = async (sql: string, params: unknown[]): Promise<Rows> => ((await admin.query(sql, params)) as unknown as [Rows])[0];

  it('an answered call: acc rows for the INVITE and the BYE, one acc_cdrs row with the call\'s duration, a CDR log line, acc.cdrs', async () => {
    const port = n!.port;
    const alice = await phone('alice', port);
    const bob = await phone('101', port);
    const c = await call(alice, bob, '101', 200);
    expect(c.final.status).toBe(200);
    const answered = Date.now();
    await until(async () => records(await n!.rpc('dlg.list'))[0]?.state === 4, 'ACKed');
    expect(await hangUp(alice, bob, c)).toBe(200);
    const measured = (Date.now() - answered) / 1000;

    let cdrs: Rows = [];
    await until(async () => (cdrs = await select('SELECT *, TIMESTAMPDIFF(SECOND, start_time, end_time) AS span FROM acc_cdrs WHERE callid = ?', [c.callId])).length === 1, 'the acc_cdrs row');
    const cdr = cdrs[0]!;
    expect(cdr).toMatchObject({ from_tag: c.fromTag, to_tag: c.toTag, sip_code: '200', sip_reason: 'OK', end_reason: 'bye', caller: 'alice' });
    expect(Math.abs(Number(cdr.duration) - measured)).toBeLessThanOrEqual(1);
    expect(Number(cdr.span)).toBeGreaterThanOrEqual(0);
    expect(Number(cdr.span)).toBeLessThanOrEqual(Math.ceil(measured) + 1);

    let acc: Rows = [];
    await until(async () => (acc = await select('SELECT * FROM acc WHERE callid = ? ORDER BY id', [c.callId])).length === 2, 'two acc rows');
    expect(acc.map((r) => [r.method, r.sip_code, r.sip_reason])).toEqual([['INVITE', '200', 'OK'], ['BYE', '200', 'OK']]);
    expect(acc[0]).toMatchObject({ from_tag: c.fromTag, to_tag: c.toTag, src_user: 'alice', dst_user: '101', src_ip: '127.0.0.1' });
    expect(acc[0]!.time).toBeInstanceOf(Date);
    expect((await select('SELECT * FROM missed_calls WHERE callid = ?', [c.callId])).length).toBe(0);

    const line = n!.lines.find((l) => (l.cdr as { callid?: string } | undefined)?.callid === c.callId);
    expect(line).toBeDefined();
    expect(line!.msg).toBe('CDR');
    expect((line!.cdr as { sip_code: number; duration: number }).sip_code).toBe(200);
    expect((line!.cdr as { duration: number }).duration).toBe(Number(cdr.duration));

    const listed = records(await n!.rpc('acc.cdrs', 10));
    expect(listed.some((r) => r.callid === c.callId && r.end_reason === 'bye' && r.duration === Number(cdr.duration))).toBe(true);
  });

  it('a busy call: a missed_calls row (486 Busy Here, extras), a CDR with duration 0, no acc row', async () => {
    const port = n!.port;
    const alice = await phone('alice2', port);
    const carol = await phone('102', port);
    // on shard 0 (SIPHON_WORKERS=2): the test reads shard 0's module statistics
    const c = await call(alice, carol, '102', 486, { callId: shard0CallId(n as unknown as DialogNode, 'busy'), port });
    expect(c.final.status).toBe(486);
    let missed: Rows = [];
    await until(async () => (missed = await select('SELECT * FROM missed_calls WHERE callid = ?', [c.callId])).length === 1, 'the missed_calls row');
    expect(missed[0]).toMatchObject({ method: 'INVITE', from_tag: c.fromTag, sip_code: '486', sip_reason: 'Busy Here', src_user: 'alice2', dst_user: '102', src_ip: '127.0.0.1' });
    let cdrs: Rows = [];
    await until(async () => (cdrs = await select('SELECT * FROM acc_cdrs WHERE callid = ?', [c.callId])).length === 1, 'the failed call\'s CDR');
    expect(cdrs[0]).toMatchObject({ sip_code: '486', end_reason: 'rejected' });
    expect(Number(cdrs[0]!.duration)).toBe(0);
    expect((await select('SELECT * FROM acc WHERE callid = ?', [c.callId])).length).toBe(0);
    const s = n!.acc.statistics();
    expect(s.missed_records).toBeGreaterThanOrEqual(1);
    expect(s.db_dropped).toBe(0);
    expect(s.calls_in_flight).toBe(0);
  });

  it('acc.cdrs bounds its argument', async () => {
    expect(records(await n!.rpc('acc.cdrs', 1))).toHaveLength(1);
    await expect(n!.rpc('acc.cdrs', 'x')).rejects.toThrow(/Invalid parameters/);
  });

  it('siphon cdr list reads them over the control socket (table and --json)', async () => {
    const out: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) } };
    expect(await runCdr(['--ctl', `unix:${ctl}`, '--json', 'list', '5'], io)).toBe(0);
    const rows = out.join('').trim().split('\n').map((l) => JSON.parse(l) as { sip_code: number; end_reason: string });
    // with core.workers the shards' rings come one after the other: the order across shards is not time
    expect(rows.map((r) => [r.sip_code, r.end_reason]).sort()).toEqual([[200, 'bye'], [486, 'rejected']]);
    out.length = 0;
    expect(await runCdr(['--ctl', `unix:${ctl}`, 'list'], io)).toBe(0);
    expect(out.join('')).toMatch(/^START_TIME\s+DURATION\s+SIP_CODE/);
    out.length = 0;
    expect(await runCdr(['--ctl', `unix:${ctl}`, 'list', 'x'], io)).toBe(2);
  });
});

describe('acc in the embedded store', () => {
  it('the CDR and the acc rows land in the data directory', async () => {
    const n = await accNode(['cdr_enable: 1']);
    const dir = mkdtempSync(path.join(tmpdir(), 'siphon-acc-copy-'));
    try {
      const alice = await phone('erin', n.port);
      const bob = await phone('103', n.port);
      const c = await call(alice, bob, '103', 200, { callId: shard0CallId(n as unknown as DialogNode, 'emb'), port: n.port });
      await until(async () => records(await n.rpc('dlg.list')).some((d) => d.state === 4), 'ACKed');
      expect(await hangUp(alice, bob, c)).toBe(200);
      await until(() => n.acc.statistics().db_written === 3, 'three records written');
      const db = await openDatabase(null, { dataDir: n.dir, log: createLogger({ level: 'error', destination: { write: () => {} } }) });
      try {
        const { cdrsTableDef, accTableDef, resolveAccConfig } = await import('../../../host/modules/acc/index.js');
        const cdrs = await db.table(cdrsTableDef(resolveAccConfig({}), [])).find({ callid: c.callId });
        expect(cdrs).toHaveLength(1);
        expect(cdrs[0]).toMatchObject({ sip_code: '200', end_reason: 'bye' });
        const acc = await db.table(accTableDef('acc', 5, [])).find({ callid: c.callId });
        expect(acc.map((r) => r.method)).toEqual(['INVITE', 'BYE']);
      } finally {
        await db.close();
      }
    } finally {
      await n.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
