/**
 * Keepalives end to end: the standalone UDP prober against tiny UAS sockets on 127.0.0.1.
 * UAS ports from freePorts() (the list file names them); the prober binds port 0 and reports its port.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Dispatcher, SetOp, type DsStateEvent } from '../../../host/modules/dispatcher/dispatcher.js';
import { resolveDispatcherConfig } from '../../../host/modules/dispatcher/config.js';
import { ListFileSource } from '../../../host/modules/dispatcher/db.js';
import { UdpProber } from '../../../host/modules/dispatcher/udp-prober.js';
import { DsTargetList } from '../../../host/modules/dispatcher/failover.js';
import { dispatcherRpcMethods } from '../../../host/modules/dispatcher/rpc.js';
import { freePorts } from '../../helpers/ports.js';
import { TinyUas } from './uas.js';

/** the UAS ports (gateways A and B of the list file, and C for the prober alone) and A's and B's URIs */
let portA = 0;
let portB = 0;
let portC = 0;
let A = '';
let B = '';

let dir: string;
let listFile: string;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  [portA, portB, portC] = (await freePorts(3)) as [number, number, number];
  A = `sip:127.0.0.1:${portA}`;
  B = `sip:127.0.0.1:${portB}`;
  dir = mkdtempSync(path.join(tmpdir(), 'siphon-ds-'));
  listFile = path.join(dir, 'dispatcher.list');
  writeFileSync(listFile, `# two gateways, probed\n1 ${A} 8 0 duid=a\n1 ${B} 8 0 duid=b\n`);
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function pick(ds: Dispatcher, n: number): Set<string> {
  const list = new DsTargetList();
  const out = new Set<string>();
  for (let i = 0; i < n; i++) {
    const t = { dstUri: null as string | null, requestUri: 'sip:x@y', setRequestUri() {} };
    if (ds.select({ method: 'INVITE', callId: `c${i}`, requestUri: 'sip:x@y', authUsername: () => undefined, hashPvValue: () => undefined }, t, list, 1, 4, 0, SetOp.DST_URI) === 1) out.add(t.dstUri!);
  }
  return out;
}

async function setup(cfg: Record<string, unknown>) {
  const a = new TinyUas(portA);
  const b = new TinyUas(portB);
  await a.start();
  await b.start();
  const prober = await UdpProber.start({ address: '127.0.0.1', port: 0 });
  const ds = new Dispatcher(resolveDispatcherConfig({ list_file: listFile, ds_ping_fr_timer: 400, ...cfg }), new ListFileSource(listFile), { prober });
  await ds.reload();
  cleanups.push(async () => {
    await ds.stop();
    await a.stop();
    await b.stop();
  });
  const flags = () => dispatcherRpcMethods(ds).find((m) => m.name === 'dispatcher.list')!.handler([]) as any;
  const letters = () => Object.fromEntries(flags().RECORDS[0].SET.TARGETS.map((t: any) => [t.DEST.URI, t.DEST.FLAGS]));
  return { a, b, ds, prober, letters };
}

