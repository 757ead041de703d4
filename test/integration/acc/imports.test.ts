/**
 * acc_db_request / acc_log_request through a test plugin (plugins/acc-probe, built here): a MESSAGE
 * over real UDP becomes a row of Kamailio's `acc` / `missed_calls` in MariaDB (database
 * hp_acc_imports) with its code and reason from the comment and db_extra from the message; a table
 * that is not the module's is refused (-2); acc_log_request logs a JSON line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createSocket, type Socket } from 'node:dgram';
import { createConnection, type Connection } from 'mysql2/promise';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../../host/config/load.js';
import { createLogger } from '../../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../../host/server/app.js';
import { moduleSchemas } from '../../../host/server/modules.js';
import { freePort } from '../../helpers/ports.js';
import { ROOT, until } from '../dialog/helpers.js';

const run = promisify(execFile);
const DB = 'hp_acc_imports';
const PLUGINS = path.join(import.meta.dirname, 'plugins');
const PROBE = path.join(PLUGINS, 'acc-probe/build/acc-probe.wasm');

let admin: Connection;
let node: SiphonNode;
let port = 0;
let sock: Socket;
let dir = '';
const lines: Array<Record<string, unknown>> = [];
let seq = 0;

beforeAll(async () => {
  await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', PLUGINS], { cwd: ROOT, timeout: 120_000 });
  admin = await createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin.query(`CREATE DATABASE ${DB}`);
  await admin.query(`USE ${DB}`);
  port = await freePort('udp');
  dir = mkdtempSync(path.join(tmpdir(), 'siphon-acc-imp-'));
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${port}]`,
    '  ctl: []',
    '  warmup: 0',
    `  data_dir: ${JSON.stringify(dir)}`,
    'modules:',
    '  acc:',
    `    db_url: "mysql://root@127.0.0.1:3306/${DB}"`,
    '    db_extra: "src_user=$fU;ua=$hdr(User-Agent)"',
    '    log_extra: "src_ip=$si"',
    'routing:',
    `  plugin: ${JSON.stringify(PROBE)}`,
  ].join('\n');
  const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
  const log = createLogger({ level: 'info', destination: { write: (s: string) => { for (const l of s.split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>); } } });
  node = await startNode(config, log, { controlPlane: false });
  sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
}, 180_000);

afterAll(async () => {
  sock?.close();
  await node?.stop();
  await admin?.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin?.end();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** sends a MESSAGE with X-Table / X-Comment; resolves with the reply's reason phrase ("acc=N") and the Call-ID. */
function message(table: string, comment: string): Promise<{ reason: string; callId: string; fromTag: string }> {
  const id = `acc-${process.pid}-${++seq}`;
  const fromTag = `ft${seq}`;
  const text =
    `MESSAGE sip:bob@127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${sock.address().port};branch=z9hG4bK-${id};rport\r\n` +
    `Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=${fromTag}\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: ${id}\r\nCSeq: 1 MESSAGE\r\n` +
    `User-Agent: probe/1\r\nX-Table: ${table}\r\nX-Comment: ${comment}\r\nContent-Length: 0\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no reply')), 5000);
    const on = (buf: Buffer): void => {
      const s = buf.toString();
      if (!s.includes(`Call-ID: ${id}`)) return;
      clearTimeout(timer);
      sock.off('message', on);
      resolve({ reason: /^SIP\/2\.0 \d{3} (.*)\r\n/.exec(s)?.[1] ?? '', callId: id, fromTag });
    };
    sock.on('message', on);
    sock.send(text, port, '127.0.0.1');
  });
}

type Rows = Array<Record<string, unknown>>;
const select = async (sql: string, params: unknown[]): Promise<Rows> => ((await admin.query(sql, params)) as unknown as [Rows])[0];

describe('acc imports', () => {
  it('acc_db_request("403 Forbidden", "missed_calls") writes a missed_calls row with code, reason and extras', async () => {
    const r = await message('missed_calls', '403 Forbidden');
    expect(r.reason).toBe('acc=1');
    let rows: Rows = [];
    await until(async () => (rows = await select('SELECT * FROM missed_calls WHERE callid = ?', [r.callId])).length === 1, 'the row');
    expect(rows[0]).toMatchObject({ method: 'MESSAGE', from_tag: r.fromTag, to_tag: '', sip_code: '403', sip_reason: 'Forbidden', src_user: 'alice', ua: 'probe/1' });
  });

  it('acc_db_request to acc with a comment without code: all reason, code empty', async () => {
    const r = await message('acc', 'delivered');
    expect(r.reason).toBe('acc=1');
    let rows: Rows = [];
    await until(async () => (rows = await select('SELECT * FROM acc WHERE callid = ?', [r.callId])).length === 1, 'the row');
    expect(rows[0]).toMatchObject({ method: 'MESSAGE', sip_code: '', sip_reason: 'delivered' });
  });

  it('a table that is not the module\'s is refused with -2 and nothing is written', async () => {
    const r = await message('subscriber', '200 OK');
    expect(r.reason).toBe('acc=-2');
    const [t] = (await admin.query(`SHOW TABLES LIKE 'subscriber'`)) as unknown as [Rows];
    expect(t).toHaveLength(0);
  });

  it('acc_log_request logs a JSON line with the log extras', async () => {
    const r = await message('log', '202 Accepted');
    expect(r.reason).toBe('acc=1');
    const line = lines.find((l) => (l.acc as { callid?: string } | undefined)?.callid === r.callId);
    expect(line?.acc).toMatchObject({ method: 'MESSAGE', sip_code: '202', sip_reason: 'Accepted', src_ip: '127.0.0.1' });
  });
});
