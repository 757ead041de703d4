/**
 * SIP over WebSocket (RFC 7118; issue "TLS, WebSocket and a WebRTC gateway", item 2): a node with a ws:
 * listener and plugins/default (registrar + nathelper), clients on real WebSocket connections (the `ws`
 * package, the same framing a browser sends), as a browser softphone (JsSIP, SIP.js) talks:
 * Contact and Via hosts `*.invalid`, reachable only over their connection.
 *
 * - the opening handshake: refused without the `sip` subprotocol (400) and from an Origin outside
 *   core.ws.origins (403); accepted with both, answering `sip`;
 * - two clients register; one calls the other: the INVITE reaches the callee over its connection
 *   (nat_uac_test 64 → fix_nated_register stored the connection as `received`), with a WS Via and
 *   Record-Route ;transport=ws, and the 200 goes back over the caller's;
 * - a keepalive OPTIONS is answered over the connection;
 * - a message over core.max_message_size closes that connection (1009) and nothing else.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseConfig } from '../../../host/config/load.js';
import { createLogger } from '../../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../../host/server/app.js';
import { moduleSchemas } from '../../../host/server/modules.js';
import { freePort } from '../../helpers/ports.js';

const DOMAIN = 'ws.example.test';
const ORIGIN = 'https://phone.example.test';
let node: SiphonNode;
let WS_PORT = 0;
const logLines: string[] = [];
const clients: WebSocket[] = [];

beforeAll(async () => {
  WS_PORT = await freePort('tcp');
  const yaml = [
    'core:',
    `  listen: [ws:127.0.0.1:${WS_PORT}]`,
    '  ctl: []',
    '  warmup: 0',
    '  max_message_size: 4096',
    `  aliases: [${DOMAIN}]`,
    '  ws:',
    `    origins: [${ORIGIN}]`,
    'modules:',
    '  registrar: { db_mode: 0 }',
    '  nathelper: {}',
    'routing:',
    '  plugin: default',
  ].join('\n');
  const config = parseConfig(yaml, path.resolve(import.meta.dirname, '../../../config/ws-test.yaml'), { moduleSchemas: moduleSchemas() });
  node = await startNode(config, createLogger({ level: 'info', destination: { write: (l: string) => void logLines.push(l) } }), { controlPlane: false });
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.terminate();
  await node?.stop();
});

/** a connected client; rejects with the HTTP status of a refused upgrade */
function open(o: { protocols?: string[]; origin?: string } = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const c = new WebSocket(`ws://127.0.0.1:${WS_PORT}`, o.protocols ?? ['sip'], { origin: o.origin ?? ORIGIN });
    clients.push(c);
    c.once('open', () => resolve(c));
    c.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    c.once('error', reject);
  });
}

