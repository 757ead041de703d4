/**
 * The rtpengine module against a hostile or slow ng peer (a scripted UDP socket standing in for the
 * relay, so the test decides when and what it answers; test/integration/rtpengine has the real
 * daemon): an INVITE held for its offer is CANCELed (487 upstream, nothing downstream, even after the
 * late answer); answers from another port, with an unknown cookie, undecodable or nested 10,000 deep
 * are dropped and counted while the right one still goes through; a 183 held for its answer keeps the
 * 200 behind it (the caller sees 183 then 200); max_pending refuses the next offer at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../host/config/load.js';
import { createLogger } from '../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../host/server/app.js';
import { moduleSchemas } from '../../host/server/modules.js';
import { asDict, bdecode, bencode, type BDict } from '../../host/modules/rtpengine/bencode.js';
import { freePort } from '../helpers/ports.js';
import { shardOfCallId } from '../../host/shards/steer.js';
import { h, media, sdp, Ua } from '../integration/rtpengine/helpers.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const PLUGINS = path.join(ROOT, 'test/integration/rtpengine/plugins');
const PROBE = path.join(PLUGINS, 'rtp-probe/build/rtp-probe.wasm');

interface Asked {
  cookie: string;
  dict: BDict;
  address: string;
  port: number;
}

/** a scripted ng peer: records every offer/answer and answers them only when told. */
class FakeRelay {
  readonly sock: Socket = createSocket('udp4');
  readonly asked: Asked[] = [];
  private waiters: Array<(a: Asked) => void> = [];
  port = 0;
  async start(): Promise<this> {
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.1', () => r()));
    this.port = this.sock.address().port;
    this.sock.on('message', (buf, rinfo) => {
      const sp = buf.indexOf(0x20);
      const a = { cookie: buf.toString('latin1', 0, sp), dict: asDict(bdecode(buf, sp + 1))!, address: rinfo.address, port: rinfo.port };
      // deletes and pings are answered at once (an unanswered delete would hold a max_pending slot and disable the instance)
      if (a.dict['command'] === 'delete' || a.dict['command'] === 'ping') {
        this.reply(a, { result: a.dict['command'] === 'ping' ? 'pong' : 'ok' });
        return;
      }
      this.asked.push(a);
      this.waiters.shift()?.(a);
    });
    return this;
  }
  /** the next request not seen yet (command `cmd`); retries of a seen cookie are skipped. */
  async next(cmd: string, seen = new Set<string>()): Promise<Asked> {
    for (;;) {
      const have = this.asked.find((a) => a.dict['command'] === cmd && !seen.has(a.cookie) && !this.taken.has(a.cookie));
      if (have) {
        this.taken.add(have.cookie);
        return have;
      }
      await new Promise<Asked>((r) => this.waiters.push(r));
    }
  }
  private readonly taken = new Set<string>();
  reply(a: Asked, payload: Buffer | BDict, from: Socket = this.sock): void {
    const body = Buffer.isBuffer(payload) ? payload : bencode(payload);
    from.send(Buffer.concat([Buffer.from(`${a.cookie} `), body]), a.port, a.address);
  }
  /** rtpengine's answer to an offer/answer: the SDP with the media port replaced. */
  sdpAnswer(a: Asked, port: number): BDict {
    return { result: 'ok', sdp: String(a.dict['sdp']).replace(/^m=audio \d+/m, `m=audio ${port}`) };
  }
}

