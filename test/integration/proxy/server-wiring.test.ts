/**
 * The transaction layer wired into the real pipeline (SiphonServer with `transactions` enabled) and
 * the tm-probe Wasm plugin linked with server.importProviders(): UDP on 127.0.0.1, ports from freePorts().
 */
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../host/config/load.js';
import { SiphonServer } from '../../../host/server/server.js';
import { loadPlugin } from '../../../host/wasm/runtime.js';
import type { LoadedPlugin } from '../../../host/wasm/types.js';
// @ts-expect-error: plain ESM script without type declarations
import { buildPlugin } from '../../../scripts/build-plugins.mjs';
import { freePorts } from '../../helpers/ports.js';
import { reply, request, sleep, TestUA } from './harness.js';

const ports = await freePorts(10);
const PLUGINS = path.resolve(import.meta.dirname, 'plugins');
const log = pino({ level: 'silent' });
let server: SiphonServer;
let plugin: LoadedPlugin;
let uac: TestUA;
let uas: TestUA;

beforeAll(async () => {
  await buildPlugin(PLUGINS, 'tm-probe');
  const config = parseConfig(['core:', '  listen:', `    - udp:127.0.0.1:${ports[0]}`, 'routing:', '  plugin: tm-probe'].join('\n'), null);
  server = new SiphonServer({ config, log, router: null, transactions: { timers: { t1: 100, fr: 1500 } } });
  plugin = await loadPlugin(path.join(PLUGINS, 'tm-probe', 'build', 'tm-probe.wasm'), {
    log,
    providers: server.importProviders(),
    isMyself: server.isMyself,
    config: { tag: 'wired' },
  });
  server.setRouter(plugin);
  await server.start();
  uac = await TestUA.bind(ports[1]);
  uas = await TestUA.bind(ports[2]);
}, 90_000);

afterAll(async () => {
  await server?.stop();
  plugin?.close();
  await uac?.close();
  await uas?.close();
});

describe('SiphonServer with transactions', () => {
  it('a dialog through the pipeline: INVITE relayed statefully with Record-Route, retransmission absorbed, ACK and BYE by Route', async () => {
    const ruri = `sip:bob@127.0.0.1:${ports[2]}`;
    const inv = request({ ruri, uacPort: ports[1], branch: 'z9hG4bK-w1', callId: 'wired1@test' });
    uac.send(inv, ports[0]);
    await uac.waitResponse(100);
    const got = await uas.waitRequest('INVITE');
    uas.send(reply(got.msg, 100, 'Trying'), ports[0]); // stops timer A (RFC 3261 §17.1.1.2)
    expect(got.msg.header('x-branch')).toBe('3 0 wired');
    uac.send(inv, ports[0]);
    await sleep(100);
    expect(server.stats().transactionAbsorbed).toBeGreaterThanOrEqual(1);
    expect(server.transactions!.stats.requestRetransmissions).toBeGreaterThanOrEqual(1);
    uas.send(reply(got.msg, 200, 'OK', { contactPort: ports[2], copyRecordRoute: true }), ports[0]);
    const ok = await uac.waitResponse(200);
    const route = ok.msg.headerValues('record-route');
    expect(route).toEqual([`<sip:127.0.0.1:${ports[0]};lr;ftag=alice1>`]);
    uac.send(request({ method: 'ACK', ruri, uacPort: ports[1], branch: 'z9hG4bK-w1-ack', callId: 'wired1@test', toTag: 'bob1', routes: route }), ports[0]);
    const ack = await uas.waitRequest('ACK');
    expect(ack.msg.headerCount('route')).toBe(0);
    uac.send(request({ method: 'BYE', ruri, uacPort: ports[1], branch: 'z9hG4bK-w1-bye', callId: 'wired1@test', cseq: 2, toTag: 'bob1', routes: route }), ports[0]);
    const bye = await uas.waitRequest('BYE');
    uas.send(reply(bye.msg, 200, 'OK'), ports[0]);
    await uac.waitResponse(200, 'BYE');
    // one INVITE, plus at most a timer A retransmission when the 100 was slow to come back
    expect(new Set(uas.requests('INVITE').map((r) => r.msg.vias[0]!.branch)).size).toBe(1);
    expect(server.stats().relayed).toBe(2); // INVITE and BYE by t_relay; the ACK by forward()
  });

  it('CANCEL through the pipeline: 200 to the CANCEL, CANCEL downstream, 487 upstream', async () => {
    const ruri = `sip:bob@127.0.0.1:${ports[2]}`;
    uac.send(request({ ruri, uacPort: ports[1], branch: 'z9hG4bK-w2', callId: 'wired2@test' }), ports[0]);
    const got = await uas.waitFor((m) => m.method === 'INVITE' && m.callId === 'wired2@test');
    uas.send(reply(got.msg, 180, 'Ringing'), ports[0]);
    await uac.waitFor((m) => m.status === 180 && m.callId === 'wired2@test');
    uac.send(request({ method: 'CANCEL', ruri, uacPort: ports[1], branch: 'z9hG4bK-w2', callId: 'wired2@test' }), ports[0]);
    await uac.waitFor((m) => m.status === 200 && m.method === 'CANCEL' && m.callId === 'wired2@test');
    const cancel = await uas.waitFor((m) => m.method === 'CANCEL' && m.callId === 'wired2@test');
    uas.send(reply(cancel.msg, 200, 'OK'), ports[0]);
    uas.send(reply(got.msg, 487, 'Request Terminated'), ports[0]);
    await uac.waitFor((m) => m.status === 487 && m.callId === 'wired2@test');
  });

  it('no answer: fr_timer expires, failure_route runs (the plugin answers 480); a request to ourselves gets 482', async () => {
    const stats = server.transactions!.stats;
    const [timeouts, resent] = [stats.clientTimeouts, stats.requestsResent];
    uac.send(request({ ruri: `sip:nobody@127.0.0.1:${ports[9]}`, uacPort: ports[1], branch: 'z9hG4bK-w3', callId: 'wired3@test' }), ports[0]);
    const r = await uac.waitFor((m) => m.status >= 300 && m.callId === 'wired3@test', 4000, 'a final');
    expect(r.msg.status).toBe(480);
    expect(r.msg.reason).toBe('No Alternate 2 wired'); // failure_route ran for the local 408
    // the 408 came from timer B (fr_timer 1500 ms), not from a failure at once: timer A (T1 = 100 ms) is
    // due before it and re-sent the INVITE first (RFC 3261 §17.1.1.2)
    expect(stats.clientTimeouts).toBe(timeouts + 1);
    expect(stats.requestsResent).toBeGreaterThan(resent);
    uac.send(request({ method: 'OPTIONS', ruri: `sip:loop@127.0.0.1:${ports[0]}`, uacPort: ports[1], branch: 'z9hG4bK-w4', callId: 'wired4@test' }), ports[0]);
    const loop = await uac.waitFor((m) => m.callId === 'wired4@test' && m.status >= 300, 3000, 'a final to the looping request');
    expect(loop.msg.status).toBe(482);
  });
});
