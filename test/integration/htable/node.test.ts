/**
 * htable in a running node over real sockets: the ht-probe plugin counts calls per user with
 * `sht_inc` and refuses the fourth (486) until a BYE gives one back; the counts survive a hot swap
 * to ht-reader (v2 reads what v1 wrote); the stock kamcmd drives htable.* on the BINRPC socket
 * with Kamailio's reply shapes; the embedded dbtable is loaded at start, reloaded over RPC and
 * written back at shutdown (dbmode=1).
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../host/config/load.js';
import { openDatabase } from '../../../host/db/index.js';
import { createLogger } from '../../../host/log/logger.js';
import { htableTableDef } from '../../../host/modules/htable/index.js';
import { startNode, type SiphonNode } from '../../../host/server/app.js';
import { moduleSchemas } from '../../../host/server/modules.js';
import { buildHtPlugins, HT_PROBE, HT_READER } from './helpers.js';

const KAMCMD = '/usr/sbin/kamcmd';

function kamcmd(sock: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(KAMCMD, ['-s', `unixs:${sock}`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Reply {
  status: number;
  headers: Map<string, string>;
}

/** a UDP UA on an ephemeral port; one request at a time, answered by Call-ID. */
class Ua {
  private n = 0;
  private readonly waiting = new Map<string, (r: Reply) => void>();
  private constructor(private readonly sock: dgram.Socket) {
    sock.on('message', (m) => {
      const lines = m.toString('latin1').split('\r\n\r\n')[0]!.split('\r\n');
      const status = Number(/^SIP\/2\.0 (\d{3})/.exec(lines[0]!)?.[1] ?? 0);
      if (status < 200) return;
      const headers = new Map<string, string>();
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
      }
      const done = this.waiting.get(headers.get('call-id') ?? '');
      if (done) done({ status, headers });
    });
  }

  static async bind(): Promise<Ua> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
    return new Ua(s);
  }

  send(port: number, method: string, from: string, ruser = 'bob'): Promise<Reply> {
    const n = ++this.n;
    const me = this.sock.address().port;
    const callId = `ht-${me}-${n}`;
    const text = [
      `${method} sip:${ruser}@127.0.0.1:${port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${me};branch=z9hG4bK-ht-${me}-${n};rport`,
      'Max-Forwards: 70',
      `From: <sip:${from}@127.0.0.1>;tag=f${n}`,
      `To: <sip:${ruser}@127.0.0.1>${method === 'BYE' ? ';tag=t1' : ''}`,
      `Call-ID: ${callId}`,
      `CSeq: 1 ${method}`,
      `Contact: <sip:${from}@127.0.0.1:${me}>`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${method} ${callId}`)), 5000);
      this.waiting.set(callId, (r) => {
        clearTimeout(timer);
        this.waiting.delete(callId);
        resolve(r);
      });
      this.sock.send(text, port, '127.0.0.1');
    });
  }

  close(): void {
    this.sock.close();
  }
}

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
  const p = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return p;
}

let dir = '';
let ctl = '';
let port = 0;
let node: SiphonNode | null = null;
let ua: Ua;

async function start(): Promise<SiphonNode> {
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${port}]`,
    `  ctl: ["unix:${ctl}"]`,
    '  warmup: 0',
    `  data_dir: ${JSON.stringify(dir)}`,
    'modules:',
    '  htable:',
    '    tables:',
    '      - "calls=>size=6;autoexpire=3600;dbtable=htable;dbmode=1;"',
    '      - name: ipban',
    '        autoexpire: 300',
    '        max_entries: 2',
    'routing:',
    `  plugin: ${JSON.stringify(HT_PROBE)}`,
    `  plugin_dirs: [${JSON.stringify(path.dirname(path.dirname(HT_READER)))}]`,
  ].join('\n');
  const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
  return startNode(config, createLogger({ level: 'silent' }));
}

beforeAll(async () => {
  await buildHtPlugins();
  dir = mkdtempSync(path.join(tmpdir(), 'siphon-htable-'));
  ctl = path.join(dir, 'ctl.sock');
  port = await freeUdpPort();
  // the dbtable holds a row before the node starts: loaded at start
  const db = await openDatabase(null, { dataDir: dir, log: createLogger({ level: 'silent' }) });
  await db.ensureTable(htableTableDef('htable'));
  const t = db.table(htableTableDef('htable'));
  await t.insert({ key_name: 'carol', key_type: 0, value_type: 1, key_value: '2', expires: 0 });
  await t.insert({ key_name: 'motd', key_type: 0, value_type: 0, key_value: 'hello', expires: 0 });
  await db.close();
  node = await start();
  ua = await Ua.bind();
}, 120_000);

