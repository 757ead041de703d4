/**
 * Misbehaving guests: every failure ends the hook with Action.ERROR, is counted, and the next call
 * runs on a fresh instance (wasm-host.md §4.1 policy). The guest is test/fixtures/wasm/misbehave.wat;
 * its ctx argument selects the behaviour.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Action } from '../../host/core/context.js';
import { ROUTING_DEFAULTS } from '../../host/config/schema.js';
import type { RoutingConfig } from '../../host/config/types.js';
import type { LoadedPlugin } from '../../host/wasm/types.js';
import { limitsFromConfig, loadPlugin } from '../../host/wasm/runtime.js';
import type { WasmPlugin } from '../../host/wasm/plugin.js';
import { captureLogger, FIXTURES, INVITE, makeCtx, parseSip, tempWasm, wat } from './helpers.js';

const COUNTER = 1, SPIN = 2, UNREACHABLE = 3, OOB = 4, GROW = 5, RECURSE = 6, BAD_PTR = 7, SET_GLOBAL = 8,
  HAS_GLOBAL = 9, LOOP_1000 = 10, FILL_1MIB = 11, NEGATIVE = 12, UNKNOWN_ACTION = 13, GROW_AND_REPORT = 14;

let plugin: LoadedPlugin;
const loadLogs: Array<Record<string, unknown>> = [];

async function call(id: number, on: LoadedPlugin = plugin) {
  const t = makeCtx(await parseSip(INVITE), { id });
  const action = on.requestRoute(t.ctx);
  return { action, ...t };
}

/** misbehave.wat loaded with routing.memory_max_pages = maxPages (through the config mapping the server uses). */
async function loadWithCap(maxPages: number, file: string): Promise<LoadedPlugin> {
  const bytes = wat(readFileSync(path.join(FIXTURES, 'misbehave.wat'), 'utf8'), {
    'sip.plugin': JSON.stringify({ name: 'misbehave', version: '1.0.0' }),
  });
  const routing = { ...ROUTING_DEFAULTS, memory_max_pages: maxPages } as RoutingConfig;
  return loadPlugin(tempWasm(file, bytes), { log: captureLogger(loadLogs), limits: limitsFromConfig(routing) });
}

beforeAll(async () => {
  plugin = await loadWithCap(64, 'misbehave.wasm');
}, 20_000);

/** asserts a fresh instance serves the next call (linear-memory counter starts over). */
async function expectFreshInstance(): Promise<void> {
  expect((await call(COUNTER)).action).toBe(Action.CONTINUE);
  expect((await call(COUNTER)).action).toBe(Action.DROP);
}

