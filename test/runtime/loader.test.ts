/**
 * Load-time refusals (docs/abi/v1.md "Module shape", "Exports"): each is a SiphonError E4xxx whose
 * message names the file and the reason.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isSiphonError, type SiphonError } from '../../host/errors/registry.js';
import { readCustomSection } from '../../host/wasm/loader.js';
import { loadPlugin, resolvePluginPath } from '../../host/wasm/runtime.js';
import type { ImportProvider } from '../../host/wasm/types.js';
import { Action } from '../../host/core/context.js';
import { captureLogger, FIXTURES, guest, INVITE, makeCtx, parseSip, tempWasm, wat } from './helpers.js';

const ROUTE = '(func (export "request_route") (param i32) (result i32) (i32.const 0))';
const log = captureLogger([]);

async function refusal(file: string, bytes: Uint8Array, providers: ImportProvider[] = []): Promise<SiphonError> {
  const p = tempWasm(file, bytes);
  try {
    await loadPlugin(p, { log, providers });
  } catch (e) {
    if (!isSiphonError(e)) throw e;
    expect(e.message).toContain(p); // names the file
    return e;
  }
  throw new Error(`${file} was accepted`);
}

describe('plugin loader', () => {
  it('loads a minimal plugin, exposes sha256 and identity from the file name', async () => {
    const bytes = wat(guest(ROUTE));
    const p = tempWasm('minimal-2.1.0.wasm', bytes);
    const plugin = await loadPlugin(p, { log });
    expect(plugin.info).toMatchObject({ name: 'minimal', version: '2.1.0', path: p });
    expect(plugin.info.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    plugin.close();
  });

  it('reads name and version from the sip.plugin custom section', async () => {
    const bytes = wat(guest(ROUTE), { 'sip.plugin': '{"name":"routing","version":"3.0.1"}' });
    expect(Buffer.from(readCustomSection(bytes, 'sip.plugin')!).toString()).toContain('routing');
    const plugin = await loadPlugin(tempWasm('whatever.wasm', bytes), { log });
    expect(plugin.info).toMatchObject({ name: 'routing', version: '3.0.1' });
  });

  it('E4001 for a missing file', async () => {
    const missing = path.join(path.dirname(tempWasm('x.wasm', new Uint8Array())), 'nope.wasm');
    await expect(loadPlugin(missing, { log })).rejects.toMatchObject({ code: 4001 });
  });

  it('E4002 for bytes that are not Wasm', async () => {
    expect((await refusal('garbage.wasm', Buffer.from('not wasm at all'))).code).toBe(4002);
  });

  it('E4005 when request_route is missing', async () => {
    const e = await refusal('noroute.wasm', wat(guest('')));
    expect(e.code).toBe(4005);
    expect(e.message).toContain('request_route');
  });

  it('E4003 when the ABI marker is missing or another major', async () => {
    const e = await refusal('nomarker.wasm', wat(guest(ROUTE, { marker: false })));
    expect(e.code).toBe(4003);
    expect(e.message).toContain('sip_abi_v1');
    const v2 = await refusal('v2.wasm', wat(guest(`${ROUTE} (func (export "sip_abi_v2"))`, { marker: false })));
    expect(v2.message).toContain('sip_abi_v2');
    expect((await refusal('nominor.wasm', wat(guest(ROUTE, { minor: false })))).message).toContain('sip_abi_minor');
  });

  it('E4003 when the plugin was built against a newer minor', async () => {
    const text = guest(ROUTE, { minor: false }) .replace(/\)\s*$/, '(func (export "sip_abi_minor") (result i32) (i32.const 7)))');
    const e = await refusal('minor7.wasm', wat(text));
    expect(e.code).toBe(4003);
    expect(e.message).toContain('1.7');
  });

  it('E4004 names unknown imports', async () => {
    const e = await refusal('unknown.wasm', wat(guest(ROUTE, {
      imports: '(import "sip" "launch_missiles" (func (param i32) (result i32))) (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))',
    })));
    expect(e.code).toBe(4004);
    expect(e.message).toContain('sip.launch_missiles');
    expect(e.message).toContain('wasi_snapshot_preview1.fd_write');
  });

  it('E4004 for a known import with the wrong signature', async () => {
    const e = await refusal('badsig.wasm', wat(guest(ROUTE, { imports: '(import "sip" "hdr_count" (func (param i32) (result i32)))' })));
    expect(e.code).toBe(4004);
    expect(e.message).toContain('sip.hdr_count');
  });

  it('links provider namespaces and refuses names they do not offer', async () => {
    const provider: ImportProvider = { namespace: 'secfilter', functions: () => ({ secf_check: () => 2 }) };
    const ok = wat(guest('(func (export "request_route") (param i32) (result i32) (call $c (i32.const 0) (i32.const 0) (i32.const 0)))', {
      imports: '(import "secfilter" "secf_check" (func $c (param i32 i32 i32) (result i32)))',
    }));
    const plugin = await loadPlugin(tempWasm('provider.wasm', ok), { log, providers: [provider] });
    expect(plugin.info.name).toBe('provider');
    const e = await refusal('provider-bad.wasm', wat(guest(ROUTE, { imports: '(import "secfilter" "nope" (func))' })), [provider]);
    expect(e.message).toContain('secfilter.nope');
    // without its module a module namespace links to stubs answering -6 UNIMPLEMENTED ...
    const stubbed = await loadPlugin(tempWasm('provider-none.wasm', ok), { log });
    expect(stubbed.info.name).toBe('provider-none');
    // ... but a namespace that is no module's stays unknown
    const acme = wat(guest('(func (export "request_route") (param i32) (result i32) (call $c (i32.const 0) (i32.const 0) (i32.const 0)))', {
      imports: '(import "acme" "secf_check" (func $c (param i32 i32 i32) (result i32)))',
    }));
    expect((await refusal('provider-acme.wasm', acme)).message).toContain('acme.secf_check');
  });

  it('E4006 for a module with its own memory, or none', async () => {
    const own = await refusal('ownmem.wasm', wat(guest(ROUTE, { memory: '(memory (export "memory") 1)' })));
    expect(own.code).toBe(4006);
    expect(own.message).toContain('own memory');
    expect((await refusal('nomem.wasm', wat(guest(ROUTE, { memory: '' })))).code).toBe(4006);
    const big = await refusal('bigmem.wasm', wat(guest(ROUTE, { memory: '(import "env" "memory" (memory 300))' })));
    expect(big.message).toContain('300 pages');
  });

  it('refuses a plugin that already exports __gas', async () => {
    const e = await refusal('gas.wasm', wat(guest(`${ROUTE} (global (export "__gas") (mut i32) (i32.const 0))`)));
    expect(e.code).toBe(4003);
    expect(e.message).toContain('__gas');
  });

  /** pages misbehave.wat (declaring `memoryDecl`) reaches when it grows until memory.grow answers -1. */
  async function pagesReached(file: string, memoryDecl: string, memoryMaxPages?: number): Promise<string | undefined> {
    const text = readFileSync(path.join(FIXTURES, 'misbehave.wat'), 'utf8').replace('(memory 1)', memoryDecl);
    const plugin = await loadPlugin(tempWasm(file, wat(text)), { log, limits: { memoryMaxPages } });
    const t = makeCtx(await parseSip(INVITE), { id: 14 }); // misbehave.wat 14: grow and report memory.size
    expect(plugin.requestRoute(t.ctx)).toBe(Action.CONTINUE);
    plugin.close();
    return t.ctx.vars.get('pages');
  }

  it('honours a smaller memory maximum declared by the module: growth stops at its 4 pages', async () => {
    // the host limit (default 256 pages) is larger: the module's own maximum is the one that applies
    expect(await pagesReached('max4.wasm', '(memory 1 4)')).toBe('4');
  });

  it('a module declaring a larger maximum than memory_max_pages is held to memory_max_pages', async () => {
    expect(await pagesReached('max1000.wasm', '(memory 1 1000)', 8)).toBe('8');
  });

  it('resolves bare plugin names to the SDK build output', () => {
    expect(resolvePluginPath('hello', '/srv/siphon')).toBe('/srv/siphon/plugins/hello/build/hello.wasm');
    expect(resolvePluginPath('build/x.wasm', '/srv/siphon')).toBe('/srv/siphon/build/x.wasm');
    expect(resolvePluginPath('/abs/y.wasm', '/srv/siphon')).toBe('/abs/y.wasm');
  });
});

