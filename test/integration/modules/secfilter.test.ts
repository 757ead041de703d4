/**
 * secfilter reachable from plugins, over real UDP on 127.0.0.1 (four nodes on free ports, a client on port 0):
 * plugins/default's REQINIT block against rules in the embedded store (scanner by User-Agent → 403 or
 * drop per routing.config.scanner_action, whitelisted source passes, blacklisted From user → 403 with
 * the -2 the plugin saw in its xlog line, SQL injection → 403, blacklisted source dropped), and the
 * secf_* SDK wrappers' return codes through a probe plugin, destination blacklist exact and prefix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../../host/db/index.js';
import { columnsOf, type SecFilterModule } from '../../../host/modules/secfilter/index.js';
import { resolveSecFilterConfig } from '../../../host/modules/secfilter/config.js';
import { TableRuleSource } from '../../../host/modules/secfilter/source.js';
import { secfilterTableDef } from '../../../host/modules/secfilter/table.js';
import { freePorts } from '../../helpers/ports.js';
import { buildPlugins, PLUGIN, SipClient, startTestNode, type TestNode } from './helpers.js';

const BL = 0;
const WL = 1;
const DST = 2;
const T = { ua: 0, country: 1, domain: 2, ip: 3, user: 4 };

let dataDir: string;
let reply: TestNode; // plugins/default, scanner_action reply (default)
let dropper: TestNode; // plugins/default, scanner_action drop
let probeExact: TestNode; // secf-probe, dst_exact_match 1
let probePrefix: TestNode; // secf-probe, dst_exact_match 0
let client: SipClient;

/** the rules an operator seeds (`siphon secfilter add ...`), here straight into the embedded store. */
async function seed(dir: string): Promise<void> {
  const db = await openDatabase(null, { dataDir: dir });
  const cols = columnsOf(resolveSecFilterConfig({}));
  await db.ensureTable(secfilterTableDef(cols));
  const src = new TableRuleSource(db, cols);
  for (const ua of ['friendly-scanner', 'sipvicious', 'sipcli']) await src.add({ action: BL, type: T.ua, data: ua });
  await src.add({ action: BL, type: T.user, data: 'mallory' });
  await src.add({ action: BL, type: T.domain, data: 'evil.example' });
  await src.add({ action: BL, type: T.country, data: 'XX' });
  await src.add({ action: WL, type: T.user, data: 'trusted' });
  await src.add({ action: DST, type: 0, data: '0900' });
  await db.close();
}

function secfilterOf(t: TestNode): SecFilterModule {
  return t.node.modules.find((m) => m.name === 'secfilter') as SecFilterModule;
}

beforeAll(async () => {
  await buildPlugins();
  dataDir = await mkdtemp(path.join(tmpdir(), 'siphon-modules-secf-'));
  await seed(dataDir);
  const modules = (exact: number): string => `  data_dir: ${dataDir}\nmodules:\n  secfilter:\n    dst_exact_match: ${exact}`;
  const [replyPort, dropPort, exactPort, prefixPort] = await freePorts(4);
  reply = await startTestNode(replyPort!, `${modules(1)}\nrouting:\n  plugin: ${PLUGIN.default}`);
  dropper = await startTestNode(dropPort!, `${modules(1)}\nrouting:\n  plugin: ${PLUGIN.default}\n  config:\n    scanner_action: drop`);
  probeExact = await startTestNode(exactPort!, `${modules(1)}\nrouting:\n  plugin: ${PLUGIN.secfProbe}`);
  probePrefix = await startTestNode(prefixPort!, `${modules(0)}\nrouting:\n  plugin: ${PLUGIN.secfProbe}`);
  client = await SipClient.open(0);
}, 180_000);

