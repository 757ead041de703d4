/**
 * auth_db on a running node (in-process, UDP on an ephemeral port, BINRPC on a unix socket), routing
 * with test/integration/auth_db/plugins/authdb-probe (auth_check for REGISTER, proxy_authorize
 * otherwise; -1 answered 500, else a challenge from the auth module):
 *   - `siphon subscriber add/passwd/rm` (the real command over the real control socket) goes through the
 *     node and the very next REGISTER sees the change: unknown (-3) → 200 → wrong password (-2) → 200
 *     with the new one (MD5 and SHA-256 challenges) → removed (-3);
 *   - auth_check flag 1: credentials of alice registering bob → 403 (-8);
 *   - MySQL (a kamdbctl database) behind a TCP relay that stops forwarding: the answer to a challenge
 *     is 500, never 200; the challenge itself still goes out.
 */
import dgram from 'node:dgram';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as subscriberCli } from '../../../host/cli/commands/subscriber.js';
import { parseConfig } from '../../../host/config/load.js';
import { createLogger } from '../../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../../host/server/app.js';
import { moduleSchemas } from '../../../host/server/modules.js';
import { parseMessage } from '../../../host/sip/parser.js';
import type { SipMessage } from '../../../host/sip/types.js';
import { until } from '../../adversarial/helpers.js';
import { digestCredentials } from '../../helpers/digest-client.js';
import { createKamailioDb, type KamailioDb } from '../../helpers/kamailio-db.js';
import { freePort } from '../../helpers/ports.js';
import { TcpRelay } from '../../helpers/tcp-relay.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../../..');
const PLUGINS = path.join(import.meta.dirname, 'plugins');
const PROBE = path.join(PLUGINS, 'authdb-probe/build/authdb-probe.wasm');
const DOMAIN = 'example.com';

/** a UDP UA on an ephemeral port that records the responses it gets. */
class Ua {
  readonly got: SipMessage[] = [];
  private n = 0;
  private constructor(readonly sock: dgram.Socket) {
    sock.on('message', (buf) => {
      const r = parseMessage(buf, { maxMessageSize: 65535, maxHeaders: 256 });
      if (r.ok && r.message.kind === 'response') this.got.push(r.message);
    });
  }

  static async open(): Promise<Ua> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
    return new Ua(sock);
  }

  get port(): number {
    return this.sock.address().port;
  }

  /** sends a request and waits for its final response. */
  async request(nodePort: number, method: string, o: { user: string; to?: string; extra?: string[]; callId?: string; cseq?: number }): Promise<SipMessage> {
    const n = ++this.n;
    const callId = o.callId ?? `authdb-node-${this.port}-${n}`;
    const to = o.to ?? o.user;
    const ruri = method === 'REGISTER' ? `sip:${DOMAIN}` : `sip:${to}@${DOMAIN}`;
    const text = [
      `${method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};rport;branch=z9hG4bK-adb-${this.port}-${n}`,
      'Max-Forwards: 70',
      `From: <sip:${o.user}@${DOMAIN}>;tag=t${n}`,
      `To: <sip:${to}@${DOMAIN}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${o.cseq ?? n} ${method}`,
      `Contact: <sip:${o.user}@127.0.0.1:${this.port}>`,
      ...(o.extra ?? []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    this.sock.send(Buffer.from(text), nodePort, '127.0.0.1');
    let found: SipMessage | undefined;
    await until(() => (found = this.got.find((m) => m.callId === callId && m.cseq?.seq === (o.cseq ?? n) && m.status >= 200)) !== undefined, `a final response to ${method} ${callId}`);
    return found!;
  }

  /** REGISTER, answer its challenge with `password` (algorithm `alg`); the final response to the answer. */
  async register(nodePort: number, user: string, password: string, o: { alg?: 'MD5' | 'SHA-256'; to?: string } = {}): Promise<SipMessage> {
    const callId = `authdb-reg-${this.port}-${++this.n}`;
    const first = await this.request(nodePort, 'REGISTER', { user, to: o.to, callId, cseq: 1 });
    if (first.status !== 401) return first;
    const alg = o.alg ?? 'MD5';
    const challenge = first.headerValues('www-authenticate').find((v) => new RegExp(`algorithm=${alg}(\\s*,|\\s*$)`).test(v));
    const nonce = /nonce="([^"]+)"/.exec(challenge ?? '')?.[1];
    if (!nonce) throw new Error(`no ${alg} challenge in ${first.headerValues('www-authenticate').join(' | ')}`);
    const line = digestCredentials(nonce, { username: user, password, realm: DOMAIN, alg, uri: `sip:${DOMAIN}` });
    return this.request(nodePort, 'REGISTER', { user, to: o.to, callId, cseq: 2, extra: [line] });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}

const rc = (m: SipMessage): string => `${m.status} ${m.header('x-auth-rc') ?? '-'}`;

