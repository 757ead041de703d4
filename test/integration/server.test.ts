/**
 * The server core in-process with a real Wasm plugin (test/integration/plugins/core-probe), driven
 * over real UDP/TCP sockets on 127.0.0.1 and [::1], on a port from freeUdpTcpPort().
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { once } from 'node:events';
import { parseConfig } from '../../host/config/load.js';
import { createLogger } from '../../host/log/logger.js';
import { startNode, type SiphonNode } from '../../host/server/app.js';
import { DEFAULT_SERVER_HEADER } from '../../host/core/version.js';
import { freeUdpTcpPort } from '../helpers/ports.js';
import { eventually, nodeStat, nodeStats } from '../helpers/shards.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const PLUGIN = path.join(ROOT, 'test/integration/plugins/core-probe/build/core-probe.wasm');
/** one port for UDP and TCP, IPv4 and IPv6 (the node listens on all four). */
const PORT = await freeUdpTcpPort();

const logLines: string[] = [];
let node: SiphonNode;

beforeAll(async () => {
  await run(process.execPath, [path.join(ROOT, 'scripts/build-plugins.mjs'), '--plugins-dir', path.join(ROOT, 'test/integration/plugins')], { cwd: ROOT, timeout: 60_000 });
  const config = parseConfig(
    [
      'core:',
      '  listen:',
      `    - udp:127.0.0.1:${PORT}`,
      `    - tcp:127.0.0.1:${PORT}`,
      `    - udp:[::1]:${PORT}`,
      `    - tcp:[::1]:${PORT}`,
      '  log_level: info',
      'routing:',
      `  plugin: ${PLUGIN}`,
    ].join('\n'),
    path.join(ROOT, 'config/test.yaml'),
  );
  const log = createLogger({ level: 'info', destination: { write: (s: string) => void logLines.push(s) } });
  node = await startNode(config, log);
}, 90_000);

afterAll(async () => {
  await node?.stop();
});

// ---- helpers ------------------------------------------------------------------------------------

let seq = 0;
interface ReqOpts {
  method?: string;
  ruri?: string;
  via?: string;
  branch?: string;
  toTag?: string;
  callId?: string;
  cseq?: string;
  extra?: string;
  version?: string;
}
function req(transport: 'UDP' | 'TCP', localPort: number, o: ReqOpts = {}): string {
  seq++;
  const method = o.method ?? 'OPTIONS';
  const branch = o.branch ?? `z9hG4bK-core-${seq}`;
  return (
    `${method} ${o.ruri ?? `sip:probe@127.0.0.1:${PORT}`} ${o.version ?? 'SIP/2.0'}\r\n` +
    `Via: ${o.via ?? `SIP/2.0/${transport} 127.0.0.1:${localPort};branch=${branch};rport`}\r\n` +
    `Max-Forwards: 70\r\n` +
    `From: <sip:tester@127.0.0.1>;tag=f${seq}\r\n` +
    `To: <sip:probe@127.0.0.1>${o.toTag ? `;tag=${o.toTag}` : ''}\r\n` +
    `Call-ID: ${o.callId ?? `core-${process.pid}-${seq}`}\r\n` +
    `CSeq: ${o.cseq ?? `${seq} ${method}`}\r\n` +
    (o.extra ?? '') +
    `Content-Length: 0\r\n\r\n`
  );
}

