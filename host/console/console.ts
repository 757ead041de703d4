/**
 * The operator console on the control HTTP listener (README.md): the pages under /console/ (static
 * files of ui/, read once at start), and the JSON API under /console/api/ the pages call:
 *
 *   POST login, logout · GET session · POST rpc (one RPC method of methods.ts, by role)
 *   GET events (SSE: overview samples, trace messages) · GET trace, overview, plugin-files
 *
 * Every request has already passed the listener's guard (host/rpc/http-guard.ts: loopback Host, no
 * foreign Origin or Sec-Fetch-Site, no CORS preflight); the bearer token is not asked here (a browser
 * cannot send it), the session cookie is. Mutating requests (POST) also need a same-origin Origin (or
 * Sec-Fetch-Site: same-origin), Content-Type application/json and, once logged in, the session's CSRF
 * token in X-CSRF-Token.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { SiphonError, type ErrorName } from '../errors/registry.js';
import { isJsonContentType } from '../rpc/http-guard.js';
import { RpcFault, type RpcRegistry, type RpcValue } from '../rpc/types.js';
import { clearedCookie, cookieValue, COOKIE_NAME, csrfMatches, LoginLimiter, sessionCookie, SessionTable, type Session } from './auth.js';
import type { ResolvedConsoleConfig } from './config.js';
import { ADMIN_METHODS, allowed } from './methods.js';
import { MAX_PASSWORD_LENGTH, readPasswd, verifyPassword, type ConsoleUser } from './password.js';
import { OverviewSampler } from './sampler.js';
import { SseStream } from './sse.js';
import { traceFilter, TraceHub, type TraceExporter } from './trace.js';

/** largest console API request body, bytes (login, one RPC call). */
export const MAX_API_BODY = 64 * 1024;
/** most messages GET /console/api/trace returns. */
export const MAX_TRACE_QUERY = 500;
/** most plugin files GET /console/api/plugin-files lists. */
export const MAX_PLUGIN_FILES = 200;
const MAX_UI_FILES = 64;
const MAX_UI_FILE_BYTES = 512 * 1024;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Headers of every console answer: no framing, no sniffing, no caching, scripts and styles from here only. */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export interface ConsoleOptions {
  config: ResolvedConsoleConfig;
  registry: RpcRegistry;
  /** the folder of index.html, app.js ... (host/console/ui). */
  uiDir: string;
  /** folders plugin.load may read (host/wasm/plugin-path.ts): the deploy list comes from them. */
  pluginDirs: readonly string[];
  log?: Logger;
  /** inline users besides the passwd file's (tests). */
  users?: readonly ConsoleUser[];
  now?: () => number;
}

function json(res: ServerResponse, status: number, body: unknown, extra?: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, ...extra, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function fail(res: ServerResponse, status: number, name: ErrorName, detail: string, extra?: Record<string, string>): void {
  const e = new SiphonError(name, detail);
  json(res, status, { error: { code: `E${e.code}`, message: e.message } }, extra);
}

/** reads a JSON body of at most MAX_API_BODY bytes; null (after answering) when it is not one. */
function readJson(req: IncomingMessage, res: ServerResponse): Promise<Record<string, unknown> | null> {
  return new Promise((resolve) => {
    if (!isJsonContentType(req.headers['content-type'])) {
      fail(res, 415, 'RPC_HTTP_CONTENT_TYPE', 'send Content-Type: application/json', { connection: 'close' });
      return resolve(null);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > MAX_API_BODY) {
        done = true;
        res.once('finish', () => req.socket.destroy());
        fail(res, 413, 'RPC_HTTP_TOO_LARGE', `the body exceeds ${MAX_API_BODY} bytes`, { connection: 'close' });
        resolve(null);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      try {
        const v: unknown = JSON.parse(Buffer.concat(chunks, size).toString('utf8'));
        if (typeof v === 'object' && v !== null && !Array.isArray(v)) return resolve(v as Record<string, unknown>);
      } catch {
        // answered below
      }
      json(res, 400, { error: { code: 'E6002', message: 'the body is not a JSON object' } });
      resolve(null);
    });
    req.on('error', () => resolve(null));
  });
}

