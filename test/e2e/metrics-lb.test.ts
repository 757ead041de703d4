/**
 * /metrics end to end: the real `siphon start` (plugins/lb in front of a SIPp UAS gateway on
 * 127.0.0.1) with the loopback HTTP listener; `curl` scrapes /metrics before and after a
 * bounded SIPp UAC run and the message-path counters (requests in/out by method, replies by class,
 * transactions), the plugin hook histogram and gas, the dispatcher module counters and the
 * event-loop lag are all there and moved by the load.
 * Ports: siphon's SIP and HTTP ports and the gateway's from freePort() (lb-support gives the gateway a
 * free media port), the SIPp UAC's from runSipp (free SIP, media and control ports).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSiphon, type SiphonProcess } from '../helpers/siphon-process.js';
import { freePort } from '../helpers/ports.js';
import { runSipp } from '../helpers/sipp.js';
import { flagsOf, kamcmd, runCommand, SHARED_SCENARIOS, startGateway, waitFor, writeLbConfig, type Gateway } from './lb-support.js';

/** siphon's SIP (UDP) and HTTP (TCP) ports */
let SIP_PORT = 0;
let HTTP_PORT = 0;
/** the SIPp UAS gateway's port */
let GW = 0;
const CALLS = 20;

let tmp: string;
let srv: SiphonProcess | null = null;
let gw: Gateway | null = null;

async function scrape(): Promise<string> {
  const r = await runCommand('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${HTTP_PORT}/metrics`]);
  expect(r.code).toBe(0);
  return r.stdout;
}

/** value of the first series whose line starts with `prefix` (name plus the labels written out). */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return NaN;
}

describe('/metrics under a SIPp load through plugins/lb', () => {
  beforeAll(async () => {
    SIP_PORT = await freePort('udp');
    HTTP_PORT = await freePort('tcp');
    GW = await freePort('udp');
    tmp = mkdtempSync(path.join(os.tmpdir(), 'siphon-metrics-'));
    gw = await startGateway(GW);
    const cfg = writeLbConfig({ dir: tmp, sipPort: SIP_PORT, httpPort: HTTP_PORT, gateways: [GW], ctl: path.join(tmp, 'ctl.sock') });
    srv = await startSiphon(['-c', cfg], { readyPorts: [{ proto: 'udp', port: SIP_PORT }] });
  }, 30_000);

  afterAll(async () => {
    await srv?.stop();
    await gw?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('message-path, transaction, plugin and module counters move with the calls', async () => {
    // the gateway must be active before the load: with ds_probing_mode 1 a probe missed on a busy
    // machine (ds_ping_fr_timer 400 ms) leaves it inactive, and plugins/lb answers 503
    const uri = `sip:127.0.0.1:${GW}`;
    const active = await waitFor(async () => {
      const f = flagsOf((await kamcmd(path.join(tmp, 'ctl.sock'), ['dispatcher.list'])).stdout, uri);
      return f !== null && f.startsWith('A') ? f : null;
    }, 20_000);
    expect(active, 'gateway active in dispatcher.list before the load').not.toBeNull();
    const before = await scrape();
    // INVITE/180/200/ACK/BYE calls at 20/s, held 0 ms (-d 0), a timed-out call counted as failed
    const calls = await runSipp(SIP_PORT, path.join(SHARED_SCENARIOS, 'invite.xml'), { rate: 20, calls: CALLS, timeoutS: 25, recvTimeoutMs: 10_000, extra: ['-d', '0', '-timeout_error'] });
    expect(calls.failed, calls.errors).toBe(0);
    expect(calls.successful, calls.errors).toBe(CALLS);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}): number => value(after, name, labels) - (value(before, name, labels) || 0);

    // requests in by method: INVITE, ACK, BYE from the UAC (ready-probe OPTIONS came before)
    expect(delta('siphon_sip_requests_total', { direction: 'in', method: 'INVITE' })).toBe(CALLS);
    expect(delta('siphon_sip_requests_total', { direction: 'in', method: 'BYE' })).toBe(CALLS);
    expect(delta('siphon_sip_requests_total', { direction: 'out', method: 'INVITE' })).toBe(CALLS);
    // replies: 180/200 from the gateway in; 100 (tm) + 180 + 200 (INVITE and BYE) out
    expect(delta('siphon_sip_replies_total', { direction: 'in', class: '2xx' })).toBeGreaterThanOrEqual(2 * CALLS);
    expect(delta('siphon_sip_replies_total', { direction: 'out', class: '2xx' })).toBeGreaterThanOrEqual(2 * CALLS);
    expect(delta('siphon_sip_replies_total', { direction: 'out', class: '1xx' })).toBeGreaterThanOrEqual(CALLS);
    expect(delta('siphon_sip_transactions_total', { kind: 'server' })).toBeGreaterThanOrEqual(2 * CALLS);
    expect(delta('siphon_sip_transactions_total', { kind: 'client' })).toBeGreaterThanOrEqual(2 * CALLS);
    expect(value(after, 'siphon_sip_parse_errors_total', { proto: 'udp' })).toBe(0);
    // plugin hook latency and gas, module counters (dispatcher), event-loop lag
    expect(delta('siphon_plugin_hook_duration_seconds_count', { plugin: 'lb@1.0.0', hook: 'request_route' })).toBeGreaterThanOrEqual(2 * CALLS);
    expect(delta('siphon_plugin_gas_used_total', { plugin: 'lb@1.0.0', hook: 'request_route' })).toBeGreaterThan(0);
    expect(value(after, 'siphon_plugin_traps_total', { plugin: 'lb@1.0.0', hook: 'request_route', kind: 'trap' })).toBe(0);
    expect(delta('siphon_module_statistic', { module: 'dispatcher', name: 'selections' })).toBe(CALLS);
    expect(value(after, 'siphon_module_statistic', { module: 'dispatcher', name: 'pings_sent' })).toBeGreaterThan(0);
    expect(delta('siphon_module_statistic', { module: 'core', name: 'relayed' })).toBeGreaterThanOrEqual(3 * CALLS);
    expect(value(after, 'siphon_nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  }, 60_000);
});
