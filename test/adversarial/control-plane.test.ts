/**
 * The control plane as an attacker sees it (issue 10): a web page in the operator's browser, a DNS
 * rebinding page, a local client without the token, slow and oversized clients against the real HTTP
 * listener (node:http and raw sockets on 127.0.0.1, ephemeral ports); plugin.load / plugin.reload with
 * paths outside the plugin directories, `..`, escaping symlinks, a FIFO, a device, a directory and an
 * oversized file through the real RPC methods and the real loader. Every refusal is prompt (a FIFO
 * would block forever otherwise), has one shape, and leaves the running plugin and the server serving.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SiphonMetrics } from '../../host/metrics/metrics.js';
import { BinrpcServer } from '../../host/rpc/binrpc.js';
import { BinrpcClient } from '../../host/rpc/binrpc-client.js';
import { BinrpcWriter } from '../../host/rpc/binrpc-codec.js';
import { startControlPlane, type ControlHttpOptions, type ControlPlane } from '../../host/rpc/control-plane.js';
import { registerCoreMethods } from '../../host/rpc/core-methods.js';
import { MethodRegistry } from '../../host/rpc/registry.js';
import { PluginManager } from '../../host/wasm/manager.js';
import { pluginRpcMethods } from '../../host/wasm/rpc.js';
import { captureLogger, guest, wat } from '../runtime/helpers.js';
import { freePort } from '../helpers/ports.js';

const TOKEN = 's3cret-token-0123456789abcdef';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** one request on its own connection; `headers` as given (host included), nothing added but Content-Length. */
function request(port: number, opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: opts.method ?? 'POST', path: opts.path ?? '/RPC', headers: opts.headers ?? {}, agent: false, setHost: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.end(opts.body);
  });
}

const call = (method: string, params: unknown[] = []): string => JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 });

/** a raw connection: sends `text`, resolves with what came back once the server closed it (or null after `ms`). */
function rawUntilClosed(port: number, text: string, ms = 8000): Promise<string | null> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(null);
    }, ms);
    s.on('connect', () => text && s.write(text));
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

interface Listener {
  plane: ControlPlane;
  port: number;
  calls: { count: number };
  close(): Promise<void>;
}

async function listen(http: Partial<ControlHttpOptions> = {}, extra?: (r: MethodRegistry) => void): Promise<Listener> {
  const registry = new MethodRegistry();
  registerCoreMethods(registry, { name: 'siphon', version: '0.0.0', startedAt: new Date(), statisticsProviders: () => [], getLogLevel: () => 'info', setLogLevel: () => undefined });
  const calls = { count: 0 };
  registry.register({ name: 'test.count', help: 'counts its calls', handler: () => ++calls.count });
  extra?.(registry);
  const plane = await startControlPlane({ registry, ctl: [], http: { host: '127.0.0.1', port: 0, ...http }, metrics: new SiphonMetrics({ defaultMetrics: false }) });
  const port = Number(new URL(plane.httpUrl!).port);
  return { plane, port, calls, close: () => plane.close() };
}

