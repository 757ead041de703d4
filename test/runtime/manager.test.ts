/**
 * PluginManager: hot swap through the real loader (validation, metering, plugin_init), rollback,
 * automatic rollback and crash-loop backoff, pinning and draining, and the plugin.* RPC methods.
 * Guests are small WAT modules whose request_route returns an action identifying the version.
 */
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Action } from '../../host/core/context.js';
import { MethodRegistry } from '../../host/rpc/registry.js';
import { RpcFault } from '../../host/rpc/types.js';
import { PluginManager, type PluginManagerOptions } from '../../host/wasm/manager.js';
import { pluginRpcMethods } from '../../host/wasm/rpc.js';
import { captureLogger, guest, INVITE, makeCtx, parseSip, tempWasm, wat } from './helpers.js';

const identity = (version: string, name = 'routing') => ({ 'sip.plugin': JSON.stringify({ name, version }) });

/** request_route returns `action`: DROP (1) for v1, REPLIED (2) for v2, RELAY (3) for v3. */
function constant(version: string, action: number): string {
  return tempWasm(`routing-${version}.wasm`, wat(guest(`(func (export "request_route") (param i32) (result i32) (i32.const ${action}))`), identity(version)));
}
const V1 = () => constant('1.0.0', Action.DROP);
const V2 = () => constant('2.0.0', Action.REPLIED);
const V3 = () => constant('3.0.0', Action.RELAY);
/** traps on every request. */
const TRAPPING = () => tempWasm('routing-bad.wasm', wat(guest('(func (export "request_route") (param i32) (result i32) unreachable)'), identity('9.9.9-bad')));
/** no sip_abi_v1 marker: refused with E4003. */
const WRONG_ABI = () => tempWasm('routing-noabi.wasm', wat(guest('(func (export "request_route") (param i32) (result i32) (i32.const 1))', { marker: false }), identity('4.0.0')));
/** plugin_init refuses its configuration: E4007. */
const INIT_REFUSES = () =>
  tempWasm(
    'routing-init.wasm',
    wat(guest('(func (export "plugin_init") (param i32) (result i32) (i32.const 7)) (func (export "request_route") (param i32) (result i32) (i32.const 1))'), identity('5.0.0')),
  );

let clock = 1_000_000;
const managers: PluginManager[] = [];
function manager(extra: Partial<PluginManagerOptions> = {}) {
  const logs: Array<Record<string, unknown>> = [];
  const log = captureLogger(logs, 'info');
  const m = new PluginManager({ log, loadOptions: { limits: { memoryMaxPages: 16 } }, now: () => clock, ...extra });
  managers.push(m);
  return { m, logs };
}
afterEach(() => {
  for (const m of managers.splice(0)) m.closeAll();
});

async function route(m: PluginManager) {
  const t = makeCtx(await parseSip(INVITE));
  return { action: m.requestRoute(t.ctx), ...t };
}