describe('plugin_init', () => {
  const initGuest = (body: string, imports = '') => wat(guest(`${ROUTE}
    (func (export "plugin_init") (param $len i32) (result i32) ${body})`, {
    imports: `(import "sip" "cfg_read" (func $cfg (param i32 i32 i32) (result i32)))
              (import "sip" "hdr_count" (func $hdrc (param i32 i32) (result i32))) ${imports}`,
  }));

  it('receives the config length and reads the JSON with cfg_read', async () => {
    // accept only when cfg_len == cfg_read's total and the first byte is '{'
    const bytes = initGuest(`
      (if (i32.ne (call $cfg (i32.const 0) (i32.const 100) (i32.const 64)) (local.get $len)) (then (return (i32.const 1))))
      (if (i32.ne (i32.load8_u (i32.const 100)) (i32.const 123)) (then (return (i32.const 2))))
      (i32.const 0)`);
    const plugin = await loadPlugin(tempWasm('cfg.wasm', bytes), { log, config: { greeting: 'hi' } });
    expect(plugin.info.name).toBe('cfg');
  });

  it('message imports answer -4 NOT_ALLOWED in plugin_init', async () => {
    const bytes = initGuest('(if (result i32) (i32.eq (call $hdrc (i32.const 0) (i32.const 4)) (i32.const -4)) (then (i32.const 0)) (else (i32.const 9)))');
    await expect(loadPlugin(tempWasm('init-caps.wasm', bytes), { log })).resolves.toBeTruthy();
  });

  it('E4007 when plugin_init refuses or traps', async () => {
    const refuse = await refusal('init-refuse.wasm', initGuest('(i32.const 3)'));
    expect(refuse.code).toBe(4007);
    expect(refuse.message).toContain('returned 3');
    const spin = await refusal('init-spin.wasm', initGuest('(loop $l (br $l)) (i32.const 0)'));
    expect(spin.code).toBe(4007);
    expect(spin.message).toContain('gas exhausted');
  });
});
