/**
 * A real browser for end-to-end tests: Debian's headless Chromium (/usr/bin/chromium) driven by
 * playwright-core (no browser download), loading the browser phone of docs/examples/webrtc/ (JsSIP)
 * from a small HTTP server on 127.0.0.1, so the page the docs show is the page the tests run.
 *
 * - `http://127.0.0.1:PORT` is a secure context (getUserMedia works without https); Chromium's fake
 *   media devices give a microphone (a beep) and the permission prompt is answered yes;
 * - the node's wss: certificate is trusted by its public key only (`--ignore-certificate-errors-spki-list`
 *   with the SHA-256 of the test certificate's SubjectPublicKeyInfo), not by ignoring every error;
 * - JsSIP ships CommonJS only (no browser bundle in the npm package): it is bundled for the page with
 *   esbuild (the same command docs/webrtc.md gives), once per test process, served from memory;
 * - every wait is bounded; `close()` stops the browser and the HTTP server.
 *
 *   const skip = browserSkipReason();                    // a string when Chromium is absent
 *   const b = await BrowserPhone.launch({ trustCert: 'server.pem' });
 *   await b.phone.register({ server: 'wss://127.0.0.1:PORT', uri: 'sip:alice@siphon.test', password: 'x' });
 */
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from './siphon-process.js';

export const CHROMIUM = process.env.SIPHON_CHROMIUM ?? '/usr/bin/chromium';
/** the page and its script (docs/examples/webrtc/). */
export const PAGE_DIR = path.join(ROOT, 'docs/examples/webrtc');

