/**
 * Capabilities and plugin chains in the plugin manager, through the real loader (validation,
 * metering, instantiation): imports checked against what the manifest declares and config grants
 * (E4070/E4071), the RELAY action without `relay` (E4072), chains of WAT guests run in order with
 * CONTINUE passing on, each member swapped, rolled back and budgeted on its own, and a transaction
 * pinning every member's version.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Action } from '../../host/core/context.js';
import { CAPABILITIES, NAMESPACE_CAPABILITIES, SIP_CAPABILITY, TEXT_CAPABILITY } from '../../host/wasm/capabilities.js';
import { SIP_IMPORTS } from '../../host/wasm/abi-v1.js';
import { PluginManager, type ChainMember } from '../../host/wasm/manager.js';
import { ChainPin } from '../../host/wasm/version.js';
import type { WasmPlugin } from '../../host/wasm/plugin.js';
import type { GrantOptions } from '../../host/wasm/loader.js';
import { SiphonMetrics } from '../../host/metrics/metrics.js';
import { captureLogger, guest, INVITE, makeCtx, parseSip, tempWasm, wat } from './helpers.js';

const manifest = (name: string, version: string, capabilities?: string[]) => ({ 'sip.plugin': JSON.stringify({ name, version, ...(capabilities ? { capabilities } : {}) }) });

const HDR_ADD = '(import "sip" "hdr_add" (func $hdr_add (param i32 i32 i32 i32 i32) (result i32)))';
const HDR_COUNT = '(import "sip" "hdr_count" (func $hdr_count (param i32 i32) (result i32)))';
const SL_REPLY = '(import "sip" "sl_reply" (func $sl_reply (param i32 i32 i32) (result i32)))';
const SAVE = '(import "registrar" "save" (func $save (param i32 i32 i32) (result i32)))';

/** vendor: adds `X-Vendor: checked` and returns `action` (CONTINUE passes the request on). */
function vendor(version: string, action: number, caps: string[] | null = ['msg.read', 'msg.write']): string {
  const body = `(data (i32.const 16) "X-Vendor") (data (i32.const 32) "checked")
    (func (export "request_route") (param i32) (result i32)
      (drop (call $hdr_add (i32.const 16) (i32.const 8) (i32.const 32) (i32.const 7) (i32.const 0)))
      (i32.const ${action}))`;
  return tempWasm(`vendor-${version}.wasm`, wat(guest(body, { imports: HDR_ADD }), manifest('vendor', version, caps ?? undefined)));
}

/** vendor that answers 403 itself and returns CONTINUE (as the SDK's exit() does after a reply). */
function replyingVendor(): string {
  const body = `(func (export "request_route") (param i32) (result i32)
      (drop (call $sl_reply (i32.const 403) (i32.const 0) (i32.const 0)))
      (i32.const 0))`;
  return tempWasm('vendor-403.wasm', wat(guest(body, { imports: SL_REPLY }), manifest('vendor', '3.0.0', ['msg.read', 'msg.reply'])));
}

/** tail: RELAY when the vendor's header is there (exactly once), else DROP. */
function tail(version = '1.0.0'): string {
  const body = `(data (i32.const 16) "X-Vendor")
    (func (export "request_route") (param i32) (result i32)
      (if (result i32) (i32.eq (call $hdr_count (i32.const 16) (i32.const 8)) (i32.const 1)) (then (i32.const 3)) (else (i32.const 1))))`;
  return tempWasm(`tail-${version}.wasm`, wat(guest(body, { imports: HDR_COUNT }), manifest('tail', version, ['msg.read', 'relay'])));
}

/** spins until its gas is gone. */
function spinner(): string {
  return tempWasm('spin.wasm', wat(guest('(func (export "request_route") (param i32) (result i32) (loop $l (br $l)) (i32.const 0))'), manifest('spin', '1.0.0', [])));
}

const managers: PluginManager[] = [];
function manager() {
  const logs: Array<Record<string, unknown>> = [];
  const m = new PluginManager({ log: captureLogger(logs, 'info'), loadOptions: { limits: { memoryMaxPages: 16 } } });
  managers.push(m);
  return { m, logs };
}
afterEach(() => {
  for (const m of managers.splice(0)) m.closeAll();
});

