/**
 * dispatcher reachable from plugins, over real UDP on 127.0.0.1 (nodes, destinations and client on
 * ports from freePorts(): the list file names them): round-robin `$du` from ds_select_dst(1, 4) as a
 * plugin sees it,
 * the failover steps (ds_mark_dst + ds_next_dst), plugins/lb itself, and `siphon dispatcher`
 * add/show/rm on the list file with the running node reloaded over BINRPC (unix control socket).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run as dispatcherCli } from '../../../host/cli/commands/dispatcher.js';
import { freePorts } from '../../helpers/ports.js';
import { buildPlugins, PLUGIN, SipClient, startTestNode, type TestNode } from './helpers.js';

/** the nodes' ports (plugins/lb-probe and plugins/lb) and the client's, a destination of set 2 */
let PROBE = 0;
let LB = 0;
let CLIENT = 0;
/** set 1's destinations (GW1 and GW2 listen; GW3 is added by the CLI test and never reached) */
let GW1 = '';
let GW2 = '';
let GW3 = '';
let gwPorts: number[] = [];

let dir: string;
let listFile: string;
let ctl: string;
let probe: TestNode;
let lb: TestNode;
let client: SipClient;
/** the destinations: UDP sockets that record what reaches them. */
const uas: Array<{ sock: dgram.Socket; got: string[] }> = [];

function cliIo() {
  const out: string[] = [];
  return { out, io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) } } };
}

beforeAll(async () => {
  await buildPlugins();
  const ports = await freePorts(6);
  [PROBE, LB, CLIENT] = ports as [number, number, number];
  gwPorts = ports.slice(3, 5);
  [GW1, GW2, GW3] = ports.slice(3).map((p) => `sip:127.0.0.1:${p}`) as [string, string, string];
  dir = await mkdtemp(path.join(tmpdir(), 'siphon-modules-ds-'));
  listFile = path.join(dir, 'dispatcher.list');
  ctl = `unix:${path.join(dir, 'ctl')}`;
  await writeFile(listFile, `# gateways\n1 ${GW1} 0 0\n1 ${GW2} 0 0\n2 sip:127.0.0.1:${CLIENT} 0 0\n`);
  const modules = `  data_dir: ${dir}\nmodules:\n  dispatcher:\n    list_file: ${listFile}\n    flags: 2`;
  probe = await startTestNode(PROBE, `${modules}\nrouting:\n  plugin: ${PLUGIN.lbProbe}`, { ctl });
  lb = await startTestNode(LB, `${modules}\nrouting:\n  plugin: ${PLUGIN.lb}`);
  for (const port of gwPorts) {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(port, '127.0.0.1', () => r()));
    const entry = { sock, got: [] as string[] };
    sock.on('message', (m) => entry.got.push(m.toString('utf8')));
    uas.push(entry);
  }
  client = await SipClient.open(CLIENT);
}, 180_000);