/** why the browser tests cannot run here, or null when they can. */
export function browserSkipReason(): string | null {
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set SIPHON_CHROMIUM)`;
  if (!existsSync(path.join(ROOT, 'node_modules/jssip/lib/JsSIP.js'))) return 'the jssip dev dependency is not installed (npm install)';
  return null;
}

/** base64 SHA-256 of a certificate's SubjectPublicKeyInfo: Chromium's --ignore-certificate-errors-spki-list form. */
export function spkiHash(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

let bundle: Promise<string> | null = null;
/** JsSIP as one browser script defining the global `JsSIP` (esbuild, IIFE). */
export function jssipBundle(): Promise<string> {
  bundle ??= build({
    entryPoints: [path.join(ROOT, 'node_modules/jssip/lib/JsSIP.js')],
    bundle: true,
    format: 'iife',
    globalName: 'JsSIP',
    platform: 'browser',
    minify: true,
    write: false,
    logLevel: 'silent',
  }).then((r) => r.outputFiles[0]!.text);
  return bundle;
}

/** the page's files by URL path; anything else is 404 (the server serves nothing else of the disk). */
async function pageFiles(): Promise<Map<string, { type: string; body: string }>> {
  const read = (f: string): string => readFileSync(path.join(PAGE_DIR, f), 'utf8');
  return new Map([
    ['/', { type: 'text/html; charset=utf-8', body: read('index.html') }],
    ['/index.html', { type: 'text/html; charset=utf-8', body: read('index.html') }],
    ['/phone.js', { type: 'text/javascript; charset=utf-8', body: read('phone.js') }],
    ['/jssip.js', { type: 'text/javascript; charset=utf-8', body: await jssipBundle() }],
  ]);
}

/** what docs/examples/webrtc/phone.js exposes as window.siphonPhone (the calls a test makes). */
export interface PhoneStats {
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
}

export interface LaunchOptions {
  /** PEM file of the wss: server certificate the browser trusts (by its public key). */
  trustCert?: string;
  /**
   * Chromium's WebRTC host candidates: `all` (default: loopback included, for a media gateway on
   * 127.0.0.1) or `no-loopback` (the interfaces' addresses only: for a peer whose own ICE never offers
   * loopback, as baresip 1.0's, so both sides check the same pairs and cannot settle on different ones).
   */
  candidates?: 'all' | 'no-loopback';
  /** bound of launch + page load. Default 30 s. */
  timeoutMs?: number;
}

export class BrowserPhone {
  /** the browser's console and page errors (for failure messages), bounded. */
  private readonly console: string[] = [];

  private constructor(
    readonly browser: Browser,
    readonly page: Page,
    private readonly server: http.Server,
    /** the page's origin, e.g. http://127.0.0.1:41234 (core.ws.origins). */
    readonly origin: string,
  ) {
    page.on('console', (m) => this.keep(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => this.keep(`pageerror: ${e.message}`));
  }

  private keep(line: string): void {
    this.console.push(line);
    if (this.console.length > 400) this.console.splice(0, 200);
  }

  /** an HTTP server for the page, Chromium, and the page loaded (window.siphonPhone defined). */
  static async launch(o: LaunchOptions = {}): Promise<BrowserPhone> {
    const timeout = o.timeoutMs ?? 30_000;
    const files = await pageFiles();
    const server = http.createServer((req, res) => {
      const f = files.get(new URL(req.url ?? '/', 'http://x').pathname);
      if (req.method !== 'GET' || f === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-store' }).end(f.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const args = [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      // WebRTC host candidates on loopback (no mDNS .local names the far end cannot resolve)
      '--disable-features=WebRtcHideLocalIpsWithMdns',
    ];
    if (o.candidates !== 'no-loopback') args.push('--allow-loopback-in-peer-connection');
    if (o.trustCert !== undefined) args.push(`--ignore-certificate-errors-spki-list=${spkiHash(readFileSync(o.trustCert, 'utf8'))}`);
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args, timeout });
      const page = await browser.newPage();
      const b = new BrowserPhone(browser, page, server, origin);
      await page.goto(`${origin}/`, { timeout });
      await page.waitForFunction(() => 'siphonPhone' in globalThis, undefined, { timeout });
      return b;
    } catch (e) {
      await browser?.close().catch(() => {});
      server.close();
      throw e;
    }
  }

  /** calls window.siphonPhone[method](...args) in the page (bounded by the page's own timeouts); errors carry the page's log. */
  async invoke<T>(method: string, ...args: unknown[]): Promise<T> {
    try {
      return (await this.page.evaluate(
        ([m, a]) => {
          const phone = (globalThis as unknown as { siphonPhone: Record<string, (...x: unknown[]) => unknown> }).siphonPhone;
          return phone[m as string]!(...(a as unknown[]));
        },
        [method, args] as const,
      )) as T;
    } catch (e) {
      throw new Error(`siphonPhone.${method}: ${(e as Error).message}\nbrowser log:\n${this.log()}`);
    }
  }

  register(o: { server: string; uri: string; password: string; timeoutMs?: number }): Promise<string> {
    return this.invoke('register', o);
  }

  call(target: string, timeoutMs = 20_000): Promise<string> {
    return this.invoke('call', target, timeoutMs);
  }

  answer(timeoutMs = 20_000): Promise<string> {
    return this.invoke('answer', timeoutMs);
  }

  hangup(timeoutMs = 10_000): Promise<string> {
    return this.invoke('hangup', timeoutMs);
  }

  /** waits for a phone event (prefix) from index `from` on: "incoming", "ended", ... */
  waitEvent(prefix: string, timeoutMs = 10_000, from = 0): Promise<string> {
    return this.invoke('waitEvent', [prefix], timeoutMs, from);
  }

  /** the phone's events so far ("registered", "incoming sip:...", "confirmed", "ended remote BYE" ...). */
  async events(): Promise<string[]> {
    return this.page.evaluate(() => [...(globalThis as unknown as { siphonPhone: { events: string[] } }).siphonPhone.events]);
  }

  /** RTP packet counters of the current call (getStats), null without a call. */
  stats(): Promise<PhoneStats | null> {
    return this.invoke('stats');
  }

  /** the page's console lines and phone events so far. */
  log(): string {
    return this.console.join('\n');
  }

  async close(): Promise<void> {
    await this.invoke('stop').catch(() => {});
    await this.browser.close().catch(() => {});
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