describe('keepalive probing over UDP', () => {
  it('sends an RFC 3261 OPTIONS and reads the reply', async () => {
    const { a, ds, prober, letters } = await setup({ ds_probing_mode: 1 });
    await ds.pingRound();
    expect(letters()).toEqual({ [B]: 'AP', [A]: 'AP' });
    const req = a.received[0]!;
    expect(req).toMatch(new RegExp(`^OPTIONS sip:127\\.0\\.0\\.1:${portA} SIP/2\\.0\r\n`));
    expect(req).toMatch(new RegExp(`\r\nVia: SIP/2\\.0/UDP 127\\.0\\.0\\.1:${prober.port};branch=z9hG4bK[0-9a-f]{16};rport\r\n`));
    expect(req).toMatch(/\r\nFrom: <sip:dispatcher@localhost>;tag=1\.[^\r]+-[a-z0-9]{4}\r\n/);
    expect(req).toMatch(new RegExp(`\r\nTo: <sip:127\\.0\\.0\\.1:${portA}>\r\nCall-ID: [0-9a-f]+@127\\.0\\.0\\.1\r\nCSeq: 1 OPTIONS\r\n`));
    expect(req).toMatch(/\r\nMax-Forwards: 70\r\n[\s\S]*Content-Length: 0\r\n\r\n$/);
  });

  it('a stopped gateway goes inactive after ds_probing_threshold failures and leaves rotation; restarted, it is back after ds_inactive_threshold replies', async () => {
    const { b, ds, letters } = await setup({ ds_probing_mode: 1, ds_probing_threshold: 2, ds_inactive_threshold: 2 });
    const events: string[] = [];
    ds.on('dst-down', (e: DsStateEvent) => events.push(`down ${e.uri} ${e.code}`));
    ds.on('dst-up', (e: DsStateEvent) => events.push(`up ${e.uri} ${e.code}`));
    await ds.pingRound();
    expect(pick(ds, 4)).toEqual(new Set([A, B]));
    await b.stop();
    await ds.pingRound();
    expect(letters()[B]).toBe('TP'); // still selectable
    expect(pick(ds, 4)).toEqual(new Set([A, B]));
    await ds.pingRound();
    expect(letters()[B]).toBe('IP');
    expect(pick(ds, 4)).toEqual(new Set([A]));
    expect(events).toEqual([`down ${B} 408`]);
    await b.start();
    await ds.pingRound();
    expect(letters()[B]).toBe('IP');
    await ds.pingRound();
    expect(letters()[B]).toBe('AP');
    expect(pick(ds, 4)).toEqual(new Set([A, B]));
    expect(events).toEqual([`down ${B} 408`, `up ${B} 200`]);
  });

  it('dispatcher.set_state dx takes a gateway out at once and keepalives skip it', async () => {
    const { b, ds, letters } = await setup({ ds_probing_mode: 1 });
    const setState = dispatcherRpcMethods(ds).find((m) => m.name === 'dispatcher.set_state')!;
    expect(await setState.handler(['dx', 1, B])).toBe('Ok. Dispatcher state updated.');
    expect(letters()[B]).toBe('DX');
    expect(pick(ds, 4)).toEqual(new Set([A]));
    await ds.pingRound();
    expect(b.received).toHaveLength(0);
    expect(letters()[B]).toBe('DX');
  });

  it('an error reply counts as failure unless listed in ds_ping_reply_codes', async () => {
    const { a, ds, letters } = await setup({ ds_probing_mode: 1, ds_ping_reply_codes: 'code=404' });
    a.code = 404;
    await ds.pingRound();
    expect(letters()[A]).toBe('AP');
    a.code = 503;
    await ds.pingRound();
    expect(letters()[A]).toBe('IP');
  });

  it('the prober retransmits (Timer E), waits past a 100 Trying, and times out with 408 semantics', async () => {
    const a = new TinyUas(portC);
    await a.start();
    const prober = await UdpProber.start({ address: '127.0.0.1', port: 0 });
    cleanups.push(async () => {
      await prober.close();
      await a.stop();
    });
    const dst = { setid: 1, uri: `sip:127.0.0.1:${portC}`, method: 'OPTIONS', from: 'sip:ds@localhost', fromTag: 'x-abcd', obproxy: null, socket: null, timeoutMs: 4000 };
    a.dropFirst = 1;
    a.provisional = true;
    expect(await prober.sendOptions(dst)).toEqual({ code: 200, reason: 'OK' });
    expect(a.received.length).toBe(2);
    const branches = a.received.map((r) => /branch=([^;\r]+)/.exec(r)![1]);
    expect(branches[0]).toBe(branches[1]);
    a.code = 0;
    expect(await prober.sendOptions({ ...dst, timeoutMs: 300 })).toEqual({ timeout: true });
  });

  it('the keepalive timer (ds_ping_interval) drives the state without help', async () => {
    const { b, ds } = await setup({ ds_probing_mode: 1, ds_ping_interval: 1 });
    const down = new Promise<DsStateEvent>((resolve) => ds.once('dst-down', resolve));
    await b.stop();
    ds.start();
    const ev = await down;
    expect(ev).toMatchObject({ name: 'dispatcher:dst-down', uri: B, code: 408, source: 'keepalive' });
  });
});
