/**
 * plugins/default with `routing.config.rtpengine: webrtc` and the real rtpengine daemon: a
 * browser-style client on a WebSocket (RFC 7118; the `ws` package, the framing a browser sends)
 * offers WebRTC media (UDP/TLS/RTP/SAVPF, ICE, DTLS fingerprint, rtcp-mux) to a desk phone on UDP.
 * The phone gets plain RTP/AVP from the relay (no ICE, no DTLS), its plain answer reaches the browser
 * as DTLS-SRTP with ICE (a=fingerprint, a=setup, a=ice-ufrag, a=candidate); the BYE ends the
 * relay's session. A call between two UDP phones on the same node is not relayed (webrtc mode).
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
import { HAVE_RTPENGINE, media, ng, sdp, startRtpengine, type Daemon } from './helpers.js';

const DOMAIN = 'webrtc.example.test';
const ORIGIN = 'https://phone.example.test';

/** a browser's audio offer (Chrome-like, one m= line, host candidate on 127.0.0.1). */
function webrtcOffer(port: number): string {
  const fp = Array.from({ length: 32 }, (_, i) => (i * 7 + 16).toString(16).toUpperCase().padStart(2, '0')).join(':');
  return [
    'v=0', 'o=- 4611731400430051336 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0', 'a=msid-semantic: WMS',
    `m=audio ${port} UDP/TLS/RTP/SAVPF 111 0`, 'c=IN IP4 127.0.0.1', `a=rtcp:${port} IN IP4 127.0.0.1`,
    `a=candidate:1 1 udp 2122260223 127.0.0.1 ${port} typ host generation 0`,
    'a=ice-ufrag:Wm5q', 'a=ice-pwd:Yh3kP9sL2qR8tV6wX1zA4bC7', 'a=ice-options:trickle',
    `a=fingerprint:sha-256 ${fp}`, 'a=setup:actpass', 'a=mid:0', 'a=sendrecv', 'a=rtcp-mux',
    'a=rtpmap:111 opus/48000/2', 'a=rtpmap:0 PCMU/8000', '',
  ].join('\r\n');
}

