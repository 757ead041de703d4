/**
 * The operator console's server side over real HTTP on 127.0.0.1 (host/console): login with the scrypt
 * passwd file, session cookie, CSRF token and Origin on mutating requests, roles, the login limiter,
 * the bearer token not asked of /console, the live trace over SSE fed by real SIP datagrams, the
 * overview samples, and `siphon console passwd`.
 */
import dgram from 'node:dgram';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as consoleCli } from '../../../host/cli/commands/console.js';
import { sipTap } from '../../../host/transport/tap.js';
import { freePort } from '../../helpers/ports.js';
import { ADMIN, VIEWER, consoleRpc, login, request, startConsoleNode, type ConsoleNode } from './helpers.js';

const TOKEN = 'console-test-token-0123456789';

function options(port: number, callId: string): Buffer {
  return Buffer.from(
    `OPTIONS sip:ping@127.0.0.1:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-${callId}\r\nMax-Forwards: 70\r\n` +
      `From: <sip:tracer@127.0.0.1>;tag=1\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
  );
}

/** opens an SSE stream and collects its events until `until` says stop. */
function sse(base: string, p: string, cookie: string, until: (events: { event: string; data: any }[]) => boolean): { done: Promise<{ event: string; data: any }[]>; opened: Promise<void>; abort(): void } {
  const u = new URL(p, base);
  const events: { event: string; data: any }[] = [];
  let abort = (): void => {};
  let opened!: () => void;
  const openedP = new Promise<void>((r) => (opened = r));
  const done = new Promise<{ event: string; data: any }[]>((resolve, reject) => {
    const req = http.get({ host: u.hostname, port: u.port, path: u.pathname + u.search, headers: { cookie }, agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE ${res.statusCode}`));
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (ev === undefined || data === undefined) continue;
          events.push({ event: ev, data: JSON.parse(data) });
          if (ev === 'ready') opened();
          if (until(events)) {
            req.destroy();
            resolve(events);
          }
        }
      });
    });
    req.on('error', (e) => (e.message.includes('socket hang up') ? resolve(events) : reject(e)));
    abort = () => req.destroy();
  });
  return { done, opened: openedP, abort };
}

