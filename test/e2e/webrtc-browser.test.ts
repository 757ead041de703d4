/**
 * A real browser through siphon (issue "TLS, WebSocket and a WebRTC gateway", must-show 1): headless
 * Chromium (Debian's) loads docs/examples/webrtc/ (JsSIP, from npm) and registers over WSS with digest
 * auth; it calls a baresip registered over UDP, the call is answered, RTP flows both ways, the browser
 * hangs up (BYE); then baresip calls the browser, JsSIP answers, baresip hangs up. All through the real
 * `siphon start` binary with config/siphon.yaml (plugins/default: auth, NAT handling of WebSocket
 * clients, double Record-Route between wss and udp), loopback only.
 *
 * Only what the test must change is changed in the shipped config: ports, data_dir, the control socket,
 * the domain as an alias, plus a wss: listener with core.tls (certificates made for this run) and
 * core.ws.origins set to the page's origin.
 *
 * Two media paths, the same calls:
 * - `rtpengine` (the gateway): modules.rtpengine with the real daemon and routing.config.rtpengine:
 *   webrtc; the browser's DTLS-SRTP + ICE becomes plain RTP/AVP for a plain baresip and back; the
 *   relay's own counters (ng `query`) show packets from both parties; all on 127.0.0.1;
 * - `direct` (no gateway): baresip does DTLS-SRTP + ICE itself (helpers/baresip.ts `webrtc`); its
 *   ICE never offers loopback, so here media uses the machine's interface address (SIP stays on
 *   loopback).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it as itBase } from 'vitest';
import { Baresip, closed, established, incoming, registered, registerFailed } from '../helpers/baresip.js';
import { BrowserPhone, browserSkipReason } from '../helpers/browser.js';
import { freePort } from '../helpers/ports.js';
import { startShipped, type ShippedNode } from '../helpers/shipped-config.js';
import { makeCa, makeLeaf } from '../helpers/tls-certs.js';
import { HAVE_RTPENGINE, ng, startRtpengine, type Daemon } from '../integration/rtpengine/helpers.js';

const DOMAIN = 'siphon.test';
const skip = browserSkipReason();


type Media = 'rtpengine' | 'direct';
const MODES: Media[] = ['rtpengine', 'direct'];

describe.skipIf(skip !== null).each(MODES)(`a browser (Chromium + JsSIP) over WSS and a baresip over UDP, media %s${skip ? ` (skipped: ${skip})` : ''}`, (media) => {
  let tmp: string;
  let wssPort: number;
  let node: ShippedNode | undefined;
  let browser: BrowserPhone | undefined;
  let bob: Baresip | undefined;
  let relay: Daemon | undefined;
  /** log lines of the node so far, for failure messages */
  const nodeLog = (): string => (node ? node.srv.stdout().slice(-6000) : '');
  const gateway = media === 'rtpengine';

  beforeAll(async () => {
    if (gateway && !HAVE_RTPENGINE) return;
    tmp = mkdtempSync(path.join(tmpdir(), 'siphon-webrtc-'));
    const ca = makeCa(tmp, 'ca');
    const server = makeLeaf(tmp, 'server', ca, { dns: [DOMAIN], ip: ['127.0.0.1'] });
    // the page's origin is the one core.ws.origins allows: the browser (and its page server) first.
    // Without a media gateway baresip does ICE itself, never on loopback: Chromium leaves loopback out
    // too (helpers/browser.ts `candidates`), else each side may settle on another pair
    browser = await BrowserPhone.launch({ trustCert: server.cert, candidates: gateway ? 'all' : 'no-loopback' });
    relay = gateway ? await startRtpengine() : undefined;
    wssPort = await freePort('tcp');
    const tls = [
      '  tls:',
      `    certificate: ${JSON.stringify(server.cert)}`,
      `    private_key: ${JSON.stringify(server.key)}`,
      '  ws:',
      `    origins: [${JSON.stringify(browser.origin)}]`,
    ].join('\n');
    node = await startShipped({
      dir: tmp,
      domain: DOMAIN,
      listen: [`wss:127.0.0.1:${wssPort}`],
      core: tls,
      edit: (t) => {
        if (relay === undefined) return t;
        const out = t
          .replace(/^modules:\n/m, `modules:\n  rtpengine: { rtpengine_sock: "${relay.url}" }\n`)
          .replace(/^    rtpengine: off\b/m, '    rtpengine: webrtc');
        if (!out.includes('rtpengine: webrtc')) throw new Error('config/siphon.yaml: no routing.config rtpengine line to switch on');
        return out;
      },
    });
    await node.cli('subscriber', 'add', `alice@${DOMAIN}`, 'alice-Browser-1');
    await node.cli('subscriber', 'add', `bob@${DOMAIN}`, 'bob-Desk-2');
    bob = await Baresip.start({ user: 'bob', domain: DOMAIN, proxyPort: node.port, password: 'bob-Desk-2', webrtc: !gateway });
    const r = await bob.waitFor((e) => registered()(e) || registerFailed()(e));
    expect(r.type, `${bob.describe()}\n${nodeLog()}`).toBe('REGISTER_OK');
  }, 120_000);

  afterAll(async () => {
    await bob?.stop();
    await browser?.close();
    await node?.srv.stop();
    await relay?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const server = (): string => `wss://127.0.0.1:${wssPort}`;
  const it = gateway && !HAVE_RTPENGINE ? itBase.skip : itBase;

  /** the relay's view of its calls: packets received from each party (ng `list`, then `query` per call). */
  async function relayedPackets(): Promise<number[]> {
    type Node = { [k: string]: unknown };
    const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
    const dict = (v: unknown): Node => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Node) : {});
    const counts: number[] = [];
    for (const id of list((await ng(relay!.ngPort, { command: 'list' })).calls)) {
      const q = await ng(relay!.ngPort, { command: 'query', 'call-id': String(id) });
      for (const tag of Object.values(dict(q.tags))) {
        let n = 0;
        for (const m of list(dict(tag).medias)) for (const st of list(dict(m).streams)) n += Number(dict(dict(st).stats).packets ?? 0);
        counts.push(n);
      }
    }
    return counts;
  }

  /** with the gateway: both parties' RTP reached the relay (more than 10 packets each, bounded 10 s). */
  async function expectRelayed(): Promise<void> {
    if (!gateway) return;
    const deadline = Date.now() + 10_000;
    let last: number[] = [];
    while (Date.now() < deadline) {
      last = await relayedPackets();
      if (last.length >= 2 && last.filter((n) => n > 10).length >= 2) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`rtpengine did not relay both parties' RTP: packets per party ${JSON.stringify(last)}`);
  }

  it('the browser registers over WSS: a wrong password is refused after the 401, the right one registers', async () => {
    const b = browser!;
    await expect(b.register({ server: server(), uri: `sip:alice@${DOMAIN}`, password: 'guessing' })).rejects.toThrow(/registrationFailed .*401|registrationFailed Authentication Error/);
    await b.invoke('stop');
    await b.register({ server: server(), uri: `sip:alice@${DOMAIN}`, password: 'alice-Browser-1' });
    const ev = await b.events();
    expect(ev).toContain('registered');
  }, 40_000);

  // through rtpengine this is the call whose answer toward the browser must keep rtpengine's active
  // DTLS role (plugins/default media.ts: no DTLS=passive in an answer; with it, half the calls had no media)
  it('the browser calls baresip: answered, RTP both ways, the browser hangs up (BYE reaches baresip)', async () => {
    const b = browser!;
    const calling = b.call(`sip:bob@${DOMAIN}`, 30_000);
    calling.catch(() => {}); // awaited below; a failure before that must not be an unhandled rejection
    const inc = await bob!.waitFor(incoming(), 15_000);
    expect(inc.peeruri).toBe(`sip:alice@${DOMAIN}`);
    await bob!.accept();
    await calling;
    await bob!.waitFor(established());
    await expectMediaBothWays(b, bob!);
    await expectRelayed();
    // the relay answered the browser's setup:actpass with setup:active: the browser is the DTLS server
    const t = await b.invoke<Array<{ dtlsState: string; dtlsRole?: string }> | null>('transport');
    expect(t?.[0]?.dtlsState).toBe('connected');
    if (gateway) expect(t?.[0]?.dtlsRole).toBe('server');
    const from = bob!.events.length;
    const end = await b.hangup();
    expect(end).toMatch(/^ended local/);
    const c = await bob!.waitFor(closed(), 10_000, from);
    expect(c.param).toBe('Connection reset by peer');
  }, 60_000);

  it('baresip calls the browser: JsSIP answers, RTP both ways, baresip hangs up', async () => {
    const b = browser!;
    const from = (await b.events()).length;
    await bob!.dial(`sip:alice@${DOMAIN}`);
    const inc = await b.waitEvent('incoming', 15_000, from);
    expect(inc).toBe(`incoming sip:bob@${DOMAIN}`);
    const bobFrom = bob!.events.length;
    await b.answer().catch((e: Error) => {
      throw new Error(`${e.message}\nbaresip:\n${bob!.output().slice(-8000)}\nnode:\n${nodeLog()}`);
    });
    await bob!.waitFor(established(), 10_000, bobFrom);
    await expectMediaBothWays(b, bob!);
    await expectRelayed();
    const evFrom = (await b.events()).length;
    await bob!.hangup();
    expect(await b.waitEvent('ended', 10_000, evFrom)).toMatch(/^ended remote/);
  }, 60_000);
});

/**
 * Waits (bounded: 10 s) until the browser's RTP counters moved both ways (more than 10 packets sent
 * and received, 50 packets/s at 20-ms ptime) and baresip's own counters did too; fails with both sides' logs.
 */
async function expectMediaBothWays(b: BrowserPhone, ua: Baresip): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const s = await b.stats();
    if (s !== null && s.packetsSent > 10 && s.packetsReceived > 10) return;
    if (Date.now() > deadline) {
      const sdp = await b.page.evaluate(() => (globalThis as unknown as { siphonPhone: { sdp: unknown } }).siphonPhone.sdp);
      const transport = await b.invoke<unknown>('transport').catch((e: Error) => e.message);
      throw new Error(`no RTP both ways: browser ${JSON.stringify(s)}\ntransport ${JSON.stringify(transport)}\nSDP ${JSON.stringify(sdp, null, 1)}\nbrowser log:\n${b.log()}\nbaresip:\n${ua.output().slice(-6000)}`);
    }
    await b.page.waitForTimeout(200);
  }
}