describe.skipIf(!HAVE_RTPENGINE)('plugins/default with rtpengine: webrtc', () => {
  let d: Daemon;
  let node: SiphonNode;
  let WS_PORT = 0;
  let UDP_PORT = 0;
  const clients: WebSocket[] = [];
  const socks: dgram.Socket[] = [];

  beforeAll(async () => {
    d = await startRtpengine();
    WS_PORT = await freePort('tcp');
    UDP_PORT = await freePort('udp');
    const yaml = [
      'core:',
      `  listen: [ws:127.0.0.1:${WS_PORT}, udp:127.0.0.1:${UDP_PORT}]`,
      '  ctl: []',
      '  warmup: 0',
      `  aliases: [${DOMAIN}]`,
      `  ws: { origins: [${ORIGIN}] }`,
      'modules:',
      '  registrar: { db_mode: 0 }',
      '  nathelper: {}',
      `  rtpengine: { rtpengine_sock: "${d.url}", rtpengine_tout_ms: 500, rtpengine_retr: 2 }`,
      'routing:',
      '  plugin: default',
      '  config: { auth: "off", rtpengine: webrtc, log_calls: "off" }',
    ].join('\n');
    const config = parseConfig(yaml, path.resolve(import.meta.dirname, '../../../config/rtpengine-test.yaml'), { moduleSchemas: moduleSchemas() });
    node = await startNode(config, createLogger({ level: 'silent' }), { controlPlane: false });
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.terminate();
    for (const s of socks) s.close();
    await node?.stop();
    await d?.stop();
  });

  /** a SIP endpoint (WebSocket or UDP) that collects what it receives. */
  function endpoint(sendRaw: (s: string) => void): { send: (s: string) => void; next: (m: (s: string) => boolean, what: string) => Promise<string>; push: (s: string) => void } {
    const got: string[] = [];
    const waiters: Array<{ m: (s: string) => boolean; r: (s: string) => void }> = [];
    return {
      send: sendRaw,
      push(s) {
        const i = waiters.findIndex((w) => w.m(s));
        if (i >= 0) waiters.splice(i, 1)[0]!.r(s);
        else got.push(s);
      },
      next(m, what) {
        const at = got.findIndex(m);
        if (at >= 0) return Promise.resolve(got.splice(at, 1)[0]!);
        return new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`no ${what}`)), 8000);
          waiters.push({ m, r: (x) => (clearTimeout(t), resolve(x)) });
        });
      },
    };
  }

  async function browser(): Promise<ReturnType<typeof endpoint>> {
    const ws = await new Promise<WebSocket>((resolve, reject) => {
      const c = new WebSocket(`ws://127.0.0.1:${WS_PORT}`, ['sip'], { origin: ORIGIN });
      clients.push(c);
      c.once('open', () => resolve(c));
      c.once('error', reject);
    });
    const e = endpoint((s) => ws.send(s));
    ws.on('message', (b: Buffer) => e.push(b.toString('utf8')));
    return e;
  }

  async function phone(): Promise<ReturnType<typeof endpoint> & { port: number }> {
    const s = dgram.createSocket('udp4');
    socks.push(s);
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const e = endpoint((t) => s.send(t, UDP_PORT, '127.0.0.1'));
    s.on('message', (b) => e.push(b.toString('utf8')));
    return { ...e, port: s.address().port };
  }

  const body = (s: string): string => s.slice(s.indexOf('\r\n\r\n') + 4);
  const reply = (req: string, status: string, extra: string[], sdpBody: string): string => {
    const head = req.split('\r\n\r\n')[0]!.split('\r\n').filter((l) => /^(via|record-route|from|to|call-id|cseq):/i.test(l));
    const to = head.findIndex((l) => /^to:/i.test(l));
    head[to] = `${head[to]};tag=desk1`;
    const ct = sdpBody ? ['Content-Type: application/sdp'] : [];
    return `SIP/2.0 ${status}\r\n${[...head, ...extra, ...ct].join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(sdpBody)}\r\n\r\n${sdpBody}`;
  };

  it('a browser calls a UDP desk phone: RTP/AVP toward the phone, DTLS-SRTP + ICE back to the browser; BYE deletes', async () => {
    const alice = await browser();
    const desk = await phone();
    alice.send(
      `REGISTER sip:${DOMAIN} SIP/2.0\r\nVia: SIP/2.0/WS alice0x9f.invalid;branch=z9hG4bKwr1\r\nMax-Forwards: 70\r\nFrom: <sip:walice@${DOMAIN}>;tag=r1\r\n` +
        `To: <sip:walice@${DOMAIN}>\r\nCall-ID: wr-reg-1\r\nCSeq: 1 REGISTER\r\nContact: <sip:walice@alice0x9f.invalid;transport=ws>;expires=600\r\nContent-Length: 0\r\n\r\n`,
    );
    await alice.next((s) => s.startsWith('SIP/2.0 200') && s.includes('wr-reg-1'), 'REGISTER 200 (browser)');
    desk.send(
      `REGISTER sip:${DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${desk.port};branch=z9hG4bKwr2\r\nMax-Forwards: 70\r\nFrom: <sip:wdesk@${DOMAIN}>;tag=r2\r\n` +
        `To: <sip:wdesk@${DOMAIN}>\r\nCall-ID: wr-reg-2\r\nCSeq: 1 REGISTER\r\nContact: <sip:wdesk@127.0.0.1:${desk.port}>;expires=600\r\nContent-Length: 0\r\n\r\n`,
    );
    await desk.next((s) => s.startsWith('SIP/2.0 200') && s.includes('wr-reg-2'), 'REGISTER 200 (desk)');

    const offer = webrtcOffer(50000);
    alice.send(
      `INVITE sip:wdesk@${DOMAIN} SIP/2.0\r\nVia: SIP/2.0/WS alice0x9f.invalid;branch=z9hG4bKwr3\r\nMax-Forwards: 70\r\nFrom: <sip:walice@${DOMAIN}>;tag=a1\r\n` +
        `To: <sip:wdesk@${DOMAIN}>\r\nCall-ID: wr-call-1\r\nCSeq: 1 INVITE\r\nContact: <sip:walice@alice0x9f.invalid;transport=ws>\r\n` +
        `Content-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(offer)}\r\n\r\n${offer}`,
    );
    const inv = await desk.next((s) => s.startsWith('INVITE ') && s.includes('wr-call-1'), 'the INVITE at the desk phone');
    const toPhone = body(inv);
    expect(media(toPhone)).toMatchObject({ address: '127.0.0.1', proto: 'RTP/AVP' });
    expect(toPhone).not.toMatch(/^a=(ice-ufrag|candidate|fingerprint|setup)/m);

    const answer = sdp(40000, 77);
    desk.send(reply(inv, '200 OK', [`Contact: <sip:wdesk@127.0.0.1:${desk.port}>`], answer));
    const ok = await alice.next((s) => s.startsWith('SIP/2.0 200') && s.includes('wr-call-1'), 'the 200 at the browser');
    const toBrowser = body(ok);
    expect(media(toBrowser).proto).toMatch(/^(UDP\/TLS\/)?RTP\/SAVPF$/);
    expect(toBrowser).toMatch(/^a=fingerprint:sha-256 /m);
    // the answer keeps the active DTLS role rtpengine took on the browser's actpass offer (no
    // DTLS=passive on an answer: docs/webrtc.md "DTLS roles")
    expect(toBrowser).toMatch(/^a=setup:active\r?$/m);
    expect(toBrowser).toMatch(/^a=ice-ufrag:/m);
    expect(toBrowser).toMatch(/^a=candidate:.* 127\.0\.0\.1 /m);
    expect(toBrowser).toMatch(/^a=rtcp-mux/m);
    expect((await ng(d.ngPort, { command: 'query', 'call-id': 'wr-call-1' }))['result']).toBe('ok');

    // the desk phone hangs up: BYE along the Record-Route set to the browser; the relay forgets the call
    const rr = inv.split('\r\n').filter((l) => /^record-route:/i.test(l)).map((l) => l.slice(l.indexOf(':') + 1).trim());
    // (the browser's Contact as the INVITE carried it: nathelper's alias names its connection)
    const contact = /\r\nContact: <([^>]+)>/.exec(inv)![1]!;
    desk.send(
      `BYE ${contact} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${desk.port};branch=z9hG4bKwr4\r\nMax-Forwards: 70\r\n` +
        `${rr.map((r) => `Route: ${r}`).join('\r\n')}\r\nFrom: <sip:wdesk@${DOMAIN}>;tag=desk1\r\nTo: <sip:walice@${DOMAIN}>;tag=a1\r\nCall-ID: wr-call-1\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n`,
    );
    await alice.next((s) => s.startsWith('BYE ') && s.includes('wr-call-1'), 'the BYE at the browser');
    const deadline = Date.now() + 5000;
    let q = await ng(d.ngPort, { command: 'query', 'call-id': 'wr-call-1' });
    while (q['result'] === 'ok' && Date.now() < deadline) q = await ng(d.ngPort, { command: 'query', 'call-id': 'wr-call-1' });
    expect(q['result']).toBe('error');
  }, 30_000);

  it('two UDP phones: not relayed in webrtc mode (the SDP arrives as sent)', async () => {
    const a = await phone();
    const b = await phone();
    b.send(
      `REGISTER sip:${DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${b.port};branch=z9hG4bKwr5\r\nMax-Forwards: 70\r\nFrom: <sip:wbob@${DOMAIN}>;tag=r5\r\n` +
        `To: <sip:wbob@${DOMAIN}>\r\nCall-ID: wr-reg-5\r\nCSeq: 1 REGISTER\r\nContact: <sip:wbob@127.0.0.1:${b.port}>;expires=600\r\nContent-Length: 0\r\n\r\n`,
    );
    await b.next((s) => s.startsWith('SIP/2.0 200') && s.includes('wr-reg-5'), 'REGISTER 200');
    const offer = sdp(41000, 5);
    a.send(
      `INVITE sip:wbob@${DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${a.port};branch=z9hG4bKwr6\r\nMax-Forwards: 70\r\nFrom: <sip:wa@${DOMAIN}>;tag=a6\r\n` +
        `To: <sip:wbob@${DOMAIN}>\r\nCall-ID: wr-call-6\r\nCSeq: 1 INVITE\r\nContact: <sip:wa@127.0.0.1:${a.port}>\r\nContent-Type: application/sdp\r\nContent-Length: ${Buffer.byteLength(offer)}\r\n\r\n${offer}`,
    );
    const inv = await b.next((s) => s.startsWith('INVITE ') && s.includes('wr-call-6'), 'the INVITE');
    expect(body(inv)).toBe(offer);
    b.send(reply(inv, '486 Busy Here', [], ''));
    await a.next((s) => s.startsWith('SIP/2.0 486') && s.includes('wr-call-6'), 'the 486');
  }, 30_000);
});