class UdpClient {
  sock!: dgram.Socket;
  port = 0;
  inbox: Buffer[] = [];
  static async open(family: 4 | 6 = 4): Promise<UdpClient> {
    const c = new UdpClient();
    c.sock = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((r) => c.sock.bind(0, family === 6 ? '::1' : '127.0.0.1', () => r()));
    c.port = c.sock.address().port;
    c.sock.on('message', (m) => c.inbox.push(m));
    return c;
  }
  send(text: string | Buffer, host = '127.0.0.1'): void {
    this.sock.send(text, PORT, host);
  }
  async next(ms = 3000): Promise<string | null> {
    const end = Date.now() + ms;
    while (this.inbox.length === 0) {
      if (Date.now() > end) return null;
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.inbox.shift()!.toString();
  }
  close(): void {
    this.sock.close();
  }
}

async function udpExchange(build: (port: number) => string, family: 4 | 6 = 4): Promise<string | null> {
  const c = await UdpClient.open(family);
  try {
    c.send(build(c.port), family === 6 ? '::1' : '127.0.0.1');
    return await c.next();
  } finally {
    c.close();
  }
}

async function tcpExchange(build: (port: number) => string, host = '127.0.0.1'): Promise<string | null> {
  const s = net.connect(PORT, host);
  s.on('error', () => {});
  await once(s, 'connect');
  try {
    let acc = '';
    const done = new Promise<string | null>((resolve) => {
      const t = setTimeout(() => resolve(null), 3000);
      s.on('data', (d: Buffer) => {
        acc += d.toString();
        if (acc.includes('\r\n\r\n')) {
          clearTimeout(t);
          resolve(acc);
        }
      });
    });
    s.write(build(s.localPort!));
    return await done;
  } finally {
    s.destroy();
  }
}

const status = (r: string | null) => (r === null ? 0 : Number(/^SIP\/2\.0 (\d{3})/.exec(r)?.[1] ?? 0));
const header = (r: string, name: string) => new RegExp(`^${name}: (.*)\\r$`, 'mi').exec(r)?.[1];

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ---- tests --------------------------------------------------------------------------------------

describe('OPTIONS is answered on every transport', () => {
  it('UDP 127.0.0.1: 200 with the stateless reply rules applied', async () => {
    const r = await udpExchange((p) => req('UDP', p));
    expect(status(r)).toBe(200);
    // rport filled and received added even for the sent-by address itself (RFC 3581 §4, as Kamailio: test/oracle)
    expect(r).toMatch(/^Via: SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=z9hG4bK-core-\d+;rport=\d+;received=127\.0\.0\.1\r$/m);
    expect(header(r!, 'To')).toMatch(/^<sip:probe@127\.0\.0\.1>;tag=[0-9a-f]{32}\.[0-9a-f]{8}$/);
    expect(header(r!, 'Server')).toBe(DEFAULT_SERVER_HEADER);
    expect(r!.endsWith('Content-Length: 0\r\n\r\n')).toBe(true);
  });

  it('TCP 127.0.0.1: 200 on the same connection', async () => {
    expect(status(await tcpExchange((p) => req('TCP', p)))).toBe(200);
  });

  it('UDP [::1]: 200', async () => {
    const r = await udpExchange((p) => req('UDP', p, { via: `SIP/2.0/UDP [::1]:${p};branch=z9hG4bK-v6u-${p};rport` }), 6);
    expect(status(r)).toBe(200);
  });

  it('TCP [::1]: 200', async () => {
    const r = await tcpExchange((p) => req('TCP', p, { via: `SIP/2.0/TCP [::1]:${p};branch=z9hG4bK-v6t-${p}` }), '::1');
    expect(status(r)).toBe(200);
  });

  it('reply_hdr_add lines go into the reply', async () => {
    const r = await udpExchange((p) => req('UDP', p, { ruri: `sip:hdr@127.0.0.1:${PORT}` }));
    expect(header(r!, 'X-Probe')).toBe('yes');
    expect(r!.match(/^X-Probe:/gm)).toHaveLength(1);
  });
});

describe('unparsable and insane requests get the parser\'s or sanity\'s answer', () => {
  it('400 for a broken CSeq, naming the defect', async () => {
    const r = await udpExchange((p) => req('UDP', p, { cseq: 'abc OPTIONS' }));
    expect(status(r)).toBe(400);
    expect(r!.split('\r\n')[0]).toMatch(/CSeq/i);
  });

  it('505 for an unsupported SIP version', async () => {
    expect(status(await udpExchange((p) => req('UDP', p, { version: 'SIP/7.0' })))).toBe(505);
  });

  it('416 for an unsupported Request-URI scheme', async () => {
    expect(status(await udpExchange((p) => req('UDP', p, { ruri: 'http://127.0.0.1/x' })))).toBe(416);
  });

  it('400 when the CSeq method does not match the request method', async () => {
    const r = await udpExchange((p) => req('UDP', p, { cseq: '5 INVITE' }));
    expect(status(r)).toBe(400);
    expect(r!.split('\r\n')[0]).toMatch(/CSeq method/i);
  });

  it('420 with Unsupported for a Proxy-Require', async () => {
    const r = await udpExchange((p) => req('UDP', p, { extra: 'Proxy-Require: foo, bar\r\n' }));
    expect(status(r)).toBe(420);
    expect(header(r!, 'Unsupported')).toBe('foo, bar');
  });
});

describe('reply routing (RFC 3261 §18.2.2, RFC 3581)', () => {
  it('with rport: to the source port, and received= when the Via host differs', async () => {
    const r = await udpExchange((p) => req('UDP', p, { via: `SIP/2.0/UDP 192.0.2.10:5999;branch=z9hG4bK-nat-${p};rport` }));
    expect(status(r)).toBe(200);
    const via = header(r!, 'Via')!;
    expect(via).toMatch(new RegExp(`^SIP/2\\.0/UDP 192\\.0\\.2\\.10:5999;branch=z9hG4bK-nat-\\d+;rport=\\d+;received=127\\.0\\.0\\.1$`));
  });

  it('without rport: to the Via sent-by port, not the source port', async () => {
    const sender = await UdpClient.open();
    const target = await UdpClient.open();
    try {
      sender.send(req('UDP', 0, { via: `SIP/2.0/UDP 127.0.0.1:${target.port};branch=z9hG4bK-norport-${target.port}` }));
      const r = await target.next();
      expect(status(r)).toBe(200);
      expect(header(r!, 'Via')).toBe(`SIP/2.0/UDP 127.0.0.1:${target.port};branch=z9hG4bK-norport-${target.port}`);
      expect(sender.inbox).toHaveLength(0);
    } finally {
      sender.close();
      target.close();
    }
  });

  it('every Via is copied in order', async () => {
    const r = await udpExchange(
      (p) =>
        req('UDP', p, { extra: '' }).replace(/^(Via: [^\r]*\r\n)/m, `$1Via: SIP/2.0/UDP 192.0.2.20:5070;branch=z9hG4bK-second\r\n`),
    );
    expect(status(r)).toBe(200);
    const vias = r!.split('\r\n').filter((l) => l.startsWith('Via: '));
    expect(vias).toHaveLength(2);
    expect(vias[1]).toBe('Via: SIP/2.0/UDP 192.0.2.20:5070;branch=z9hG4bK-second');
  });
});

describe('To-tag and ACK absorption', () => {
  it('the generated To-tag is the same for a retransmission; an existing tag is kept', async () => {
    const c = await UdpClient.open();
    try {
      const text = req('UDP', c.port);
      c.send(text);
      const a = await c.next();
      c.send(text);
      const b = await c.next();
      expect(header(a!, 'To')).toBe(header(b!, 'To'));
      c.send(req('UDP', c.port, { toTag: 'mine' }));
      expect(header((await c.next())!, 'To')).toBe('<sip:probe@127.0.0.1>;tag=mine');
    } finally {
      c.close();
    }
  });

  it('the ACK of a stateless 486 is absorbed before the plugin; another ACK reaches it', async () => {
    const c = await UdpClient.open();
    try {
      const callId = `ack-${process.pid}-${Date.now()}`;
      const branch = `z9hG4bK-ack-${c.port}`;
      c.send(req('UDP', c.port, { method: 'INVITE', ruri: `sip:busy@127.0.0.1:${PORT}`, callId, branch, cseq: '1 INVITE' }));
      const r = await c.next();
      expect(status(r)).toBe(486);
      const tag = /;tag=([^;\s]+)$/.exec(header(r!, 'To')!)![1]!;
      const before = await nodeStat(node, 'core', 'acksAbsorbed');
      c.send(req('UDP', c.port, { method: 'ACK', ruri: `sip:busy@127.0.0.1:${PORT}`, callId, branch, cseq: '1 ACK', toTag: tag }));
      await eventually(async () => (await nodeStat(node, 'core', 'acksAbsorbed')) === before + 1, 'the ACK to be absorbed');
      // an ACK with a tag that is not ours goes to the plugin, which logs it
      const other = `other-${callId}`;
      c.send(req('UDP', c.port, { method: 'ACK', callId: other, cseq: '1 ACK', toTag: 'foreign' }));
      await until(() => logLines.some((l) => l.includes(`probe saw ACK ${other}`)));
      expect(logLines.some((l) => l.includes(`probe saw ACK ${callId}`))).toBe(false);
      expect(c.inbox).toHaveLength(0); // an ACK is never answered
    } finally {
      c.close();
    }
  });
});

describe('actions and failures', () => {
  it('a trapping plugin gives 500 and the next request is served', async () => {
    const before = await nodeStat(node, 'core', 'pluginErrors');
    const r = await udpExchange((p) => req('UDP', p, { ruri: `sip:trap@127.0.0.1:${PORT}` }));
    expect(status(r)).toBe(500);
    expect(r!.split('\r\n')[0]).toBe('SIP/2.0 500 Server Internal Error');
    expect(await nodeStat(node, 'core', 'pluginErrors')).toBe(before + 1);
    expect(status(await udpExchange((p) => req('UDP', p)))).toBe(200);
  });

  it('a plugin stuck in an infinite loop: gas ends that request (500), not the wall-clock guard, and the next one is served', async () => {
    const before = await nodeStat(node, 'core', 'pluginErrors');
    const plugin = await nodeStats(node, 'plugin');
    for (let i = 0; i < 3; i++) {
      const r = await udpExchange((p) => req('UDP', p, { ruri: `sip:spin@127.0.0.1:${PORT}` }));
      expect(status(r)).toBe(500);
      expect(status(await udpExchange((p) => req('UDP', p)))).toBe(200);
    }
    expect(await nodeStat(node, 'core', 'pluginErrors')).toBe(before + 3);
    // the gas budget stopped each loop and the instance was replaced; the watchdog
    // (routing.hook_timeout_ms) had nothing to do, so a spinning plugin costs the gas budget, not the timeout
    const after = await nodeStats(node, 'plugin');
    expect(after.gasExhausted).toBe(plugin.gasExhausted! + 3);
    expect(after.instanceRebuilds).toBe(plugin.instanceRebuilds! + 3);
    expect(after.timeouts).toBe(plugin.timeouts);
    // and the budget is what bounds it: three loops burn three budgets of routing.gas_per_hook (the three
    // 200s take a sliver more), not the 1000x a loose budget would let one loop run for
    const budget = node.config.routing.gas_per_hook;
    const used = after.gasUsedTotal! - plugin.gasUsedTotal!;
    expect(used).toBeGreaterThanOrEqual(3 * budget);
    expect(used).toBeLessThan(4 * budget);
  });

  it('RELAY forwards statefully to the R-URI (transactions are on in startNode): the UAS reply comes back', async () => {
    const uas = await UdpClient.open();
    const c = await UdpClient.open();
    try {
      c.send(req('UDP', c.port, { ruri: `sip:relay@127.0.0.1:${uas.port}` }));
      const relayed = await uas.next();
      expect(relayed).toMatch(/^OPTIONS sip:relay@127\.0\.0\.1:\d+ SIP\/2\.0\r\n/);
      // RFC 3261 §16.6 step 8: our Via on top, the client's below
      const vias = relayed!.split('\r\n').filter((l) => /^Via:/i.test(l));
      expect(vias).toHaveLength(2);
      expect(vias[0]).toContain(`127.0.0.1:${PORT}`);
      expect(vias[1]).toContain(`127.0.0.1:${c.port}`);
      // the UAS answers by the top Via (to us); we strip it and forward to the client
      const reply = relayed!
        .replace(/^OPTIONS [^\r]+\r\n/, 'SIP/2.0 200 Relayed OK\r\n')
        .replace(/\r\nTo: ([^\r]+)/, '\r\nTo: $1;tag=uas1');
      uas.sock.send(reply, PORT, '127.0.0.1');
      const back = await c.next();
      expect(back).toMatch(/^SIP\/2\.0 200 Relayed OK\r\n/);
      expect(back!.split('\r\n').filter((l) => /^Via:/i.test(l))).toHaveLength(1);
    } finally {
      uas.close();
      c.close();
    }
  });

  it('RELAY to our own address is refused 482 Loop Detected (RFC 3261 §16.3 step 4)', async () => {
    expect(status(await udpExchange((p) => req('UDP', p, { ruri: `sip:relay@127.0.0.1:${PORT}` })))).toBe(482);
  });

  it('CONTINUE without a reply drops the request (end of route)', async () => {
    const before = await nodeStat(node, 'core', 'dropped');
    const c = await UdpClient.open();
    try {
      c.send(req('UDP', c.port, { ruri: `sip:silent@127.0.0.1:${PORT}` }));
      await eventually(async () => (await nodeStat(node, 'core', 'dropped')) === before + 1, 'the request to be dropped');
      c.send(req('UDP', c.port));
      expect(status(await c.next())).toBe(200); // the only reply is for the second request
    } finally {
      c.close();
    }
  });

  it('responses are dropped and counted (no transactions yet)', async () => {
    const before = await nodeStat(node, 'core', 'responsesDropped');
    const c = await UdpClient.open();
    try {
      c.send(`SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:${c.port};branch=z9hG4bK-resp\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: resp-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`);
      await eventually(async () => (await nodeStat(node, 'core', 'responsesDropped')) === before + 1, 'the response to be dropped');
    } finally {
      c.close();
    }
  });

  it('keeps serving after garbage over UDP and TCP', async () => {
    const before = await nodeStat(node, 'core', 'parseErrors');
    const c = await UdpClient.open();
    try {
      c.send(Buffer.from([0, 1, 2, 3, 0xff, 0xfe, 13, 10, 13, 10]));
      c.send('INVITE\r\n\r\n');
      c.send('x'.repeat(3000));
      await eventually(async () => (await nodeStat(node, 'core', 'parseErrors')) >= before + 2, 'the parse errors to be counted');
      c.send(req('UDP', c.port));
      expect(status(await c.next())).toBe(200);
    } finally {
      c.close();
    }
    const s = net.connect(PORT, '127.0.0.1');
    s.on('error', () => {});
    await once(s, 'connect');
    s.end('GARBAGE GARBAGE\r\nContent-Length: 5\r\n\r\n12345');
    await new Promise((r) => setTimeout(r, 50));
    s.destroy();
    expect(status(await tcpExchange((p) => req('TCP', p)))).toBe(200);
    expect(await nodeStat(node, 'core', 'internalErrors')).toBe(0);
  });
});
