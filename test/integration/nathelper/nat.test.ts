/**
 * NAT traversal through a node over real UDP on 127.0.0.1 (ports the kernel picks), routed by the nat-pbx
 * test plugin (kamailio.cfg WITH_NAT's steps with the nathelper SDK):
 *   - a UA that puts 192.168.x.x:5062 in Via and Contact and sends from 127.0.0.1:<its port>, with
 *     no rport: its 200 comes back to its port (force_rport), and an incoming INVITE reaches it at its
 *     source (fix_nated_register -> received -> $du; add_rcv_param; set_contact_alias + handle_ruri_alias);
 *   - a gateway registering another socket than it sends from (Via = source, nothing NATed) keeps
 *     its Contact as the target (issue #11);
 *   - SIPp as the UA behind NAT (192.168.77.1:5062 in Via and Contact, its own socket on 127.0.0.1)
 *     receives a SIPp call through the node;
 *   - NAT keepalives: 4 zero bytes to a NATed contact; SIP OPTIONS with keepalive_timeout, the
 *     contact that does not answer is removed, the one that answers stays.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseConfig } from '../../../host/config/load.js';
import { createLogger } from '../../../host/log/logger.js';
import type { NathelperModule } from '../../../host/modules/nathelper/index.js';
import type { RegistrarModule } from '../../../host/modules/registrar/index.js';
import { startNode, type SiphonNode } from '../../../host/server/app.js';
import { moduleSchemas } from '../../../host/server/modules.js';
import { Ua, until } from '../../adversarial/helpers.js';
import { freePort } from '../../helpers/ports.js';
import { sharedDir } from '../../helpers/shared.js';
import { runSipp } from '../../helpers/sipp.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');
const PLUGINS = path.join(import.meta.dirname, 'plugins');
const PLUGIN = path.join(PLUGINS, 'nat-pbx/build/nat-pbx.wasm');
const SIPP = path.join(import.meta.dirname, 'sipp');

const nodes: SiphonNode[] = [];
const uas: Ua[] = [];

async function node(nathelper: string[]): Promise<{ node: SiphonNode; port: number }> {
  const port = await freePort('udp'); // the config refuses port 0
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${port}]`,
    '  ctl: []',
    '  warmup: 0',
    'modules:',
    '  registrar: { db_mode: 0 }',
    '  nathelper:',
    ...nathelper.map((l) => `    ${l}`),
    'routing:',
    `  plugin: ${JSON.stringify(PLUGIN)}`,
  ].join('\n');
  const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
  const n = await startNode(config, createLogger({ level: 'error', destination: { write: () => {} } }), { controlPlane: false });
  nodes.push(n);
  return { node: n, port };
}

async function ua(): Promise<Ua> {
  const u = await Ua.open();
  uas.push(u);
  return u;
}

let seq = 0;

/** sends `method` from `u` with the given Via sent-by and Contact; returns its Call-ID. */
function send(u: Ua, port: number, method: string, ruri: string, user: string, via: string, contact: string, extra: string[] = []): string {
  const n = ++seq;
  const callId = `nat-${method.toLowerCase()}-${process.pid}-${n}`;
  u.send(
    [
      `${method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${via};branch=z9hG4bK-nat-${n}`,
      'Max-Forwards: 70',
      `From: <sip:${method === 'REGISTER' ? user : 'caller'}@127.0.0.1>;tag=t${n}`,
      `To: <sip:${user}@127.0.0.1>`,
      `Call-ID: ${callId}`,
      `CSeq: ${n} ${method}`,
      `Contact: <${contact}>`,
      ...extra,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    port,
  );
  return callId;
}

/** a REGISTER from `u` whose Via and Contact say `viaHostPort` / `contact` (what a UA behind NAT writes). */
function registerFrom(u: Ua, port: number, user: string, viaHostPort: string, contact: string, extra: string[] = []): string {
  return send(u, port, 'REGISTER', `sip:127.0.0.1:${port}`, user, viaHostPort, contact, ['Expires: 3600', ...extra]);
}

/** an INVITE for `user` from a UA that is not behind NAT. */
function inviteFrom(u: Ua, port: number, user: string): string {
  return send(u, port, 'INVITE', `sip:${user}@127.0.0.1:${port}`, user, `127.0.0.1:${u.port};rport`, `sip:caller@127.0.0.1:${u.port}`);
}

async function final(u: Ua, callId: string): Promise<string> {
  await until(() => u.responses(callId).some((g) => g.msg.status >= 200), `final reply to ${callId}`);
  return u.responses(callId).find((g) => g.msg.status >= 200)!.text;
}

beforeAll(async () => {
  await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', PLUGINS], { cwd: ROOT, timeout: 120_000 });
}, 130_000);

afterAll(async () => {
  for (const u of uas) await u.close();
  for (const n of nodes) await n.stop();
});

describe('NATed UA through the node', () => {
  let port: number;
  beforeAll(async () => {
    ({ port } = await node(['{}']));
  });

  it('fix_nated_register: the 200 reaches the UA at its source port and an INVITE reaches it there', async () => {
    const alice = await ua();
    const reg = await final(alice, registerFrom(alice, port, 'alice', '192.168.1.5:5062', 'sip:alice@192.168.1.5:5062'));
    expect(reg).toMatch(/^SIP\/2\.0 200 OK\r\n/);
    expect(reg).toContain('X-Nat: 1\r\n');
    expect(reg).toContain(`Contact: <sip:alice@192.168.1.5:5062>;expires=3600;received="sip:127.0.0.1:${alice.port}"\r\n`);
    // force_rport: the reply's Via says where it went
    expect(reg).toMatch(new RegExp(`Via: SIP/2\\.0/UDP 192\\.168\\.1\\.5:5062;branch=z9hG4bK-nat-\\d+;received=127\\.0\\.0\\.1;rport=${alice.port}\r\n`));

    alice.answer = { INVITE: [486, 'Busy Here'] };
    const caller = await ua();
    const busy = await final(caller, inviteFrom(caller, port, 'alice'));
    expect(busy).toMatch(/^SIP\/2\.0 486 Busy Here\r\n/);
    const inv = alice.requests('INVITE');
    expect(inv).toHaveLength(1);
    expect(inv[0]!.msg.requestUri).toBe('sip:alice@192.168.1.5:5062');
  });

  it('add_rcv_param: the registrar honours the received Contact parameter', async () => {
    const bob = await ua();
    const reg = await final(bob, registerFrom(bob, port, 'bob', '192.168.1.6:5062', 'sip:bob@192.168.1.6:5062', ['X-Nat-Mode: rcv']));
    expect(reg).toContain(`Contact: <sip:bob@192.168.1.6:5062>;expires=3600;received="sip:127.0.0.1:${bob.port}"\r\n`);
    bob.answer = { INVITE: [480, 'Temporarily Unavailable'] };
    const caller = await ua();
    expect(await final(caller, inviteFrom(caller, port, 'bob'))).toMatch(/^SIP\/2\.0 480 /);
    expect(bob.requests('INVITE').map((g) => g.msg.requestUri)).toEqual(['sip:bob@192.168.1.6:5062']);
  });

  it('set_contact_alias on REGISTER, handle_ruri_alias on the INVITE: $du from the alias', async () => {
    const carol = await ua();
    const reg = await final(carol, registerFrom(carol, port, 'carol', '192.168.1.7:5062', 'sip:carol@192.168.1.7:5062', ['X-Nat-Mode: alias']));
    expect(reg).toContain(`Contact: <sip:carol@192.168.1.7:5062;alias=127.0.0.1~${carol.port}~1>;expires=3600\r\n`);
    carol.answer = { INVITE: [486, 'Busy Here'] };
    const caller = await ua();
    expect(await final(caller, inviteFrom(caller, port, 'carol'))).toMatch(/^SIP\/2\.0 486 /);
    expect(carol.requests('INVITE').map((g) => g.msg.requestUri)).toEqual(['sip:carol@192.168.1.7:5062']);
  });

  it('a gateway registering another socket (Via = source, nothing NATed) keeps its Contact as the target', async () => {
    const gw = await ua(); // sends the REGISTER
    const uas2 = await ua(); // the socket it registers
    const reg = await final(gw, registerFrom(gw, port, 'gw', `127.0.0.1:${gw.port};rport`, `sip:gw@127.0.0.1:${uas2.port}`));
    expect(reg).toContain('X-Nat: -1\r\n');
    expect(reg).toContain(`Contact: <sip:gw@127.0.0.1:${uas2.port}>;expires=3600\r\n`);
    uas2.answer = { INVITE: [486, 'Busy Here'] };
    const caller = await ua();
    expect(await final(caller, inviteFrom(caller, port, 'gw'))).toMatch(/^SIP\/2\.0 486 /);
    expect(uas2.requests('INVITE')).toHaveLength(1);
    expect(gw.requests('INVITE')).toHaveLength(0);
  });
});

describe('SIPp behind a simulated NAT', () => {
  it('a SIPp UAS registering 192.168.77.1:5062 from its own socket gets a SIPp call (INVITE/200/ACK/BYE)', async () => {
    const { node: n, port } = await node(['{}']);
    const uasPort = await freePort('udp');
    const dir = mkdtempSync(path.join(tmpdir(), 'siphon-nat-sipp-'));
    const uas = spawn('sipp', [`127.0.0.1:${port}`, '-sf', path.join(SIPP, 'register-nat.xml'), '-oocsf', path.join(SIPP, 'answer.xml'), '-i', '127.0.0.1',
      '-p', String(uasPort), '-mp', String(await freePort('udp')), '-cp', String(await freePort('udp')), '-m', '1', '-nostdin', '-timeout', '40s'], { cwd: dir, stdio: 'ignore' });
    try {
      const reg = (n.modules.find((m) => m.name === 'registrar') as RegistrarModule).registrar;
      await until(() => reg.registeredSync('location', 'sip:natuas@127.0.0.1') === 1, 'the SIPp UAS registered', 15_000);
      const c = reg.table('location')!.contactsSync('natuas')[0]!;
      expect(c.contact).toBe('sip:natuas@192.168.77.1:5062');
      expect(c.received).toBe(`sip:127.0.0.1:${uasPort}`);
      const r = await runSipp(port, path.join(sharedDir(), 'bench/scenarios/invite.xml'), { rate: 1, calls: 1, timeoutS: 20, extra: ['-s', 'natuas'] });
      expect(r.errors).toBe('');
      expect([r.successful, r.failed]).toEqual([1, 0]);
    } finally {
      uas.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('NAT keepalives', () => {
  it('4 zero bytes every natping_interval to the NATed contact, nothing to the others', async () => {
    const { node: n, port } = await node(['natping_interval: 1', 'ping_nated_only: 1', 'nat_bflag: 6']);
    const natted = await ua();
    const other = await ua();
    const pings = new Map<Ua, number>([[natted, 0], [other, 0]]);
    for (const u of [natted, other]) u.sock.on('message', (b) => b.length === 4 && b.every((x) => x === 0) && pings.set(u, pings.get(u)! + 1));
    await final(natted, registerFrom(natted, port, 'dave', '192.168.1.8:5062', 'sip:dave@192.168.1.8:5062'));
    await final(other, registerFrom(other, port, 'erin', `127.0.0.1:${other.port};rport`, `sip:erin@127.0.0.1:${other.port}`));
    await until(() => pings.get(natted)! >= 2, 'two keepalives', 10_000);
    expect(pings.get(other)).toBe(0);
    const nat = n.modules.find((m) => m.name === 'nathelper') as NathelperModule;
    expect(nat.statistics().natping_udp).toBeGreaterThanOrEqual(2);
  });

  it('SIP OPTIONS pings: the contact that never answers is removed after keepalive_timeout', async () => {
    const { node: n, port } = await node([
      'natping_interval: 1',
      'ping_nated_only: 1',
      'nat_bflag: 6',
      'sipping_bflag: 7',
      'sipping_from: "sip:pinger@127.0.0.1"',
      'keepalive_timeout: 2',
      'sipping_timeout_ms: 500',
    ]);
    const alive = await ua();
    const dead = await ua();
    await final(alive, registerFrom(alive, port, 'frank', '192.168.1.9:5062', 'sip:frank@192.168.1.9:5062'));
    alive.answer = { OPTIONS: [200, 'OK'] };
    await final(dead, registerFrom(dead, port, 'gina', '192.168.1.10:5062', 'sip:gina@192.168.1.10:5062'));
    const reg = (n.modules.find((m) => m.name === 'registrar') as RegistrarModule).registrar;
    await until(() => reg.registeredSync('location', 'sip:gina@127.0.0.1') === -1, 'the silent contact removed', 15_000);
    // the answering one outlives keepalive_timeout (2 s) by rounds: four pings take three seconds
    await until(() => alive.requests('OPTIONS').length >= 4, 'four pings answered', 15_000);
    expect(reg.registeredSync('location', 'sip:frank@127.0.0.1')).toBe(1);
    const opts = alive.requests('OPTIONS');
    expect(opts[0]!.msg.requestUri).toBe('sip:frank@192.168.1.9:5062');
    expect(opts[0]!.msg.from?.uri).toBe('sip:pinger@127.0.0.1');
    expect(dead.requests('OPTIONS').length).toBeGreaterThanOrEqual(1);
    const stats = (n.modules.find((m) => m.name === 'nathelper') as NathelperModule).statistics();
    expect(stats.natping_removed).toBe(1);
    expect(stats.natping_sip_replies).toBeGreaterThanOrEqual(2);
  }, 30_000);
});
