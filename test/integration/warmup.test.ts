/**
 * core.warmup (host/server/warmup.ts): before its sockets open a node drives whole proxied calls and
 * plugin requests through a private copy of its message path; nothing of it may reach the running
 * node (counters, plugin stats, registrar contacts), and the node then serves real traffic.
 * Ports from freePorts(); warmUp() alone opens no socket (its config's 19615 is parsed, never bound).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../host/config/load.js';
import { warmUp } from '../../host/server/warmup.js';
import { startNode } from '../../host/server/app.js';
import { createLogger } from '../../host/log/logger.js';
import { moduleSchemas } from '../../host/server/modules.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, freePorts } from '../helpers/ports.js';
import { nodeStat } from '../helpers/shards.js';
import { TinyUas } from './dispatcher/uas.js';
import { buildPlugins, PLUGIN, SipClient, startTestNode, type TestNode } from './modules/helpers.js';

describe('warm-up before the sockets open', () => {
  let t: TestNode;
  let client: SipClient;
  /** the node's port and the client's (freePorts()) */
  let NODE = 0;
  let CLIENT = 0;

  beforeAll(async () => {
    await buildPlugins();
    [NODE, CLIENT] = (await freePorts(2)) as [number, number];
    t = await startTestNode(NODE, ['modules:', '  registrar:', '    db_mode: 0', 'routing:', `  plugin: ${JSON.stringify(PLUGIN.default)}`].join('\n'));
    client = await SipClient.open(CLIENT);
  }, 180_000);

  afterAll(async () => {
    await client?.close();
    await t?.node.stop();
  });

  it('relays the configured number of calls through tm and routes requests through a plugin twin', () => {
    const line = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'warm-up done');
    expect(line).toBeDefined();
    // default core.warmup: 2000 calls, each INVITE + ACK + BYE relayed and 180 + 200 + 200 proxied back;
    // then 500 rounds through plugins/default with a registrar copy: OPTIONS, the callee's REGISTER
    // (saved in the copy), and a whole call the plugin relays after lookup (3 relayed, 3 proxied back)
    expect(line).toMatchObject({ calls: 2000, relayed: 6000 + 500 * 3, responsesProxied: 6000 + 500 * 3, pluginRequests: 500 * 5 });
    // then the loopback phase: 1.5 rounds per call (at most 3 s), each OPTIONS, REGISTER, INVITE and
    // BYE from a caller socket through a started throwaway server to a callee socket; a request
    // whose answer takes over 250 ms (a loaded machine) only ends its round
    const l = line as { loopbackRounds: number; loopbackAnswered: number; loopbackError?: string };
    expect(l.loopbackError).toBeUndefined();
    expect(l.loopbackRounds).toBeGreaterThanOrEqual(100);
    expect(l.loopbackRounds).toBeLessThanOrEqual(3000);
    expect(l.loopbackAnswered).toBeGreaterThanOrEqual(3 * l.loopbackRounds);
  });

  it('leaves nothing behind in the running node', async () => {
    expect(t.node.server.stats().received).toBe(0);
    expect(t.node.plugin.stats.calls).toBe(0);
    const dump = JSON.stringify(await t.node.rpc.get('ul.dump')!.handler([]));
    expect(dump).not.toContain('192.0.2.');
    expect(t.node.server.transactions!.stats).toMatchObject({ serverCreated: 0, clientCreated: 0 });
  });

  it('then serves real traffic: a REGISTER is saved and shows in ul.dump', async () => {
    const r = await client.request(NODE, { method: 'REGISTER', ruri: `sip:127.0.0.1:${NODE}`, fromUser: 'warm', toUser: 'warm', contact: `<sip:warm@127.0.0.1:${CLIENT}>`, extra: 'Expires: 60\r\n' });
    expect(r?.status).toBe(200);
    expect(JSON.stringify(await t.node.rpc.get('ul.dump')!.handler([]))).toContain(`sip:warm@127.0.0.1:${CLIENT}`);
    // the node's count, summed over its shards (core.workers)
    expect(await nodeStat(t.node, 'core', 'received')).toBe(1);
  });
});