afterAll(async () => {
  ua?.close();
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('htable in a node', () => {
  it('counts calls per user and refuses past the limit; a BYE admits the next call', async () => {
    for (let i = 1; i <= 3; i++) {
      const r = await ua.send(port, 'INVITE', 'alice');
      expect(r.status).toBe(200);
      expect(r.headers.get('x-ht-count')).toBe(`${i} 0`);
    }
    const refused = await ua.send(port, 'INVITE', 'alice');
    expect(refused.status).toBe(486);
    expect(refused.headers.get('x-ht-count')).toBe('4 0');
    // another user has a count of its own
    expect((await ua.send(port, 'INVITE', 'dave')).status).toBe(200);
    // the row loaded from the dbtable: carol starts at 2, so her second call is refused
    expect((await ua.send(port, 'INVITE', 'carol')).headers.get('x-ht-count')).toBe('3 0');
    expect((await ua.send(port, 'INVITE', 'carol')).status).toBe(486);
    const bye = await ua.send(port, 'BYE', 'alice');
    expect(bye.headers.get('x-ht-count')).toBe('2');
    expect((await ua.send(port, 'INVITE', 'alice')).status).toBe(200);
    expect((await ua.send(port, 'INVITE', 'alice')).status).toBe(486);
  });

  it('plugin operations: get, set, iterate, remove by prefix, expiry', async () => {
    expect((await ua.send(port, 'OPTIONS', 'x', 'get.motd')).headers.get('x-ht-value')).toBe('hello');
    expect((await ua.send(port, 'OPTIONS', 'x', 'set.k1.v1')).headers.get('x-ht-rc')).toBe('1');
    expect((await ua.send(port, 'OPTIONS', 'x', 'get.k1')).headers.get('x-ht-value')).toBe('v1');
    const items = (await ua.send(port, 'OPTIONS', 'x', 'iter')).headers.get('x-ht-items')!.split(',').sort();
    expect(items).toEqual(['alice=3', 'carol=3', 'dave=1', 'k1=v1', 'motd=hello']);
    expect((await ua.send(port, 'OPTIONS', 'x', 'ex.k1.100')).headers.get('x-ht-rc')).toBe('1 100');
    expect((await ua.send(port, 'OPTIONS', 'x', 'rmsw.k')).headers.get('x-ht-rc')).toBe('1');
    expect((await ua.send(port, 'OPTIONS', 'x', 'get.k1')).headers.get('x-ht-value')).toBe('<null>');
  });

  it('kamcmd: htable.get / sets / seti / dump / listTables / stats / delete / flush with Kamailio shapes', async () => {
    let r = await kamcmd(ctl, ['htable.get', 'calls', 'alice']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\{\n\titem: \{\n\t\tname: alice\n\t\tvalue: 3\n\t\tflags: 0\n\t\texpire: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n\t\}\n\}\n$/);
    r = await kamcmd(ctl, ['htable.sets', 'ipban', '10.0.0.1', 'scanner']);
    expect(r.stdout).toBe('Ok. Key set to new value.\n');
    r = await kamcmd(ctl, ['htable.seti', 'ipban', '10.0.0.2', '5']);
    expect(r.stdout).toBe('Ok. Key set to new value.\n');
    // ipban holds two items at most: the third is refused with a clear fault, nothing else changes
    r = await kamcmd(ctl, ['htable.seti', 'ipban', '10.0.0.3', '1']);
    expect(r.stdout + r.stderr).toContain('error: 500 - Unable to set key: htable full (max_entries)');
    r = await kamcmd(ctl, ['htable.get', 'ipban', '10.0.0.1']);
    expect(r.stdout).toContain('\t\tvalue: scanner\n\t\tflags: 2\n');
    r = await kamcmd(ctl, ['htable.get', 'ipban', 'nope']);
    expect(r.stdout + r.stderr).toContain("error: 500 - Key name doesn't exist in htable.");
    r = await kamcmd(ctl, ['htable.get', 'nosuch', 'x']);
    expect(r.stdout + r.stderr).toContain('error: 500 - No such htable');
    r = await kamcmd(ctl, ['htable.dump', 'ipban']);
    expect(r.stdout).toMatch(/\tentry: \d+\n\tsize: \d\n\tslot: \{\n\t\t\{\n\t\t\tname: 10\.0\.0\.[12]\n\t\t\tvalue: (scanner|5)\n\t\t\ttype: (str|int)\n/);
    expect(r.stdout.match(/name: /g)).toHaveLength(2);
    r = await kamcmd(ctl, ['htable.listTables']);
    expect(r.stdout).toBe('{\n\tname: ipban\n\tdbtable: \n\tdbmode: 0\n\texpire: 300\n\tupdateexpire: 1\n\tsize: 16\n\tdmqreplicate: 0\n}\n{\n\tname: calls\n\tdbtable: htable\n\tdbmode: 1\n\texpire: 3600\n\tupdateexpire: 1\n\tsize: 64\n\tdmqreplicate: 0\n}\n');
    r = await kamcmd(ctl, ['htable.stats']);
    expect(r.stdout).toMatch(/^\{\n\tname: ipban\n\tslots: 16\n\tall: 2\n\tmin: 0\n\tmax: [12]\n\}\n\{\n\tname: calls\n\tslots: 64\n\tall: 4\n/);
    r = await kamcmd(ctl, ['htable.delete', 'ipban', '10.0.0.1']);
    expect(r.stdout).toBe('Ok. Key deleted.\n');
    r = await kamcmd(ctl, ['htable.delete', 'ipban', '10.0.0.1']);
    expect(r.stdout + r.stderr).toContain('error: 404 - Key not found in htable.');
    r = await kamcmd(ctl, ['htable.flush', 'ipban']);
    expect(r.stdout).toBe('Ok. Htable flushed.\n');
    expect((await kamcmd(ctl, ['htable.dump', 'ipban'])).stdout).toBe('');
    // an RPC write is what the plugin reads next
    await kamcmd(ctl, ['htable.seti', 'calls', 'erin', '3']);
    expect((await ua.send(port, 'INVITE', 'erin')).status).toBe(486);
  });

  it('htable.reload replaces the table with the dbtable rows; htable.reload of a table without one is refused', async () => {
    const r = await kamcmd(ctl, ['htable.reload', 'calls']);
    expect(r.code).toBe(0);
    const gone = await kamcmd(ctl, ['htable.get', 'calls', 'alice']);
    expect(gone.stdout + gone.stderr).toContain("doesn't exist");
    expect((await kamcmd(ctl, ['htable.get', 'calls', 'carol'])).stdout).toContain('value: 2');
    const none = await kamcmd(ctl, ['htable.reload', 'ipban']);
    expect(none.stdout + none.stderr).toContain('error: 500 - No database htable');
  });

  it('entries survive a hot swap: v1 writes, v2 reads the same items', async () => {
    expect((await ua.send(port, 'INVITE', 'frank')).headers.get('x-ht-count')).toBe('1 0');
    expect((await ua.send(port, 'INVITE', 'frank')).headers.get('x-ht-count')).toBe('2 0');
    const name = node!.plugins.names()[0]!;
    // plugin.load as the control plane runs it: shard 0, then every worker shard
    await node!.rpc.call('plugin.load', [name, HT_READER]);
    const r = await ua.send(port, 'INVITE', 'frank');
    expect(r.headers.get('x-ht-version')).toBe('2');
    expect(r.headers.get('x-ht-count')).toBe('2 0');
    expect((await ua.send(port, 'INVITE', 'nobody')).headers.get('x-ht-count')).toBe('0 -1');
    // the node's figures (every shard's work added, each operation counted once)
    const lines = (await node!.rpc.call('stats.get_statistics', ['htable:'])) as string[];
    const stat = (n: string): number => Number(lines.find((l) => l.startsWith(`htable:${n} = `))?.split(' = ')[1]);
    expect(stat('incs')).toBe(17); // 11 INVITEs counted, 6 given back (refusals, BYE)
    expect(stat('refused_full')).toBe(1);
    expect(stat('tables')).toBe(2);
  });

  it('dbmode=1: the table is written back at shutdown and loaded by the next start', async () => {
    await node!.stop();
    node = null;
    const db = await openDatabase(null, { dataDir: dir, log: createLogger({ level: 'silent' }) });
    const rows = await db.table<Record<string, string | number>>(htableTableDef('htable')).all();
    await db.close();
    const byKey = new Map(rows.map((r) => [r.key_name, r]));
    expect(byKey.get('frank')).toMatchObject({ key_type: 0, value_type: 1, key_value: '2', expires: 0 });
    expect(byKey.get('motd')).toMatchObject({ value_type: 0, key_value: 'hello' });
    node = await start();
    expect((await ua.send(port, 'INVITE', 'frank')).headers.get('x-ht-count')).toBe('3 0');
  });

  it('the same plugin runs on a node without modules.htable: every sht_* answers -6, nothing traps', async () => {
    const bare = await freeUdpPort();
    const yaml = ['core:', `  listen: [udp:127.0.0.1:${bare}]`, '  ctl: []', '  warmup: 0', `  data_dir: ${JSON.stringify(dir)}`, 'routing:', `  plugin: ${JSON.stringify(HT_PROBE)}`].join('\n');
    const other = await startNode(parseConfig(yaml, null, { moduleSchemas: moduleSchemas() }), createLogger({ level: 'silent' }), { controlPlane: false });
    try {
      const r = await ua.send(bare, 'INVITE', 'alice');
      expect(r.status).toBe(200); // -6 is not past the limit: the call goes on without a count
      expect(r.headers.get('x-ht-count')).toBe('-6 -6');
      expect((await ua.send(bare, 'OPTIONS', 'x', 'get.motd')).headers.get('x-ht-value')).toBe('<null>');
    } finally {
      await other.stop();
    }
  });
});