describe('PluginManager hot swap', () => {
  it('a good version becomes current; the one before stays warm as previous', async () => {
    const { m } = manager();
    const v1 = await m.loadRouting(V1());
    expect(m.current()).toBe(v1);
    expect(m.routingName).toBe('routing');
    expect((await route(m)).action).toBe(Action.DROP);

    const r = await m.load('routing', V2());
    expect(r.ok).toBe(true);
    expect((await route(m)).action).toBe(Action.REPLIED);
    expect(m.current()!.info.version).toBe('2.0.0');
    expect(m.stateOf(v1)).toBe('previous');
    const view = m.slot('routing')!;
    expect(view.versions.map((v) => [v.version, v.state])).toEqual([
      ['2.0.0', 'current'],
      ['1.0.0', 'previous'],
    ]);
    expect(view.versions[0]!.stats.calls).toBe(1);
    expect(view.versions[1]!.stats.calls).toBe(1);
  });

  it('refuses a wrong-ABI build, a failing plugin_init and a missing file; the running version keeps serving', async () => {
    const { m, logs } = manager();
    await m.loadRouting(V1());
    const running = m.current();
    for (const [file, code] of [
      [WRONG_ABI(), 'E4003'],
      [INIT_REFUSES(), 'E4007'],
      ['/nonexistent/siphon/none.wasm', 'E4001'],
    ] as const) {
      const r = await m.load('routing', file);
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(r.error.message).toContain(code);
      expect(r.error.message).toContain(file); // the reason names the file
      expect(r.current?.version).toBe('1.0.0');
      expect(m.current()).toBe(running);
      expect((await route(m)).action).toBe(Action.DROP);
    }
    expect(m.slot('routing')!.versions).toHaveLength(1);
    expect(m.slot('routing')!.lastEvent?.kind).toBe('load-refused');
    expect(logs.some((l) => l.msg === 'plugin load refused; the running version stays')).toBe(true);
  });

  it('an unknown plugin name is refused (E4020)', async () => {
    const { m } = manager();
    await m.loadRouting(V1());
    const r = await m.load('other', V2());
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.message).toContain('E4020');
  });

  it('rollback swaps current and previous (both warm), and again back', async () => {
    const { m } = manager();
    const v1 = await m.loadRouting(V1());
    await m.load('routing', V2());
    const v2 = m.current()!;
    const r = m.rollback();
    expect(r.ok).toBe(true);
    expect(m.current()).toBe(v1);
    expect((await route(m)).action).toBe(Action.DROP);
    expect(m.stateOf(v2)).toBe('previous');
    expect(m.rollback('routing').ok).toBe(true);
    expect(m.current()).toBe(v2);
    expect((await route(m)).action).toBe(Action.REPLIED);
  });

  it('rollback without a previous version is refused (E4021)', async () => {
    const { m } = manager();
    await m.loadRouting(V1());
    const r = m.rollback();
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.message).toContain('E4021');
  });

  it('a third load closes the unpinned oldest version', async () => {
    const { m } = manager();
    const v1 = await m.loadRouting(V1());
    await m.load('routing', V2());
    await m.load('routing', V3());
    expect(m.stateOf(v1)).toBe('retired');
    expect(m.slot('routing')!.versions.map((v) => v.version)).toEqual(['3.0.0', '2.0.0']);
  });

  it('reload loads the current file again as a new version', async () => {
    const { m } = manager();
    const v1 = await m.loadRouting(V1());
    const r = await m.reload();
    expect(r.ok).toBe(true);
    expect(m.current()).not.toBe(v1);
    expect(m.current()!.info.sha256).toBe(v1.info.sha256);
    expect(m.stateOf(v1)).toBe('previous');
  });
});

describe('failure policy', () => {
  it('rolls back automatically when a new version traps more than N times within the window', async () => {
    const { m, logs } = manager({ failurePolicy: { maxFailures: 5, windowMs: 10_000 } });
    const v1 = await m.loadRouting(V1());
    await m.load('routing', TRAPPING());
    const bad = m.current()!;
    for (let i = 0; i < 5; i++) expect((await route(m)).action).toBe(Action.ERROR);
    expect(m.current()).toBe(bad); // 5 is not more than 5
    expect((await route(m)).action).toBe(Action.ERROR);
    // the sixth failure within the window rolled back to the warm previous version
    expect(m.current()).toBe(v1);
    expect(m.stateOf(bad)).toBe('retired');
    expect((await route(m)).action).toBe(Action.DROP);
    expect(m.slot('routing')!.lastEvent?.kind).toBe('auto-rollback');
    expect(logs.some((l) => String(l.msg).startsWith('automatic rollback'))).toBe(true);
  });

  it('failures spread wider than the window do not roll back', async () => {
    const { m } = manager({ failurePolicy: { maxFailures: 3, windowMs: 1_000 } });
    await m.loadRouting(V1());
    await m.load('routing', TRAPPING());
    const bad = m.current()!;
    for (let i = 0; i < 10; i++) {
      clock += 600;
      await route(m);
    }
    expect(m.current()).toBe(bad);
  });

  it('without a previous version: exponential backoff answering 503 + Retry-After, plugin not called', async () => {
    const { m } = manager({ failurePolicy: { maxFailures: 3, windowMs: 10_000, backoffBaseMs: 1_000 } });
    const bad = await m.loadRouting(TRAPPING());
    for (let i = 0; i < 4; i++) expect((await route(m)).action).toBe(Action.ERROR);
    expect(m.slot('routing')!.backoffMs).toBe(1_000);
    const calls = bad.stats.calls;
    const during = await route(m);
    expect(during.action).toBe(Action.REPLIED);
    expect(during.replies).toEqual([{ code: 503, reason: 'Service Unavailable', headers: ['Retry-After: 1'] }]);
    expect(bad.stats.calls).toBe(calls);
    // an ACK is never answered
    const ack = makeCtx(await parseSip(INVITE.replace(/^INVITE/, 'ACK').replace('CSeq: 314159 INVITE', 'CSeq: 314159 ACK')));
    expect(m.requestRoute(ack.ctx)).toBe(Action.DROP);
    expect(ack.replies).toHaveLength(0);

    clock += 1_001; // backoff over: the plugin is tried again, and loops again → 2 s
    for (let i = 0; i < 4; i++) expect((await route(m)).action).toBe(Action.ERROR);
    expect(m.slot('routing')!.backoffMs).toBe(2_000);
    expect(m.slot('routing')!.backoffLevel).toBe(2);
    expect((await route(m)).replies[0]!.headers).toEqual(['Retry-After: 2']);

    // a good version clears the backoff
    await m.load('routing', V1());
    expect(m.slot('routing')!.backoffMs).toBe(0);
    expect((await route(m)).action).toBe(Action.DROP);
  });

  it('backoff can answer 500 instead', async () => {
    const { m } = manager({ failurePolicy: { maxFailures: 1, backoffStatus: 500 } });
    await m.loadRouting(TRAPPING());
    await route(m);
    await route(m);
    expect((await route(m)).replies).toEqual([{ code: 500, reason: 'Server Internal Error', headers: [] }]);
  });
});