describe('warmUp() on its own', () => {
  it('drives INVITE/180/200/ACK/BYE/200 calls with no plugin and no socket', async () => {
    const config = parseConfig('core:\n  listen: [udp:127.0.0.1:19615]\n', null);
    const r = await warmUp(config, 150, null);
    expect(r).toMatchObject({ calls: 150, pluginRequests: 0, messages: 900, relayed: 450, responsesProxied: 450 });
  });

  it('core.warmup: 0 skips it (and 2000 is the default)', async () => {
    expect(parseConfig('', null).core.warmup).toBe(2000);
    const config = parseConfig(`core:\n  listen: [udp:127.0.0.1:${await freePort('udp')}]\n  ctl: []\n  warmup: 0\nrouting:\n  plugin: hello\n`, null);
    const logs: string[] = [];
    const node = await startNode(config, createLogger({ level: 'info', destination: { write: (s: string) => void logs.push(s) } }));
    try {
      expect(logs.some((l) => l.includes('"siphon started"'))).toBe(true);
      expect(logs.some((l) => l.includes('"warm-up done"'))).toBe(false);
    } finally {
      await node.stop();
    }
  });
});

describe('keepalives and the warm-up', () => {
  it('a ds_ping timer that fires during the warm-up waits for the sockets instead of marking the gateway down', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'siphon-warm-ds-'));
    const [gwPort, nodePort] = (await freePorts(2)) as [number, number];
    const gw = new TinyUas(gwPort);
    await gw.start();
    const listFile = path.join(dir, 'dispatcher.list');
    writeFileSync(listFile, `1 sip:127.0.0.1:${gwPort} 0 0\n`);
    // 6000 warm-up calls take well over the 1-s keepalive interval; one failed ping would mark the gateway down
    const yaml = [
      'core:',
      `  listen: [udp:127.0.0.1:${nodePort}]`,
      '  ctl: []',
      '  warmup: 6000',
      'modules:',
      '  dispatcher:',
      `    list_file: ${JSON.stringify(listFile)}`,
      '    ds_ping_interval: 1',
      '    ds_probing_mode: 1',
      '    ds_probing_threshold: 1',
      '    ds_ping_fr_timer: 400',
      'routing:',
      '  plugin: lb',
    ].join('\n');
    const config = parseConfig(yaml, path.join(dir, 'siphon.yaml'), { moduleSchemas: moduleSchemas() });
    const logs: string[] = [];
    const node = await startNode(config, createLogger({ level: 'info', destination: { write: (l: string) => void logs.push(l) } }));
    /** one dispatcher:<name> statistic of the node. */
    const ds = async (name: string): Promise<number> => {
      const stats = (await node.rpc.call('stats.get_statistics', ['dispatcher:'])) as string[];
      return Number(stats.find((l) => l.startsWith(`dispatcher:${name} = `))?.split(' = ')[1]);
    };
    try {
      const done = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'warm-up done') as { loopbackRounds: number; loopbackAnswered: number } | undefined;
      expect(done).toBeDefined();
      // plugins/lb relays to the gateway: in the loopback phase its calls complete all the same
      expect(done!.loopbackRounds).toBeGreaterThanOrEqual(100);
      expect(done!.loopbackAnswered).toBeGreaterThanOrEqual(3 * done!.loopbackRounds);
      // the keepalive timer has no ping at start-up, its first is 1 s in: one counted by the time
      // startNode resolved was issued while the warm-up (or the plugin load before it) kept the sockets
      // closed, i.e. held (counted, not timed; only the few ms between socketsOpened() and the return
      // are after the sockets opened)
      expect(await ds('pings_sent')).toBeGreaterThanOrEqual(1);
      // the next ping is sent only once the first is settled (in flight ones are skipped), so its
      // answer has been applied by then (bounded wait for the counter, no sleep)
      await expect.poll(() => ds('pings_sent'), { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
      expect(await ds('ping_failures')).toBe(0);
      // the ping held during the warm-up went out once the socket was bound, and was answered
      expect(gw.received[0]).toMatch(new RegExp(`^OPTIONS sip:127\\.0\\.0\\.1:${gwPort} SIP/2\\.0\r\n`));
      const list = (await node.rpc.get('dispatcher.list')!.handler([])) as { RECORDS: Array<{ SET: { TARGETS: Array<{ DEST: { URI: string; FLAGS: string } }> } }> };
      expect(list.RECORDS[0]!.SET.TARGETS[0]!.DEST).toMatchObject({ URI: `sip:127.0.0.1:${gwPort}`, FLAGS: 'AP' });
      expect(logs.some((l) => l.includes('unable to ping'))).toBe(false);
      // the warm-up's loopback phase routed its calls through plugins/lb to this gateway: they went to
      // its simulated callee instead, nothing but the node's own keepalives reached the gateway
      expect(gw.received.length).toBeGreaterThan(0);
      expect(gw.received.every((m) => m.startsWith('OPTIONS '))).toBe(true);
    } finally {
      await node.stop();
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
