/**
 * Flood protection over real UDP sockets (issue 10 "Must show": a flooding source is blocked by pike
 * while others are served). The flooder binds 127.0.0.2 and the well-behaved client 127.0.0.3 (all of
 * 127/8 routes to lo); the node listens on 127.0.0.1, so neither is "myself". Three nodes:
 *   - plugin path: plugins/default REQINIT calls pike_check_req() (auto: off), as kamailio.cfg's
 *     WITH_ANTIFLOOD block; unblocking through the RPC registry every control transport serves;
 *   - host path: `auto: 503` sheds the flood before the plugin with 503 + Retry-After;
 *   - a spray of one-shot sources from 2,000 addresses cannot grow the table past max_entries nor
 *     make a flooder that keeps sending escape.
 * Waits are bounded by replies (or their absence within a timeout), never by fixed sleeps.
 * Node ports from freePort() (a listen address needs a port).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { parseConfig } from '../../host/config/load.js';
import { startNode, type SiphonNode } from '../../host/server/app.js';
import { moduleSchemas } from '../../host/server/modules.js';
import { createLogger } from '../../host/log/logger.js';
import { PikeModule } from '../../host/modules/pike/index.js';
import { buildPlugins, PLUGIN } from '../integration/modules/helpers.js';
import { freePort } from '../helpers/ports.js';
import { eventually, nodeStat, nodeStats } from '../helpers/shards.js';

const DENSITY = 20;

/** A UDP client bound to one loopback address; replies are matched by Call-ID. */
class Source {
  private seq = 0;
  private readonly waiting = new Map<string, (status: number, text: string) => void>();
  /** final replies received, by status. */
  readonly replies = new Map<number, number>();
  private constructor(
    private readonly sock: dgram.Socket,
    readonly address: string,
    readonly port: number,
  ) {
    sock.on('message', (m) => {
      const text = m.toString('latin1');
      const status = Number(/^SIP\/2\.0 (\d{3})/.exec(text)?.[1] ?? 0);
      if (status < 200) return;
      this.replies.set(status, (this.replies.get(status) ?? 0) + 1);
      const callId = /^Call-ID: *(.+?)\r$/m.exec(text)?.[1] ?? '';
      const done = this.waiting.get(callId);
      if (done) {
        this.waiting.delete(callId);
        done(status, text);
      }
    });
  }

  static async bind(address: string): Promise<Source> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, address, () => resolve());
    });
    return new Source(sock, address, sock.address().port);
  }

  private options(serverPort: number, method = 'OPTIONS'): { text: string; callId: string } {
    const n = ++this.seq;
    const callId = `pike-${this.address}-${this.port}-${n}`;
    const text =
      `${method} sip:127.0.0.1:${serverPort} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP ${this.address}:${this.port};branch=z9hG4bK-pike-${this.port}-${n};rport\r\n` +
      'Max-Forwards: 70\r\n' +
      `From: <sip:probe@${this.address}>;tag=p${n}\r\n` +
      `To: <sip:127.0.0.1:${serverPort}>\r\n` +
      `Call-ID: ${callId}\r\n` +
      `CSeq: ${n} ${method}\r\n` +
      'Content-Length: 0\r\n\r\n';
    return { text, callId };
  }

  /** one OPTIONS; resolves with the final status, or 0 when none came within `timeoutMs`. */
  request(serverPort: number, timeoutMs = 2000): Promise<{ status: number; text: string }> {
    const { text, callId } = this.options(serverPort);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiting.delete(callId);
        resolve({ status: 0, text: '' });
      }, timeoutMs);
      this.waiting.set(callId, (status, reply) => {
        clearTimeout(t);
        resolve({ status, text: reply });
      });
      this.sock.send(text, serverPort, '127.0.0.1');
    });
  }

  /** fire-and-forget burst of `n` OPTIONS (each with its own transaction). */
  burst(serverPort: number, n: number, method = 'OPTIONS'): void {
    for (let i = 0; i < n; i++) this.sock.send(this.options(serverPort, method).text, serverPort, '127.0.0.1');
  }

  /** one OPTIONS, resolved once the datagram left (before the socket may be closed). */
  sendOne(serverPort: number): Promise<void> {
    return new Promise((resolve) => this.sock.send(this.options(serverPort).text, serverPort, '127.0.0.1', () => resolve()));
  }

  replied(): number {
    let n = 0;
    for (const v of this.replies.values()) n += v;
    return n;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}

async function pikeNode(port: number, pikeYaml: string[]): Promise<SiphonNode> {
  const yaml = [
    'core:',
    `  listen: [udp:127.0.0.1:${port}]`,
    '  ctl: []',
    '  warmup: 0',
    '  log_level: warn',
    'modules:',
    '  pike:',
    ...pikeYaml.map((l) => `    ${l}`),
    'routing:',
    `  plugin: ${JSON.stringify(PLUGIN.default)}`,
  ].join('\n');
  const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
  return startNode(config, createLogger({ level: 'silent' }));
}