describe('pinning and draining', () => {
  it('a pinned version stays alive (draining) after it is replaced, and is released with its last pin', async () => {
    const { m } = manager();
    const v1 = await m.loadRouting(V1());
    const pinned = m.pin()!; // a transaction started on v1
    expect(pinned).toBe(v1);
    expect(m.pins(v1)).toBe(1);
    await m.load('routing', V2());
    await m.load('routing', V3());
    expect(m.stateOf(v1)).toBe('draining');
    expect(m.slot('routing')!.versions.map((v) => [v.version, v.state, v.pins])).toEqual([
      ['3.0.0', 'current', 0],
      ['2.0.0', 'previous', 0],
      ['1.0.0', 'draining', 1],
    ]);
    // the transaction's later hooks still run on the version it started on
    const t = makeCtx(await parseSip(INVITE));
    expect(m.requestRouteOn(pinned, t.ctx)).toBe(Action.DROP);
    expect((await route(m)).action).toBe(Action.RELAY);
    m.release(pinned);
    expect(m.stateOf(v1)).toBe('retired');
    expect(m.slot('routing')!.versions).toHaveLength(2);
  });

  it('a draining version is closed at the drain deadline; its leftovers fall through to current', async () => {
    const { m, logs } = manager({ drainDeadlineMs: 30 });
    const v1 = await m.loadRouting(V1());
    m.pin();
    await m.load('routing', V2());
    await m.load('routing', V3());
    expect(m.stateOf(v1)).toBe('draining');
    await new Promise((r) => setTimeout(r, 80));
    expect(m.stateOf(v1)).toBe('retired');
    expect(logs.some((l) => String(l.msg).startsWith('drain deadline reached'))).toBe(true);
    const t = makeCtx(await parseSip(INVITE));
    expect(m.requestRouteOn(v1, t.ctx)).toBe(Action.RELAY);
  });
});

describe('plugin.* RPC methods', () => {
  it('list, load (refused and accepted), rollback, stats', async () => {
    const { m } = manager();
    const registry = new MethodRegistry();
    const v1 = V1();
    // plugin.load reads only from the plugin directories (plugin-path.ts): here the fixtures' folder
    registry.registerAll(pluginRpcMethods(m, { rootDir: '/', pathPolicy: { dirs: [path.dirname(v1)], maxBytes: 1 << 20 } }));
    await m.loadRouting(v1);
    await route(m);

    const list = (await registry.call('plugin.list', [])) as Array<Record<string, unknown>>;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ name: 'routing', version: '1.0.0', state: 'current', routing: true, calls: 1, traps: 0 });
    expect(list[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof list[0]!.hook_p99_us).toBe('number');

    const bad = WRONG_ABI();
    const fault = await registry.call('plugin.load', ['routing', bad]).catch((e: unknown) => e);
    expect(fault).toBeInstanceOf(RpcFault);
    expect((fault as RpcFault).faultCode).toBe(500);
    expect((fault as RpcFault).message).toContain(bad);
    expect((fault as RpcFault).message).toContain('running: routing@1.0.0');

    const ok = (await registry.call('plugin.load', ['routing', V2()])) as Record<string, unknown>;
    expect(ok).toMatchObject({ name: 'routing', version: '2.0.0' });
    expect(String(ok.previous)).toMatch(/^routing@1\.0\.0 /);

    const rb = (await registry.call('plugin.rollback', ['routing'])) as Record<string, unknown>;
    expect(rb.version).toBe('1.0.0');
    const stats = (await registry.call('plugin.stats', [])) as Array<Record<string, unknown>>;
    expect(stats[0]).toMatchObject({ name: 'routing', routing: true, backoff_ms: 0, last_event: { kind: 'rollback' } });
    expect((stats[0]!.versions as unknown[]).length).toBe(2);

    const nf = await registry.call('plugin.rollback', ['nope']).catch((e: unknown) => e);
    expect((nf as RpcFault).faultCode).toBe(404);
  });
});
