/**
 * ABI compatibility policy (docs/abi/versioning.md): a plugin built for ABI 1.0 runs on every 1.x
 * host. test/fixtures/wasm/abi-1.0/abi10.wasm was built once at 1.0 and committed; this loads and
 * routes it on the current host (through the real message path of host/testing). A plugin needing a
 * newer minor than the host is refused with E4003 naming both versions.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PluginTester, sipRequest } from '../../host/testing/index.js';
import { HOST_ABI_MINOR } from '../../host/wasm/loader.js';
import { isSiphonError, type SiphonError } from '../../host/errors/registry.js';
import { loadPlugin } from '../../host/wasm/runtime.js';
import pino from 'pino';
// @ts-expect-error: plain ESM script without type declarations
import { ABI_V1_IMPORTS } from '../../scripts/build-plugins.mjs';
import { FIXTURES, guest, tempWasm, wat } from './helpers.js';

const ABI10 = path.join(FIXTURES, 'abi-1.0', 'abi10.wasm');
/** the binary as committed: a rebuild would no longer prove anything about 1.0 plugins. */
const ABI10_SHA256 = 'be53ea85617aa5371f42abcd6a6c44e266d743013c5c3075d904e9228271f28a';

describe('a plugin built at ABI 1.0', () => {
  const bytes = readFileSync(ABI10);
  const module = new WebAssembly.Module(bytes);

  it('is the committed binary, importing only ABI 1.0 functions, and reports minor 0', () => {
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(ABI10_SHA256);
    for (const i of WebAssembly.Module.imports(module)) expect((ABI_V1_IMPORTS as Set<string>).has(`${i.module}.${i.name}`), `${i.module}.${i.name}`).toBe(true);
    const imports: Record<string, Record<string, unknown>> = { env: { memory: new WebAssembly.Memory({ initial: 1 }) } };
    for (const i of WebAssembly.Module.imports(module)) if (i.kind === 'function') (imports[i.module] ??= {})[i.name] = () => 0;
    const inst = new WebAssembly.Instance(module, imports as WebAssembly.Imports);
    expect((inst.exports.sip_abi_minor as () => number)()).toBe(0);
    expect(WebAssembly.Module.exports(module).map((e) => e.name)).not.toContain('branch_route');
  });

  it(`loads and routes on this host (ABI 1.${HOST_ABI_MINOR}): replies, header edits, variables, log, relay`, async () => {
    const t = await PluginTester.load(ABI10);
    try {
      expect(t.plugin.info).toMatchObject({ name: 'abi10', version: '1.0.0' });
      const opt = await t.send(sipRequest('OPTIONS', 'sip:127.0.0.1:5060'));
      expect(opt.action).toBe('REPLIED');
      expect(opt.reply?.code).toBe(200);
      expect(opt.reply?.header('x-abi')).toBe('1.0');

      const r = await t.send(sipRequest('INVITE', 'sip:bob@example.com').header('X-Remove-Me', 'yes'));
      expect(r.action).toBe('RELAY');
      expect(r.du).toBe('sip:192.0.2.30:5060');
      // maxfwd_process decrements Max-Forwards in the message, as Kamailio's maxfwd does
      expect(r.headersAdded).toEqual(['Max-Forwards: 69', 'X-ABI: 1.0']);
      expect(r.headersRemoved).toEqual(['Max-Forwards: 70', 'X-Remove-Me: yes']);
      expect(r.vars).toEqual({ abi: '1.0' });
      expect(r.logs.map((l) => l.msg)).toContain('abi10: INVITE sip:bob@example.com -> sip:192.0.2.30:5060');
      // RELAY on today's host is a stateful relay (tm): 100 Trying upstream, the INVITE to $du
      expect(r.replies.map((x) => x.code)).toEqual([100]);
      expect(r.relay?.to).toEqual({ address: '192.0.2.30', port: 5060 });
      expect(r.relay?.header('x-abi')).toBe('1.0');
      const done = await t.respond(r.relay!, 486);
      expect(done.hooks).toEqual([]); // a 1.0 plugin has no tm hooks: the host calls none
      expect(done.reply?.code).toBe(486);

      const hops = await t.send(sipRequest('INVITE', 'sip:bob@example.com').maxForwardsValue(0));
      expect(hops.reply?.code).toBe(483);
    } finally {
      await t.close();
    }
  });
});

describe('a plugin needing a newer minor than the host', () => {
  it(`is refused at load with E4003 naming both versions (plugin 1.${HOST_ABI_MINOR + 1}, host 1.${HOST_ABI_MINOR})`, async () => {
    const newer = HOST_ABI_MINOR + 1;
    const text = guest('(func (export "request_route") (param i32) (result i32) (i32.const 0))', { minor: false })
      .replace(/\)\s*$/, `(func (export "sip_abi_minor") (result i32) (i32.const ${newer})))`);
    const file = tempWasm('newer-minor.wasm', wat(text));
    const e = await loadPlugin(file, { log: pino({ level: 'silent' }) }).catch((x: unknown) => x);
    expect(isSiphonError(e, 'PLUGIN_ABI')).toBe(true);
    const err = e as SiphonError;
    expect(err.code).toBe(4003);
    expect(err.message).toContain(`plugin was built against ABI 1.${newer}, this host implements up to 1.${HOST_ABI_MINOR}`);
    expect(err.message).toContain(file);
  });
});
