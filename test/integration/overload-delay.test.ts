/**
 * core.overload on its default signal, through a real UDP socket: a worker thread floods the node
 * with OPTIONS faster than one event loop can answer (a standing queue in the socket buffer) and
 * mixes new REGISTERs into the flood. While the queue stands, a share of the REGISTERs gets 503 with
 * Retry-After and no OPTIONS does; the queue probes saw the delay (statistics group 'overload'); once
 * the flood ends the share falls back to 0 and a REGISTER is routed as before. max_delay is lowered
 * to 20 ms so the flood needs less than a second on any machine; the defaults are the same code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { parseConfig } from '../../host/config/load.js';
import { startNode, type SiphonNode } from '../../host/server/app.js';
import { moduleSchemas } from '../../host/server/modules.js';
import { createLogger } from '../../host/log/logger.js';
import { buildPlugins, PLUGIN, SipClient } from './modules/helpers.js';
import { freePorts } from '../helpers/ports.js';
import { eventually, nodeStat, nodeStats } from '../helpers/shards.js';

/** the flooding UA: OPTIONS in bursts, a new REGISTER every `every` datagrams; counts the answers by method and status. */
const FLOOD = `
const dgram = require('node:dgram');
const { workerData, parentPort } = require('node:worker_threads');
const { port, ms, every } = workerData;
const s = dgram.createSocket('udp4');
const counts = {};
s.on('message', (m) => {
  const t = m.toString('latin1');
  const status = t.slice(8, 11);
  const method = /\\r\\nCSeq: \\d+ (\\w+)/i.exec(t)?.[1] ?? '?';
  const k = method + ' ' + status;
  counts[k] = (counts[k] ?? 0) + 1;
  if (status === '503' && method === 'REGISTER' && !/\\r\\nRetry-After: 5\\r\\n/i.test(t)) counts.noRetryAfter = (counts.noRetryAfter ?? 0) + 1;
});
s.bind(0, '127.0.0.1', () => {
  const me = s.address().port;
  let n = 0;
  const end = Date.now() + ms;
  const msg = (method, i) => Buffer.from(
    method + ' sip:127.0.0.1:' + port + ' SIP/2.0\\r\\n' +
    'Via: SIP/2.0/UDP 127.0.0.1:' + me + ';branch=z9hG4bKfl' + i + '\\r\\nMax-Forwards: 70\\r\\n' +
    'From: <sip:fl' + i + '@127.0.0.1>;tag=f' + i + '\\r\\nTo: <sip:fl' + i + '@127.0.0.1>\\r\\n' +
    'Call-ID: flood-' + i + '\\r\\nCSeq: 1 ' + method + '\\r\\n' +
    (method === 'REGISTER' ? 'Contact: <sip:fl' + i + '@127.0.0.1:' + me + '>\\r\\nExpires: 60\\r\\n' : '') +
    'Content-Length: 0\\r\\n\\r\\n');
  const burst = () => {
    for (let k = 0; k < 400; k++, n++) s.send(msg(n % every === 0 ? 'REGISTER' : 'OPTIONS', n), port, '127.0.0.1');
    if (Date.now() < end) setImmediate(burst);
    else setTimeout(() => { parentPort.postMessage({ sent: n, counts }); s.close(); }, 1500);
  };
  burst();
});
`;

describe('load shedding on queueing delay (core.overload defaults)', () => {
  let node: SiphonNode;
  let client: SipClient;
  let port: number;
  let clientPort: number;

  beforeAll(async () => {
    await buildPlugins();
    [port, clientPort] = await freePorts(2);
    const yaml = [
      'core:',
      `  listen: [udp:127.0.0.1:${port}]`,
      '  ctl: []',
      '  warmup: 0',
      '  log_level: warn',
      '  overload:',
      '    max_delay: 20',
      '    startup_grace: 0', // the flood starts with the node's first traffic: the steady-state guard is under test
      'modules:',
      '  registrar:',
      '    db_mode: 0',
      'routing:',
      `  plugin: ${JSON.stringify(PLUGIN.default)}`,
    ].join('\n');
    const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
    expect(config.core.overload).toMatchObject({ enabled: true, window: 100, sustain: 2, retry_after: 5, probe_interval: 10 });
    node = await startNode(config, createLogger({ level: 'warn', destination: { write: () => undefined } }));
    client = await SipClient.open(clientPort);
  }, 180_000);

  afterAll(async () => {
    await client?.close();
    await node?.stop();
  });

  it('refuses a share of new REGISTERs with 503 + Retry-After while the queue stands, never an OPTIONS', async () => {
    // the node's view over its shards (with core.workers each shard sheds on its own queueing delay)
    expect(await nodeStat(node, 'overload', 'shedding')).toBe(0);
    const worker = new Worker(FLOOD, { eval: true, workerData: { port, ms: 1500, every: 20 } });
    const result = await new Promise<{ sent: number; counts: Record<string, number> }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    const c = result.counts;
    expect(await nodeStat(node, 'overload', 'episodes')).toBeGreaterThanOrEqual(1);
    expect(c['REGISTER 503'] ?? 0).toBeGreaterThan(0);
    expect(c.noRetryAfter ?? 0).toBe(0);
    expect(c['OPTIONS 503'] ?? 0).toBe(0);
    expect(c['OPTIONS 200'] ?? 0).toBeGreaterThan(0);
    // every 503 the UA saw was counted (a few more may still have been on their way when it stopped)
    expect(await nodeStat(node, 'core', 'overloadRejected')).toBeGreaterThanOrEqual(c['REGISTER 503']!);
    const stats = await node.rpc.call('stats.get_statistics', ['overload:']);
    const text = JSON.stringify(stats);
    expect(text).toMatch(/overload:episodes = [1-9]/);
    expect(text).toMatch(/overload:probes_answered = [1-9]/);
  }, 60_000);

  it('accepts again once the queue is gone', async () => {
    // no shard refuses any more
    await eventually(async () => (await nodeStats(node, 'overload')).shedding === 0, 'every shard to stop shedding', 20_000);
    const r = await client.request(port, { method: 'REGISTER', fromUser: 'after', toUser: 'after', contact: `<sip:after@127.0.0.1:${clientPort}>`, extra: 'Expires: 60\r\n' });
    expect(r?.status).toBe(200);
  }, 30_000);
});
