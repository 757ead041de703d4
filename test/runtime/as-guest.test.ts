/**
 * A real AssemblyScript guest (test/fixtures/wasm/as-guest.ts) compiled with asc in the test:
 * header reads/writes through the ABI against a parsed message, xlog expansion, sl_reply with
 * reply_hdr_add, config through cfg_read, and abort() lifted into a PluginAbort with its message.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import asc from 'assemblyscript/asc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Action } from '../../host/core/context.js';
import type { WasmPlugin } from '../../host/wasm/plugin.js';
import { loadPlugin } from '../../host/wasm/runtime.js';
import { captureLogger, FIXTURES, INVITE, makeCtx, parseSip } from './helpers.js';

let wasmPath = '';
let buildDir = '';

afterAll(() => {
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
});

beforeAll(async () => {
  buildDir = mkdtempSync(path.join(tmpdir(), 'siphon-as-'));
  const out = path.join(buildDir, 'as-guest.wasm');
  const stderr: string[] = [];
  const { error } = await asc.main([
    path.join(FIXTURES, 'as-guest.ts'),
    '--outFile', out,
    '--importMemory', '--runtime', 'incremental', '-O2', '--disable', 'bulk-memory', '--debug',
  ], { stderr: { write: (s: string) => void stderr.push(String(s)) } as never });
  if (error) throw new Error(`asc failed: ${error.message}\n${stderr.join('')}`);
  wasmPath = out;
}, 60_000);

const withHeader = (value: string) => INVITE.replace('X-Test: hello world', `X-Test: ${value}`);

describe('AssemblyScript guest', () => {
  it('reads a header and adds one through the ABI; xlog expands pseudo-variables', async () => {
    const plugin = await loadPlugin(wasmPath, { log: captureLogger([]), config: { mode: 'quiet' } });
    const t = makeCtx(await parseSip(INVITE));
    expect(plugin.requestRoute(t.ctx)).toBe(Action.CONTINUE);
    expect(t.ctx.msg.header('X-Copy')).toBe('HELLO WORLD');
    expect(t.ctx.msg.toBuffer().toString()).toContain('X-Copy: HELLO WORLD');
    const line = t.logs.find((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('route '));
    expect(line).toBeDefined();
    expect(line!.msg).toBe(`route INVITE from 127.0.0.1:5080 ua=test-ua/1.0 x=hello world v=<null> ctx=${t.ctx.id}`);
    expect(line!.level).toBe(30); // L_INFO → pino info
    expect(line!.plugin).toBe('as-guest@0.0.0');
    expect(plugin.stats.traps + plugin.stats.aborts + plugin.stats.gasExhausted).toBe(0);
  });

  it('the config reaches plugin_init (cfg_read) and shapes later hooks', async () => {
    const plugin = await loadPlugin(wasmPath, { log: captureLogger([]), config: { mode: 'shout' } });
    const t = makeCtx(await parseSip(INVITE));
    plugin.requestRoute(t.ctx);
    expect(t.ctx.msg.header('X-Copy')).toBe('!HELLO WORLD');
    await expect(loadPlugin(wasmPath, { log: captureLogger([]), config: { mode: 'refuse' } })).rejects.toMatchObject({ code: 4007 });
  });

  it('sl_reply carries the headers added with reply_hdr_add', async () => {
    const plugin = await loadPlugin(wasmPath, { log: captureLogger([]) });
    const t = makeCtx(await parseSip(withHeader('deny')));
    expect(plugin.requestRoute(t.ctx)).toBe(Action.REPLIED);
    expect(t.replies).toEqual([{ code: 403, reason: 'Forbidden', headers: ['X-Reason: denied'] }]);
    expect(t.ctx.replied).toBe(true);
  });

  it('abort() becomes ERROR with the lifted message and file; the instance is replaced', async () => {
    const plugin = (await loadPlugin(wasmPath, { log: captureLogger([]) })) as WasmPlugin;
    const t = makeCtx(await parseSip(withHeader('boom')));
    expect(plugin.requestRoute(t.ctx)).toBe(Action.ERROR);
    expect(plugin.stats.aborts).toBe(1);
    expect(plugin.stats.instanceRebuilds).toBe(1);
    const line = t.logs.find((l) => l.code === 4012);
    expect(line).toMatchObject({ errorClass: 'abort', hook: 'request_route', plugin: 'as-guest', version: '0.0.0' });
    expect(line!.msg).toContain('boom requested by boom');
    expect(line!.msg).toContain('as-guest.ts');
    // the replacement serves the next message normally
    const next = makeCtx(await parseSip(INVITE));
    expect(plugin.requestRoute(next.ctx)).toBe(Action.CONTINUE);
    expect(next.ctx.msg.header('X-Copy')).toBe('HELLO WORLD');
  });

  it('many calls keep memory flat (one long-lived instance, incremental GC)', async () => {
    const plugin = await loadPlugin(wasmPath, { log: captureLogger([], 'warn') });
    const msg = await parseSip(INVITE);
    for (let i = 0; i < 3000; i++) {
      const t = makeCtx(msg, { level: 'warn' });
      if (plugin.requestRoute(t.ctx) !== Action.CONTINUE) throw new Error(`call ${i} failed`);
      msg.removeHeader('X-Copy');
    }
    expect(plugin.stats.calls).toBe(3000);
    expect(plugin.stats.instanceRebuilds).toBe(0);
  });
});