export class OperatorConsole {
  readonly sessions: SessionTable;
  readonly limiter: LoginLimiter;
  readonly trace: TraceHub;
  readonly sampler: OverviewSampler;
  private readonly ui = new Map<string, { type: string; body: Buffer }>();
  private readonly streams = new Set<SseStream>();
  private exporter: (TraceExporter & { sent?: number; errors?: number; skipped?: number }) | null = null;
  /** SSE events dropped because a stream's unsent buffer was full, over closed streams too. */
  private droppedEvents = 0;
  private readonly cfg: ResolvedConsoleConfig;

  constructor(private readonly opts: ConsoleOptions) {
    const c = (this.cfg = opts.config);
    const now = opts.now ?? Date.now;
    this.sessions = new SessionTable(c.session_ttl * 1000, c.max_sessions, now);
    this.limiter = new LoginLimiter(c.login_attempts, c.login_window * 1000, now);
    this.trace = new TraceHub(c.trace_messages, c.trace_message_bytes);
    this.sampler = new OverviewSampler(opts.registry, c.sample_interval);
    this.loadUi(opts.uiDir);
  }

  private loadUi(dir: string): void {
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      this.opts.log?.warn({ dir }, 'console UI folder not found; /console serves the API only');
    }
    for (const name of names.slice(0, MAX_UI_FILES)) {
      const type = TYPES[path.extname(name)];
      const file = path.join(dir, name);
      if (type === undefined || !statSync(file).isFile() || statSync(file).size > MAX_UI_FILE_BYTES) continue;
      this.ui.set(name, { type, body: readFileSync(file) });
    }
  }

  start(exporter?: TraceExporter | null): void {
    this.sampler.start();
    if (exporter) {
      this.exporter = exporter;
      this.trace.setExporter(exporter);
    }
  }

  /** the `console` statistics group (stats.get_statistics console:, /metrics). */
  statistics(): Record<string, number> {
    let dropped = this.droppedEvents;
    for (const s of this.streams) dropped += s.dropped;
    return {
      logins: this.limiter.succeeded,
      login_failures: this.limiter.failed,
      logins_limited: this.limiter.limited,
      sessions: this.sessions.size,
      streams: this.streams.size,
      stream_events_dropped: dropped,
      trace_active: this.trace.active ? 1 : 0,
      trace_captured: this.trace.captured,
      trace_skipped: this.trace.skipped,
      hep_sent: this.exporter?.sent ?? 0,
      hep_errors: (this.exporter?.errors ?? 0) + (this.exporter?.skipped ?? 0),
    };
  }

  close(): void {
    this.sampler.stop();
    this.trace.close();
    for (const s of this.streams) s.close();
    this.streams.clear();
  }

  /** users of the passwd file (re-read on each login, so `siphon console passwd` applies at once) and the inline ones. */
  private async users(): Promise<ConsoleUser[]> {
    const fromFile = await readPasswd(this.cfg.passwdFile);
    return [...(this.opts.users ?? []), ...fromFile];
  }

  private session(req: IncomingMessage): Session | null {
    return this.sessions.get(cookieValue(req.headers.cookie, COOKIE_NAME));
  }

  /** POST needs a same-origin Origin (the guard refused foreign ones) or Sec-Fetch-Site: same-origin. */
  private sameOriginPost(req: IncomingMessage): boolean {
    return req.headers.origin !== undefined || req.headers['sec-fetch-site'] === 'same-origin';
  }

  /** Handles a request whose path is /console or under it. */
  handle(req: IncomingMessage, res: ServerResponse, pathname: string, query: URLSearchParams): void {
    if (pathname === '/console') {
      res.writeHead(301, { ...SECURITY_HEADERS, location: '/console/', 'content-length': 0 });
      res.end();
      return;
    }
    if (!pathname.startsWith('/console/api/')) return this.serveStatic(req, res, pathname.slice('/console/'.length) || 'index.html');
    const route = pathname.slice('/console/api/'.length);
    if (req.method === 'POST') {
      if (!this.sameOriginPost(req)) return fail(res, 403, 'CONSOLE_CSRF', 'a console POST must come from the console page (Origin)', { connection: 'close' });
      if (route === 'login') return void this.login(req, res);
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      return fail(res, 405, 'CONSOLE_CSRF', 'GET or POST only', { allow: 'GET, POST', connection: 'close' });
    }
    const s = this.session(req);
    if (s === null) return fail(res, 401, 'CONSOLE_NO_SESSION', 'log in first (POST /console/api/login)');
    if (req.method === 'POST') {
      if (!csrfMatches(s, req.headers['x-csrf-token'])) return fail(res, 403, 'CONSOLE_CSRF', 'X-CSRF-Token does not match the session', { connection: 'close' });
      if (route === 'logout') {
        this.sessions.end(s.id);
        return json(res, 200, { ok: true }, { 'set-cookie': clearedCookie() });
      }
      if (route === 'rpc') return void this.rpc(req, res, s);
      return fail(res, 404, 'RPC_METHOD_NOT_FOUND', 'no such console API');
    }
    switch (route) {
      case 'session':
        return json(res, 200, { user: s.user, role: s.role, csrf: s.csrf });
      case 'overview':
        return json(res, 200, { interval: this.cfg.sample_interval, samples: this.sampler.history() });
      case 'trace': {
        const f = traceFilter(query.get('user'), query.get('callid'), query.get('ip'));
        const limit = Math.min(MAX_TRACE_QUERY, Math.max(1, Number(query.get('limit')) || MAX_TRACE_QUERY));
        return json(res, 200, { active: this.trace.active, messages: this.trace.query(f, limit) });
      }
      case 'events':
        return this.events(req, res, query);
      case 'plugin-files':
        return void this.pluginFiles(res);
      default:
        return fail(res, 404, 'RPC_METHOD_NOT_FOUND', 'no such console API');
    }
  }

  private serveStatic(req: IncomingMessage, res: ServerResponse, name: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 405, 'CONSOLE_CSRF', 'GET only', { allow: 'GET', connection: 'close' });
    const f = this.ui.get(name);
    if (f === undefined) {
      res.writeHead(404, { ...SECURITY_HEADERS, 'content-type': 'text/plain', 'content-length': 10 });
      res.end('not found\n');
      return;
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': f.type, 'content-length': f.body.length });
    res.end(req.method === 'HEAD' ? undefined : f.body);
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const source = req.socket.remoteAddress ?? 'unknown';
    const wait = this.limiter.retryAfter(source);
    if (wait > 0) {
      this.limiter.limited++;
      this.opts.log?.warn({ source, code: 6032 }, 'console login rate-limited [E6032]');
      return fail(res, 429, 'CONSOLE_LOGIN_LIMITED', `too many failed logins; retry in ${wait} s`, { 'retry-after': String(wait) });
    }
    const body = await readJson(req, res);
    if (body === null) return;
    const user = typeof body.user === 'string' ? body.user : '';
    const password = typeof body.password === 'string' ? body.password : '';
    if (user.length === 0 || user.length > 64 || password.length === 0 || password.length > MAX_PASSWORD_LENGTH) {
      this.limiter.fail(source);
      return fail(res, 401, 'CONSOLE_LOGIN_FAILED', 'wrong user or password');
    }
    if (!this.limiter.acquire()) return fail(res, 503, 'CONSOLE_BUSY', 'logins in progress; retry', { 'retry-after': '1' });
    let ok = false;
    let found: ConsoleUser | undefined;
    try {
      found = (await this.users()).find((u) => u.name === user);
      // an unknown user costs a check too (no timing hint about which names exist)
      ok = await verifyPassword(password, found?.hash ?? DUMMY_HASH);
      ok = ok && found !== undefined;
    } catch (e) {
      this.opts.log?.error({ err: (e as Error).message, code: 6035 }, 'console passwd file unusable [E6035]');
      return fail(res, 500, 'CONSOLE_PASSWD', 'the console passwd file cannot be read (see the server log)');
    } finally {
      this.limiter.release();
    }
    if (!ok || found === undefined) {
      this.limiter.fail(source);
      this.opts.log?.warn({ source, user: user.slice(0, 64), code: 6031 }, 'console login failed [E6031]');
      return fail(res, 401, 'CONSOLE_LOGIN_FAILED', 'wrong user or password');
    }
    this.limiter.succeed(source);
    const s = this.sessions.create(found.name, found.role);
    this.opts.log?.info({ user: found.name, role: found.role, source }, 'console login');
    json(res, 200, { user: s.user, role: s.role, csrf: s.csrf }, { 'set-cookie': sessionCookie(s.id, this.cfg.session_ttl) });
  }

  private async rpc(req: IncomingMessage, res: ServerResponse, s: Session): Promise<void> {
    const body = await readJson(req, res);
    if (body === null) return;
    const method = typeof body.method === 'string' ? body.method : '';
    const params = Array.isArray(body.params) ? (body.params as RpcValue[]) : [];
    const may = allowed(s.role, method);
    if (may !== 'ok') {
      return fail(res, 403, 'CONSOLE_FORBIDDEN', may === 'admin-only' ? `${method} needs the admin role` : `the console does not offer ${method.slice(0, 64)}`);
    }
    if (!this.opts.registry.get(method)) return json(res, 200, { error: { code: 404, message: `command ${method} not found (module not loaded)` } });
    try {
      const result = await this.opts.registry.call(method, params);
      if (ADMIN_METHODS.has(method)) this.opts.log?.info({ user: s.user, method, params: JSON.stringify(params).slice(0, 256) }, 'console action');
      json(res, 200, { result });
    } catch (e) {
      if (e instanceof RpcFault) return json(res, 200, { error: { code: e.faultCode, message: e.message } });
      this.opts.log?.error({ err: (e as Error).message, method }, 'console RPC failed');
      json(res, 200, { error: { code: 500, message: (e as Error).message } });
    }
  }

  /** SSE: `overview` samples (topic overview) and `trace` messages matching the filter (topic trace). */
  private events(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
    if (this.streams.size >= this.cfg.max_streams) {
      return fail(res, 503, 'CONSOLE_BUSY', `${this.cfg.max_streams} live streams are open (core.http.console.max_streams)`, { 'retry-after': '5' });
    }
    const topics = new Set((query.get('topics') ?? 'overview').split(',').slice(0, 4));
    const stream = new SseStream(res, this.cfg.stream_buffer, SECURITY_HEADERS);
    this.streams.add(stream);
    const undo: (() => void)[] = [
      () => {
        this.streams.delete(stream);
        this.droppedEvents += stream.dropped;
      },
    ];
    if (topics.has('overview')) undo.push(this.sampler.onSample((sample) => stream.send('overview', sample)));
    if (topics.has('trace')) {
      const filter = traceFilter(query.get('user'), query.get('callid'), query.get('ip'));
      undo.push(this.trace.watch({ filter, push: (m) => stream.send('trace', m) }));
    }
    stream.send('ready', { topics: [...topics] });
    stream.onClose(() => {
      for (const u of undo) u();
    });
    req.socket.setTimeout(0);
  }

  /** the .wasm files under the plugin directories: DIR/*.wasm and DIR/NAME/build/*.wasm. */
  private async pluginFiles(res: ServerResponse): Promise<void> {
    const out: { name: string; path: string }[] = [];
    const add = async (dir: string, depth: number): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (out.length >= MAX_PLUGIN_FILES) return;
        if (e.isFile() && e.name.endsWith('.wasm')) out.push({ name: e.name.slice(0, -5), path: path.join(dir, e.name) });
        else if (e.isDirectory() && depth === 0) await add(path.join(dir, e.name, 'build'), 1);
      }
    };
    for (const d of this.opts.pluginDirs) await add(d, 0);
    json(res, 200, { files: out });
  }
}

/** a valid hash of an unguessable password, checked for unknown users (same cost as a real check). */
const DUMMY_HASH = 'scrypt$32768$8$1$c2lwaG9uLWR1bW15LXNhbHQ=$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