describe('operator console: server side', () => {
  let c: ConsoleNode;
  let base: string;
  let hepSocket: dgram.Socket;
  const hepPackets: Buffer[] = [];

  beforeAll(async () => {
    hepSocket = dgram.createSocket('udp4');
    await new Promise<void>((r) => hepSocket.bind(0, '127.0.0.1', r));
    hepSocket.on('message', (m) => hepPackets.push(m));
    c = await startConsoleNode({
      sipPort: await freePort('udp'),
      httpExtra: `token: ${TOKEN}`,
      consoleYaml: ['login_attempts: 3', 'login_window: 600', 'max_streams: 2', `hep: { address: "udp:127.0.0.1:${hepSocket.address().port}", capture_id: 77 }`],
    });
    base = c.base;
  }, 150_000);
  afterAll(async () => {
    await c?.close();
    hepSocket?.close();
  });

  it('serves the page under /console/ with a strict CSP; /RPC still needs the bearer token', async () => {
    const r = await request(base, '/console');
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('/console/');
    const page = await request(base, '/console/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.body).toContain('<siphon-console>');
    expect((await request(base, '/console/../RPC')).status).not.toBe(200);
    expect((await request(base, '/RPC', { body: { jsonrpc: '2.0', method: 'core.version', id: 1 } })).status).toBe(401);
  });

  it('no session → 401 E6030 on every API; a made-up cookie is no session', async () => {
    for (const p of ['/console/api/session', '/console/api/overview', '/console/api/trace', '/console/api/events']) {
      const r = await request(base, p);
      expect(r.status, p).toBe(401);
      expect(r.body.error.code).toBe('E6030');
    }
    const forged = await request(base, '/console/api/session', { headers: { cookie: `siphon_console=${'A'.repeat(43)}` } });
    expect(forged.status).toBe(401);
    const rpc = await request(base, '/console/api/rpc', { body: { method: 'core.version' }, headers: { origin: base } });
    expect(rpc.status).toBe(401);
  });

  it('login sets an HttpOnly SameSite=Strict cookie; the session gives the CSRF token', async () => {
    const r = await request(base, '/console/api/login', { body: ADMIN, headers: { origin: base } });
    expect(r.status).toBe(200);
    const cookie = String(r.headers['set-cookie']);
    expect(cookie).toMatch(/^siphon_console=[A-Za-z0-9_-]{43}; Path=\/console; HttpOnly; SameSite=Strict; Max-Age=3600$/);
    const s = await request(base, '/console/api/session', { headers: { cookie: cookie.split(';')[0]! } });
    expect(s.body).toEqual({ user: 'admin', role: 'admin', csrf: r.body.csrf });
  });

  it('foreign Origin, no Origin, no CSRF token, wrong CSRF token → refused; a plain-text body → 415', async () => {
    const l = await login(base, ADMIN);
    const body = { method: 'core.version', params: [] };
    const foreign = await request(base, '/console/api/rpc', { body, headers: { origin: 'http://evil.example', cookie: l.cookie, 'x-csrf-token': l.csrf } });
    expect(foreign.status).toBe(403);
    const foreignLogin = await request(base, '/console/api/login', { body: ADMIN, headers: { origin: 'http://evil.example' } });
    expect(foreignLogin.status).toBe(403);
    const noOrigin = await request(base, '/console/api/rpc', { body, headers: { cookie: l.cookie, 'x-csrf-token': l.csrf } });
    expect(noOrigin.status).toBe(403);
    expect(noOrigin.body.error.code).toBe('E6033');
    const noToken = await request(base, '/console/api/rpc', { body, headers: { origin: base, cookie: l.cookie } });
    expect(noToken.status).toBe(403);
    expect(noToken.body.error.code).toBe('E6033');
    const badToken = await request(base, '/console/api/rpc', { body, headers: { origin: base, cookie: l.cookie, 'x-csrf-token': 'x'.repeat(l.csrf.length) } });
    expect(badToken.status).toBe(403);
    const text = await request(base, '/console/api/rpc', { body: JSON.stringify(body), headers: { origin: base, cookie: l.cookie, 'x-csrf-token': l.csrf, 'content-type': 'text/plain' } });
    expect(text.status).toBe(415);
    const ok = await consoleRpc(base, l, 'core.version');
    expect(ok.status).toBe(200);
    expect(ok.body.result).toMatch(/^siphon /);
  });

  it('roles: readonly reads but may not change; methods the console does not offer are refused to both', async () => {
    const v = await login(base, VIEWER);
    expect(v.role).toBe('readonly');
    expect((await consoleRpc(base, v, 'plugin.list')).body.result[0].name).toBe('hello');
    const denied = await consoleRpc(base, v, 'plugin.rollback', []);
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('E6034');
    const a = await login(base, ADMIN);
    const notOffered = await consoleRpc(base, a, 'corex.debug', [0]);
    expect(notOffered.status).toBe(403);
    // an admin method runs and its fault comes back as a result, not an HTTP error
    const fault = await consoleRpc(base, a, 'plugin.rollback', ['no-such-plugin']);
    expect(fault.status).toBe(200);
    expect(fault.body.error.code).toBeGreaterThanOrEqual(400);
  });

  it('logout ends the session', async () => {
    const l = await login(base, ADMIN);
    const out = await request(base, '/console/api/logout', { method: 'POST', body: {}, headers: { origin: base, cookie: l.cookie, 'x-csrf-token': l.csrf } });
    expect(out.status).toBe(200);
    expect((await request(base, '/console/api/session', { headers: { cookie: l.cookie } })).status).toBe(401);
  });

  it('live trace: an SSE watcher filtered by Call-ID sees the request in and the reply out; HEP export gets them too', async () => {
    const l = await login(base, ADMIN);
    const callId = `trace-${Date.now()}`;
    const stream = sse(base, `/console/api/events?topics=trace&callid=${callId}`, l.cookie, (ev) => ev.filter((e) => e.event === 'trace').length >= 2);
    await stream.opened;
    expect(sipTap.on).toBe(true);
    const client = dgram.createSocket('udp4');
    // another Call-ID first: filtered out
    client.send(options(c.sipPort, 'other-call'), c.sipPort, '127.0.0.1');
    client.send(options(c.sipPort, callId), c.sipPort, '127.0.0.1');
    const events = (await stream.done).filter((e) => e.event === 'trace').map((e) => e.data);
    client.close();
    expect(events.map((m) => [m.dir, m.method, m.status, m.callId])).toEqual([
      ['in', 'OPTIONS', 0, callId],
      ['out', 'OPTIONS', 501, callId],
    ]);
    expect(events[0].fromUser).toBe('tracer');
    expect(events[0].text).toContain(`Call-ID: ${callId}`);
    // the ring answers the ladder query for that call
    const q = await request(base, `/console/api/trace?callid=${callId}`, { headers: { cookie: l.cookie } });
    expect(q.body.messages).toHaveLength(2);
    // the HEP exporter keeps the tap on (configured); the HEPv3 packets carry the messages
    expect(hepPackets.length).toBeGreaterThanOrEqual(2);
    const pkt = hepPackets.find((p) => p.includes(Buffer.from(callId)))!;
    expect(pkt.subarray(0, 4).toString()).toBe('HEP3');
    expect(pkt.readUInt16BE(4)).toBe(pkt.length);
  });

  it('overview: samples from the statistics, also pushed on the SSE stream', async () => {
    const l = await login(base, ADMIN);
    await c.node.console!.sampler.sample();
    const r = await request(base, '/console/api/overview', { headers: { cookie: l.cookie } });
    expect(r.body.interval).toBe(5);
    expect(r.body.samples.length).toBeGreaterThanOrEqual(1);
    expect(Object.keys(r.body.samples.at(-1)).sort()).toEqual(['active_dialogs', 'calls_per_s', 'errors_per_s', 'hook_avg_us', 'hook_p99_us', 'registrations', 'requests_per_s', 't']);
    const stream = sse(base, '/console/api/events?topics=overview', l.cookie, (ev) => ev.some((e) => e.event === 'overview'));
    await stream.opened;
    await c.node.console!.sampler.sample();
    const ev = await stream.done;
    expect(ev.find((e) => e.event === 'overview')!.data.t).toBeGreaterThan(0);
  });

  it('wrong password → 401; after login_attempts failures the source gets 429 even with the right password; another source is not affected', async () => {
    const from = '127.0.0.3';
    for (let i = 0; i < 3; i++) {
      const r = await request(base, '/console/api/login', { body: { user: 'admin', password: `guess-${i}` }, headers: { origin: base }, from });
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('E6031');
    }
    const unknownUser = await request(base, '/console/api/login', { body: { user: 'nobody', password: 'x' }, headers: { origin: base }, from: '127.0.0.4' });
    expect(unknownUser.status).toBe(401);
    const limited = await request(base, '/console/api/login', { body: ADMIN, headers: { origin: base }, from });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('E6032');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    await expect(login(base, ADMIN, '127.0.0.5')).resolves.toMatchObject({ role: 'admin' });
  });

  it('bounds: a body over 64 KiB → 413; more than max_streams live streams → 503; counters in the console statistics group', async () => {
    const l = await login(base, ADMIN, '127.0.0.7');
    const big = await request(base, '/console/api/rpc', { body: { method: 'core.version', params: ['x'.repeat(70_000)] }, headers: { origin: base, cookie: l.cookie, 'x-csrf-token': l.csrf } });
    expect(big.status).toBe(413);
    const streams = Array.from({ length: 2 }, () => sse(base, '/console/api/events?topics=overview', l.cookie, () => false));
    await Promise.all(streams.map((st) => st.opened));
    const third = await request(base, '/console/api/events', { headers: { cookie: l.cookie } });
    expect(third.status).toBe(503);
    expect(third.body.error.code).toBe('E6036');
    const stats = await consoleRpc(base, l, 'stats.get_statistics', ['console:']);
    for (const st of streams) st.abort();
    const lines: string[] = stats.body.result;
    expect(lines).toContain('console:streams = 2');
    expect(lines.find((x) => x.startsWith('console:login_failures = '))).toBeDefined();
    expect(Number(lines.find((x) => x.startsWith('console:logins = '))!.split(' = ')[1])).toBeGreaterThan(3);
    expect(Number(lines.find((x) => x.startsWith('console:hep_sent = '))!.split(' = ')[1])).toBeGreaterThanOrEqual(2);
  });

  it('`siphon console passwd` adds a user the running node accepts at once', async () => {
    const out: string[] = [];
    const code = await consoleCli(['passwd', 'carol', '--role', 'readonly', '--passwd-file', path.join(c.tmp, 'console.passwd')], {
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => out.push(s) },
      readPassword: async () => 'carol-password-1',
    });
    expect(code, out.join('')).toBe(0);
    await expect(login(base, { user: 'carol', password: 'carol-password-1' }, '127.0.0.6')).resolves.toMatchObject({ role: 'readonly' });
    const short = await consoleCli(['passwd', 'dave', '--passwd-file', path.join(c.tmp, 'console.passwd')], { stdout: { write: () => 0 }, stderr: { write: () => 0 }, readPassword: async () => 'short' });
    expect(short).toBe(2);
  });
});