function pikeOf(node: SiphonNode): PikeModule {
  return node.modules.find((m): m is PikeModule => m instanceof PikeModule)!;
}

/** until `cond` holds or `ms` pass (then one last check by the caller's expect). */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setImmediate(r));
}

/**
 * The flooder sends bursts while the good client sends one request after each burst and waits for
 * its answer: every good request must be answered 200 throughout.
 */
async function floodWhileServing(port: number, flooder: Source, good: Source, bursts: number, perBurst: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < bursts; i++) {
    flooder.burst(port, perBurst);
    statuses.push((await good.request(port)).status);
  }
  return statuses;
}

beforeAll(async () => {
  await buildPlugins();
}, 180_000);

describe('pike in plugins/default REQINIT (pike_check_req, auto: off)', () => {
  let PORT = 0;
  let node: SiphonNode;
  let flooder: Source;
  let good: Source;

  beforeAll(async () => {
    // a 10 s window, so the whole test sits in one or two windows even on a loaded machine
    PORT = await freePort('udp');
    node = await pikeNode(PORT, ['sampling_time_unit: 10', `reqs_density_per_unit: ${DENSITY}`, 'auto: "off"']);
    flooder = await Source.bind('127.0.0.2');
    good = await Source.bind('127.0.0.3');
  }, 60_000);

  afterAll(async () => {
    await flooder?.close();
    await good?.close();
    await node?.stop();
  });

  it('blocks the flooding source while the other source is answered throughout', async () => {
    const statuses = await floodWhileServing(PORT, flooder, good, 10, 50);
    expect(statuses).toEqual(Array(10).fill(200));
    // the flooder's answers: below the limit only (the request reaching it is dropped, Kamailio -2)
    await until(() => flooder.replied() >= DENSITY - 1);
    const answered = flooder.replied();
    expect(answered).toBeGreaterThanOrEqual(DENSITY - 1);
    expect(answered).toBeLessThan(2 * DENSITY); // at most one window boundary inside the flood
    expect((await flooder.request(PORT, 500)).status).toBe(0); // blocked: dropped silently
    const stats = pikeOf(node).statistics();
    expect(stats.blocked_ips).toBe(1);
    expect(stats.blocked_now).toBe(1);
    expect(await nodeStat(node, 'core', 'floodDropped')).toBe(0); // auto off: the plugin dropped them
  });

  it('lists the flooder in pike.list / pike.top and unblocks it with pike.unblock', async () => {
    const list = (await node.rpc.call('pike.list', [])) as { list: Array<{ ip_addr: string }> };
    expect(list.list.map((r) => r.ip_addr)).toEqual(['127.0.0.2']);
    const top = (await node.rpc.call('pike.top', [])) as { list: Array<{ ip_addr: string; status: string }> };
    expect(top.list[0]).toMatchObject({ ip_addr: '127.0.0.2', status: 'HOT' });
    expect(await node.rpc.call('pike.unblock', ['127.0.0.2'])).toBe('Unblocked 127.0.0.2');
    expect((await flooder.request(PORT)).status).toBe(200);
    expect(pikeOf(node).statistics().blocked_now).toBe(0);
  });

  it('a source answered from the server itself (127.0.0.1, myself) is never counted', async () => {
    const self = await Source.bind('127.0.0.1');
    try {
      for (let k = 1; k <= 5; k++) {
        self.burst(PORT, DENSITY);
        await until(() => self.replied() >= k * DENSITY);
      }
      expect(self.replied()).toBe(5 * DENSITY);
      expect(pikeOf(node).pike.sources(false).map((s) => s.address)).not.toContain('127.0.0.1');
    } finally {
      await self.close();
    }
  });
});

