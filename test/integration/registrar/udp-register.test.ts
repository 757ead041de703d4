/**
 * REGISTER over real UDP on 127.0.0.1 through the server pipeline (host/server/server.ts) with a
 * router that does what a plugin's request_route does with the registrar imports:
 * REGISTER -> registrar.save("location", 0); other requests -> registrar.lookup + 302 listing the
 * target. Clients: sipsak (a real SIP tool) and a dgram socket. Server and sipsak ports from
 * freePorts(), the dgram client on port 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseConfig } from '../../../host/config/load.js';
import { Action, type MessageContext } from '../../../host/core/context.js';
import { SiphonServer } from '../../../host/server/server.js';
import { RegistrarImports } from '../../../host/modules/registrar/abi.js';
import { resolveRegistrarConfig } from '../../../host/modules/registrar/config.js';
import { startRegistrar, stopRegistrar } from '../../../host/modules/registrar/index.js';
import type { Registrar } from '../../../host/modules/registrar/registrar.js';
import { hostApi, log, type Fn } from '../../unit/registrar/helpers.js';
import { freePorts } from '../../helpers/ports.js';

const run = promisify(execFile);
/** the server's port and sipsak's (freePorts()); the dgram client binds port 0 and reads its port back */
let PORT = 0;
let SIPSAK_PORT = 0;
let CLIENT_PORT = 0;

let server: SiphonServer;
let reg: Registrar;
let client: dgram.Socket;
let dir: string;

beforeAll(async () => {
  [PORT, SIPSAK_PORT] = (await freePorts(2)) as [number, number];
  dir = mkdtempSync(path.join(tmpdir(), 'siphon-reg-udp-'));
  reg = await startRegistrar(resolveRegistrarConfig({ max_contacts: 2 }), null, log);
  let current: MessageContext | null = null;
  const { api, str } = hostApi(() => current);
  const f = new RegistrarImports(reg).functions(api) as unknown as Record<string, Fn>;
  const [tp, tl] = str('location');
  const router = {
    requestRoute(ctx: MessageContext): Action {
      current = ctx;
      try {
        if (ctx.msg.method === 'REGISTER') {
          f.save!(tp, tl, 0);
          return Action.REPLIED;
        }
        const rc = f.lookup!(tp, tl);
        if (rc === 1) {
          const targets = [ctx.msg.requestUri, ...(ctx.branches ?? [])].map((u) => `Contact: <${u}>`);
          ctx.slReply(302, 'Moved Temporarily', targets);
        } else ctx.slReply(404, 'Not Found');
        return Action.REPLIED;
      } finally {
        current = null;
      }
    },
  };
  const config = parseConfig(['core:', '  listen:', `    - udp:127.0.0.1:${PORT}`].join('\n'), null);
  server = new SiphonServer({ config, log, router });
  await server.start();
  client = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  CLIENT_PORT = client.address().port;
});

afterAll(async () => {
  client?.close();
  await server?.stop();
  if (reg) await stopRegistrar(reg);
  rmSync(dir, { recursive: true, force: true });
});

function exchange(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no reply within 5 s')), 5000);
    client.once('message', (buf) => {
      clearTimeout(timer);
      resolve(buf.toString());
    });
    client.send(text.replace(/\n/g, '\r\n'), PORT, '127.0.0.1');
  });
}

let n = 0;
function registerText(user: string, contacts: string[], extra = ''): string {
  n++;
  return (
    `REGISTER sip:127.0.0.1:${PORT} SIP/2.0\n` +
    `Via: SIP/2.0/UDP 127.0.0.1:${CLIENT_PORT};branch=z9hG4bK-udp-${n};rport\n` +
    `Max-Forwards: 70\n` +
    `From: <sip:${user}@127.0.0.1>;tag=t${n}\n` +
    `To: <sip:${user}@127.0.0.1>\n` +
    `Call-ID: udp-${user}@127.0.0.1\n` +
    `CSeq: ${n} REGISTER\n` +
    contacts.map((c) => `Contact: ${c}\n`).join('') +
    extra +
    `Content-Length: 0\n\n`
  );
}

describe('REGISTER over UDP', () => {
  it('sipsak registers and gets a 200 listing its binding', async () => {
    const file = path.join(dir, 'register.sip');
    writeFileSync(file, registerText('sipsak', [`<sip:sipsak@127.0.0.1:${SIPSAK_PORT}>`], 'Expires: 300\n').replace(/\n/g, '\r\n'));
    const { stdout } = await run('sipsak', ['-vv', '-f', file, '-s', `sip:sipsak@127.0.0.1:${PORT}`, '-l', String(SIPSAK_PORT)], { timeout: 10_000 }).catch(
      (e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }),
    );
    expect(stdout).toMatch(/SIP\/2\.0 200 OK/);
    expect(stdout).toMatch(new RegExp(`Contact: <sip:sipsak@127\\.0\\.0\\.1:${SIPSAK_PORT}>;expires=300`));
    expect(reg.registeredSync('location', 'sip:sipsak@127.0.0.1')).toBe(1);
  });

  it('lists every binding, forks lookups by q, and enforces max_contacts with 503', async () => {
    const ok = await exchange(registerText('udpuser', ['<sip:udpuser@127.0.0.1:18562>;q=0.4', '<sip:udpuser@127.0.0.1:18563>;q=0.8'], 'Expires: 120\n'));
    expect(ok).toMatch(/^SIP\/2\.0 200 OK\r\n/);
    // the source port differs from the Contacts' (a third-party registration), and the route asked
    // for no `received` (no fix_nated_register): the Contacts stay the targets (Kamailio's default)
    expect(ok).toContain(`Contact: <sip:udpuser@127.0.0.1:18563>;expires=120;q=0.8\r\n`);
    expect(ok).toContain(`Contact: <sip:udpuser@127.0.0.1:18562>;expires=120;q=0.4\r\n`);

    const tooMany = await exchange(registerText('udpuser', ['<sip:udpuser@127.0.0.1:18564>']));
    expect(tooMany).toMatch(/^SIP\/2\.0 503 Too Many Registered Contacts\r\n/);

    const moved = await exchange(
      `INVITE sip:udpuser@127.0.0.1:${PORT} SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:${CLIENT_PORT};branch=z9hG4bK-inv-1;rport\nMax-Forwards: 70\n` +
        `From: <sip:caller@127.0.0.1>;tag=c1\nTo: <sip:udpuser@127.0.0.1>\nCall-ID: inv-udp-1\nCSeq: 1 INVITE\nContent-Length: 0\n\n`,
    );
    expect(moved).toMatch(/^SIP\/2\.0 302 Moved Temporarily\r\n/);
    expect(moved.indexOf('Contact: <sip:udpuser@127.0.0.1:18563>')).toBeLessThan(moved.indexOf('Contact: <sip:udpuser@127.0.0.1:18562>'));
    expect(moved.indexOf('Contact: <sip:udpuser@127.0.0.1:18562>')).toBeGreaterThan(0);

    const gone = await exchange(registerText('udpuser', ['*'], 'Expires: 0\n'));
    expect(gone).toMatch(/^SIP\/2\.0 200 OK\r\n/);
    expect(gone).not.toContain('Contact:');
  });

  it('raises an expires below min_expires to 60 (min_expires_mode 0)', async () => {
    const r = await exchange(registerText('brief', [`<sip:brief@127.0.0.1:${CLIENT_PORT}>;expires=5`]));
    expect(r).toContain(`Contact: <sip:brief@127.0.0.1:${CLIENT_PORT}>;expires=60\r\n`);
  });
});
