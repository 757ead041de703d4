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
import dgram from 'node:dgram';
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
let UDP_PORT = 0;
const logLines: string[] = [];
const clients: WebSocket[] = [];

beforeAll(async () => {
  WS_PORT = await freePort('tcp');
  UDP_PORT = await freePort('udp');
  const yaml = [
    'core:',
    `  listen: [ws:127.0.0.1:${WS_PORT}, udp:127.0.0.1:${UDP_PORT}]`,
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

  it('bridges a browser to a UDP phone with a double Record-Route (r2=on), and the BYE of the phone reaches the browser', async () => {
    const alice = new Phone('walice', await open());
    alice.send(
      `REGISTER sip:${DOMAIN} SIP/2.0\r\n${alice.via('reg9')}\r\nMax-Forwards: 70\r\nFrom: <sip:walice@${DOMAIN}>;tag=r9\r\n` +
        `To: <sip:walice@${DOMAIN}>\r\nCall-ID: ws-reg-9\r\nCSeq: 1 REGISTER\r\n${alice.contact()};expires=600\r\nContent-Length: 0\r\n\r\n`,
    );
    await alice.next((s) => s.startsWith('SIP/2.0 200') && s.includes('ws-reg-9'), 'REGISTER 200');
    // a desk phone on UDP
    const phone = dgram.createSocket('udp4');
    const got: string[] = [];
    const waiters: Array<{ m: (s: string) => boolean; r: (s: string) => void }> = [];
    phone.on('message', (d) => {
      const t = d.toString('latin1');
      got.push(t);
      const i = waiters.findIndex((w) => w.m(t));
      if (i >= 0) waiters.splice(i, 1)[0]!.r(t);
    });
    const next = (m: (s: string) => boolean, what: string): Promise<string> =>
      got.find(m) !== undefined
        ? Promise.resolve(got.find(m)!)
        : new Promise((resolve, reject) => {
            const t = setTimeout(() => reject(new Error(`phone: no ${what}`)), 5000);
            waiters.push({ m, r: (x) => (clearTimeout(t), resolve(x)) });
          });
    try {
      await new Promise<void>((r) => phone.bind(0, '127.0.0.1', () => r()));
      const pp = phone.address().port;
      phone.send(
        `REGISTER sip:${DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${pp};branch=z9hG4bKdesk1\r\nMax-Forwards: 70\r\nFrom: <sip:desk@${DOMAIN}>;tag=d1\r\n` +
          `To: <sip:desk@${DOMAIN}>\r\nCall-ID: desk-reg\r\nCSeq: 1 REGISTER\r\nContact: <sip:desk@127.0.0.1:${pp}>;expires=600\r\nContent-Length: 0\r\n\r\n`,
        UDP_PORT,
        '127.0.0.1',
      );
      await next((s) => s.startsWith('SIP/2.0 200') && s.includes('desk-reg'), 'REGISTER 200');

      alice.send(
        `INVITE sip:desk@${DOMAIN} SIP/2.0\r\n${alice.via('inv9')}\r\nMax-Forwards: 70\r\nFrom: <sip:walice@${DOMAIN}>;tag=a9\r\n` +
          `To: <sip:desk@${DOMAIN}>\r\nCall-ID: ws-bridge-1\r\nCSeq: 1 INVITE\r\n${alice.contact()}\r\nContent-Length: 0\r\n\r\n`,
      );
      const inv = await next((s) => s.startsWith('INVITE '), 'the INVITE');
      const rr = inv.split('\r\n').filter((l) => /^record-route:/i.test(l));
      expect(rr).toEqual([
        `Record-Route: <sip:127.0.0.1:${UDP_PORT};r2=on;lr;ftag=a9>`,
        `Record-Route: <sip:127.0.0.1:${WS_PORT};transport=ws;r2=on;lr;ftag=a9>`,
      ]);
      const head = inv.split('\r\n\r\n')[0]!.split('\r\n');
      const keep = head.filter((l) => /^(via|record-route|from|call-id|cseq):/i.test(l));
      phone.send(`SIP/2.0 200 OK\r\n${keep.join('\r\n')}\r\nTo: <sip:desk@${DOMAIN}>;tag=p9\r\nContact: <sip:desk@127.0.0.1:${pp}>\r\nContent-Length: 0\r\n\r\n`, UDP_PORT, '127.0.0.1');
      const ok = await alice.next((s) => s.startsWith('SIP/2.0 200') && s.includes('ws-bridge-1'), 'the 200');
      // the browser sees the same two entries (it uses them in reverse: ws first)
      expect(ok.split('\r\n').filter((l) => /^record-route:/i.test(l))).toEqual(rr);
      // the phone hangs up: its route set is the Record-Route as received; the BYE goes to the browser's Contact
      const contact = /\r\nContact: <([^>]+)>/.exec(inv)![1]!;
      phone.send(
        `BYE ${contact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${pp};branch=z9hG4bKdeskbye\r\nMax-Forwards: 70\r\n` +
          `Route: <sip:127.0.0.1:${UDP_PORT};r2=on;lr;ftag=a9>\r\nRoute: <sip:127.0.0.1:${WS_PORT};transport=ws;r2=on;lr;ftag=a9>\r\n` +
          `From: <sip:desk@${DOMAIN}>;tag=p9\r\nTo: <sip:walice@${DOMAIN}>;tag=a9\r\nCall-ID: ws-bridge-1\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n`,
        UDP_PORT,
        '127.0.0.1',
      );
      const bye = await alice.next((s) => s.startsWith('BYE '), 'the BYE over the WebSocket');
      expect(bye).not.toMatch(/\r\nRoute:/i); // both of our Route entries were consumed (r2=on)
      expect(bye).toMatch(new RegExp(`\r\nVia: SIP/2\.0/WS 127\.0\.0\.1:${WS_PORT};branch=`));
    } finally {
      phone.close();
    }
  });
});