async function startProbeNode(port: number, dataDir: string, ctl: string | null, authDb: string[], core: string[] = []): Promise<SiphonNode> {
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${port}]`,
    `  data_dir: ${JSON.stringify(dataDir)}`,
    `  ctl: [${ctl ? JSON.stringify(ctl) : ''}]`,
    '  warmup: 0',
    ...core.map((l) => `  ${l}`),
    'modules:',
    '  auth:',
    `    secret: ${JSON.stringify('n'.repeat(40))}`,
    '  auth_db:',
    ...(authDb.length ? authDb.map((l) => `    ${l}`) : ['    {}']),
    'routing:',
    `  plugin: ${JSON.stringify(PROBE)}`,
  ].join('\n');
  const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
  return startNode(config, createLogger({ level: 'error', destination: { write: () => {} } }));
}

let dir: string;
let ua: Ua;

beforeAll(async () => {
  await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', PLUGINS], { cwd: ROOT, timeout: 120_000 });
  dir = await mkdtemp(path.join(tmpdir(), 'siphon-authdb-node-'));
  ua = await Ua.open();
}, 130_000);

afterAll(async () => {
  await ua?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('auth_db on a running node (embedded store)', () => {
  let node: SiphonNode;
  let port: number;
  let ctl: string;
  const out: string[] = [];
  const cli = (...argv: string[]): Promise<number> =>
    subscriberCli(['--ctl', ctl, '--data-dir', path.join(dir, 'cli-data'), ...argv], { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) } });

  beforeAll(async () => {
    port = await freePort();
    ctl = `unix:${path.join(dir, 'ctl')}`;
    node = await startProbeNode(port, path.join(dir, 'data'), ctl, []);
  }, 60_000);

  afterAll(async () => {
    await node?.stop();
  });

  it('siphon subscriber add/passwd/rm through the node: the next REGISTER sees each change', async () => {
    expect(rc(await ua.register(port, 'alice', 'pw1'))).toBe('401 -3');
    expect(await cli('add', `alice@${DOMAIN}`, 'pw1')).toBe(0);
    expect(out.join('')).toMatch(/added \(through the running node\)/);
    expect(rc(await ua.register(port, 'alice', 'pw1'))).toBe('200 1');
    expect(rc(await ua.register(port, 'alice', 'pw1', { alg: 'SHA-256' }))).toBe('200 1');
    expect(await cli('passwd', `alice@${DOMAIN}`, 'pw2')).toBe(0);
    expect(rc(await ua.register(port, 'alice', 'pw1'))).toBe('401 -2');
    expect(rc(await ua.register(port, 'alice', 'pw2'))).toBe('200 1');
    expect(await cli('rm', `alice@${DOMAIN}`)).toBe(0);
    expect(rc(await ua.register(port, 'alice', 'pw2'))).toBe('401 -3');
    // the CLI wrote nothing of its own: the node owns the store
    expect(out.join('')).not.toMatch(/cli-data/);
    expect(out.join('')).not.toMatch(/pw1|pw2/);
  });

  it('auth_check flag 1: alice cannot register bob (403, -8)', async () => {
    expect(await cli('add', `alice@${DOMAIN}`, 'pw3')).toBe(0);
    expect(rc(await ua.register(port, 'alice', 'pw3', { to: 'bob' }))).toBe('403 -8');
    expect(rc(await ua.register(port, 'alice', 'pw3'))).toBe('200 1');
  });
});

describe('auth_db on a running node without a control socket (embedded store)', () => {
  let node: SiphonNode;
  let port: number;
  const data = (): string => path.join(dir, 'data-noctl');

  beforeAll(async () => {
    port = await freePort();
    node = await startProbeNode(port, data(), null, []);
  }, 60_000);

  afterAll(async () => {
    await node?.stop();
  });

  it('the CLI writes the files itself and the node reads the change on the next REGISTER', async () => {
    const out: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) } };
    const cli = (...argv: string[]): Promise<number> => subscriberCli(['--ctl', `unix:${path.join(dir, 'no-such-ctl')}`, '--data-dir', data(), ...argv], io);
    expect(rc(await ua.register(port, 'dave', 'dave-pw'))).toBe('401 -3');
    expect(await cli('add', `dave@${DOMAIN}`, 'dave-pw')).toBe(0);
    expect(out.join('')).toMatch(/new user 'dave@example\.com' added to /);
    expect(rc(await ua.register(port, 'dave', 'dave-pw'))).toBe('200 1');
    expect(await cli('passwd', `dave@${DOMAIN}`, 'dave-pw2')).toBe(0);
    expect(rc(await ua.register(port, 'dave', 'dave-pw'))).toBe('401 -2');
    expect(rc(await ua.register(port, 'dave', 'dave-pw2'))).toBe('200 1');
  });
});

describe('auth_db on a running node (MySQL unreachable)', () => {
  let kdb: KamailioDb;
  let relay: TcpRelay;
  let node: SiphonNode;
  let port: number;

  beforeAll(async () => {
    kdb = await createKamailioDb('authdbnode');
    await kdb.addSubscriber('carol', DOMAIN, 'carol-pw');
    relay = await TcpRelay.open({ host: '127.0.0.1', port: 3306 });
    port = await freePort();
    node = await startProbeNode(port, path.join(dir, 'data-mysql'), null, [`db_url: mysql://root@127.0.0.1:${relay.port}/${kdb.name}`], ['db:', '  query_timeout: 500', '  connect_timeout: 500']);
  }, 60_000);

  afterAll(async () => {
    await node?.stop();
    await relay?.close();
    await kdb?.drop();
  });

  it('answers 500 (never 200) while the database does not answer; 200 again once it does', async () => {
    expect(rc(await ua.register(port, 'carol', 'carol-pw'))).toBe('200 1');
    relay.blackhole();
    expect(rc(await ua.register(port, 'carol', 'carol-pw'))).toBe('500 -1');
    expect(rc(await ua.register(port, 'carol', 'wrong'))).toBe('500 -1');
    relay.resume();
    let last = '';
    for (let i = 0; i < 10 && last !== '200 1'; i++) last = rc(await ua.register(port, 'carol', 'carol-pw'));
    expect(last).toBe('200 1');
  });
});