const granted = (grants: GrantOptions['grants'], i = 0): GrantOptions => ({ grants, key: `routing.chain[${i}].grants` });
const member = (path: string, grants: GrantOptions['grants'], i: number, limits = {}): ChainMember => ({ path, options: { grants: granted(grants, i), limits } });

async function route(m: PluginManager) {
  const t = makeCtx(await parseSip(INVITE));
  return { action: m.requestRoute(t.ctx), ...t };
}

describe('capabilities', () => {
  it('the build script and the host map every import to the same capability', async () => {
    const build = (await import('../../scripts/build-plugins.mjs')) as unknown as {
      SIP_CAPABILITY: Record<string, string>;
      TEXT_CAPABILITY: Record<string, string>;
      NAMESPACE_CAPABILITIES: string[];
      CAPABILITIES: string[];
    };
    expect(build.SIP_CAPABILITY).toEqual(SIP_CAPABILITY);
    expect(build.TEXT_CAPABILITY).toEqual(TEXT_CAPABILITY);
    expect(build.NAMESPACE_CAPABILITIES).toEqual(NAMESPACE_CAPABILITIES);
    expect(build.CAPABILITIES).toEqual(CAPABILITIES);
    // every sip import has a capability
    expect(Object.keys(SIP_IMPORTS).filter((n) => SIP_CAPABILITY[n] === undefined)).toEqual([]);
  });

  it('refuses an import of a namespace the config does not grant, naming the import, namespace, capability and key', async () => {
    const { m } = manager();
    const file = tempWasm('saver.wasm', wat(guest('(func (export "request_route") (param i32) (result i32) (i32.const 1))', { imports: SAVE }), manifest('saver', '1.0.0', ['msg.read', 'registrar'])));
    const err = await m.loadChain([member(file, ['msg.read', 'msg.reply'], 0), member(tail(), 'all', 1)]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 4070 });
    expect((err as Error).message).toContain('imports registrar.save: namespace "registrar" needs capability "registrar", which is not granted to it (routing.chain[0].grants: msg.read, msg.reply)');
    expect((err as Error).message).toContain(file);
    expect(m.chainNames()).toEqual([]);
    // a sip import in a group not granted (header writes are msg.write)
    const err2 = await m.loadChain([member(vendor('1.0.0', 0), ['msg.read'], 0), member(tail(), 'all', 1)]).catch((e: unknown) => e);
    expect((err2 as Error).message).toContain('imports sip.hdr_add: namespace "sip" needs capability "msg.write", which is not granted');
  });

  it('refuses an import the manifest does not declare even when config grants all; an unknown capability is E4071', async () => {
    const { m } = manager();
    await expect(m.loadRouting(vendor('1.0.0', 0, ['msg.read']), { grants: granted('all') })).rejects.toMatchObject({
      code: 4070,
      message: expect.stringContaining('which its sip.plugin manifest does not declare (declared: msg.read)'),
    });
    await expect(m.loadRouting(vendor('1.0.1', 0, ['msg.read', 'msg.writes']), { grants: granted('all') })).rejects.toMatchObject({
      code: 4071,
      message: expect.stringContaining('unknown capability "msg.writes"'),
    });
  });

  it('a manifest without a list declares what it imports (plugins built before capabilities); grants still apply', async () => {
    const { m } = manager();
    const legacy = vendor('0.9.0', 0, null);
    const p = await m.loadRouting(legacy, { grants: granted('all') });
    expect(p.info.capabilities).toEqual(['msg.write', 'relay']);
    await expect(m.load('vendor', vendor('0.9.1', 0, null))).resolves.toMatchObject({ ok: true });
    const { m: m2 } = manager();
    await expect(m2.loadRouting(legacy, { grants: granted(['msg.read', 'msg.reply']) })).rejects.toMatchObject({ code: 4070 });
  });

  it('a reload importing an ungranted namespace is refused; the running version stays and keeps routing', async () => {
    const { m, logs } = manager();
    await m.loadChain([member(vendor('1.0.0', 0), ['msg.read', 'msg.write'], 0), member(tail(), 'all', 1)]);
    const running = m.current('vendor');
    const bad = tempWasm('vendor-saver.wasm', wat(guest('(func (export "request_route") (param i32) (result i32) (i32.const 0))', { imports: SAVE }), manifest('vendor', '2.0.0', ['registrar'])));
    const r = await m.load('vendor', bad);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe(4070);
      expect(r.error.message).toContain('namespace "registrar"');
      expect(r.current?.version).toBe('1.0.0');
    }
    expect(m.current('vendor')).toBe(running);
    expect((await route(m)).action).toBe(Action.RELAY);
    expect(logs.some((l) => l.code === 4070 && l.running === 'vendor@1.0.0')).toBe(true);
  });

  it('RELAY from a plugin without the relay capability is an error action (500), logged once with E4072', async () => {
    const { m, logs } = manager();
    const file = tempWasm('relayer.wasm', wat(guest('(func (export "request_route") (param i32) (result i32) (i32.const 3))'), manifest('relayer', '1.0.0', ['msg.read'])));
    await m.loadRouting(file, { grants: granted('all') });
    const a = await route(m);
    const b = await route(m);
    expect([a.action, b.action]).toEqual([Action.ERROR, Action.ERROR]);
    expect([...a.logs, ...b.logs].filter((l) => l.code === 4072)).toHaveLength(1);
    // not a crash: no failure counted towards the crash-loop policy
    expect(m.current()!.stats.traps + m.current()!.stats.gasExhausted).toBe(0);
  });
});