afterAll(async () => {
  await client?.close();
  for (const u of uas) await new Promise<void>((r) => u.sock.close(() => r()));
  await probe?.node.stop();
  await lb?.node.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('ds_* seen by a plugin', () => {
  it('ds_select_dst(1, 4) sets $du round robin over both destinations of set 1', async () => {
    const chosen: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await client.request(PROBE, { method: 'INVITE', ruri: 'sip:bob@example.org' });
      expect(r?.headers.get('x-ds-select')).toBe('1');
      chosen.push(r!.headers.get('x-ds-du')!);
      // the failover list holds both targets, the chosen one first
      expect(r?.headers.get('x-ds-count')).toBe('2 set=1');
      expect(r?.headers.get('x-ds-current')).toBe(chosen[i]);
    }
    expect(new Set(chosen)).toEqual(new Set([GW1, GW2]));
    for (let i = 1; i < chosen.length; i++) expect(chosen[i]).not.toBe(chosen[i - 1]);
  });

  it('ds_list_exists and ds_is_from_list answer Kamailio codes', async () => {
    const r = await client.request(PROBE, {});
    expect(r?.headers.get('x-ds-exists')).toBe('1 -1');
    // the client's own address is a destination of set 2, not of set 1
    expect(r?.headers.get('x-ds-from-list')).toBe('1 -1');
  });
});

describe('plugins/lb', () => {
  it('answers keepalive OPTIONS 200', async () => {
    expect((await client.request(LB, {}))?.status).toBe(200);
  });

  it('relays INVITEs round robin over set 1 (each reaches the destination the plugin chose)', async () => {
    const vias: string[] = [];
    for (let i = 0; i < 2; i++) {
      const before = uas.map((u) => u.got.length);
      // the gateways never answer: the request's own wait ends at its timeout; the relay is what counts
      void client.request(LB, { method: 'INVITE', ruri: 'sip:bob@example.org' }, 1500);
      const deadline = Date.now() + 10_000;
      let reached = -1;
      while ((reached = uas.findIndex((u, k) => u.got.length > before[k]!)) < 0) {
        if (Date.now() > deadline) throw new Error('the INVITE reached no destination of set 1');
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(uas[reached]!.got.at(-1)).toMatch(/^INVITE sip:bob@example\.org SIP\/2\.0\r\n/);
      vias.push([GW1, GW2][reached]!);
    }
    // what the plugin chose, from its xlog line, is where each INVITE went
    const lines = lb.logs.filter((l) => l.includes('lb: INVITE sip:bob@example.org via <'));
    expect(lines.length).toBe(2);
    const dus = lines.map((l) => /via <([^>]+)>/.exec(l)![1]);
    expect(new Set(dus)).toEqual(new Set([GW1, GW2]));
    expect(vias).toEqual(dus);
  });
});

describe('siphon dispatcher on the list file', () => {
  it('add, show and rm edit the file; the running node reloads over BINRPC', async () => {
    const { out, io } = cliIo();
    const common = ['--list-file', listFile, '--ctl', ctl];
    expect(await dispatcherCli([...common, 'add', '1', GW3, '0', '0', '', 'Media Gateway 3'], io)).toBe(0);
    expect(out.join('')).toContain('Ok. Dispatcher successfully reloaded.');
    expect(await readFile(listFile, 'utf8')).toContain(`1 ${GW3} 0 0 # Media Gateway 3\n`);

    out.length = 0;
    expect(await dispatcherCli([...common, 'show'], io)).toBe(0);
    const shown = out.join('').split('\n').filter(Boolean);
    expect(shown[0]).toMatch(/^ID\s+SETID\s+DESTINATION\s+FLAGS\s+PRIORITY\s+ATTRS\s+DESCRIPTION$/);
    expect(shown.slice(1).map((l) => l.split(/\s+/).slice(0, 3).join(' '))).toEqual([
      `1 1 ${GW1}`,
      `2 1 ${GW2}`,
      `3 2 sip:127.0.0.1:${CLIENT}`,
      `4 1 ${GW3}`,
    ]);
    expect(shown[4]).toMatch(/Media Gateway 3$/);

    // the node now rotates over three destinations
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) seen.add((await client.request(PROBE, {}))!.headers.get('x-ds-du')!);
    expect(seen).toEqual(new Set([GW1, GW2, GW3]));

    // rm by ID (kamctl style) and by SETID URI
    out.length = 0;
    expect(await dispatcherCli([...common, 'rm', '4'], io)).toBe(0);
    expect(await dispatcherCli([...common, 'rm', '4'], io)).toBe(1);
    expect(await dispatcherCli([...common, '--no-reload', 'rm', '2', `sip:127.0.0.1:${CLIENT}`], io)).toBe(0);
    expect(await readFile(listFile, 'utf8')).toBe(`# gateways\n1 ${GW1} 0 0\n1 ${GW2} 0 0\n`);
    const after = new Set<string>();
    for (let i = 0; i < 3; i++) after.add((await client.request(PROBE, {}))!.headers.get('x-ds-du')!);
    expect(after).toEqual(new Set([GW1, GW2]));
  });

  it('refuses bad input and reports an unreachable server', async () => {
    const { out, io } = cliIo();
    expect(await dispatcherCli(['--list-file', listFile, 'add', 'one', GW3], io)).toBe(2);
    expect(await dispatcherCli(['--list-file', listFile, 'add', '1', 'http://x'], io)).toBe(2);
    expect(await dispatcherCli(['--list-file', listFile, 'frobnicate'], io)).toBe(2);
    out.length = 0;
    const nowhere = `unix:${path.join(dir, 'no-such-ctl')}`;
    expect(await dispatcherCli(['--list-file', listFile, '--ctl', nowhere, 'add', '3', GW3], io)).toBe(0);
    expect(out.join('')).toContain('no running server reached');
    expect(await dispatcherCli(['--list-file', listFile, '--ctl', nowhere, '--no-reload', 'rm', '3', GW3], io)).toBe(0);
  });
});

describe('failover steps (failure_route)', () => {
  it('ds_mark_dst("ip") takes the chosen destination out, ds_next_dst moves $du to the other', async () => {
    const r = await client.request(PROBE, { extra: 'X-Next: yes\r\n' });
    const first = r!.headers.get('x-ds-du')!;
    const other = first === GW1 ? GW2 : GW1;
    expect(r?.headers.get('x-ds-mark')).toBe('1');
    expect(r?.headers.get('x-ds-next')).toBe('1');
    expect(r?.headers.get('x-ds-du2')).toBe(other);
    // the marked destination is inactive now: every selection gives the other one
    for (let i = 0; i < 3; i++) expect((await client.request(PROBE, {}))?.headers.get('x-ds-du')).toBe(other);
  });
});
