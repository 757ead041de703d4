/**
 * The core.tcp limits in a whole node (startNode with plugins/default, real sockets on 127.0.0.x,
 * a TCP port from freePort()): from siphon.yaml to the listener, and into the `tcp` statistics group that kamcmd and
 * /metrics read. While a non-reading client, dribblers and a one-source connection flood are at it,
 * a well-behaved client's keepalive OPTIONS are answered 200 OK.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import path from 'node:path';
import { parseConfig } from '../../host/config/load.js';
import { createLogger } from '../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../host/server/app.js';
import { freePort } from '../helpers/ports.js';
import { closed, flood, until } from './tcp-helpers.js';

/** the node's TCP listen port (freePort(): a listen address needs a port) */
let PORT = 0;
const ROOT = path.resolve(import.meta.dirname, '../..');
let node: SiphonNode;
const sockets: net.Socket[] = [];

beforeAll(async () => {
  PORT = await freePort('tcp');
  const yaml = [
    'core:',
    `  listen: [tcp:127.0.0.1:${PORT}]`,
    '  ctl: []',
    '  warmup: 0',
    '  log_level: warn',
    '  tcp:',
    '    conn_wq_max: 32768',
    '    accept_iplimit: 4',
    '    msg_read_timeout: 2',
    '    msg_data_timeout: 30',
    '    send_timeout: 1',
    'routing:',
    '  plugin: default',
  ].join('\n');
  const config = parseConfig(yaml, path.join(ROOT, 'config/test.yaml'));
  node = await startNode(config, createLogger({ level: 'warn', destination: { write: () => {} } }));
}, 60_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await node?.stop();
});

function options(n: number, from: number, viaPad = ''): string {
  return (
    `OPTIONS sip:127.0.0.1:${PORT} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:${from};branch=z9hG4bK-node${n}${viaPad}\r\n` +
    `Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=n${n}\r\nTo: <sip:127.0.0.1:${PORT}>\r\n` +
    `Call-ID: tcp-node-${n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`
  );
}

async function open(from: string): Promise<net.Socket> {
  const s = net.connect({ port: PORT, host: '127.0.0.1', localAddress: from });
  sockets.push(s);
  s.on('error', () => {});
  await new Promise((r) => {
    s.once('connect', r);
    s.once('close', r);
  });
  return s;
}

/** one OPTIONS, the status line of its reply */
async function ping(s: net.Socket, n: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const t = setTimeout(() => reject(new Error(`no reply to OPTIONS ${n}`)), 5000);
    const onData = (d: Buffer) => {
      text += d.toString('latin1');
      if (!text.includes('\r\n\r\n')) return;
      clearTimeout(t);
      s.off('data', onData);
      resolve(text.slice(0, text.indexOf('\r\n')));
    };
    s.on('data', onData);
    s.write(options(n, s.localPort!));
  });
}

async function stats(): Promise<Record<string, number>> {
  const lines = (await node.rpc.call('stats.get_statistics', ['tcp:'])) as string[];
  return Object.fromEntries(lines.map((l) => l.split(' = ')).map(([k, v]) => [k!.slice('tcp:'.length), Number(v)]));
}

describe('core.tcp limits in a running node', () => {
  it('keeps answering a good client while others dribble, flood from one source and never read', async () => {
    const good = await open('127.0.0.2');
    expect(await ping(good, 1)).toBe('SIP/2.0 200 OK');

    // one source opens 10 connections: 4 are accepted (accept_iplimit), and they dribble a header
    const dribblers = await Promise.all(Array.from({ length: 10 }, () => open('127.0.0.3')));
    for (const d of dribblers) if (!d.destroyed) d.write('OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.3;bra');

    // what an operator sees meanwhile (Kamailio core.tcp_list / core.tcp_info)
    type Row = { src_ip: string; partial_message: number; direction: string; state: string };
    const list = async () => (await node.rpc.call('core.tcp_list', [])) as Row[];
    for (let i = 0; i < 200 && (await list()).filter((r) => r.src_ip === '127.0.0.3' && r.partial_message === 1).length < 4; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const rows = await list();
    expect(rows.filter((r) => r.src_ip === '127.0.0.3' && r.partial_message === 1 && r.direction === 'in')).toHaveLength(4);
    expect(await node.rpc.call('core.tcp_info', [])).toMatchObject({ max_connections: 2048, opened_connections: 5, inbound_connections: 5 });

    // a client that never reads, its replies made large by a long Via branch (echoed in every reply)
    const hog = await open('127.0.0.4');
    const pad = 'x'.repeat(4000);
    const tcp = () => node.server.stats().transports[0]!;
    const flooding = flood(hog, () => tcp().readPauses + tcp().writeQueueFull > 0, (i) => options(100 + i, hog.localPort!, pad), 20_000);
    for (let i = 2; i < 12; i++) expect(await ping(good, i)).toBe('SIP/2.0 200 OK');
    await flooding;

    // the server closes the hog (a paused client notices only when it reads or writes again) and the dribblers
    await until(() => tcp().connectionsClosed === 5, 15_000, 'the hog and the dribblers to be closed');
    const gone = await Promise.all(dribblers.map((d) => closed(d, 5000)));
    expect(gone.every(Boolean)).toBe(true);
    expect(await ping(good, 99)).toBe('SIP/2.0 200 OK');

    const s = await stats();
    expect(s.ip_limit_reject).toBe(6);
    expect(s.local_reject).toBe(6);
    // the hog: a reply that would pass conn_wq_max closed it (sendq_full); or reading paused at the
    // high-water mark and then its stalled queue (send_timeout) or its half-read message
    // (msg_read_timeout) did
    expect(s.sendq_full + s.send_timeout + s.msg_read_timeout).toBe(1 + 4);
    expect(s.current_opened_connections).toBe(1);
    expect(s.current_write_queue_size).toBe(0);
    // the same counters on /metrics
    const text = await node.metrics.text();
    expect(text).toMatch(/siphon_module_statistic\{module="tcp",name="ip_limit_reject"[^}]*\} 6/);
  }, 60_000);
});
