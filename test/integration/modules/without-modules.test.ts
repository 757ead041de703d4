/**
 * Plugins that import module namespaces on nodes without those modules (nodes and client on ports
 * from freePorts(); the `siphon check` configs' 19707 is parsed, never bound): plugins/default still
 * serves (`npm start` with `modules: {}`), plugins/lb answers 503
 * because ds_select_dst returns -6; and `siphon check` validating module imports without opening any
 * store: a config with modules.secfilter + plugins/default passes, a misspelt import fails (E4004).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import binaryen from 'binaryen';
import { run as checkCli } from '../../../host/cli/commands/check.js';
import { freePorts } from '../../helpers/ports.js';
import { buildPlugins, PLUGIN, SipClient, startTestNode, type TestNode } from './helpers.js';

let dir: string;
let plain: TestNode;
let lbAlone: TestNode;
let client: SipClient;
/** the ports of the node with `modules: {}` (plugins/default) and of the one with plugins/lb alone */
let PLAIN = 0;
let LB_ALONE = 0;

beforeAll(async () => {
  await buildPlugins();
  const [plainPort, lbPort, clientPort] = (await freePorts(3)) as [number, number, number];
  PLAIN = plainPort;
  LB_ALONE = lbPort;
  dir = await mkdtemp(path.join(tmpdir(), 'siphon-modules-none-'));
  plain = await startTestNode(PLAIN, `  data_dir: ${dir}\nmodules: {}\nrouting:\n  plugin: ${PLUGIN.default}`);
  lbAlone = await startTestNode(LB_ALONE, `  data_dir: ${dir}\nrouting:\n  plugin: ${PLUGIN.lb}`);
  client = await SipClient.open(clientPort);
}, 180_000);

afterAll(async () => {
  await client?.close();
  await plain?.node.stop();
  await lbAlone?.node.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('module imports without the module', () => {
  it('plugins/default loads and routes: keepalive 200, no secfilter verdicts, scanners still refused', async () => {
    expect((await client.request(PLAIN, {}))?.status).toBe(200);
    expect((await client.request(PLAIN, { ua: 'Linphone/5.2' }))?.status).toBe(200);
    // kamailio.cfg drops scanners by User-Agent without any module: the built-in list (scanner_action reply: 403)
    expect((await client.request(PLAIN, { ua: 'friendly-scanner' }))?.status).toBe(403);
    expect((await client.request(PLAIN, { ua: 'SIPVicious 0.3' }))?.status).toBe(403);
    const r = await client.request(PLAIN, { method: 'MESSAGE', ruri: `sip:bob@127.0.0.1:${PLAIN}` });
    expect(r).not.toBeNull();
    expect([403, 500]).not.toContain(r!.status);
  });

  it('plugins/lb answers 503: ds_select_dst returns -6 without the dispatcher module', async () => {
    expect((await client.request(LB_ALONE, {}))?.status).toBe(200);
    const r = await client.request(LB_ALONE, { method: 'INVITE', ruri: 'sip:bob@example.org' });
    expect(r?.status).toBe(503);
    expect(lbAlone.logs.some((l) => l.includes('lb: no destination in set 1'))).toBe(true);
  });
});

/** a minimal ABI v1 module importing `secfilter.<name>`, built with binaryen. */
function pluginImporting(name: string): Uint8Array {
  const m = new binaryen.Module();
  m.setMemory(1, 256, null, [], false, false, '0');
  m.addMemoryImport('0', 'env', 'memory');
  m.addFunctionImport('imp', 'secfilter', name, binaryen.none, binaryen.i32);
  m.addFunction('marker', binaryen.none, binaryen.none, [], m.nop());
  m.addFunction('minor', binaryen.none, binaryen.i32, [], m.i32.const(0));
  m.addFunction('route', binaryen.i32, binaryen.i32, [], m.block(null, [m.drop(m.call('imp', [], binaryen.i32)), m.i32.const(0)], binaryen.i32));
  m.addFunctionExport('marker', 'sip_abi_v1');
  m.addFunctionExport('minor', 'sip_abi_minor');
  m.addFunctionExport('route', 'request_route');
  const bytes = m.emitBinary();
  m.dispose();
  return bytes;
}

async function check(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  try {
    const code = await checkCli(args);
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('siphon check with module imports', () => {
  it('passes a config with modules.secfilter and plugins/default, opening no store', async () => {
    const data = path.join(dir, 'check-data');
    const cfg = path.join(dir, 'secfilter.yaml');
    await writeFile(
      cfg,
      `core:\n  listen: [udp:127.0.0.1:19707]\n  data_dir: ${data}\nmodules:\n  secfilter:\n    db_url: mysql://root@127.0.0.1:1/unreachable\nrouting:\n  plugin: ${PLUGIN.default}\n`,
    );
    const r = await check(['-c', cfg]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('config OK; plugin default@');
    expect(r.out).toContain('uses module secfilter: configured');
    // nothing was created for the embedded store, the unreachable db_url was never dialled
    await expect(readdir(data)).rejects.toThrow();
  });

  it('says which module namespaces will answer -6 on a config without them', async () => {
    const cfg = path.join(dir, 'none.yaml');
    await writeFile(cfg, `core:\n  listen: [udp:127.0.0.1:19707]\n  data_dir: ${dir}\nrouting:\n  plugin: ${PLUGIN.lb}\n`);
    const r = await check(['-c', cfg]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('uses module dispatcher: not configured (modules.dispatcher absent): its functions will return -6');
  });

  it('refuses a misspelt module import with E4004, configured or not', async () => {
    const bad = path.join(dir, 'typo.wasm');
    await writeFile(bad, pluginImporting('check_ipp'));
    const good = path.join(dir, 'fine.wasm');
    await writeFile(good, pluginImporting('secf_check_ip'));
    const cfg = path.join(dir, 'typo.yaml');
    await writeFile(cfg, `core:\n  listen: [udp:127.0.0.1:19707]\n  data_dir: ${dir}\nrouting:\n  plugin: ${bad}\n`);
    const r = await check(['-c', cfg]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('secfilter.check_ipp');
    expect(r.err).toContain('E4004');
    const ok = await check(['-c', cfg, '--plugin', good]);
    expect(ok.err).toBe('');
    expect(ok.code).toBe(0);
  });
});
