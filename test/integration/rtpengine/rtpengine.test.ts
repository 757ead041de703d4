/**
 * The rtpengine module against the real daemon (userspace, random ports): an INVITE with an SDP
 * offer through a node running test plugin rtp-probe — the callee gets rtpengine's SDP (c=
 * 127.0.0.1, a relay port), the caller gets the 200's SDP rewritten the same way, RTP sent by each
 * side through the relay reaches the other, BYE deletes the session (ng `query` no longer knows the
 * call); rtpengine_manage does the same from the message; the WebRTC flags turn a plain offer into
 * ICE + DTLS-SRTP; failover when the first instance is dead; every instance dead: the INVITE goes on
 * with its SDP unchanged (failure_reply 0), or is answered 503 (failure_reply 503).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Socket } from 'node:dgram';
import { parseConfig } from '../../../host/config/load.js';
import { createLogger } from '../../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../../host/server/app.js';
import { moduleSchemas } from '../../../host/server/modules.js';
import { freePort } from '../../helpers/ports.js';
import { ROOT } from '../dialog/helpers.js';
import { h, HAVE_RTPENGINE, media, ng, rtpSocket, rtpThrough, sdp, startRtpengine, Ua, type Daemon, type Sip } from './helpers.js';

const run = promisify(execFile);
const PLUGINS = path.join(import.meta.dirname, 'plugins');
const PROBE = path.join(PLUGINS, 'rtp-probe/build/rtp-probe.wasm');

interface Node {
  node: SiphonNode;
  port: number;
  dir: string;
  rpc(name: string, ...params: (string | number)[]): Promise<unknown>;
  stop(): Promise<void>;
}

async function rtpNode(rtp: string[]): Promise<Node> {
  const port = await freePort('udp');
  const dir = mkdtempSync(path.join(tmpdir(), 'siphon-rtpengine-'));
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${port}]`,
    '  ctl: []',
    '  warmup: 0',
    `  data_dir: ${JSON.stringify(dir)}`,
    'modules:',
    '  rtpengine:',
    ...rtp.map((l) => `    ${l}`),
    'routing:',
    `  plugin: ${JSON.stringify(PROBE)}`,
  ].join('\n');
  const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
  const node = await startNode(config, createLogger({ level: 'silent' }), { controlPlane: false });
  return {
    node,
    port,
    dir,
    rpc: (name, ...params) => node.rpc.call(name, params),
    stop: async () => {
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let seq = 0;

/** A call from `caller` through the node to `callee` (R-URI = the callee's socket). */
class Call {
  readonly id = `rtp-${process.pid}-${++seq}`;
  readonly fromTag = `ft${seq}`;
  readonly toTag = `tt${seq}`;
  readonly branch = `z9hG4bK-${this.id}`;
  invite: Sip | null = null;

  constructor(readonly node: Node, readonly caller: Ua, readonly callee: Ua, readonly headers: string[] = []) {}