class Phone {
  readonly got: string[] = [];
  private waiters: Array<{ m: (s: string) => boolean; r: (s: string) => void }> = [];
  readonly host: string;
  constructor(
    readonly user: string,
    readonly ws: WebSocket,
  ) {
    this.host = `${user}0x9f.invalid`;
    ws.on('message', (d: Buffer) => {
      const s = d.toString('utf8');
      this.got.push(s);
      const i = this.waiters.findIndex((w) => w.m(s));
      if (i >= 0) this.waiters.splice(i, 1)[0]!.r(s);
    });
  }
  next(m: (s: string) => boolean, what: string): Promise<string> {
    const have = this.got.find(m);
    if (have !== undefined) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.user}: no ${what}; got ${this.got.map((g) => g.split('\r\n')[0]).join(' | ')}`)), 5000);
      this.waiters.push({ m, r: (s) => (clearTimeout(t), resolve(s)) });
    });
  }
  send(s: string): void {
    this.ws.send(s);
  }
  via(branch: string): string {
    return `Via: SIP/2.0/WS ${this.host};branch=z9hG4bK${branch}`;
  }
  contact(): string {
    return `Contact: <sip:${this.user}@${this.host};transport=ws>`;
  }
}

describe('WebSocket listener', () => {
  it('refuses an upgrade without the sip subprotocol (400) or from another Origin (403)', async () => {
    await expect(open({ protocols: ['chat'] })).rejects.toThrow('HTTP 400');
    await expect(open({ origin: 'https://evil.example.test' })).rejects.toThrow('HTTP 403');
    // logged with its code (E3033), at most one line per second per code
    expect(logLines.some((l) => l.includes('"code":3033') && l.includes('subprotocol'))).toBe(true);
    const ok = await open();
    expect(ok.protocol).toBe('sip');
    ok.close();
  });

  it('registers two browser-style clients and connects a call between them over their connections', async () => {
    const alice = new Phone('alice', await open());
    const bob = new Phone('bob', await open());
    for (const [p, n] of [[alice, 1], [bob, 2]] as const) {
      p.send(
        `REGISTER sip:${DOMAIN} SIP/2.0\r\n${p.via(`reg${n}`)}\r\nMax-Forwards: 70\r\nFrom: <sip:${p.user}@${DOMAIN}>;tag=r${n}\r\n` +
          `To: <sip:${p.user}@${DOMAIN}>\r\nCall-ID: ws-reg-${n}\r\nCSeq: 1 REGISTER\r\n${p.contact()};expires=600\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n`,
      );
      const ok = await p.next((s) => s.startsWith('SIP/2.0 ') && s.includes(`ws-reg-${n}`), 'REGISTER reply');
      expect(ok.split('\r\n')[0]).toBe('SIP/2.0 200 OK');
      expect(ok).toMatch(/\r\nVia: SIP\/2\.0\/WS [a-z0-9]+\.invalid;branch=z9hG4bKreg\d;received=127\.0\.0\.1;rport=\d+/);
    }

    alice.send(
      `INVITE sip:bob@${DOMAIN} SIP/2.0\r\n${alice.via('inv1')}\r\nMax-Forwards: 70\r\nFrom: <sip:alice@${DOMAIN}>;tag=a1\r\n` +
        `To: <sip:bob@${DOMAIN}>\r\nCall-ID: ws-call-1\r\nCSeq: 1 INVITE\r\n${alice.contact()}\r\nContent-Length: 0\r\n\r\n`,
    );
    const inv = await bob.next((s) => s.startsWith('INVITE '), 'the INVITE');
    expect(inv.split('\r\n')[0]).toBe(`INVITE sip:bob@${bob.host};transport=ws SIP/2.0`);
    expect(inv).toMatch(new RegExp(`\\r\\nVia: SIP/2\\.0/WS 127\\.0\\.0\\.1:${WS_PORT};branch=`));
    expect(inv).toMatch(new RegExp(`\\r\\nRecord-Route: <sip:127\\.0\\.0\\.1:${WS_PORT};transport=ws;lr`));
    const head = inv.split('\r\n\r\n')[0]!.split('\r\n');
    const keep = head.filter((l) => /^(via|record-route|from|call-id|cseq):/i.test(l));
    bob.send(`SIP/2.0 200 OK\r\n${keep.join('\r\n')}\r\nTo: <sip:bob@${DOMAIN}>;tag=b1\r\n${bob.contact()}\r\nContent-Length: 0\r\n\r\n`);
    const ok = await alice.next((s) => s.startsWith('SIP/2.0 200') && s.includes('ws-call-1'), 'the 200 of the INVITE');
    expect(ok).toContain('To: <sip:bob@ws.example.test>;tag=b1');
  });

  it('answers a keepalive OPTIONS and closes a connection that sends an oversized message, nothing else', async () => {
    const p = new Phone('carol', await open());
    const other = new Phone('dave', await open());
    const options = (who: Phone, n: number): string =>
      `OPTIONS sip:${DOMAIN} SIP/2.0\r\n${who.via(`o${n}`)}\r\nMax-Forwards: 70\r\nFrom: <sip:${who.user}@${DOMAIN}>;tag=o${n}\r\nTo: <sip:${DOMAIN}>\r\nCall-ID: ws-opt-${n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
    p.send(options(p, 1));
    expect((await p.next((s) => s.includes('ws-opt-1'), 'OPTIONS reply')).split('\r\n')[0]).toMatch(/^SIP\/2\.0 200 /);
    const closed = new Promise<number>((r) => p.ws.once('close', (code) => r(code)));
    p.send('OPTIONS ' + 'x'.repeat(5000));
    expect(await closed).toBe(1009);
    other.send(options(other, 2));
    expect((await other.next((s) => s.includes('ws-opt-2'), 'OPTIONS reply')).split('\r\n')[0]).toMatch(/^SIP\/2\.0 200 /);
  });
});
