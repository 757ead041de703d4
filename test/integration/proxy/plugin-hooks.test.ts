/**
 * The tm/rr imports and hooks with a real Wasm plugin (plugins/tm-probe, built from the SDK) over
 * UDP on 127.0.0.1 (ports from freePorts()): branch_route, onreply_route, failure_route (serial forking
 * and t_reply), record_route, and pinning of the plugin version that created a transaction.
 */
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RrImports, TmImports } from '../../../host/proxy/abi.js';
import { loadPlugin } from '../../../host/wasm/runtime.js';
import type { LoadedPlugin } from '../../../host/wasm/types.js';
// @ts-expect-error: plain ESM script without type declarations
import { buildPlugin } from '../../../scripts/build-plugins.mjs';
import { freePorts } from '../../helpers/ports.js';
import { ProxyHarness, reply, request, sleep, TestUA } from './harness.js';

const PLUGINS = path.resolve(import.meta.dirname, 'plugins');
const WASM = path.join(PLUGINS, 'tm-probe', 'build', 'tm-probe.wasm');
const log = pino({ level: 'silent' });

beforeAll(async () => {
  await buildPlugin(PLUGINS, 'tm-probe');
}, 90_000);

const opened: Array<{ close(): Promise<void> | void }> = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

async function setup(ports: number[], uasCount: number, tags: string[] = ['v1']) {
  const harness = await ProxyHarness.start(ports[0], { router: () => 0 as never });
  opened.push(harness);
  const providers = [new TmImports(harness.proxy), new RrImports(harness.proxy)];
  const plugins: LoadedPlugin[] = [];
  for (const tag of tags) {
    const plugin = await loadPlugin(WASM, { log, providers, config: { tag }, isMyself: (h, port) => h === '127.0.0.1' && port === ports[0] });
    plugins.push(plugin);
    opened.push({ close: () => plugin.close() });
  }
  const use = (p: LoadedPlugin) => {
    harness.router = (ctx) => p.requestRoute(ctx);
    harness.hooks = p;
  };
  use(plugins[0]!);
  const uac = await TestUA.bind(ports[1]);
  const uas: TestUA[] = [];
  for (let i = 0; i < uasCount; i++) uas.push(await TestUA.bind(ports[2 + i]));
  opened.push(uac, ...uas);
  return { harness, plugins, use, uac, uas };
}

describe('tm/rr imports and hooks with a Wasm plugin', () => {
  it('branch_route edits the branch, onreply_route sees each reply with its branch index, record_route is inserted', async () => {
    const ports = await freePorts(10);
    const { uac, uas } = await setup(ports, 1);
    uac.send(request({ ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-p1', callId: 'plugin1@test' }), ports[0]);
    const inv = await uas[0]!.waitRequest('INVITE');
    expect(inv.msg.header('x-branch')).toBe('3 0 v1');
    expect(inv.msg.headerValues('record-route')).toEqual([`<sip:127.0.0.1:${ports[0]};lr;ftag=alice1>`]);
    uas[0]!.send(reply(inv.msg, 180, 'Ringing'), ports[0]);
    const ringing = await uac.waitResponse(180);
    expect(ringing.msg.header('x-reply')).toBe('1 180 0 v1');
    uas[0]!.send(reply(inv.msg, 200, 'OK', { contactPort: ports[2] }), ports[0]);
    const ok = await uac.waitResponse(200);
    expect(ok.msg.header('x-reply')).toBe('1 200 0 v1');
  });

  it('failure_route: a 486 makes the plugin relay to its alternate (serial forking)', async () => {
    const ports = await freePorts(10);
    const { uac, uas } = await setup(ports, 2);
    uac.send(request({
      ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-p2', callId: 'plugin2@test',
      extra: [`X-Alternate: sip:bob@127.0.0.1:${ports[3]}`],
    }), ports[0]);
    const first = await uas[0]!.waitRequest('INVITE');
    uas[0]!.send(reply(first.msg, 486, 'Busy Here'), ports[0]);
    const second = await uas[1]!.waitRequest('INVITE');
    expect(second.msg.requestUri).toBe(`sip:bob@127.0.0.1:${ports[3]}`);
    expect(second.msg.header('x-branch')).toBe('3 1 v1');
    uas[1]!.send(reply(second.msg, 200, 'OK', { contactPort: ports[3] }), ports[0]);
    await uac.waitResponse(200);
    await sleep(50);
    expect(uac.responses(486).length).toBe(0);
  });

  it('failure_route: t_reply answers upstream instead of the branch response', async () => {
    const ports = await freePorts(10);
    const { uac, uas } = await setup(ports, 1);
    uac.send(request({ ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-p3', callId: 'plugin3@test' }), ports[0]);
    const inv = await uas[0]!.waitRequest('INVITE');
    uas[0]!.send(reply(inv.msg, 486, 'Busy Here'), ports[0]);
    const r = await uac.waitResponse(480);
    expect(r.msg.reason).toBe('No Alternate 2 v1');
    await sleep(50);
    expect(uac.responses(486).length).toBe(0);
  });

  it('pinning: hooks of a transaction run on the plugin version that created it, after a switch to a new version', async () => {
    const ports = await freePorts(10);
    const { uac, uas, plugins, use } = await setup(ports, 1, ['v1', 'v2']);
    uac.send(request({ ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-p4', callId: 'plugin4a@test' }), ports[0]);
    const inv1 = await uas[0]!.waitRequest('INVITE');
    expect(inv1.msg.header('x-branch')).toBe('3 0 v1');
    use(plugins[1]!); // "reload": new requests go to v2
    uas[0]!.send(reply(inv1.msg, 180, 'Ringing'), ports[0]);
    const ringing = await uac.waitResponse(180);
    expect(ringing.msg.header('x-reply')).toBe('1 180 0 v1');
    uac.send(request({ ruri: `sip:bob@127.0.0.1:${ports[2]}`, uacPort: ports[1], branch: 'z9hG4bK-p4b', callId: 'plugin4b@test' }), ports[0]);
    const inv2 = await uas[0]!.waitFor((m) => m.method === 'INVITE' && m.callId === 'plugin4b@test');
    expect(inv2.msg.header('x-branch')).toBe('3 0 v2');
  });
});