describe('rtpengine with a scripted ng peer', () => {
  let relay: FakeRelay;
  let node: SiphonNode;
  let port = 0;
  let dir = '';
  let caller: Ua;
  let callee: Ua;
  let seq = 0;

  beforeAll(async () => {
    await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', PLUGINS], { cwd: ROOT, timeout: 120_000 });
    relay = await new FakeRelay().start();
    port = await freePort('udp');
    dir = mkdtempSync(path.join(tmpdir(), 'siphon-rtp-adv-'));
    const yaml = [
      'core:', `  listen: [udp:127.0.0.1:${port}]`, '  ctl: []', '  warmup: 0', `  data_dir: ${JSON.stringify(dir)}`,
      'modules:', '  rtpengine:', `    rtpengine_sock: "udp:127.0.0.1:${relay.port}"`,
      // long enough that the test answers before a try times out; max_pending 2 for the last case
      '    rtpengine_tout_ms: 3000', '    rtpengine_retr: 2', '    max_pending: 2',
      'routing:', `  plugin: ${JSON.stringify(PROBE)}`,
    ].join('\n');
    node = await startNode(parseConfig(yaml, null, { moduleSchemas: moduleSchemas() }), createLogger({ level: 'silent' }), { controlPlane: false });
    caller = await new Ua().start();
    callee = await new Ua().start();
  }, 180_000);

  afterAll(async () => {
    caller?.close();
    callee?.close();
    relay?.sock.close();
    await node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const stat = async (name: string): Promise<number> => {
    const all = (await node.rpc.call('stats.get_statistics', [`rtpengine:${name}`])) as string[];
    return Number(all.find((l) => l.startsWith(`rtpengine:${name} = `))?.split(' = ')[1]);
  };

  function invite(id: string, branch: string, body: string): string {
    return [
      `INVITE sip:bob@127.0.0.1:${callee.port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=${branch};rport`, 'Max-Forwards: 70',
      `From: <sip:alice@127.0.0.1>;tag=f-${id}`, 'To: <sip:bob@127.0.0.1>', `Call-ID: ${id}`, 'CSeq: 1 INVITE', 'X-Rtp-Flags: replace-origin',
      'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(body)}`, '', body,
    ].join('\r\n');
  }

  function response(inv: import('../integration/rtpengine/helpers.js').Sip, code: number, reason: string, body: string): string {
    return [
      `SIP/2.0 ${code} ${reason}`, ...inv.headers.get('via')!.map((v) => `Via: ${v}`), `From: ${h(inv, 'from')}`, `To: ${h(inv, 'to')};tag=callee`,
      `Call-ID: ${h(inv, 'call-id')}`, `CSeq: ${h(inv, 'cseq')}`, `Contact: <sip:bob@127.0.0.1:${callee.port}>`, 'X-Rtp-Flags: replace-origin',
      'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(body)}`, '', body,
    ].join('\r\n');
  }

  it('an INVITE held for its offer and CANCELed: 200 + 487 upstream, the callee never sees it (not after the late answer either)', async () => {
    const id = `adv-${process.pid}-${++seq}`;
    const branch = `z9hG4bK-${id}`;
    caller.send(invite(id, branch, sdp(4000, 1)), port);
    const asked = await relay.next('offer');
    expect(asked.dict['call-id']).toBe(id);
    await caller.next((m) => m.first.startsWith('SIP/2.0 100') && h(m, 'call-id') === id);
    // a retransmission of the INVITE is absorbed (no second offer)
    caller.send(invite(id, branch, sdp(4000, 1)), port);
    caller.send(
      [`CANCEL sip:bob@127.0.0.1:${callee.port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${caller.port};branch=${branch};rport`, 'Max-Forwards: 70',
        `From: <sip:alice@127.0.0.1>;tag=f-${id}`, 'To: <sip:bob@127.0.0.1>', `Call-ID: ${id}`, 'CSeq: 1 CANCEL', 'Content-Length: 0', '', ''].join('\r\n'),
      port,
    );
    await caller.next((m) => m.first.startsWith('SIP/2.0 200') && h(m, 'cseq') === '1 CANCEL');
    relay.reply(asked, relay.sdpAnswer(asked, 30002));
    const r = await caller.next((m) => m.first.startsWith('SIP/2.0 487') && h(m, 'call-id') === id);
    expect(h(r, 'cseq')).toBe('1 INVITE');
    await expect(callee.next((m) => h(m, 'call-id') === id, 300)).rejects.toThrow();
    expect(relay.asked.filter((a) => a.dict['command'] === 'offer' && a.dict['call-id'] === id).map((a) => a.cookie).filter((c, i, all) => all.indexOf(c) === i)).toHaveLength(1);
  });

  it('drops answers from another port, with unknown cookies, undecodable or nested 10,000 deep; the right one goes through', async () => {
    const id = `adv-${process.pid}-${++seq}`;
    const stray0 = await stat('ng_stray_answers');
    const bad0 = await stat('ng_bad_answers');
    caller.send(invite(id, `z9hG4bK-${id}`, sdp(4002, 2)), port);
    const asked = await relay.next('offer');
    const other = createSocket('udp4');
    await new Promise<void>((r) => other.bind(0, '127.0.0.1', () => r()));
    try {
      relay.reply(asked, relay.sdpAnswer(asked, 30100), other); // right cookie, wrong source port
      relay.reply({ ...asked, cookie: 'nosuchcookie' }, relay.sdpAnswer(asked, 30102));
      relay.reply(asked, Buffer.from('d3:sdpi1e')); // truncated
      relay.reply(asked, Buffer.from('l'.repeat(10_000) + 'e'.repeat(10_000)));
      relay.reply(asked, Buffer.from('i1e')); // not a dictionary
      relay.reply(asked, relay.sdpAnswer(asked, 30104));
      const inv = await callee.next((m) => m.first.startsWith('INVITE') && h(m, 'call-id') === id);
      expect(media(inv.body).port).toBe(30104);
      callee.send(response(inv, 486, 'Busy Here', ''), inv.from.port);
      await caller.next((m) => m.first.startsWith('SIP/2.0 486') && h(m, 'call-id') === id);
    } finally {
      other.close();
    }
    expect((await stat('ng_stray_answers')) - stray0).toBe(2);
    expect((await stat('ng_bad_answers')) - bad0).toBe(3);
  });

  it('a 183 held for its answer keeps the 200 behind it: the caller gets 183, then 200, each with the relay SDP', async () => {
    const id = `adv-${process.pid}-${++seq}`;
    caller.send(invite(id, `z9hG4bK-${id}`, sdp(4004, 3)), port);
    const offer = await relay.next('offer');
    relay.reply(offer, relay.sdpAnswer(offer, 30200));
    const inv = await callee.next((m) => m.first.startsWith('INVITE') && h(m, 'call-id') === id);
    callee.send(response(inv, 183, 'Session Progress', sdp(5000, 4)), inv.from.port);
    const a183 = await relay.next('answer');
    callee.send(response(inv, 200, 'OK', sdp(5000, 5)), inv.from.port);
    // the 200 is queued behind the 183: no answer request for it while the 183's is unanswered
    await expect(caller.next((m) => h(m, 'call-id') === id && !m.first.startsWith('SIP/2.0 100'), 300)).rejects.toThrow();
    relay.reply(a183, relay.sdpAnswer(a183, 30202));
    const a200 = await relay.next('answer');
    relay.reply(a200, relay.sdpAnswer(a200, 30204));
    const first = await caller.next((m) => h(m, 'call-id') === id && /^SIP\/2\.0 (183|200)/.test(m.first));
    const second = await caller.next((m) => h(m, 'call-id') === id && /^SIP\/2\.0 (183|200)/.test(m.first));
    expect([first.first, media(first.body).port]).toEqual(['SIP/2.0 183 Session Progress', 30202]);
    expect([second.first, media(second.body).port]).toEqual(['SIP/2.0 200 OK', 30204]);
  });

  it('max_pending: with 2 ng requests waiting, the next offer fails at once and the INVITE goes on unchanged', async () => {
    const refused0 = await stat('pending_refused');
    // max_pending is per shard (each has its own ng socket): with core.workers the three calls go to shard 0
    const count = node.config.core.workers ?? 1;
    const ids: string[] = [];
    while (ids.length < 3) {
      const id = `adv-${process.pid}-${++seq}`;
      if (shardOfCallId(id, count) === 0) ids.push(id);
    }
    caller.send(invite(ids[0]!, `z9hG4bK-${ids[0]}`, sdp(4010, 6)), port);
    caller.send(invite(ids[1]!, `z9hG4bK-${ids[1]}`, sdp(4012, 7)), port);
    const held = [await relay.next('offer'), await relay.next('offer')];
    const body = sdp(4014, 8);
    caller.send(invite(ids[2]!, `z9hG4bK-${ids[2]}`, body), port);
    const inv = await callee.next((m) => m.first.startsWith('INVITE') && h(m, 'call-id') === ids[2]);
    expect(inv.body).toBe(body);
    expect((await stat('pending_refused')) - refused0).toBe(1);
    for (const a of held) relay.reply(a, relay.sdpAnswer(a, 30300));
    for (const id of ids.slice(0, 2)) expect(media((await callee.next((m) => m.first.startsWith('INVITE') && h(m, 'call-id') === id)).body).port).toBe(30300);
  });
});