afterAll(async () => {
  await client?.close();
  for (const t of [reply, dropper, probeExact, probePrefix]) await t?.node.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('plugins/default REQINIT with secfilter', () => {
  it('answers a clean keepalive OPTIONS 200', async () => {
    const r = await client.request(reply.port, { ua: 'Linphone/5.2' });
    expect(r?.status).toBe(200);
  });

  it('refuses scanners by User-Agent with 403 (prefix rules: sipvicious-0.3.4 matches sipvicious)', async () => {
    for (const ua of ['friendly-scanner', 'sipvicious-0.3.4', 'sipcli/v1.8']) {
      const r = await client.request(reply.port, { ua });
      expect(r, ua).not.toBeNull();
      expect(r!.status, ua).toBe(403);
      expect(r!.reason).toBe('Forbidden - Scanner');
    }
  });

  it('lets the same scanner through from a whitelisted source address', async () => {
    const sf = secfilterOf(reply).secfilter;
    sf.addRule('whitelist', 'ip', '127.0.0.1'); // as RPC secfilter.add_wl 3 127.0.0.1
    try {
      const r = await client.request(reply.port, { ua: 'friendly-scanner' });
      expect(r?.status).toBe(200);
    } finally {
      sf.removeRules('whitelist', 'ip', '127.0.0.1');
    }
    expect((await client.request(reply.port, { ua: 'friendly-scanner' }))?.status).toBe(403);
  });

  it('drops scanners silently when routing.config.scanner_action is drop', async () => {
    expect(await client.request(dropper.port, { ua: 'friendly-scanner' }, 700)).toBeNull();
    expect(dropper.logs.some((l) => l.includes('scanner friendly-scanner from 127.0.0.1') && l.includes('dropped'))).toBe(true);
    expect((await client.request(dropper.port, { ua: 'Linphone/5.2' }))?.status).toBe(200);
  });

  it('refuses a blacklisted From user with 403; the plugin saw -2', async () => {
    const r = await client.request(reply.port, { fromUser: 'mallory' });
    expect(r?.status).toBe(403);
    expect(r?.reason).toBe('Forbidden - From Blacklisted');
    expect(reply.logs.some((l) => l.includes('From <sip:mallory@example.org> blacklisted (-2)'))).toBe(true);
  });

  it('refuses a blacklisted To domain with 403 (-3)', async () => {
    const bad = client.build(reply.port, { method: 'OPTIONS' });
    const text = bad.text.replace('To: <sip:bob@example.org>', 'To: <sip:bob@evil.example>');
    const got = await client.send(reply.port, text, bad.callId);
    expect(got?.status).toBe(403);
    expect(got?.reason).toBe('Forbidden - To Blacklisted');
    expect(reply.logs.some((l) => l.includes('To <sip:bob@evil.example> blacklisted (-3)'))).toBe(true);
  });

  it('refuses SQL injection attempts with 403', async () => {
    for (const o of [{ fromName: 'x -- drop' }, { ua: "sqlmap' OR '1'='1" }, { contact: "<sip:a'or'1@127.0.0.1>" }]) {
      const r = await client.request(reply.port, o);
      expect(r?.status, JSON.stringify(o)).toBe(403);
      expect(r?.reason).toBe('Forbidden - SQL Injection');
    }
  });

  it('drops requests from a blacklisted source address without answering', async () => {
    const sf = secfilterOf(reply).secfilter;
    sf.addRule('blacklist', 'ip', '127.0.0.1');
    try {
      expect(await client.request(reply.port, { ua: 'Linphone/5.2' }, 700)).toBeNull();
      expect(reply.logs.some((l) => l.includes(`blacklisted source 127.0.0.1:${client.port} dropped`))).toBe(true);
    } finally {
      sf.removeRules('blacklist', 'ip', '127.0.0.1');
    }
    expect((await client.request(reply.port, { ua: 'Linphone/5.2' }))?.status).toBe(200);
  });
});

describe('secf_* return codes seen by a plugin', () => {
  it('secf_check_dst with dst_exact_match 1: only the exact number is blocked', async () => {
    const exact = await client.request(probeExact.port, { ruri: `sip:0900@127.0.0.1:${probeExact.port}` });
    expect(exact?.status).toBe(403);
    expect(exact?.headers.get('x-secf-dst')).toBe('-2');
    const longer = await client.request(probeExact.port, { ruri: `sip:09001234@127.0.0.1:${probeExact.port}` });
    expect(longer?.status).toBe(200);
    expect(longer?.headers.get('x-secf-dst')).toBe('1');
  });

  it('secf_check_dst with dst_exact_match 0: a stored number is a prefix of the dialled one', async () => {
    const longer = await client.request(probePrefix.port, { ruri: `sip:09001234@127.0.0.1:${probePrefix.port}` });
    expect(longer?.status).toBe(403);
    expect(longer?.headers.get('x-secf-dst')).toBe('-2');
    const other = await client.request(probePrefix.port, { ruri: `sip:0800123@127.0.0.1:${probePrefix.port}` });
    expect(other?.headers.get('x-secf-dst')).toBe('1');
  });

  it('header checks: -2 user, 2 whitelisted user, granular username/name/domain', async () => {
    const bad = await client.request(probeExact.port, { fromUser: 'mallory', ua: 'friendly-scanner', contact: '<sip:mallory@127.0.0.1>' });
    expect(bad?.headers.get('x-secf-from')).toBe('-2');
    expect(bad?.headers.get('x-secf-contact')).toBe('-2');
    expect(bad?.headers.get('x-secf-from-parts')).toBe('-2 1 1');
    expect(bad?.headers.get('x-secf-ua')).toBe('-2');
    expect(bad?.headers.get('x-secf-ip')).toBe('1');
    const good = await client.request(probeExact.port, { fromUser: 'trusted', ua: 'Linphone' });
    expect(good?.headers.get('x-secf-from')).toBe('2');
    expect(good?.headers.get('x-secf-ua')).toBe('1');
    expect(good?.headers.get('x-secf-to')).toBe('1');
  });

  it('SQL injection: secf_check_sqli_all returns -1 on a hit (Kamailio 0), 1 when clean; sqli_hdr on a value', async () => {
    const hit = await client.request(probeExact.port, { ua: "a' or 1=1", extra: "Subject: x' or '1'='1\r\n" });
    expect(hit?.headers.get('x-secf-sqli-all')).toBe('-1');
    expect(hit?.headers.get('x-secf-sqli-subject')).toBe('-1 -1');
    const clean = await client.request(probeExact.port, { ua: 'Linphone', extra: 'Subject: lunch\r\n' });
    expect(clean?.headers.get('x-secf-sqli-all')).toBe('1');
    expect(clean?.headers.get('x-secf-sqli-subject')).toBe('1 1');
  });

  it('secf_check_country on a value the plugin supplies', async () => {
    expect((await client.request(probeExact.port, { extra: 'X-Country: XX\r\n' }))?.headers.get('x-secf-country')).toBe('-2');
    expect((await client.request(probeExact.port, { extra: 'X-Country: FR\r\n' }))?.headers.get('x-secf-country')).toBe('1');
  });
});
