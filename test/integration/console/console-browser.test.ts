/**
 * The operator console in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core),
 * against two real nodes on 127.0.0.1 and real SIP over UDP:
 *
 *   node A  plugins/default with registrar, secfilter, pike, dialog, acc: login (wrong password
 *           refused), a REGISTER shows up on the registrations page, a secfilter rule added on the page
 *           refuses the next request, a plugin deployed and rolled back on the plugins page
 *   node B  plugins/lb over a dispatcher set of two gateways: a destination set inactive on the page
 *           is avoided by the next calls; a call's ladder appears in the live trace
 *
 * SIPHON_CONSOLE_SCREENSHOTS=docs/console saves a PNG of each page there (how docs/console/ was made).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../helpers/ports.js';
import { ROOT } from '../../runtime/helpers.js';
import { ADMIN, startConsoleNode, type ConsoleNode } from './helpers.js';
import { client, gateway, type Client, type Peer } from './sip-peers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = process.env.SIPHON_CONSOLE_SCREENSHOTS ? path.resolve(ROOT, process.env.SIPHON_CONSOLE_SCREENSHOTS) : null;

describe('operator console in a browser', { timeout: 60_000 }, () => {
  let a: ConsoleNode;
  let b: ConsoleNode;
  let gw1: Peer;
  let gw2: Peer;
  let ua: Client;
  let ub: Client;
  let browser: Browser;
  const list = path.join(ROOT, 'var', `console-test-${process.pid}.list`);
  mkdirSync(path.dirname(list), { recursive: true }); // var/ is git-ignored: absent in a fresh clone

  beforeAll(async () => {
    gw1 = await gateway();
    gw2 = await gateway();
    writeFileSync(list, `1 sip:127.0.0.1:${gw1.port} 0 0\n1 sip:127.0.0.1:${gw2.port} 0 0\n`);
    a = await startConsoleNode({
      sipPort: await freePort('udp'),
      plugin: 'default',
      modules: ['  registrar: { db_mode: 0 }', '  secfilter: {}', '  pike: { reqs_density_per_unit: 10000 }', '  dialog: {}', '  acc: { cdr_enable: 1 }'],
    });
    b = await startConsoleNode({ sipPort: await freePort('udp'), plugin: 'lb', modules: [`  dispatcher: { list_file: "${list}", flags: 2 }`] });
    ua = await client(a.sipPort);
    ub = await client(b.sipPort);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    ua?.close();
    ub?.close();
    gw1?.close();
    gw2?.close();
    await a?.close();
    await b?.close();
    rmSync(list, { force: true });
  });

  async function open(base: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
    await page.goto(`${base}/console/`);
    return page;
  }

  async function logIn(page: Page, user = ADMIN.user, password = ADMIN.password): Promise<void> {
    await page.getByLabel('User').fill(user);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    if (password === ADMIN.password) await page.getByRole('button', { name: 'Log out' }).waitFor();
  }

  async function shot(page: Page, name: string): Promise<void> {
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  }

  it('refuses a wrong password, then logs in and shows the overview', async () => {
    const page = await open(a.base);
    await logIn(page, ADMIN.user, 'not-the-password');
    await expect.poll(() => page.getByRole('status').textContent(), { timeout: 15_000 }).toContain('wrong user or password');
    if (SHOTS) await shot(page, 'login');
    await logIn(page);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByRole('heading', { name: 'Calls per second' }).waitFor();
    expect(await page.locator('svg.chart').count()).toBe(6);
    // the cookie is not readable by the page's scripts (HttpOnly)
    expect(await page.evaluate(() => document.cookie)).toBe('');
    await page.close();
  });

  it('a registration made by a SIP client appears on the registrations page', async () => {
    const st = await ua.request('REGISTER', `sip:127.0.0.1:${a.sipPort}`, `reg-${Date.now()}`, ['Expires: 300', 'User-Agent: console-test-phone']);
    expect(st).toBe(200);
    const page = await open(a.base);
    await logIn(page);
    await page.getByRole('link', { name: 'Registrations' }).click();
    await page.getByRole('cell', { name: 'sip:alice@127.0.0.1', exact: false }).first().waitFor();
    expect(await page.getByRole('cell', { name: 'console-test-phone' }).count()).toBe(1);
    await shot(page, 'registrations');
    await page.close();
  });

  it('a secfilter rule added on the page refuses the next request', async () => {
    expect(await ua.request('OPTIONS', `sip:127.0.0.1:${a.sipPort}`, `ok-${Date.now()}`, ['User-Agent: evil-agent/1.0'])).toBe(200);
    const page = await open(a.base);
    await logIn(page);
    await page.getByRole('link', { name: 'Secfilter' }).click();
    await page.getByLabel('Value').fill('evil-agent');
    await page.getByRole('button', { name: 'Add rule' }).click();
    await page.getByRole('cell', { name: 'evil-agent', exact: true }).waitFor();
    expect(await ua.request('OPTIONS', `sip:127.0.0.1:${a.sipPort}`, `refused-${Date.now()}`, ['User-Agent: evil-agent/1.0'])).toBe(403);
    await shot(page, 'secfilter');
    await page.getByRole('link', { name: 'Pike' }).click();
    await page.getByRole('table', { name: /blocked sources/ }).waitFor();
    await shot(page, 'pike');
    await page.close();
  });

  it('deploys a built plugin and rolls it back', async () => {
    expect(await ua.request('OPTIONS', `sip:127.0.0.1:${a.sipPort}`, `before-${Date.now()}`)).toBe(200);
    const page = await open(a.base);
    await logIn(page);
    await page.getByRole('link', { name: 'Plugins' }).click();
    const file = page.getByLabel('Built plugin');
    await file.waitFor();
    const hello = await file.locator('option', { hasText: /^hello — / }).first().getAttribute('value');
    await file.selectOption(hello!);
    await page.getByRole('button', { name: 'Deploy' }).click();
    await expect.poll(() => page.getByRole('status').textContent(), { timeout: 15_000 }).toContain('deploy default: done');
    await page.getByRole('cell', { name: 'previous' }).waitFor();
    // hello answers 501 to everything: the new version routes
    expect(await ua.request('OPTIONS', `sip:127.0.0.1:${a.sipPort}`, `hello-${Date.now()}`)).toBe(501);
    await shot(page, 'plugins');
    await page.getByRole('button', { name: 'Roll back default' }).click();
    await expect.poll(() => page.getByRole('status').textContent(), { timeout: 15_000 }).toContain('roll back default');
    expect(await ua.request('OPTIONS', `sip:127.0.0.1:${a.sipPort}`, `after-${Date.now()}`)).toBe(200);
    await page.close();
  });

  it('a destination set inactive on the dispatcher page is avoided by the next calls', async () => {
    const page = await open(b.base);
    await logIn(page);
    await page.getByRole('link', { name: 'Dispatcher' }).click();
    const uri1 = `sip:127.0.0.1:${gw1.port}`;
    await page.getByLabel(`State of ${uri1}`, { exact: true }).selectOption('i');
    await page.getByRole('button', { name: `Set state of ${uri1}` }).click();
    await page.getByRole('row', { name: new RegExp(`${uri1}.*inactive`) }).waitFor();
    await shot(page, 'dispatcher');
    const before1 = gw1.got.length;
    const before2 = gw2.got.filter((g) => g.method === 'INVITE').length;
    for (let i = 0; i < 3; i++) expect(await ub.request('INVITE', `sip:bob@127.0.0.1:${b.sipPort}`, `ds-${Date.now()}-${i}`)).toBe(486);
    expect(gw1.got.length).toBe(before1);
    expect(gw2.got.filter((g) => g.method === 'INVITE').length).toBe(before2 + 3);
    await page.close();
  });

  it('a call\'s ladder appears in the live trace, with the raw messages', async () => {
    const page = await open(b.base);
    await logIn(page);
    await page.getByRole('link', { name: 'Live trace' }).click();
    const callId = `ladder-${Date.now()}`;
    await page.getByLabel('Call-ID').fill(callId);
    await page.getByRole('button', { name: 'Start' }).click();
    await expect.poll(() => page.getByRole('status').textContent(), { timeout: 15_000 }).toContain('Capturing');
    expect(await ub.request('INVITE', `sip:bob@127.0.0.1:${b.sipPort}`, callId)).toBe(486);
    // INVITE in, INVITE out to the gateway, 486 in, 486 out (and the ACKs)
    const arrows = page.locator('svg.ladder g.arrow');
    await expect.poll(() => arrows.count(), { timeout: 15_000 }).toBeGreaterThanOrEqual(4);
    const labels = await arrows.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
    expect(labels.some((l) => /INVITE from 127\.0\.0\.1:\d+ to 127\.0\.0\.1/.test(l ?? ''))).toBe(true);
    expect(labels.some((l) => (l ?? '').includes('486 Busy Here'))).toBe(true);
    // keyboard: focus an arrow and open its raw message
    await arrows.first().focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByLabel('Raw message').textContent(), { timeout: 15_000 }).toContain(`Call-ID: ${callId}`);
    await shot(page, 'trace');
    await page.close();
  });

  it('the overview charts the samples taken while traffic flows, live over SSE', async () => {
    const page = await open(a.base);
    await logIn(page);
    await page.locator('svg.chart').first().waitFor();
    for (let i = 0; i < 6; i++) {
      await Promise.all(Array.from({ length: 5 * (i + 1) }, (_, k) => ua.request('OPTIONS', `sip:127.0.0.1:${a.sipPort}`, `ov-${Date.now()}-${i}-${k}`)));
      await a.node.console!.sampler.sample();
    }
    // the samples arrived over the SSE stream: each chart has its line
    await expect.poll(() => page.locator('svg.chart polyline').count(), { timeout: 15_000 }).toBe(6);
    expect(Number(await page.locator('[data-key="registrations"]').textContent())).toBeGreaterThanOrEqual(1);
    await shot(page, 'overview');
    await page.close();
  });

  it('the CDR page lists recent calls', async () => {
    const page = await open(a.base);
    await logIn(page);
    await page.getByRole('link', { name: 'CDRs' }).click();
    await page.getByRole('table', { name: /recent calls/ }).waitFor();
    await shot(page, 'cdrs');
    await page.close();
  });
});
