/**
 * plugins/lb end to end (Kamailio dispatcher semantics, issue "dispatcher ..."): the real `siphon
 * start` with modules.dispatcher (list file in a temp dir, keepalives every second from siphon's own
 * socket through tm) in front of two SIPp UAS gateways; the stock kamcmd over the control socket;
 * SIPp UAC runs through siphon.
 *
 *   - dispatcher.list shows set 1 with both gateways active (AP);
 *   - gateway 2 is killed while a UAC run is in flight (calls held 4 s, killed once it got 3
 *     INVITEs). What happens to each call is counted from siphon's log (plugins/lb xlog lines):
 *       * calls already in a dialog with gateway 2 fail: their BYE follows the Record-Route set to
 *         it and times out (fr_timer 1 s → 408); so 1 <= failed <= INVITEs it got before the kill;
 *       * every later INVITE round robin sends to it is failed over (fr_timer 1 s → local 408 →
 *         failure_route ds_mark_dst("ip") + ds_next_dst + t_relay) to gateway 1 and succeeds;
 *       * failed + failed over = every INVITE gateway 2 was sent: no call is lost another way;
 *     then the keepalives keep it inactive (IP) after ds_probing_threshold failed OPTIONS, and the
 *     next calls go to gateway 1 only (no INVITE to gateway 2, no failover);
 *   - restarted, it is active again after ds_inactive_threshold answered OPTIONS;
 *   - dispatcher.set_state dx takes the other one out at once: calls all go to the remaining one.
 *
 * Ports: free ephemeral ones (siphon SIP and HTTP, gateways, UAC runs).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../helpers/ports.js';
import { optionsRequest, startSiphon, udpRequest, type SiphonProcess } from '../helpers/siphon-process.js';
import { flagsOf, kamcmd, runCalls, startGateway, waitFor, writeLbConfig, expectAllCalls, type Gateway } from './lb-support.js';

let SIP_PORT = 0;
let HTTP_PORT = 0;
let GW1 = 0;
let GW2 = 0;
let URI1 = '';
let URI2 = '';
/** the failover run: calls, rate, how long each call is held, and how many INVITEs gateway 2 gets before it is killed. */
const CALLS = 30;
const RATE = 10;
const HOLD_MS = 4000;
const KILL_AFTER = 3;

let tmp: string;
let ctl: string;
let srv: SiphonProcess | null = null;
const gws: Gateway[] = [];

async function list(): Promise<string> {
  const r = await kamcmd(ctl, ['dispatcher.list']);
  expect(r.stderr).toBe('');
  return r.stdout;
}

let markers = 0;
/**
 * Everything siphon logged so far: its stdout is written asynchronously (host/log/logger.ts) but in
 * order, so once the xlog line of a marker OPTIONS (one with a user part: plugins/lb dispatches and
 * logs it) has arrived, every line logged before it has too.
 */
