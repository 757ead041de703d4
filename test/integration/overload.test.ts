/**
 * core.overload through a real UDP socket: while the node's event loop is saturated (here: the test
 * itself keeps the shared loop busy), a new INVITE or REGISTER gets 503 with Retry-After and an
 * OPTIONS keepalive is still answered; once the loop is idle again, requests are routed as before.
 * The refusals are counted (core:overloadRejected). Ports 19600-19609.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../host/config/load.js';
import { startNode, type SiphonNode } from '../../host/server/app.js';
import { moduleSchemas } from '../../host/server/modules.js';
import { createLogger } from '../../host/log/logger.js';
import { buildPlugins, PLUGIN, SipClient } from './modules/helpers.js';

const PORT = 19600;
const WINDOW = 100;

/** keeps this (shared) event loop busy for `ms`, in one go. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('load shedding (core.overload)', () => {
  let node: SiphonNode;
  let client: SipClient;
  const logs: string[] = [];

  beforeAll(async () => {
    await buildPlugins();
    const yaml = [
      'core:',
      `  listen: [udp:127.0.0.1:${PORT}]`,
      '  ctl: []',
      '  warmup: 0',
      '  overload:',
      '    utilization: 0.6',
      '    sustain: 1',
      `    window: ${WINDOW}`,
      '    retry_after: 9',
      'modules:',
      '  registrar:',
      '    db_mode: 0',
      'routing:',
      `  plugin: ${JSON.stringify(PLUGIN.default)}`,
    ].join('\n');
    const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
    node = await startNode(config, createLogger({ level: 'info', destination: { write: (l: string) => void logs.push(l) } }));
    client = await SipClient.open(PORT + 1);
  }, 180_000);

  afterAll(async () => {
    await client?.close();
    await node?.stop();
  });

  it('routes normally while the loop is idle', async () => {
    await sleep(3 * WINDOW);
    const r = await client.request(PORT, { method: 'REGISTER', fromUser: 'ov', toUser: 'ov', contact: `<sip:ov@127.0.0.1:${PORT + 1}>`, extra: 'Expires: 60\r\n' });
    expect(r?.status).toBe(200);
    expect(node.server.overload?.shedding).toBe(false);
  });

  it('refuses new dialogs with 503 + Retry-After while saturated, keeps answering OPTIONS', async () => {
    busy(3 * WINDOW); // a whole window and more without idle time
    await sleep(WINDOW + 20); // the guard samples (busy share ≈ 0.75 or more) ...
    busy(3 * WINDOW);
    await sleep(5);
    expect(node.server.overload?.shedding).toBe(true);
    const before = node.server.stats().overloadRejected;
    const [invite, options] = await Promise.all([
      client.request(PORT, { method: 'INVITE', ruri: `sip:ov@127.0.0.1:${PORT}` }),
      client.request(PORT, { method: 'OPTIONS' }),
    ]);
    expect(invite?.status).toBe(503);
    expect(invite?.headers.get('retry-after')).toBe('9');
    expect(options?.status).toBe(200);
    expect(node.server.stats().overloadRejected).toBe(before + 1);
    expect(logs.some((l) => l.includes('[E3004]'))).toBe(true);
  });

  it('accepts again once the loop is idle', async () => {
    await sleep(4 * WINDOW);
    expect(node.server.overload?.shedding).toBe(false);
    const r = await client.request(PORT, { method: 'REGISTER', fromUser: 'ov', toUser: 'ov', contact: `<sip:ov@127.0.0.1:${PORT + 1}>`, extra: 'Expires: 60\r\n' });
    expect(r?.status).toBe(200);
    expect(logs.some((l) => l.includes('load back to normal'))).toBe(true);
  });
});
