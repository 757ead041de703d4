/**
 * A node with the operator console (core.http.console) for the console tests, and a small HTTP client
 * over node:http that can pick its local address (the login limiter counts per source address, so a
 * test can be "another client" from 127.0.0.2).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../../host/config/load.js';
import { setPasswdUser } from '../../../host/console/password.js';
import { createLogger } from '../../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../../host/server/app.js';
import { moduleSchemas } from '../../../host/server/modules.js';
import { resolvePluginPath } from '../../../host/wasm/runtime.js';
import { ROOT } from '../../runtime/helpers.js';

export const ADMIN = { user: 'admin', password: 'admin-password-1' };
export const VIEWER = { user: 'viewer', password: 'viewer-password-1' };

export interface ConsoleNode {
  node: SiphonNode;
  base: string;
  tmp: string;
  sipPort: number;
  close(): Promise<void>;
}

/** starts a node from YAML lines (core.listen, core.http with console added); the passwd file has ADMIN and VIEWER. */
export async function startConsoleNode(o: { sipPort: number; plugin?: string; consoleYaml?: string[]; httpExtra?: string; coreExtra?: string[]; modules?: string[]; routing?: string[]; pluginDirs?: string[] }): Promise<ConsoleNode> {
  const plugin = o.plugin ?? 'hello';
  if (!existsSync(resolvePluginPath(plugin, ROOT))) execFileSync(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), plugin], { cwd: ROOT, stdio: 'pipe', timeout: 120_000 });
  const tmp = mkdtempSync(path.join(tmpdir(), 'siphon-console-'));
  const passwd = path.join(tmp, 'console.passwd');
  await setPasswdUser(passwd, ADMIN.user, 'admin', ADMIN.password);
  await setPasswdUser(passwd, VIEWER.user, 'readonly', VIEWER.password);
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${o.sipPort}]`,
    '  ctl: []',
    '  warmup: 0',
    `  data_dir: ${tmp}`,
    ...(o.coreExtra ?? []),
    '  http:',
    '    port: 0',
    ...(o.httpExtra ? [`    ${o.httpExtra}`] : []),
    '    console:',
    `      passwd_file: ${passwd}`,
    ...(o.consoleYaml ?? []).map((l) => `      ${l}`),
    ...(o.modules ? ['modules:', ...o.modules] : []),
    'routing:',
    `  plugin: ${plugin}`,
    ...(o.pluginDirs ? [`  plugin_dirs: [${o.pluginDirs.join(', ')}]`] : []),
    ...(o.routing ?? []),
  ].join('\n');
  const config = parseConfig(yaml, path.join(tmp, 'siphon.yaml'), { moduleSchemas: moduleSchemas() });
  const node = await startNode(config, createLogger({ level: 'silent' }));
  return {
    node,
    base: node.controlPlane!.httpUrl!,
    tmp,
    sipPort: o.sipPort,
    close: async () => {
      await node.stop();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/** one HTTP request; `from` picks the local address (127.0.0.x). JSON bodies are parsed. */
export function request(base: string, p: string, o: { method?: string; headers?: Record<string, string>; body?: unknown; from?: string } = {}): Promise<Reply> {
  const u = new URL(p, base);
  const body = o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: o.method ?? (body ? 'POST' : 'GET'), localAddress: o.from, agent: false, headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...o.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          if ((res.headers['content-type'] ?? '').startsWith('application/json')) parsed = JSON.parse(text);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
      },
    );
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

export interface Login {
  cookie: string;
  csrf: string;
  role: string;
}

/** logs in as the page does (same-origin Origin); throws unless it worked. */
export async function login(base: string, who: { user: string; password: string }, from?: string): Promise<Login> {
  const r = await request(base, '/console/api/login', { body: who, headers: { origin: base }, from });
  if (r.status !== 200) throw new Error(`login ${who.user}: ${r.status} ${JSON.stringify(r.body)}`);
  const set = String(r.headers['set-cookie']?.[0] ?? '');
  return { cookie: set.split(';', 1)[0]!, csrf: r.body.csrf, role: r.body.role };
}

/** calls one RPC method through the console's JSON endpoint. */
export async function consoleRpc(base: string, l: Login, method: string, params: unknown[] = []): Promise<Reply> {
  return request(base, '/console/api/rpc', { body: { method, params }, headers: { origin: base, cookie: l.cookie, 'x-csrf-token': l.csrf } });
}
