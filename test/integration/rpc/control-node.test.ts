/**
 * The control plane of a whole node (startNode from YAML), as `siphon start` wires it: core.http with a
 * token_file, routing.plugin_dirs from the config, plugin.load over JSON-RPC. SIP on udp ports from
 * freePort(); the HTTP listener on an ephemeral port (port 0).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../host/config/load.js';
import { startNode, type SiphonNode } from '../../../host/server/app.js';
import { isSiphonError } from '../../../host/errors/registry.js';
import { createLogger } from '../../../host/log/logger.js';
import { resolvePluginPath } from '../../../host/wasm/runtime.js';
import { ROOT } from '../../runtime/helpers.js';
import { freePort } from '../../helpers/ports.js';

const TOKEN = 'node-token-0123456789abcdef0123';
const HELLO = resolvePluginPath('hello', ROOT);

function config(tmp: string, sipPort: number, http: string): ReturnType<typeof parseConfig> {
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${sipPort}]`,
    '  ctl: []',
    '  warmup: 0',
    `  http: ${http}`,
    'routing:',
    '  plugin: hello',
    '  plugin_dirs: [plugins]', // relative to the config file's folder
  ].join('\n');
  return parseConfig(yaml, path.join(tmp, 'siphon.yaml'));
}

const quiet = () => createLogger({ level: 'silent' });

describe('a node\'s control plane from its config', () => {
  let tmp: string;
  let node: SiphonNode;
  let base: string;

  beforeAll(async () => {
    if (!existsSync(HELLO)) execFileSync(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), 'hello'], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
    tmp = mkdtempSync(path.join(tmpdir(), 'siphon-ctl-node-'));
    mkdirSync(path.join(tmp, 'plugins'));
    copyFileSync(HELLO, path.join(tmp, 'plugins', 'hello-copy.wasm'));
    writeFileSync(path.join(tmp, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    node = await startNode(config(tmp, await freePort('udp'), '{ port: 0, token_file: token }'), quiet());
    base = node.controlPlane!.httpUrl!;
  }, 150_000);
  afterAll(async () => {
    await node?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const rpc = async (method: string, params: unknown[], token: string | null = TOKEN): Promise<{ status: number; body: any }> => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${base}/RPC`, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }) });
    const text = await res.text();
    return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
  };

  it('core.http.token_file: calls without the token get 401, with it they work', async () => {
    expect((await rpc('core.version', [], null)).status).toBe(401);
    expect((await rpc('core.version', [], 'wrong-token-0123456789')).status).toBe(401);
    const ok = await rpc('core.version', []);
    expect(ok.status).toBe(200);
    expect(ok.body.result).toMatch(/^siphon /);
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  it('plugin.load reads from routing.plugin_dirs and the started plugin\'s folder, nowhere else', async () => {
    const copy = await rpc('plugin.load', ['hello', path.join(tmp, 'plugins', 'hello-copy.wasm')]);
    expect(copy.body.result).toMatchObject({ name: 'hello', path: path.join(tmp, 'plugins', 'hello-copy.wasm') });
    // the folder the node started its plugin from stays allowed (plugin.reload, a rebuilt hello)
    expect((await rpc('plugin.load', ['hello', 'hello'])).body.result).toMatchObject({ path: HELLO });
    expect((await rpc('plugin.reload', ['hello'])).body.result).toMatchObject({ path: HELLO });
    // plugin_dirs replaces the default (the package's plugins/): default.wasm is not loadable here
    for (const p of ['default', '/etc/passwd', `${tmp}/plugins/../token`]) {
      const r = await rpc('plugin.load', ['hello', p]);
      expect(r.body.error.code, p).toBe(500);
      expect(r.body.error.message, p).toMatch(/is not a regular file inside the plugin directories.*E4060/);
    }
    expect(node.plugin.info.path).toBe(HELLO);
  });

  it('refuses to start on a bad token_file or on token and token_file together', async () => {
    const attempts: Array<[string, string]> = [
      ['{ port: 0, token_file: missing }', 'RPC_HTTP_TOKEN'],
      ['{ port: 0, token_file: plugins }', 'RPC_HTTP_TOKEN'],
      ['{ port: 0, token_file: short }', 'RPC_HTTP_TOKEN'],
      [`{ port: 0, token: ${TOKEN}, token_file: token }`, 'CONFIG_SCHEMA'],
    ];
    writeFileSync(path.join(tmp, 'short'), 'abc\n');
    execFileSync('mkfifo', [path.join(tmp, 'fifo')]);
    attempts.push(['{ port: 0, token_file: fifo }', 'RPC_HTTP_TOKEN']);
    for (const [http, code] of attempts) {
      const e = await startNode(config(tmp, await freePort('udp'), http), quiet()).then(
        async (n) => {
          await n.stop();
          return null;
        },
        (err: unknown) => err,
      );
      expect(isSiphonError(e, code as never), `${http}: ${String(e)}`).toBe(true);
    }
    expect(() => parseConfig('core:\n  http: { port: 0, token: short }\n', null)).toThrow(/E1003/);
  });
});
