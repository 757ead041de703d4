/**
 * core.warmup (host/core/warmup.ts): before its sockets open a node drives whole proxied calls and
 * plugin requests through a private copy of its message path; nothing of it may reach the running
 * node (counters, plugin stats, registrar contacts), and the node then serves real traffic.
 * Ports 19880-19889.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../host/config/load.js';
import { warmUp } from '../../host/core/warmup.js';
import { startNode } from '../../host/core/app.js';
import { createLogger } from '../../host/log/logger.js';
import { buildPlugins, PLUGIN, SipClient, startTestNode, type TestNode } from './modules/helpers.js';

describe('warm-up before the sockets open', () => {
  let t: TestNode;
  let client: SipClient;

  beforeAll(async () => {
    await buildPlugins();
    t = await startTestNode(19880, ['modules:', '  registrar:', '    db_mode: 0', 'routing:', `  plugin: ${JSON.stringify(PLUGIN.default)}`].join('\n'));
    client = await SipClient.open(19881);
  }, 180_000);

  afterAll(async () => {
    await client?.close();
    await t?.node.stop();
  });

  it('relays the configured number of calls through tm and routes requests through a plugin twin', () => {
    const line = t.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'warm-up done');
    expect(line).toBeDefined();
    // default core.warmup: 2000 calls, each INVITE + ACK + BYE relayed and 180 + 200 + 200 proxied back;
    // then 500 rounds of OPTIONS/REGISTER/INVITE/BYE through plugins/default, which relays the in-dialog BYE (loose_route)
    expect(line).toMatchObject({ calls: 2000, relayed: 6000 + 500, responsesProxied: 6000, pluginRequests: 2000 });
  });

  it('leaves nothing behind in the running node', async () => {
    expect(t.node.server.stats().received).toBe(0);
    expect(t.node.plugin.stats.calls).toBe(0);
    const dump = JSON.stringify(await t.node.rpc.get('ul.dump')!.handler([]));
    expect(dump).not.toContain('192.0.2.');
    expect(t.node.server.transactions!.stats).toMatchObject({ serverCreated: 0, clientCreated: 0 });
  });

  it('then serves real traffic: a REGISTER is saved and shows in ul.dump', async () => {
    const r = await client.request(19880, { method: 'REGISTER', ruri: 'sip:127.0.0.1:19880', fromUser: 'warm', toUser: 'warm', contact: '<sip:warm@127.0.0.1:19881>', extra: 'Expires: 60\r\n' });
    expect(r?.status).toBe(200);
    expect(JSON.stringify(await t.node.rpc.get('ul.dump')!.handler([]))).toContain('sip:warm@127.0.0.1:19881');
    expect(t.node.server.stats().received).toBe(1);
  });
});

describe('warmUp() on its own', () => {
  it('drives INVITE/180/200/ACK/BYE/200 calls with no plugin and no socket', async () => {
    const config = parseConfig('core:\n  listen: [udp:127.0.0.1:19885]\n', null);
    const r = await warmUp(config, 150, null);
    expect(r).toMatchObject({ calls: 150, pluginRequests: 0, messages: 900, relayed: 450, responsesProxied: 450 });
  });

  it('core.warmup: 0 skips it (and 2000 is the default)', async () => {
    expect(parseConfig('', null).core.warmup).toBe(2000);
    const config = parseConfig('core:\n  listen: [udp:127.0.0.1:19886]\n  ctl: []\n  warmup: 0\nrouting:\n  plugin: hello\n', null);
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
