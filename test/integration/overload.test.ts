/**
 * core.overload's optional `utilization` signal through a real UDP socket: while the node's loop
 * reads as saturated, the refused share rises until a new INVITE gets 503 with Retry-After, and an
 * OPTIONS keepalive is still answered; once it reads idle again the share falls back to 0 and requests
 * are routed as before. The refusals are counted (core:overloadRejected). max_delay is set to its
 * maximum so the queueing-delay signal (test/integration/overload-delay.test.ts) stays out of it.
 *
 * The busy share is the test's: startNode's overloadUtilization option replaces the event loop's own
 * reading, so the guard's real interval samples a level the test sets, and the test waits for the
 * samples (counted) instead of spinning the shared loop and sleeping (issue #12: this flaked when the
 * machine was loaded, a busy loop reading as saturated in the "idle" case). Ports from port 0 / freePort().
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { performance } from 'node:perf_hooks';
import { parseConfig } from '../../host/config/load.js';
import { startNode, type SiphonNode } from '../../host/server/app.js';
import { moduleSchemas } from '../../host/server/modules.js';
import { createLogger } from '../../host/log/logger.js';
import type { UtilizationSource } from '../../host/server/overload.js';
import { freePort } from '../helpers/ports.js';
import { buildPlugins, PLUGIN, SipClient } from './modules/helpers.js';

const WINDOW = 20;

/** the load the guard reads, and how many windows it has sampled. */
const load = { busy: 0, samples: 0 };
const utilization: UtilizationSource = () => {
  load.samples++;
  return { now: performance.eventLoopUtilization(), busy: load.busy };
};

/** resolves once the guard has sampled `n` more windows at the current level. */
async function windows(n: number): Promise<void> {
  const target = load.samples + n;
  const end = Date.now() + 10_000;
  while (load.samples < target) {
    if (Date.now() > end) throw new Error(`the guard sampled ${load.samples} windows, waited for ${target}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('load shedding (core.overload)', () => {
  let node: SiphonNode;
  let client: SipClient;
  let PORT = 0;
  const logs: string[] = [];

  beforeAll(async () => {
    await buildPlugins();
    PORT = await freePort();
    const yaml = [
      'core:',
      `  listen: [udp:127.0.0.1:${PORT}]`,
      '  ctl: []',
      '  warmup: 0',
      // one shard, whatever SIPHON_WORKERS says: the busy share comes from this thread's function
      // (startNode's overloadUtilization), which a worker thread's guard cannot read; every request
      // must meet the guard it drives (overload-delay.test.ts covers the sharded signal)
      '  workers: 1',
      '  overload:',
      '    max_delay: 10000',
      '    utilization: 0.6',
      '    sustain: 2',
      `    window: ${WINDOW}`,
      '    retry_after: 9',
      'modules:',
      '  registrar:',
      '    db_mode: 0',
      'routing:',
      `  plugin: ${JSON.stringify(PLUGIN.default)}`,
    ].join('\n');
    const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
    node = await startNode(config, createLogger({ level: 'info', destination: { write: (l: string) => void logs.push(l) } }), { overloadUtilization: utilization });
    client = await SipClient.open(0);
  }, 180_000);

  afterAll(async () => {
    await client?.close();
    await node?.stop();
  });

  const register = () =>
    client.request(PORT, { method: 'REGISTER', fromUser: 'ov', toUser: 'ov', contact: `<sip:ov@127.0.0.1:${client.port}>`, extra: 'Expires: 60\r\n' });

  it('routes normally while the loop is idle', async () => {
    load.busy = 0.1;
    await windows(3);
    expect(node.server.overload?.shedding).toBe(false);
    expect(node.server.overload?.episodes).toBe(0);
    expect((await register())?.status).toBe(200);
    expect(node.server.stats().overloadRejected).toBe(0);
  });

  it('refuses new dialogs with 503 + Retry-After while saturated, keeps answering OPTIONS', async () => {
    load.busy = 0.75;
    await windows(1);
    expect(node.server.overload?.shedding).toBe(false); // sustain: 2 windows in a row, not 1
    await windows(1);
    expect(node.server.overload?.shedding).toBe(true);
    expect(node.server.overload?.episodes).toBe(1);
    // the share rises 0.1 per saturated window: at 1 every new dialog is refused
    await windows(10);
    expect(node.server.overload?.rejectShare).toBe(1);
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

  it('keeps shedding within the hysteresis, accepts again once the loop is idle', async () => {
    load.busy = 0.57; // below utilization (0.6) but not by 0.05
    await windows(2);
    expect(node.server.overload?.shedding).toBe(true);
    expect(node.server.overload?.rejectShare).toBe(1); // held: neither over nor 0.05 below
    load.busy = 0.1;
    await windows(1);
    expect(node.server.overload?.rejectShare).toBeLessThan(1); // falling, 0.02 per calm window
    await windows(50);
    expect(node.server.overload?.shedding).toBe(false);
    expect((await register())?.status).toBe(200);
    expect(node.server.overload?.episodes).toBe(1);
    expect(logs.some((l) => l.includes('load back to normal'))).toBe(true);
  });
});