async function logSoFar(): Promise<string> {
  const user = `marker-${++markers}`;
  await udpRequest(SIP_PORT, (lp) => optionsRequest(SIP_PORT, 'udp', lp, { ruri: `sip:${user}@127.0.0.1:${SIP_PORT}` }), 3000);
  expect(await waitFor(async () => (srv!.stdout().includes(`lb: OPTIONS sip:${user}@`) ? true : null), 10_000)).toBe(true);
  return srv!.stdout();
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
    [SIP_PORT, HTTP_PORT, GW1, GW2] = [await freePort('udp'), await freePort('tcp'), await freePort('udp'), await freePort('udp')];
    URI1 = `sip:127.0.0.1:${GW1}`;
    URI2 = `sip:127.0.0.1:${GW2}`;
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
    const calls = await runCalls(`127.0.0.1:${SIP_PORT}`, await freePort('udp'), 6, 20);
    expectAllCalls(calls, 6);
  }, 30_000);

  it('a gateway killed while calls are in flight: only its calls in dialog fail, the rest fail over; keepalives mark it inactive', async () => {
    const mark = srv!.stdout().length;
    const log = (): string => srv!.stdout().slice(mark);
    const sentTo2 = (text: string): number => text.match(new RegExp(`lb: INVITE \\S+ via <sip:127\\.0\\.0\\.1:${GW2}>`, 'g'))?.length ?? 0;
    const failovers = (text: string): number => text.match(/lb: failover of INVITE /g)?.length ?? 0;

    /** INVITEs sent to gateway 2 up to `at` (ms since the epoch; siphon's log lines carry their ISO time). */
    const sentTo2By = (text: string, at: number): number =>
      text.split('\n').filter((l) => sentTo2(l) === 1 && Date.parse(/"time":"([^"]+)"/.exec(l)?.[1] ?? '') <= at).length;

    const running = runCalls(`127.0.0.1:${SIP_PORT}`, await freePort('udp'), CALLS, RATE, { holdMs: HOLD_MS });
    // the kill comes while gateway 2 holds calls: KILL_AFTER INVITEs went to it, each call lasts HOLD_MS
    expect(await waitFor(async () => (sentTo2(log()) >= KILL_AFTER ? true : null), 20_000)).toBe(true);
    const killedAt = Date.now();
    await gws[1]!.stop();
    const calls = await running;

    const after = (await logSoFar()).slice(mark);
    const sentBeforeKill = sentTo2By(after, killedAt);
    expect(sentBeforeKill, after.slice(-3000)).toBeGreaterThanOrEqual(KILL_AFTER);
    const why = `sent to gateway 2: ${sentTo2(after)} (${sentBeforeKill} before the kill), failovers ${failovers(after)}; sipp exit ${calls.code}: ${calls.stdout.slice(-1500)}`;
    // calls in a dialog with the dead gateway: their BYE times out; nothing else fails
    expect(calls.failed, why).toBeGreaterThanOrEqual(1);
    expect(calls.failed, why).toBeLessThanOrEqual(sentBeforeKill);
    expect(calls.successful, why).toBe(CALLS - calls.failed);
    // every INVITE gateway 2 got belongs to a call that failed (in dialog at the kill) or was failed over
    expect(calls.failed + failovers(after), why).toBe(sentTo2(after));
    // round robin kept sending to it after the kill until marked: those calls were all failed over
    expect(failovers(after), why).toBeGreaterThanOrEqual(sentTo2(after) - sentBeforeKill);
    expect(after).toMatch(new RegExp(`lb: <sip:127\\.0\\.0\\.1:${GW2}> failed for INVITE`));

    // ds_probing_threshold (2) failed OPTIONS: inactive + probing
    expect(await waitFlags(URI2, /^IP$/, 10_000)).toBe('IP');
    expect(flagsOf(await list(), URI1)).toMatch(/^A/);
    expect(srv!.stdout()).toContain('dispatcher:dst-down');
    // out of rotation: the next calls all go to gateway 1, none is sent to gateway 2 or failed over
    const mark2 = srv!.stdout().length;
    const more = await runCalls(`127.0.0.1:${SIP_PORT}`, await freePort('udp'), 6, 20);
    expectAllCalls(more, 6);
    const later = (await logSoFar()).slice(mark2);
    expect(sentTo2(later)).toBe(0);
    expect(failovers(later)).toBe(0);
    expect(later.match(new RegExp(`lb: INVITE \\S+ via <sip:127\\.0\\.0\\.1:${GW1}>`, 'g'))?.length).toBe(6);
  }, 90_000);

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
    const calls = await runCalls(`127.0.0.1:${SIP_PORT}`, await freePort('udp'), 6, 20);
    expectAllCalls(calls, 6);
    const back = await kamcmd(ctl, ['dispatcher.set_state', 'ap', '1', URI1]);
    expect(back.stdout).toContain('Ok. Dispatcher state updated.');
    expect(flagsOf(await list(), URI1)).toMatch(/^A/);
  }, 30_000);
});
