/**
 * plugins/lb end to end (Kamailio dispatcher semantics, issue "dispatcher ..."): the real `siphon
 * start` with modules.dispatcher (list file in a temp dir, keepalives every second from siphon's own
 * socket through tm) in front of two SIPp UAS gateways on 127.0.0.1:5091/5092; the stock kamcmd over
 * the control socket; SIPp UAC runs of a few calls each.
 *
 *   - dispatcher.list shows set 1 with both gateways active (AP);
 *   - a gateway killed while calls run: its calls fail over (fr_timer 1 s → local 408 →
 *     failure_route ds_mark_dst("ip") + ds_next_dst + t_relay) with zero failed calls, and the
 *     keepalives keep it inactive (IP) after ds_probing_threshold failed OPTIONS;
 *   - restarted, it is active again after ds_inactive_threshold answered OPTIONS;
 *   - dispatcher.set_state dx takes the other one out at once: calls all go to the remaining one.
 *
 * Ports: siphon 14700 (SIP) / 14701 (HTTP), SIPp UAC 14702+, gateways 5091-5092.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSiphon, type SiphonProcess } from '../helpers/siphon-process.js';
import { flagsOf, kamcmd, runCalls, startGateway, waitFor, writeLbConfig, expectAllCalls, type Gateway } from './lb-support.js';

const SIP_PORT = 14700;
const HTTP_PORT = 14701;
const GW1 = 5091;
const GW2 = 5092;
const URI1 = `sip:127.0.0.1:${GW1}`;
const URI2 = `sip:127.0.0.1:${GW2}`;

let tmp: string;
let ctl: string;
let srv: SiphonProcess | null = null;
const gws: Gateway[] = [];
let uacPort = 14702;

async function list(): Promise<string> {
  const r = await kamcmd(ctl, ['dispatcher.list']);
  expect(r.stderr).toBe('');
  return r.stdout;
}

async function waitFlags(uri: string, want: RegExp, limitMs: number): Promise<string | null> {
  return waitFor(async () => {
    const f = flagsOf(await list(), uri);
    return f !== null && want.test(f) ? f : null;
  }, limitMs);
}

describe('plugins/lb: dispatcher failover and probing through siphon', () => {
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'siphon-lb-'));
    ctl = path.join(tmp, 'ctl.sock');
    gws.push(await startGateway(GW1), await startGateway(GW2));
    const cfg = writeLbConfig({ dir: tmp, sipPort: SIP_PORT, httpPort: HTTP_PORT, gateways: [GW1, GW2], ctl });
    srv = await startSiphon(['-c', cfg], { readyPorts: [{ proto: 'udp', port: SIP_PORT }] });
  }, 30_000);

  afterAll(async () => {
    await srv?.stop();
    for (const g of gws) await g.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('kamcmd dispatcher.list shows set 1 with both gateways, active once the keepalives answered', async () => {
    expect(await waitFlags(URI1, /^A/, 8000)).toMatch(/^A/);
    expect(await waitFlags(URI2, /^A/, 8000)).toMatch(/^A/);
    // the keepalives are client transactions of siphon's own tm (sent from the SIP socket), not a side socket
    const tm = await kamcmd(ctl, ['stats.get_statistics', 'tm:']);
    expect(Number(/tm:clientCreated = (\d+)/.exec(tm.stdout)?.[1])).toBeGreaterThanOrEqual(2);
    const out = await list();
    expect(out).toContain('NRSETS: 1');
    expect(out).toMatch(/SET: \{\s*ID: 1/);
    expect(out).toContain(`URI: ${URI1}`);
    expect(out).toContain(`URI: ${URI2}`);
    const calls = await runCalls(`127.0.0.1:${SIP_PORT}`, uacPort++, 6, 20);
    expectAllCalls(calls, 6);
  }, 30_000);

  it('a gateway killed under load: its calls fail over with zero failed calls, then keepalives mark it inactive', async () => {
    await gws[1]!.stop();
    // calls start at once, before any keepalive noticed: round robin sends every other one to the dead gateway
    const calls = await runCalls(`127.0.0.1:${SIP_PORT}`, uacPort++, 10, 20);
    expectAllCalls(calls, 10);
    expect(srv!.stdout()).toContain('lb: failover of INVITE');
    // ds_probing_threshold (2) failed OPTIONS: inactive + probing
    expect(await waitFlags(URI2, /^IP$/, 10_000)).toBe('IP');
    expect(flagsOf(await list(), URI1)).toMatch(/^A/);
    expect(srv!.stdout()).toContain('dispatcher:dst-down');
    // out of rotation: the next calls all go to gateway 1 and none waits for a timeout
    const t0 = Date.now();
    const more = await runCalls(`127.0.0.1:${SIP_PORT}`, uacPort++, 6, 20);
    expectAllCalls(more, 6);
    expect(Date.now() - t0).toBeLessThan(5000);
  }, 60_000);

  it('restarted, it is active again after ds_inactive_threshold answered keepalives', async () => {
    gws[1] = await startGateway(GW2);
    expect(await waitFlags(URI2, /^A/, 10_000)).toMatch(/^A/);
    expect(srv!.stdout()).toContain('dispatcher:dst-up');
    const stats = await kamcmd(ctl, ['stats.get_statistics', 'dispatcher:']);
    expect(stats.stdout).toMatch(/dispatcher:dst_down_events = [1-9]/);
    expect(stats.stdout).toMatch(/dispatcher:dst_up_events = [1-9]/);
  }, 30_000);

  it('dispatcher.set_state dx over kamcmd takes a gateway out at once', async () => {
    const r = await kamcmd(ctl, ['dispatcher.set_state', 'dx', '1', URI1]);
    expect(r.stdout).toContain('Ok. Dispatcher state updated.');
    expect(flagsOf(await list(), URI1)).toMatch(/^D/);
    const calls = await runCalls(`127.0.0.1:${SIP_PORT}`, uacPort++, 6, 20);
    expectAllCalls(calls, 6);
    const back = await kamcmd(ctl, ['dispatcher.set_state', 'ap', '1', URI1]);
    expect(back.stdout).toContain('Ok. Dispatcher state updated.');
    expect(flagsOf(await list(), URI1)).toMatch(/^A/);
  }, 30_000);
});
