/**
 * The SDK-built example plugins (plugins/<name>/build/<name>.wasm, `npm run build:plugins`) load
 * through the runtime by bare name and route a real message. Built here when missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Action } from '../../host/core/context.js';
import { loadPlugin, resolvePluginPath } from '../../host/wasm/runtime.js';
import { tmImportProviders } from '../../host/proxy/abi.js';
import { captureLogger, INVITE, makeCtx, parseSip, ROOT } from './helpers.js';

beforeAll(() => {
  if (!existsSync(resolvePluginPath('hello', ROOT)) || !existsSync(resolvePluginPath('default', ROOT))) {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs')], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
  }
}, 130_000);

describe('SDK example plugins', () => {
  it('hello: identity from sip.plugin, logs with xinfo, answers 501', async () => {
    const plugin = await loadPlugin(resolvePluginPath('hello', ROOT), { log: captureLogger([]) });
    expect(plugin.info.name).toBe('hello');
    expect(plugin.info.version).toMatch(/^\d+\.\d+\.\d+/);
    const t = makeCtx(await parseSip(INVITE));
    expect(plugin.requestRoute(t.ctx)).toBe(Action.REPLIED);
    expect(t.replies).toEqual([expect.objectContaining({ code: 501, reason: 'Not Implemented' })]);
    const line = t.logs.find((l) => String(l.msg).startsWith('I got a message'));
    expect(line?.msg).toBe('I got a message: INVITE sip:bob@biloxi.example.com:5062;transport=udp from 127.0.0.1:5080 (Call-ID a84b4c76e66710@pc33.atlanta.example.com)');
    expect(plugin.stats.traps + plugin.stats.aborts + plugin.stats.gasExhausted).toBe(0);
  });

  it('default: loads with is_myself and routes a request without failing', async () => {
    const plugin = await loadPlugin(resolvePluginPath('default', ROOT), {
      log: captureLogger([]),
      isMyself: (host) => host === '127.0.0.1',
      // plugins/default imports tm/rr (ABI 1.1); -6 stubs as on a node without transactions
      providers: tmImportProviders(null),
    });
    const t = makeCtx(await parseSip(INVITE));
    const action = plugin.requestRoute(t.ctx);
    expect(action).not.toBe(Action.ERROR);
    expect(plugin.stats.traps + plugin.stats.aborts + plugin.stats.gasExhausted).toBe(0);
  });
});