describe('plugin chains', () => {
  it('runs the members in order: CONTINUE passes the request on, the next member sees what the first changed', async () => {
    const { m } = manager();
    await m.loadChain([member(vendor('1.0.0', Action.CONTINUE), ['msg.read', 'msg.write'], 0), member(tail(), 'all', 1)]);
    expect(m.chainNames()).toEqual(['vendor', 'tail']);
    const r = await route(m);
    expect(r.action).toBe(Action.RELAY);
    expect(r.ctx.msg.header('X-Vendor')).toBe('checked');
    expect(m.current('vendor')!.stats.calls).toBe(1);
    expect(m.current('tail')!.stats.calls).toBe(1);
    expect(m.slotsView().map((s) => [s.name, s.chainIndex, s.routing])).toEqual([
      ['vendor', 0, true],
      ['tail', 1, true],
    ]);
    expect(m.routingStats()!.calls).toBe(2);
  });

  it('a member that drops or answers ends the chain; the later members are not called', async () => {
    const { m } = manager();
    await m.loadChain([member(vendor('1.0.0', Action.DROP), ['msg.read', 'msg.write', 'msg.reply'], 0), member(tail(), 'all', 1)]);
    expect((await route(m)).action).toBe(Action.DROP);
    expect(m.current('tail')!.stats.calls).toBe(0);
    // answered with sl_reply, then CONTINUE (the SDK's exit()): the request is handled, the chain ends
    expect((await m.load('vendor', replyingVendor())).ok).toBe(true);
    const r = await route(m);
    expect(r.action).toBe(Action.CONTINUE);
    expect(r.replies.map((x) => x.code)).toEqual([403]);
    expect(m.current('tail')!.stats.calls).toBe(0);
  });

  it('swaps and rolls back one member; the other keeps its version', async () => {
    const { m } = manager();
    await m.loadChain([member(vendor('1.0.0', Action.CONTINUE), ['msg.read', 'msg.write'], 0), member(tail(), 'all', 1)]);
    const tailV = m.current('tail');
    expect((await m.load('vendor', vendor('2.0.0', Action.DROP))).ok).toBe(true);
    expect((await route(m)).action).toBe(Action.DROP);
    expect(m.current('tail')).toBe(tailV);
    const rb = m.rollback('vendor');
    expect(rb).toMatchObject({ ok: true, current: { version: '1.0.0' }, previous: { version: '2.0.0' } });
    expect((await route(m)).action).toBe(Action.RELAY);
    expect(m.current('tail')).toBe(tailV);
    // the tail has no previous version: its rollback is refused and the chain is unchanged
    expect(m.rollback('tail')).toMatchObject({ ok: false, error: { code: 4021 } });
    expect(m.chainNames()).toEqual(['vendor', 'tail']);
  });

  it('gives each member its own gas budget: a member out of gas ends the chain with an error, the others keep theirs', async () => {
    const { m, logs } = manager();
    await m.loadChain([member(spinner(), [], 0, { gasPerHook: 5000 }), member(tail(), 'all', 1)]);
    expect((m.current('spin') as WasmPlugin).limits.gasPerHook).toBe(5000);
    expect((m.current('tail') as WasmPlugin).limits.gasPerHook).toBe(2_000_000);
    const r = await route(m);
    expect(r.action).toBe(Action.ERROR);
    expect(m.current('spin')!.stats.gasExhausted).toBe(1);
    expect(m.current('tail')!.stats.calls).toBe(0);
    expect([...logs, ...r.logs].some((l) => l.code === 4011 && l.plugin === 'spin')).toBe(true);
  });

  it('a transaction pins the whole chain version and runs its tm hooks on the member that relayed', async () => {
    const { m } = manager();
    await m.loadChain([member(vendor('1.0.0', Action.CONTINUE), ['msg.read', 'msg.write'], 0), member(tail(), 'all', 1)]);
    await route(m);
    const v1 = m.current('vendor')!;
    const t1 = m.current('tail')!;
    const pin = m.pin();
    expect(pin).toBeInstanceOf(ChainPin);
    expect((pin as ChainPin).owner.plugin).toBe(t1);
    expect([m.pins(v1), m.pins(t1)]).toEqual([1, 1]);
    // the same chain version: the same pin object (nothing allocated per transaction)
    const pin2 = m.pin();
    expect(pin2).toBe(pin);
    m.release(pin2!);
    // two swaps of the vendor: 1.0.0 goes previous, then draining while the transaction lives
    await m.load('vendor', vendor('2.0.0', Action.CONTINUE));
    await m.load('vendor', vendor('3.0.0', Action.CONTINUE));
    expect(m.stateOf(v1)).toBe('draining');
    const pin3 = m.pin() as ChainPin;
    expect(pin3).not.toBe(pin);
    expect(pin3.versions.map((v) => v.plugin.info.version)).toEqual(['3.0.0', '1.0.0']);
    m.release(pin!);
    expect(m.stateOf(v1)).toBe('retired');
    expect(m.pins(t1)).toBe(1);
    m.release(pin3);
    expect(m.pins(t1)).toBe(0);
  });

  it('feeds each member its own hook metrics, labelled by plugin name@version', async () => {
    const metrics = new SiphonMetrics({ defaultMetrics: false });
    const m = new PluginManager({ log: captureLogger([], 'info'), loadOptions: { limits: { memoryMaxPages: 16 } }, metrics });
    managers.push(m);
    await m.loadChain([member(vendor('1.0.0', Action.CONTINUE), ['msg.read', 'msg.write'], 0), member(tail(), 'all', 1)]);
    for (let i = 0; i < 3; i++) await route(m);
    await m.load('vendor', vendor('2.0.0', Action.DROP));
    await route(m);
    const text = await metrics.text();
    const count = (plugin: string): number =>
      Number(new RegExp(`plugin_hook_duration_seconds_count\\{[^}]*plugin="${plugin}"[^}]*\\} (\\d+)`).exec(text)?.[1] ?? -1);
    expect([count('vendor@1.0.0'), count('vendor@2.0.0'), count('tail@1.0.0')]).toEqual([3, 1, 3]);
  });

  it('refuses two members with one name (E4073) and loads nothing', async () => {
    const { m } = manager();
    await expect(m.loadChain([member(tail('1.0.0'), 'all', 0), member(tail('1.0.1'), 'all', 1)])).rejects.toMatchObject({
      code: 4073,
      message: expect.stringContaining('two chain members are named "tail"'),
    });
    expect(m.names()).toEqual([]);
  });
});