describe('a misbehaving guest', () => {
  it('keeps one long-lived instance between calls', async () => {
    await call(COUNTER);
    expect((await call(COUNTER)).action).toBe(Action.DROP);
    expect(plugin.info).toMatchObject({ name: 'misbehave', version: '1.0.0' });
  });

  it('infinite loop: gas runs out at the budget, ERROR, logged, fresh instance next', async () => {
    const before = { ...plugin.stats };
    const t = makeCtx(await parseSip(INVITE), { id: SPIN });
    for (let i = 0; i < 4; i++) expect(plugin.requestRoute(t.ctx)).toBe(Action.ERROR);
    // what bounds the loop is the budget (routing.gas_per_hook), counted, not a clock: four runs burn four
    // budgets, and a loose budget (the loop running on for seconds) shows here as gas, on any machine
    const budget = ROUTING_DEFAULTS.gas_per_hook;
    expect(plugin.stats.gasUsedTotal - before.gasUsedTotal).toBeGreaterThanOrEqual(4 * budget);
    expect(plugin.stats.gasUsedTotal - before.gasUsedTotal).toBeLessThan(5 * budget);
    expect(plugin.stats.timeouts).toBe(before.timeouts); // the wall-clock guard had nothing to do
    expect(plugin.stats.gasExhausted).toBe(before.gasExhausted + 4);
    expect(plugin.stats.instanceRebuilds).toBe(before.instanceRebuilds + 4);
    const line = t.logs.find((l) => l.code === 4011);
    expect(line).toMatchObject({ plugin: 'misbehave', version: '1.0.0', hook: 'request_route', errorClass: 'gas', callId: 'a84b4c76e66710@pc33.atlanta.example.com' });
    expect(line!.gasUsed as number).toBeGreaterThan(budget);
    expect(line!.gasUsed as number).toBeLessThan(2 * budget);
    await expectFreshInstance();
  });

  it('unreachable trap → ERROR, counted as a trap', async () => {
    const traps = plugin.stats.traps;
    const r = await call(UNREACHABLE);
    expect(r.action).toBe(Action.ERROR);
    expect(plugin.stats.traps).toBe(traps + 1);
    expect(r.logs.find((l) => l.code === 4010)).toMatchObject({ errorClass: 'trap' });
    await expectFreshInstance();
  });

  it('out-of-bounds access → ERROR', async () => {
    const r = await call(OOB);
    expect(r.action).toBe(Action.ERROR);
    expect((plugin as WasmPlugin).lastFailure).toMatchObject({ errorClass: 'trap' });
    expect((plugin as WasmPlugin).lastFailure!.message).toMatch(/out of bounds/);
    await expectFreshInstance();
  });

  it('memory growth stops at the cap: memory.grow answers -1 exactly at memory_max_pages', async () => {
    // the guest grows one page at a time until -1 and reports memory.size (pages of 64 KiB) then
    const r = await call(GROW_AND_REPORT);
    expect(r.action).toBe(Action.CONTINUE);
    expect(r.ctx.vars.get('pages')).toBe('64');
    // a second attempt on the same instance is refused at once: still 64 pages (4 MiB), not more
    const again = await call(GROW_AND_REPORT);
    expect(again.ctx.vars.get('pages')).toBe('64');
  });

  it('a larger memory_max_pages lets the same guest grow further, and no further', async () => {
    const bigger = await loadWithCap(128, 'misbehave-128.wasm');
    const r = await call(GROW_AND_REPORT, bigger);
    expect(r.action).toBe(Action.CONTINUE);
    expect(r.ctx.vars.get('pages')).toBe('128');
    bigger.close();
  });

  it('growth until the cap refuses, then the trap that follows → ERROR', async () => {
    const r = await call(GROW);
    expect(r.action).toBe(Action.ERROR);
    await expectFreshInstance();
  });

  it('runaway recursion (RangeError) → ERROR', async () => {
    const r = await call(RECURSE);
    expect(r.action).toBe(Action.ERROR);
    expect((plugin as WasmPlugin).lastFailure).toMatchObject({ errorClass: expect.stringMatching(/stack-overflow|gas/) });
    await expectFreshInstance();
  });

  it('host functions given bad pointers answer -3 instead of throwing', async () => {
    expect((await call(BAD_PTR)).action).toBe(Action.CONTINUE);
  });

  it('GLOBAL variables survive an instance replacement', async () => {
    expect((await call(HAS_GLOBAL)).action).toBe(Action.DROP);
    expect((await call(SET_GLOBAL)).action).toBe(Action.CONTINUE);
    expect((await call(UNREACHABLE)).action).toBe(Action.ERROR);
    expect((await call(HAS_GLOBAL)).action).toBe(Action.CONTINUE);
  });

  it('gas accounting is exact: 1 unit per function entry and per loop iteration', async () => {
    const before = plugin.stats.gasUsedTotal;
    expect((await call(LOOP_1000)).action).toBe(Action.CONTINUE);
    expect(plugin.stats.gasUsedTotal - before).toBe(1 + 1000);
  });

  it('bulk memory.fill is charged 1 unit per KiB', async () => {
    const before = plugin.stats.gasUsedTotal;
    expect((await call(FILL_1MIB)).action).toBe(Action.CONTINUE);
    expect(plugin.stats.gasUsedTotal - before).toBe(1 + 1024 + 1);
  });

  it('a negative action is an ERROR without replacing the instance', async () => {
    const rebuilds = plugin.stats.instanceRebuilds;
    expect((await call(NEGATIVE)).action).toBe(Action.ERROR);
    expect(plugin.stats.instanceRebuilds).toBe(rebuilds);
  });

  it('an undefined positive action counts as CONTINUE, logged once per version', async () => {
    const first = await call(UNKNOWN_ACTION);
    expect(first.action).toBe(Action.CONTINUE);
    expect(first.logs.some((l) => String(l.msg).includes('unknown action'))).toBe(true);
    const second = await call(UNKNOWN_ACTION);
    expect(second.action).toBe(Action.CONTINUE);
    expect(second.logs.some((l) => String(l.msg).includes('unknown action'))).toBe(false);
  });

  it('counts calls', () => {
    expect(plugin.stats.calls).toBeGreaterThan(20);
  });
});

describe('gas budget and bulk memory', () => {
  it('a small per-hook budget stops a large memory.fill', async () => {
    const bytes = wat(readFileSync(path.join(FIXTURES, 'misbehave.wat'), 'utf8'));
    const small = await loadPlugin(tempWasm('misbehave-small.wasm', bytes), { log: captureLogger([]), limits: { gasPerHook: 500 } });
    const t = makeCtx(await parseSip(INVITE), { id: FILL_1MIB });
    expect(small.requestRoute(t.ctx)).toBe(Action.ERROR);
    expect(small.stats.gasExhausted).toBe(1);
    expect(small.info.name).toBe('misbehave-small');
    small.close();
    expect(small.requestRoute(t.ctx)).toBe(Action.ERROR);
  });
});