describe('pike host check (auto: 503)', () => {
  let PORT = 0;
  let node: SiphonNode;
  let flooder: Source;
  let good: Source;

  beforeAll(async () => {
    PORT = await freePort('udp');
    node = await pikeNode(PORT, ['sampling_time_unit: 10', `reqs_density_per_unit: ${DENSITY}`, 'auto: 503', 'retry_after: 30']);
    flooder = await Source.bind('127.0.0.2');
    good = await Source.bind('127.0.0.3');
  }, 60_000);

  afterAll(async () => {
    await flooder?.close();
    await good?.close();
    await node?.stop();
  });

  it('answers the blocked source 503 + Retry-After before the plugin runs; the other source gets 200', async () => {
    // the node's counters, summed over its shards (core.workers: the flood guard runs before the steering)
    const before = await nodeStats(node, 'core');
    const statuses = await floodWhileServing(PORT, flooder, good, 8, 40);
    expect(statuses).toEqual(Array(8).fill(200));
    // every flooder request the node read is answered (200 below the limit, 503 after)
    await eventually(async () => (await nodeStat(node, 'core', 'received')) >= before.received! + 8 * 41, 'the flood to be read', 3000).catch(() => undefined);
    const st = await nodeStats(node, 'core');
    const fromFlooder = st.received! - before.received! - 8;
    await until(() => flooder.replied() >= fromFlooder);
    expect(flooder.replied()).toBe(fromFlooder);
    const ok = flooder.replies.get(200) ?? 0;
    const refused = flooder.replies.get(503) ?? 0;
    expect(ok).toBeGreaterThanOrEqual(DENSITY - 1);
    expect(ok).toBeLessThan(2 * DENSITY);
    expect(refused).toBe(fromFlooder - ok);
    expect(st.floodRejected! - before.floodRejected!).toBe(refused);
    // the plugin ran for the good requests and the flooder's first ones only
    expect(st.routed! - before.routed!).toBe(8 + ok);
    const r = await flooder.request(PORT);
    expect(r.status).toBe(503);
    expect(r.text).toMatch(/^Retry-After: 30\r$/m);
  });

  it('never answers an ACK of a blocked source', async () => {
    const before = flooder.replied();
    const dropped = await nodeStat(node, 'core', 'floodDropped');
    flooder.burst(PORT, 5, 'ACK');
    await eventually(async () => (await nodeStat(node, 'core', 'floodDropped')) >= dropped + 5, 'the ACKs to be dropped');
    expect(await nodeStat(node, 'core', 'floodDropped')).toBe(dropped + 5);
    expect(flooder.replied()).toBe(before);
  });
});

describe('pike table under a spray of spoofed sources (max_entries)', () => {
  let PORT = 0;
  const MAX = 256;
  let node: SiphonNode;

  beforeAll(async () => {
    PORT = await freePort('udp');
    node = await pikeNode(PORT, ['sampling_time_unit: 10', `reqs_density_per_unit: ${DENSITY}`, `max_entries: ${MAX}`, 'auto: drop']);
  }, 60_000);

  afterAll(async () => node?.stop());

  it('stays at max_entries, keeps the flooder blocked and serves a good source', async () => {
    const flooder = await Source.bind('127.0.0.2');
    const good = await Source.bind('127.0.0.3');
    try {
      let sent = 0;
      // 2,000 one-shot sources (127.1.x.y), a flooder request after every 20 of them; the spray
      // waits for the node to have read what was sent (a loopback socket buffer drops the rest)
      for (let i = 0; i < 2000; i++) {
        const s = await Source.bind(`127.1.${i >> 8}.${i & 255}`);
        await s.sendOne(PORT);
        await s.close();
        sent++;
        if (i % 20 === 19) {
          flooder.burst(PORT, 1);
          sent++;
          await eventually(async () => (await nodeStat(node, 'core', 'received')) >= sent, 'the node to read the spray');
        }
        if (i % 200 === 199) {
          expect((await good.request(PORT)).status).toBe(200);
          sent++;
        }
      }
      const p = pikeOf(node).pike;
      await eventually(async () => (await nodeStat(node, 'core', 'received')) >= sent, 'the node to read the spray');
      expect(await nodeStat(node, 'core', 'received')).toBe(sent);
      expect(p.state.size).toBeLessThanOrEqual(MAX);
      expect(p.statistics().evicted).toBeGreaterThan(0);
      expect(p.sources(true).map((s) => s.address)).toEqual(['127.0.0.2']);
      expect((await flooder.request(PORT, 500)).status).toBe(0);
      expect((await good.request(PORT)).status).toBe(200);
    } finally {
      await flooder.close();
      await good.close();
    }
  }, 60_000);
});

describe('the start-up warm-up and pike', () => {
  it("drives its calls through a pike copy that never blocks, and leaves the node's table empty", async () => {
    const yaml = [
      'core:',
      `  listen: [udp:127.0.0.1:${await freePort('udp')}]`,
      '  ctl: []',
      '  warmup: 400',
      '  log_level: warn',
      'modules:',
      '  registrar:',
      '    db_mode: 0',
      '  pike:',
      '    reqs_density_per_unit: 5',
      '    auto: drop',
      'routing:',
      `  plugin: ${JSON.stringify(PLUGIN.default)}`,
    ].join('\n');
    const logs: string[] = [];
    const config = parseConfig(yaml, null, { moduleSchemas: moduleSchemas() });
    const node = await startNode(config, createLogger({ level: 'info', destination: { write: (l: string) => void logs.push(l) } }));
    try {
      const done = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'warm-up done');
      expect(done).toBeDefined();
      // every plugin round relayed its call: the copy's limit (5) was never applied to the warm-up caller
      expect(done!.relayed).toBeGreaterThanOrEqual(3 * 400 + 3 * 100); // 400 proxied calls, then 100 plugin rounds
      expect(pikeOf(node).statistics()).toMatchObject({ tracked: 0, checks: 0, blocked_ips: 0 });
    } finally {
      await node.stop();
    }
  }, 60_000);
});
