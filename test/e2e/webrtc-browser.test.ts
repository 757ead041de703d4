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
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Baresip, closed, established, incoming, registered, registerFailed } from '../helpers/baresip.js';
import { BrowserPhone, browserSkipReason } from '../helpers/browser.js';
import { freePort } from '../helpers/ports.js';
import { startShipped, type ShippedNode } from '../helpers/shipped-config.js';
import { makeCa, makeLeaf } from '../helpers/tls-certs.js';

const DOMAIN = 'siphon.test';
const skip = browserSkipReason();

let tmp: string;
let wssPort: number;
let node: ShippedNode | undefined;
let browser: BrowserPhone | undefined;
let bob: Baresip | undefined;

/** log lines of the node so far, for failure messages */
const nodeLog = (): string => (node ? node.srv.stdout().slice(-6000) : '');

describe.skipIf(skip !== null)(`a browser (Chromium + JsSIP) over WSS and a baresip over UDP${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'siphon-webrtc-'));
    const ca = makeCa(tmp, 'ca');
    const server = makeLeaf(tmp, 'server', ca, { dns: [DOMAIN], ip: ['127.0.0.1'] });
    // the page's origin is the one core.ws.origins allows: the browser (and its page server) first
    // without a media gateway baresip does ICE itself, never on loopback: Chromium leaves loopback out
    // too (helpers/browser.ts `candidates`), else each side may settle on another pair
    browser = await BrowserPhone.launch({ trustCert: server.cert, candidates: 'no-loopback' });
    wssPort = await freePort('tcp');
    const tls = [
      '  tls:',
      `    certificate: ${JSON.stringify(server.cert)}`,
      `    private_key: ${JSON.stringify(server.key)}`,
      '  ws:',
      `    origins: [${JSON.stringify(browser.origin)}]`,
    ].join('\n');
    node = await startShipped({ dir: tmp, domain: DOMAIN, listen: [`wss:127.0.0.1:${wssPort}`], core: tls });
    await node.cli('subscriber', 'add', `alice@${DOMAIN}`, 'alice-Browser-1');
    await node.cli('subscriber', 'add', `bob@${DOMAIN}`, 'bob-Desk-2');
    bob = await Baresip.start({ user: 'bob', domain: DOMAIN, proxyPort: node.port, password: 'bob-Desk-2', webrtc: true });
    const r = await bob.waitFor((e) => registered()(e) || registerFailed()(e));
    expect(r.type, `${bob.describe()}\n${nodeLog()}`).toBe('REGISTER_OK');
  }, 120_000);

  afterAll(async () => {
    await bob?.stop();
    await browser?.close();
    await node?.srv.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const server = (): string => `wss://127.0.0.1:${wssPort}`;

  it('the browser registers over WSS: a wrong password is refused after the 401, the right one registers', async () => {
    const b = browser!;
    await expect(b.register({ server: server(), uri: `sip:alice@${DOMAIN}`, password: 'guessing' })).rejects.toThrow(/registrationFailed .*401|registrationFailed Authentication Error/);
    await b.invoke('stop');
    await b.register({ server: server(), uri: `sip:alice@${DOMAIN}`, password: 'alice-Browser-1' });
    const ev = await b.events();
    expect(ev).toContain('registered');
  }, 40_000);

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
      throw new Error(`no RTP both ways: browser ${JSON.stringify(s)}\nbrowser log:\n${b.log()}\nbaresip:\n${ua.output().slice(-6000)}`);
    }
    await b.page.waitForTimeout(200);
  }
}