describe('control HTTP listener: a web page cannot reach it', () => {
  let l: Listener;
  let host: string;
  beforeAll(async () => {
    l = await listen();
    host = `127.0.0.1:${l.port}`;
  });
  afterAll(async () => l?.close());

  const json = { 'content-type': 'application/json' };

  it('a plain JSON-RPC call from a local client works (Host 127.0.0.1, localhost, [::1]; charset utf-8)', async () => {
    for (const h of [host, `localhost:${l.port}`, `[::1]:${l.port}`, 'localhost']) {
      const r = await request(l.port, { headers: { host: h, ...json }, body: call('test.count') });
      expect(r.status, h).toBe(200);
      expect(JSON.parse(r.body).result).toBeGreaterThan(0);
      expect(r.headers['access-control-allow-origin']).toBeUndefined();
    }
    const r = await request(l.port, { headers: { host, 'content-type': 'application/json; charset=UTF-8' }, body: call('core.echo', ['x']) });
    expect(JSON.parse(r.body).result).toEqual(['x']);
  });

  it('wrong or missing Content-Type (what a page may send without a preflight) → 415 E6012, method not run', async () => {
    const before = l.calls.count;
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json-seq', 'application/json; charset=latin1', undefined]) {
      const headers: Record<string, string> = { host };
      if (ct !== undefined) headers['content-type'] = ct;
      const r = await request(l.port, { headers, body: call('test.count') });
      expect(r.status, String(ct)).toBe(415);
      expect(r.body).toMatch(/E6012/);
    }
    expect(l.calls.count).toBe(before);
  });

  it('a foreign Host (DNS rebinding: evil.example resolving to 127.0.0.1) → 421 E6010, also with a matching Origin', async () => {
    const before = l.calls.count;
    for (const h of [`evil.example:${l.port}`, 'evil.example', `127.0.0.1.nip.io:${l.port}`, `localhost.evil.example:${l.port}`, '10.0.0.1', `[::2]:${l.port}`, `${host}:1`, ' ']) {
      const r = await request(l.port, { headers: { host: h, origin: `http://${h}`, ...json }, body: call('test.count') });
      expect(r.status, h).toBe(421);
      expect(r.body).toMatch(/E6010/);
    }
    // and on /metrics
    expect((await request(l.port, { method: 'GET', path: '/metrics', headers: { host: `evil.example:${l.port}` } })).status).toBe(421);
    expect(l.calls.count).toBe(before);
  });

  it('no Host at all (HTTP/1.0) → 421; HTTP/1.1 without Host → 400 (Node, RFC 9112 §3.2)', async () => {
    expect(await rawUntilClosed(l.port, 'GET /metrics HTTP/1.0\r\n\r\n')).toMatch(/^HTTP\/1\.1 421 /);
    expect(await rawUntilClosed(l.port, 'GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('a foreign Origin, Origin: null or a cross-site fetch → 403 E6011; the listener\'s own origin is fine', async () => {
    const before = l.calls.count;
    for (const o of ['http://evil.example', 'null', `http://localhost:${l.port}`, `http://127.0.0.1:${l.port + 1}`, `https://127.0.0.1:${l.port}`, `http://127.0.0.1:${l.port}/x`]) {
      const r = await request(l.port, { headers: { host, origin: o, ...json }, body: call('test.count') });
      expect(r.status, o).toBe(403);
      expect(r.body).toMatch(/E6011/);
    }
    const site = await request(l.port, { headers: { host, 'sec-fetch-site': 'cross-site', ...json }, body: call('test.count') });
    expect(site.status).toBe(403);
    expect(l.calls.count).toBe(before);
    const own = await request(l.port, { headers: { host, origin: `http://${host}`, 'sec-fetch-site': 'same-origin', ...json }, body: call('test.count') });
    expect(own.status).toBe(200);
  });

  it('a CORS preflight → 403 without any Access-Control-Allow-* header', async () => {
    const r = await request(l.port, {
      method: 'OPTIONS',
      headers: { host, origin: 'http://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(r.status).toBe(403);
    expect(Object.keys(r.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    // even one claiming the listener's own origin (a preflight only ever comes from a page)
    expect((await request(l.port, { method: 'OPTIONS', headers: { host, 'access-control-request-method': 'POST' } })).status).toBe(403);
  });

  it('pipelined requests on one connection start at most max_in_flight calls; the rest get 503 E6016', async () => {
    const p = await listen({ maxInFlight: 4 }, (r) =>
      r.register({ name: 'test.hold', help: 'answers when released', handler: () => new Promise((resolve) => held.push(() => resolve('done'))) }),
    );
    const held: Array<() => void> = [];
    try {
      const body = call('test.hold');
      const one = `POST /RPC HTTP/1.1\r\nHost: 127.0.0.1:${p.port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      const s = net.connect(p.port, '127.0.0.1');
      s.on('error', () => undefined);
      let got = '';
      s.on('data', (d) => (got += d.toString('latin1')));
      s.on('connect', () => s.write(one.repeat(200)));
      for (let i = 0; i < 500 && held.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
      expect(held.length).toBe(4);
      held.splice(0).forEach((r) => r());
      // responses come in order: 4 answers, then 196 refusals (the refusal closes the connection after it)
      for (let i = 0; i < 500 && !/ 503 /.test(got); i++) await new Promise((r) => setTimeout(r, 10));
      expect(got.match(/HTTP\/1\.1 200 /g)?.length).toBe(4);
      expect(got).toMatch(/HTTP\/1\.1 503 [^]*E6016/);
      s.destroy();
      // slots are back
      const r = await request(p.port, { headers: { host: `127.0.0.1:${p.port}`, 'content-type': 'application/json' }, body: call('test.count') });
      expect(r.status).toBe(200);
    } finally {
      await p.close();
    }
  });

  it('a batch of more than 100 requests is -32600; 100 run', async () => {
    const many = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => ({ jsonrpc: '2.0', method: 'core.echo', params: [i], id: i })));
    const big = await request(l.port, { headers: { host, ...json }, body: many(101) });
    expect(JSON.parse(big.body).error.code).toBe(-32600);
    const ok = await request(l.port, { headers: { host, ...json }, body: many(100) });
    expect(JSON.parse(ok.body)).toHaveLength(100);
  });
});

describe('control HTTP listener: bearer token', () => {
  let l: Listener;
  let host: string;
  beforeAll(async () => {
    l = await listen({ token: TOKEN });
    host = `127.0.0.1:${l.port}`;
  });
  afterAll(async () => l?.close());

  it('missing → 401 with WWW-Authenticate: Bearer; wrong → 401 invalid_token; right → 200 (RPC and /metrics)', async () => {
    const body = call('test.count');
    const json = { host, 'content-type': 'application/json' };
    const none = await request(l.port, { headers: json, body });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(none.body).toMatch(/E6013/);
    for (const auth of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(0, -1)}`, `Basic ${Buffer.from(`a:${TOKEN}`).toString('base64')}`, TOKEN, 'Bearer ']) {
      const r = await request(l.port, { headers: { ...json, authorization: auth }, body });
      expect(r.status, auth).toBe(401);
    }
    const wrong = await request(l.port, { headers: { ...json, authorization: 'Bearer nope' }, body });
    expect(wrong.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    expect(l.calls.count).toBe(0);

    const ok = await request(l.port, { headers: { ...json, authorization: `Bearer ${TOKEN}` }, body });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).result).toBe(1);
    expect((await request(l.port, { method: 'GET', path: '/metrics', headers: { host } })).status).toBe(401);
    expect((await request(l.port, { method: 'GET', path: '/metrics', headers: { host, authorization: `bearer ${TOKEN}` } })).status).toBe(200);
  });
});

describe('control HTTP listener: oversized and slow clients', () => {
  let l: Listener;
  let host: string;
  beforeAll(async () => {
    l = await listen({ maxBodyBytes: 64 * 1024, headersTimeoutMs: 300, requestTimeoutMs: 600, maxConnections: 4 });
    host = `127.0.0.1:${l.port}`;
  });
  afterAll(async () => l?.close());

  const alive = async (): Promise<void> => {
    const r = await request(l.port, { headers: { host, 'content-type': 'application/json' }, body: call('core.echo', ['alive']) });
    expect(JSON.parse(r.body).result).toEqual(['alive']);
  };

  it('a declared body over max_body_bytes → 413 E6014 before the body is read', async () => {
    const head = `POST /RPC HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${100 * 1024 * 1024}\r\n\r\n`;
    const got = await rawUntilClosed(l.port, head);
    expect(got).toMatch(/^HTTP\/1\.1 413 /);
    expect(got).toMatch(/E6014/);
    await alive();
  });

  it('a request head over 8 KiB → 431 and closed', async () => {
    const got = await rawUntilClosed(l.port, `GET /metrics HTTP/1.1\r\nHost: ${host}\r\nX-Pad: ${'a'.repeat(9000)}\r\n\r\n`);
    expect(got).toMatch(/^HTTP\/1\.1 431 /);
    await alive();
  });

  it('a chunked body growing past the limit → 413 and the connection is dropped', async () => {
    const s = net.connect(l.port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', () => undefined);
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    await new Promise<void>((r) => s.on('connect', () => r()));
    s.write(`POST /RPC HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = `${(16 * 1024).toString(16)}\r\n${'['.repeat(16 * 1024)}\r\n`;
    // 2 MiB offered; the server stops after 64 KiB
    for (let i = 0; i < 128 && !s.destroyed; i++) {
      if (!s.write(chunk)) await Promise.race([new Promise((r) => s.once('drain', r)), closed]);
    }
    await closed;
    expect(got).toMatch(/^HTTP\/1\.1 413 /);
    await alive();
  });

  it('a client that never finishes its head, sends nothing, or dribbles its body is closed (408)', async () => {
    const [partialHead, silent, dribble] = await Promise.all([
      rawUntilClosed(l.port, `POST /RPC HTTP/1.1\r\nHost: ${host}\r\nContent-Type: app`),
      rawUntilClosed(l.port, ''),
      rawUntilClosed(l.port, `POST /RPC HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"jsonrpc"`),
    ]);
    // null would mean still open after 8 s (the deadlines are 300/600 ms)
    expect(partialHead).not.toBeNull();
    expect(silent).not.toBeNull();
    expect(dribble).not.toBeNull();
    expect(partialHead).toMatch(/^(HTTP\/1\.1 408 |$)/);
    expect(dribble).toMatch(/^(HTTP\/1\.1 408 |$)/);
    await alive();
  });

  it('at most max_connections at once: the next one is closed on accept, and slots come back', async () => {
    const idle = await Promise.all(
      Array.from({ length: 4 }, () => new Promise<net.Socket>((r) => {
        const s = net.connect(l.port, '127.0.0.1', () => r(s));
        s.on('error', () => undefined);
      })),
    );
    // give the server the four accepts before the fifth (accept order is the kernel's)
    await new Promise((r) => setTimeout(r, 50));
    const fifth = await rawUntilClosed(l.port, `GET /metrics HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 3000);
    expect(fifth).toBe(''); // closed without an answer
    for (const s of idle) s.destroy();
    // the freed slots serve again
    for (let i = 0; i < 50; i++) {
      try {
        await alive();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await alive();
  });
});

// ---- plugin.load path policy ---------------------------------------------------------------------

const identity = (version: string) => ({ 'sip.plugin': JSON.stringify({ name: 'routing', version }) });
const pluginBytes = (version: string): Uint8Array => wat(guest('(func (export "request_route") (param i32) (result i32) (i32.const 1))'), identity(version));

describe('plugin.load / plugin.reload: only regular files inside the plugin directories', () => {
  let tmp: string;
  let dir: string;
  let manager: PluginManager;
  let registry: MethodRegistry;
  let l: Listener;
  const logs: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'siphon-ctl-adv-'));
    dir = path.join(tmp, 'plugins');
    mkdirSync(path.join(dir, 'sub'), { recursive: true });
    writeFileSync(path.join(dir, 'v1.wasm'), pluginBytes('1.0.0'));
    writeFileSync(path.join(dir, 'v2.wasm'), pluginBytes('2.0.0'));
    writeFileSync(path.join(tmp, 'outside.wasm'), pluginBytes('6.6.6'));
    symlinkSync('/etc/passwd', path.join(dir, 'passwd.wasm'));
    symlinkSync(path.join(tmp, 'outside.wasm'), path.join(dir, 'escape.wasm'));
    symlinkSync(path.join(tmp, 'no-such-file.wasm'), path.join(dir, 'dangling.wasm'));
    symlinkSync(tmp, path.join(dir, 'up')); // a folder link out of the plugin directory
    symlinkSync(path.join(dir, 'v2.wasm'), path.join(dir, 'inside-link.wasm')); // stays inside: fine
    execFileSync('mkfifo', [path.join(dir, 'fifo.wasm')]);
    writeFileSync(path.join(dir, 'huge.wasm'), '');
    truncateSync(path.join(dir, 'huge.wasm'), 64 * 1024 * 1024); // sparse: no disk used
    manager = new PluginManager({ log: captureLogger(logs, 'info'), loadOptions: { limits: { memoryMaxPages: 16 } } });
    await manager.loadRouting(path.join(dir, 'v1.wasm'));
    const log = captureLogger(logs, 'info');
    l = await listen({}, (r) => {
      registry = r;
      r.registerAll(pluginRpcMethods(manager, { rootDir: tmp, pathPolicy: { dirs: [dir], maxBytes: 1024 * 1024 }, log }));
    });
  });
  afterAll(async () => {
    await l?.close();
    manager?.closeAll();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const load = async (p: string): Promise<{ message: string; ms: number }> => {
    const t0 = performance.now();
    const e = await registry.call('plugin.load', ['routing', p]).then(
      () => null,
      (err: unknown) => err as Error,
    );
    expect(e, p).not.toBeNull();
    return { message: e!.message, ms: performance.now() - t0 };
  };
  const running = () => manager.slot('routing')!.versions.find((v) => v.state === 'current')!.version;

  it('refuses every path outside, escaping, or not a regular file with one message shape, at once', async () => {
    const cases = [
      '/etc/passwd',
      '/etc/no-such-file-here',
      path.join(tmp, 'outside.wasm'),
      `${dir}/../outside.wasm`,
      `${dir}/sub/../../outside.wasm`,
      'plugins/../outside.wasm', // relative to rootDir
      '../../../../etc/shadow',
      path.join(dir, 'passwd.wasm'),
      path.join(dir, 'escape.wasm'),
      path.join(dir, 'dangling.wasm'),
      path.join(dir, 'up', 'outside.wasm'),
      path.join(dir, 'fifo.wasm'),
      path.join(dir, 'sub'),
      path.join(dir, 'missing.wasm'),
      '/dev/zero',
      `${dir}/v1.wasm\0.txt`,
    ];
    const shapes = new Set<string>();
    for (const p of cases) {
      const { message } = await load(p);
      expect(message, p).toMatch(/E4060/);
      // the same sentence for every reason once the caller's own text is taken out
      shapes.add(message.split(p.length > 256 ? p.slice(0, 256) : p).join('<path>'));
    }
    expect([...shapes]).toEqual(['"<path>" is not a regular file inside the plugin directories (routing.plugin_dirs) [E4060 plugin path refused] (running: routing@1.0.0 ' + manager.slot('routing')!.versions.find((v) => v.state === 'current')!.sha256.slice(0, 12) + ')']);
    expect(running()).toBe('1.0.0');
    // the server log has the reason
    expect(logs.some((l) => String(l.reason).includes('FIFO'))).toBe(true);
    expect(logs.some((l) => String(l.reason).includes('outside the plugin directories'))).toBe(true);
  });

  it('a FIFO does not block the load queue: a good load right after it goes through', async () => {
    const fifo = load(path.join(dir, 'fifo.wasm'));
    const good = registry.call('plugin.load', ['routing', path.join(dir, 'inside-link.wasm')]);
    expect((await fifo).message).toMatch(/E4060/);
    expect(await good).toMatchObject({ version: '2.0.0', path: path.join(dir, 'v2.wasm') });
    expect(running()).toBe('2.0.0');
    await registry.call('plugin.rollback', ['routing']);
    expect(running()).toBe('1.0.0');
  });

  it('a file over max_module_bytes inside the directories → E4061 before it is read', async () => {
    const { message } = await load(path.join(dir, 'huge.wasm'));
    expect(message).toMatch(/E4061/);
    expect(message).toMatch(/67108864 bytes/);
    expect(running()).toBe('1.0.0');
  });

  it('plugin.reload checks the current file again: replaced by a FIFO → refused at once, the version stays', async () => {
    const cur = path.join(dir, 'cur.wasm');
    writeFileSync(cur, pluginBytes('3.0.0'));
    await registry.call('plugin.load', ['routing', cur]);
    expect(running()).toBe('3.0.0');
    rmSync(cur);
    execFileSync('mkfifo', [cur]);
    const e = (await registry.call('plugin.reload', ['routing']).catch((err: unknown) => err)) as Error;
    expect(e.message).toMatch(/E4060/);
    expect(e.message).toMatch(/running: routing@3\.0\.0/);
    expect(running()).toBe('3.0.0');
    await registry.call('plugin.rollback', ['routing']);
  });

  it('the same over JSON-RPC on the HTTP listener: a 500 fault with E4060, /etc/passwd never read', async () => {
    const r = await request(l.port, { headers: { host: `127.0.0.1:${l.port}`, 'content-type': 'application/json' }, body: call('plugin.load', ['routing', '/etc/passwd']) });
    const err = JSON.parse(r.body).error;
    expect(err.code).toBe(500);
    expect(err.message).toMatch(/^"\/etc\/passwd" is not a regular file inside the plugin directories .*E4060/);
    expect(err.message).not.toMatch(/root:/);
  });
});

// ---- BINRPC stream listener (kamcmd, siphon rpc) -------------------------------------------------

describe('BINRPC stream listener: bounded like a TCP peer', () => {
  let tmp: string;
  let sockPath: string;
  let server: BinrpcServer;
  /** the BINRPC UDP listener's port and address. */
  let udpPort: number;
  let udpAddress: string;
  /** test.slow calls waiting to be answered, and how many started. */
  const slow = { waiting: [] as Array<() => void>, started: 0, releaseAll: (): void => slow.waiting.splice(0).forEach((r) => r()) };

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'siphon-ctl-binrpc-'));
    sockPath = path.join(tmp, 'ctl.sock');
    const registry = new MethodRegistry();
    registerCoreMethods(registry, { name: 'siphon', version: '0.0.0', startedAt: new Date(), statisticsProviders: () => [], getLogLevel: () => 'info', setLogLevel: () => undefined });
    registry.register({
      name: 'test.slow',
      help: 'answers when the test releases it',
      handler: () => new Promise((resolve) => {
        slow.started++;
        slow.waiting.push(() => resolve('released'));
      }),
    });
    server = new BinrpcServer({ registry, maxConnections: 4, packetTimeoutMs: 300, maxDatagramsInFlight: 3 });
    await server.listen(`unix:${sockPath}`);
    // ctl addresses need a port (1-65535): one the OS just handed out
    udpPort = await freePort('udp');
    udpAddress = await server.listen(`udp:127.0.0.1:${udpPort}`);
  });
  afterAll(async () => {
    await server?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const connectRaw = (): Promise<net.Socket> =>
    new Promise((resolve) => {
      const s = net.connect(sockPath, () => resolve(s));
      s.on('error', () => undefined);
    });
  const closedWithin = (s: net.Socket, ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (s.destroyed) return resolve(true);
      const t = setTimeout(() => resolve(false), ms);
      s.on('close', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  const echo = async (): Promise<void> => {
    const c = await BinrpcClient.connect(`unix:${sockPath}`, { timeoutMs: 5000 });
    try {
      expect(await c.call('core.echo', ['ok'])).toEqual(['ok']);
    } finally {
      await c.close();
    }
  };

  it('a packet left incomplete is closed after the packet deadline; an idle connection stays', async () => {
    const idle = await connectRaw();
    const partial = await connectRaw();
    const request = new BinrpcWriter().request(7, 'core.echo', ['x']);
    partial.write(request.subarray(0, request.length - 2));
    expect(await closedWithin(partial, 8000)).toBe(true);
    expect(idle.destroyed).toBe(false); // kamcmd's interactive mode keeps a connection open between calls
    idle.destroy();
    await echo();
  });

  it('at most maxConnections streams: the next one is closed at once', async () => {
    const held = await Promise.all([connectRaw(), connectRaw(), connectRaw(), connectRaw()]);
    const extra = await connectRaw();
    expect(await closedWithin(extra, 5000)).toBe(true);
    for (const s of held) s.destroy();
    for (let i = 0; i < 100; i++) {
      if ((server as unknown as { connections: Set<net.Socket> }).connections.size === 0) break;
      await new Promise((r) => setImmediate(r));
    }
    await echo();
  });

  it('while a request runs, the server does not read: a pipelined flood is not buffered', async () => {
    const s = await connectRaw();
    s.write(new BinrpcWriter().request(1, 'test.slow', []));
    for (let i = 0; i < 1000 && slow.started === 0; i++) await new Promise((r) => setImmediate(r));
    expect(slow.started).toBe(1);
    // 32 MiB of well-formed requests queued behind it: the kernel takes a few hundred KiB, the rest waits in the client
    const one = new BinrpcWriter().request(2, 'core.echo', ['y'.repeat(60_000)]);
    // written as separate chunks: writableLength drops by a chunk each time one reaches the kernel
    for (let i = 0; i < Math.ceil((32 << 20) / one.length); i++) s.write(one);
    // the server side of this connection: how much it took in. Poll until it stops growing (or clearly grows)
    const conn = () => [...(server as unknown as { connections: Set<net.Socket> }).connections][0]!;
    let last = -1;
    for (let stable = 0, i = 0; stable < 30 && i < 500 && last < 4 << 20; i++) {
      await new Promise((r) => setTimeout(r, 10));
      stable = conn().bytesRead === last ? stable + 1 : 0;
      last = conn().bytesRead;
    }
    // one request and what one read brings in besides, not the flood
    expect(last).toBeLessThan(1 << 20);
    slow.releaseAll();
    s.destroy();
    await echo();
  });

  it('UDP: at most maxDatagramsInFlight requests run at once, the rest of a flood is dropped', async () => {
    slow.started = 0;
    const u = dgram.createSocket('udp4');
    await new Promise<void>((r) => u.connect(udpPort, '127.0.0.1', () => r()));
    const req = new BinrpcWriter().request(3, 'test.slow', []);
    for (let i = 0; i < 50; i++) u.send(req);
    for (let i = 0; i < 500 && slow.started + server.datagramsDropped < 50; i++) await new Promise((r) => setTimeout(r, 10));
    expect(slow.started).toBe(3);
    expect(server.datagramsDropped).toBe(47);
    u.close();
    // the three running ones answer once released; the listener then serves again
    slow.releaseAll();
    const c = await BinrpcClient.connect(udpAddress, { timeoutMs: 5000 });
    try {
      expect(await c.call('core.echo', ['u'])).toEqual(['u']);
    } finally {
      await c.close();
    }
  });
});