  private lines(method: string, cseq: number, branch: string, toTag: string, extra: string[], body: string): string {
    return [
      `${method} sip:bob@127.0.0.1:${this.callee.port} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.caller.port};branch=${branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:alice@127.0.0.1>;tag=${this.fromTag}`,
      `To: <sip:bob@127.0.0.1>${toTag ? `;tag=${toTag}` : ''}`,
      `Call-ID: ${this.id}`,
      `CSeq: ${cseq} ${method}`,
      `Contact: <sip:alice@127.0.0.1:${this.caller.port}>`,
      ...this.headers,
      ...extra,
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
  }

  /** sends the INVITE; resolves with what the callee received. */
  async sendInvite(offer: string): Promise<Sip> {
    this.caller.send(this.lines('INVITE', 1, this.branch, '', [], offer), this.node.port);
    this.invite = await this.callee.next((m) => m.first.startsWith('INVITE') && h(m, 'call-id') === this.id);
    return this.invite;
  }

  /** the callee answers the INVITE it got (`body` '' = no SDP); resolves with what the caller received. */
  async answer(code: number, body: string): Promise<Sip> {
    const inv = this.invite!;
    const vias = inv.headers.get('via')!;
    const reply = [
      `SIP/2.0 ${code} ${code === 200 ? 'OK' : code === 183 ? 'Session Progress' : 'Busy Here'}`,
      ...vias.map((v) => `Via: ${v}`),
      `From: ${h(inv, 'from')}`,
      `To: ${h(inv, 'to')};tag=${this.toTag}`,
      `Call-ID: ${this.id}`,
      `CSeq: ${h(inv, 'cseq')}`,
      `Contact: <sip:bob@127.0.0.1:${this.callee.port}>`,
      ...this.headers,
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
    this.callee.send(reply, inv.from.port);
    return this.caller.next((m) => m.first.startsWith(`SIP/2.0 ${code}`) && h(m, 'call-id') === this.id);
  }

  /** ACK (through the node) and BYE; resolves once the caller has the BYE's 200. */
  async hangUp(): Promise<void> {
    this.caller.send(this.lines('ACK', 1, `${this.branch}-ack`, this.toTag, [], ''), this.node.port);
    this.caller.send(this.lines('BYE', 2, `${this.branch}-bye`, this.toTag, [], ''), this.node.port);
    const bye = await this.callee.next((m) => m.first.startsWith('BYE') && h(m, 'call-id') === this.id);
    const ok = [
      'SIP/2.0 200 OK',
      ...bye.headers.get('via')!.map((v) => `Via: ${v}`),
      `From: ${h(bye, 'from')}`,
      `To: ${h(bye, 'to')}`,
      `Call-ID: ${this.id}`,
      `CSeq: ${h(bye, 'cseq')}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    this.callee.send(ok, bye.from.port);
    await this.caller.next((m) => m.first.startsWith('SIP/2.0 200') && h(m, 'cseq').endsWith('BYE') && h(m, 'call-id') === this.id);
  }
}

/** polls ng `query` until rtpengine no longer knows the call (the delete is fire-and-forget). */
async function gone(d: Daemon, callId: string): Promise<BDictLike> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const q = await ng(d.ngPort, { command: 'query', 'call-id': callId });
    if (q['result'] !== 'ok' || Date.now() > deadline) return q;
    await new Promise((r) => setImmediate(r));
  }
}
type BDictLike = Record<string, unknown>;

/** one rtpengine counter of the node (stats.get_statistics "rtpengine:<name>"). */
async function stat(n: Node, name: string): Promise<number> {
  const all = (await n.rpc('stats.get_statistics', `rtpengine:${name}`)) as string[];
  const line = all.find((l) => l.startsWith(`rtpengine:${name} = `));
  return line === undefined ? NaN : Number(line.split(' = ')[1]);
}

describe.skipIf(!HAVE_RTPENGINE)('rtpengine module with the rtpengine daemon', () => {
  let d1: Daemon;
  let d2: Daemon;
  let caller: Ua;
  let callee: Ua;
  let callerRtp: Socket;
  let calleeRtp: Socket;
  const nodes: Node[] = [];

  beforeAll(async () => {
    await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', PLUGINS], { cwd: ROOT, timeout: 120_000 });
    [d1, d2] = await Promise.all([startRtpengine(), startRtpengine()]);
    caller = await new Ua().start();
    callee = await new Ua().start();
    callerRtp = await rtpSocket();
    calleeRtp = await rtpSocket();
  }, 180_000);

  afterAll(async () => {
    for (const n of nodes) await n.stop();
    caller?.close();
    callee?.close();
    callerRtp?.close();
    calleeRtp?.close();
    await Promise.all([d1?.stop(), d2?.stop()]);
  });

  const node = async (rtp: string[]): Promise<Node> => {
    const n = await rtpNode(rtp);
    nodes.push(n);
    return n;
  };

  it('offer/answer through the relay: both SDPs rewritten, RTP flows both ways, BYE deletes the session', async () => {
    const n = await node([`rtpengine_sock: "${d1.url}"`]);
    const flags = 'X-Rtp-Flags: replace-origin replace-session-connection';
    const call = new Call(n, caller, callee, [flags]);
    const callerPort = callerRtp.address().port;
    const calleePort = calleeRtp.address().port;

    const inv = await call.sendInvite(sdp(callerPort, 1));
    expect(h(inv, 'x-rtp-rc')).toBe('1');
    const offered = media(inv.body);
    expect(offered.address).toBe('127.0.0.1');
    expect(offered.port).toBeGreaterThan(0);
    expect(offered.port).not.toBe(callerPort);
    expect(inv.body).toMatch(/^a=rtpmap:0 PCMU\/8000/m);

    const ok = await call.answer(200, sdp(calleePort, 2));
    expect(h(ok, 'x-rtp-rc')).toBe('1');
    const answered = media(ok.body);
    expect(answered.address).toBe('127.0.0.1');
    expect(answered.port).not.toBe(calleePort);
    expect(answered.port).not.toBe(offered.port);
    expect(Number(h(ok, 'content-length'))).toBe(Buffer.byteLength(ok.body));

    // RTP: caller → the port the 200 named → callee; callee → the port the INVITE named → caller
    const a = await rtpThrough(callerRtp, answered.port, calleeRtp, 0x1111);
    expect(a.length).toBe(172);
    await rtpThrough(calleeRtp, offered.port, callerRtp, 0x2222);

    const before = await ng(d1.ngPort, { command: 'query', 'call-id': call.id });
    expect(before['result']).toBe('ok');
    await call.hangUp();
    const after = await gone(d1, call.id);
    expect(after['result']).toBe('error');

    expect(await stat(n, 'offers')).toBe(1);
    expect(await stat(n, 'answers')).toBe(1);
    expect(await stat(n, 'deletes')).toBe(1);
  }, 30_000);

  it('rtpengine_manage: offer on the INVITE, answer on the 200, delete on the BYE', async () => {
    const n = await node([`rtpengine_sock: "${d1.url}"`]);
    const call = new Call(n, caller, callee, ['X-Rtp-Mode: manage', 'X-Rtp-Flags: replace-origin']);
    const inv = await call.sendInvite(sdp(callerRtp.address().port, 3));
    expect(h(inv, 'x-rtp-rc')).toBe('1');
    expect(media(inv.body).port).not.toBe(callerRtp.address().port);
    const ok = await call.answer(200, sdp(calleeRtp.address().port, 4));
    expect(media(ok.body).port).not.toBe(calleeRtp.address().port);
    await rtpThrough(callerRtp, media(ok.body).port, calleeRtp, 0x3333);
    await call.hangUp();
    expect((await gone(d1, call.id))['result']).toBe('error');
  }, 30_000);

  it('WebRTC flags: ICE=force DTLS=passive RTP/SAVPF offer a DTLS-SRTP stream with ICE candidates', async () => {
    const n = await node([`rtpengine_sock: "${d1.url}"`]);
    const call = new Call(n, caller, callee, ['X-Rtp-Flags: ICE=force DTLS=passive RTP/SAVPF replace-origin']);
    const inv = await call.sendInvite(sdp(callerRtp.address().port, 5));
    const m = media(inv.body);
    expect(m.proto).toMatch(/SAVPF$/);
    expect(inv.body).toMatch(/^a=ice-ufrag:/m);
    expect(inv.body).toMatch(/^a=candidate:/m);
    expect(inv.body).toMatch(/^a=fingerprint:/m);
    expect(inv.body).toMatch(/^a=setup:/m);
    await call.answer(486, '');
    expect((await gone(d1, call.id))['result']).toBe('error');
  }, 30_000);

  it('failover: the first instance does not answer, the offer goes to the second; the first is disabled', async () => {
    const dead = await freePort('udp');
    // weights 9999:1: the Call-ID hash picks the dead instance first (all but 1 in 10,000 Call-IDs)
    const n = await node([`rtpengine_sock: "udp:127.0.0.1:${dead}=9999 ${d2.url}=1"`, 'rtpengine_tout_ms: 100', 'rtpengine_retr: 2', 'rtpengine_disable_tout: 3600']);
    const call = new Call(n, caller, callee, ['X-Rtp-Flags: replace-origin']);
    const inv = await call.sendInvite(sdp(callerRtp.address().port, 6));
    expect(media(inv.body).port).not.toBe(callerRtp.address().port);
    expect((await ng(d2.ngPort, { command: 'query', 'call-id': call.id }))['result']).toBe('ok');
    const show = (await n.rpc('rtpengine.show', 'all')) as Array<Record<string, number | string>>;
    expect(show.map((i) => [i.disabled, i.timeouts])).toEqual([[1, 1], [0, 0]]);
    expect(await stat(n, 'failovers')).toBe(1);
    // the answer goes to the instance holding the call
    const ok = await call.answer(200, sdp(calleeRtp.address().port, 7));
    expect(media(ok.body).port).not.toBe(calleeRtp.address().port);
    await call.hangUp();
    expect((await gone(d2, call.id))['result']).toBe('error');
  }, 30_000);

  it('every instance dead, failure_reply 0: the INVITE reaches the callee with its SDP unchanged', async () => {
    const dead = await freePort('udp');
    const n = await node([`rtpengine_sock: "udp:127.0.0.1:${dead}"`, 'rtpengine_tout_ms: 50', 'rtpengine_retr: 2']);
    const call = new Call(n, caller, callee, ['X-Rtp-Flags: replace-origin']);
    const offer = sdp(callerRtp.address().port, 8);
    const inv = await call.sendInvite(offer);
    expect(h(inv, 'x-rtp-rc')).toBe('1'); // recorded; the ng exchange failed after the hook
    expect(inv.body).toBe(offer);
    const show = (await n.rpc('rtpengine.show', 'all')) as Array<Record<string, number>>;
    expect(show[0]!.disabled).toBe(1);
    // with the only instance disabled, the next offer is refused at once (-1), as Kamailio's
    const call2 = new Call(n, caller, callee, ['X-Rtp-Flags: replace-origin']);
    const inv2 = await call2.sendInvite(offer);
    expect(h(inv2, 'x-rtp-rc')).toBe('-1');
    await call.answer(486, '');
    await call2.answer(486, '');
  }, 30_000);

  it('every instance dead, failure_reply 503: the caller gets 100 Trying, then 503, and the callee nothing', async () => {
    const dead = await freePort('udp');
    const n = await node([`rtpengine_sock: "udp:127.0.0.1:${dead}"`, 'rtpengine_tout_ms: 50', 'rtpengine_retr: 2', 'failure_reply: 503']);
    const call = new Call(n, caller, callee, ['X-Rtp-Flags: replace-origin']);
    caller.send(
      [
        `INVITE sip:bob@127.0.0.1:${callee.port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=${call.branch};rport`,
        'Max-Forwards: 70', `From: <sip:alice@127.0.0.1>;tag=${call.fromTag}`, 'To: <sip:bob@127.0.0.1>', `Call-ID: ${call.id}`,
        'CSeq: 1 INVITE', 'X-Rtp-Flags: replace-origin', 'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(sdp(4000, 9))}`, '', sdp(4000, 9),
      ].join('\r\n'),
      n.port,
    );
    await caller.next((m) => m.first.startsWith('SIP/2.0 100') && h(m, 'call-id') === call.id);
    const r = await caller.next((m) => m.first.startsWith('SIP/2.0 503') && h(m, 'call-id') === call.id);
    expect(h(r, 'cseq')).toBe('1 INVITE');
    expect(await stat(n, 'rejected')).toBe(1);
    expect(await stat(n, 'failures')).toBe(1);
  }, 30_000);
});
