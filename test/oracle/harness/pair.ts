/**
 * Start both servers, send them the same bytes, collect what each one sent back and forwarded.
 *
 *   const pair = await OraclePair.start({
 *     kamailio: { cfg: 'test/oracle/kamailio/x.cfg', modules: ['sl.so', ...], defines: (hop) => ({ NEXT_HOP: `"${hop}"` }) },
 *     siphon: { plugin: 'test/oracle/plugins/x/build/x.wasm', yaml: (hop) => 'modules: ...', config: (hop) => ({ next_hop: hop }) },
 *   });
 *   const out = await pair.exchange(bytes);    // { kamailio: Outcome, siphon: Outcome }
 *   await pair.stop();
 *
 * Each server has its own client (ClientPeer) and next hop (NextHopSink). exchange() sends the
 * message, then a probe (an OPTIONS with a user part, which every oracle route relays to the next hop),
 * and waits for the probe's final reply: the servers handle a client's datagrams in order (Kamailio
 * with children=1, siphon's single event loop), and the next hop answers in order, so every reply or
 * relay the message caused is in by then. Then it waits for the hop-by-hop ACKs the next hop expects.
 * No timers decide the outcome; the timeouts only catch a dead server.
 */
import { ClientPeer, NextHopSink, type Received } from './endpoints.js';
import { existsSync } from 'node:fs';
import { callIdOf, header, param, readSip, type SipText } from './sip-text.js';
import { kamailioModulesDir, startKamailio, type KamailioProcess } from '../../helpers/kamailio-process.js';
import { freePort } from '../../helpers/ports.js';
import { startTestNode, type TestNode } from '../../integration/modules/helpers.js';
import { shardOf, shardOfCallId } from '../../../host/shards/steer.js';

/** Kamailio is installed (the Debian package's binary on the PATH's usual place). */
export const kamailioInstalled = existsSync('/usr/sbin/kamailio') || existsSync('/usr/local/sbin/kamailio');
/** CI installs Kamailio (.ci/run): there a missing Kamailio fails the oracle tests instead of skipping them. */
export const kamailioRequired = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

/** call first in beforeAll: throws when CI requires Kamailio and it is missing. */
export function assertKamailioWhenRequired(): void {
  if (!kamailioInstalled && kamailioRequired) throw new Error(`CI=${process.env.CI}: Kamailio is required for test/oracle (.ci/run installs the kamailio package)`);
}

export type ServerName = 'kamailio' | 'siphon';

export interface Outcome {
  /** what came back to the client, in order (the probe's own replies left out). */
  replies: SipText[];
  /** what reached the next hop, in order (the probe left out). */
  forwarded: Received[];
  /** false when a hop-by-hop ACK the next hop expected never came. */
  acksComplete: boolean;
}

/** One server with its client and next hop, and the run-specific text to replace before comparing. */
export interface Side {
  name: ServerName;
  port: number;
  client: ClientPeer;
  sink: NextHopSink;
  /** [run-specific text, placeholder]: the client address, the server's and the next hop's ports. */
  substitutions: Array<[string, string]>;
}

export interface PairOptions {
  kamailio: {
    /** path of the kamailio.cfg; it gets -A KAM_PORT=<port> -A MPATH="<modules dir>/" and `defines`. */
    cfg: string;
    /** the .so files it loads (to find the module directory). */
    modules: string[];
    defines?: (nextHop: string) => Record<string, string>;
  };
  siphon: {
    /** path of the .wasm. */
    plugin: string;
    /** YAML after `core:` (e.g. `  data_dir: ...\nmodules:\n  secfilter: ...`), may be ''. */
    yaml?: (nextHop: string) => string;
    /** routing.config (the plugin reads it with cfg_read). */
    config?: (nextHop: string) => Record<string, string>;
    /** control socket (`core.ctl`, e.g. `unix:/tmp/x/ctl`) for kamcmd; none by default. */
    ctl?: string;
  };
  /** ms to wait for a probe's reply before declaring the server dead (default 5,000). */
  probeTimeoutMs?: number;
}

export interface ExchangeOptions {
  /**
   * wait for the message's own final reply (same Call-ID, CSeq and top Via branch) before sending the
   * probe: for routes that answer after an asynchronous step the probe does not wait for (a database
   * query in siphon). Only for messages that get a final reply (else this waits probeTimeoutMs in vain).
   */
  awaitFinal?: boolean;
}

const PROBE_PREFIX = 'oracle-probe-';

export class OraclePair {
  private probes = 0;
  /** per side, the Call-IDs of the cases sent so far (attribution()). */
  private readonly earlierCallIds = new Map<ServerName, Set<string>>();
  private constructor(
    readonly kamailio: Side,
    readonly siphon: Side,
    private readonly kam: KamailioProcess,
    private readonly node: TestNode,
    private readonly probeTimeoutMs: number,
  ) {}

  static async start(opts: PairOptions): Promise<OraclePair> {
    const [kClient, sClient, kSink, sSink] = await Promise.all([ClientPeer.open(), ClientPeer.open(), NextHopSink.open(), NextHopSink.open()]);
    const kPort = await freePort('udp');
    const mpath = kamailioModulesDir(opts.kamailio.modules);
    let kam: KamailioProcess | undefined;
    try {
      kam = await startKamailio(opts.kamailio.cfg, kPort, { KAM_PORT: String(kPort), MPATH: `"${mpath}/"`, ...opts.kamailio.defines?.(kSink.uri) });
      const sPort = await freePort('udp');
      const config = opts.siphon.config?.(sSink.uri) ?? {};
      const yaml = [
        opts.siphon.yaml?.(sSink.uri) ?? '',
        'routing:',
        `  plugin: ${JSON.stringify(opts.siphon.plugin)}`,
        '  config:',
        ...Object.entries(config).map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`),
      ].join('\n');
      const node = await startTestNode(sPort, yaml, opts.siphon.ctl ? { ctl: opts.siphon.ctl } : {});
      const side = (name: ServerName, port: number, client: ClientPeer, sink: NextHopSink): Side => ({
        name,
        port,
        client,
        sink,
        substitutions: [
          [`127.0.0.1:${sink.port}`, '<next-hop>'],
          [`127.0.0.1:${port}`, '<server>'],
          [client.address, '<client>'],
        ],
      });
      return new OraclePair(side('kamailio', kPort, kClient, kSink), side('siphon', sPort, sClient, sSink), kam, node, opts.probeTimeoutMs ?? 5000);
    } catch (e) {
      await kam?.stop();
      await Promise.all([kClient.close(), sClient.close(), kSink.close(), sSink.close()]);
      throw e;
    }
  }

  /** the in-process siphon node (its modules, stats, logs). */
  get siphonNode(): TestNode {
    return this.node;
  }

  /**
   * Sends the following cases from these clients (one per server: each sees its own source address,
   * e.g. for secfilter's IP lists) and returns the clients used so far; the caller closes what it
   * opened, and stop() closes the clients in use then.
   */
  useClients(kamailio: ClientPeer, siphon: ClientPeer): [ClientPeer, ClientPeer] {
    const before: [ClientPeer, ClientPeer] = [this.kamailio.client, this.siphon.client];
    for (const [side, client] of [[this.kamailio, kamailio], [this.siphon, siphon]] as const) {
      side.substitutions = side.substitutions.map(([from, to]) => (to === '<client>' ? [client.address, to] : [from, to]));
      side.client = client;
    }
    return before;
  }

  /** everything Kamailio logged so far. */
  kamailioLog(): string {
    return this.kam.log();
  }

  /** sends `bytes` to both servers at once and collects both outcomes. */
  async exchange(bytes: Buffer | string | ((side: Side) => Buffer | string), opts: ExchangeOptions = {}): Promise<Record<ServerName, Outcome>> {
    const make = typeof bytes === 'function' ? bytes : () => bytes;
    const [kamailio, siphon] = await Promise.all([this.exchangeOne(this.kamailio, make(this.kamailio), opts), this.exchangeOne(this.siphon, make(this.siphon), opts)]);
    return { kamailio, siphon };
  }

  private async exchangeOne(side: Side, bytes: Buffer | string, opts: ExchangeOptions): Promise<Outcome> {
    const r0 = side.client.received.length;
    const f0 = side.sink.received.length;
    side.client.send(bytes, side.port);
    if (opts.awaitFinal) {
      // a request whose handling waits for a database (siphon's db_mode 3, auth_db's prefetch) is
      // overtaken by the probe, which needs none: wait for its own final reply first
      const sent = readSip(bytes);
      const key = (m: SipText): string => `${callIdOf(m)}|${header(m, 'cseq') ?? ''}|${param(header(m, 'via'), 'branch') ?? ''}`;
      const want = key(sent);
      await side.client.waitFor((m) => m.kind === 'response' && (m.status ?? 0) >= 200 && key(m) === want, r0, this.probeTimeoutMs);
    }
    const probeId = this.probeIdFor(side, bytes);
    side.client.send(this.probe(side, probeId), side.port);
    const done = await side.client.waitFor((m) => m.kind === 'response' && (m.status ?? 0) >= 200 && callIdOf(m) === probeId, r0, this.probeTimeoutMs);
    if (done === null) throw new Error(`${side.name} did not answer the probe ${probeId} within ${this.probeTimeoutMs} ms${side.name === 'kamailio' ? `:\n${this.kam.log().slice(-4000)}` : ''}`);
    const acksComplete = await side.sink.acksSettled(this.probeTimeoutMs);
    const ours = this.attribution(side, readSip(bytes));
    return {
      replies: side.client.received.slice(r0).map((r) => r.msg).filter(ours),
      // the same for the next hop: a retransmission of an earlier case's request is not this case's
      forwarded: side.sink.received.slice(f0).filter((r) => ours(r.msg)),
      acksComplete,
    };
  }

  /**
   * The probe's Call-ID. On siphon with core.workers (SIPHON_WORKERS=2) it is one the node steers to
   * the shard of the case (host/shards/steer.ts): that shard handles the case before the probe, as a
   * single event loop does, so the probe's reply still marks the end of the case's work. (A probe
   * on another shard could be answered while the case is still being routed.)
   */
  private probeIdFor(side: Side, bytes: Buffer | string): string {
    const base = `${PROBE_PREFIX}${process.pid}-${++this.probes}`;
    const count = side.name === 'siphon' ? (this.node.node.config.core.workers ?? 1) : 1;
    if (count <= 1) return base;
    const shard = shardOf(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, count);
    for (let k = 0; ; k++) if (shardOfCallId(`${base}-${k}`, count) === shard) return `${base}-${k}`;
  }

  /**
   * Which messages that came in while a case ran are the case's. Replies carry the request's Call-ID
   * (RFC 3261 §8.2.6.2), so do requests relayed for it: retransmitted finals of earlier cases (timer G
   * runs until an ACK, §17.2.1) and the probes are not this case's. A case without a Call-ID cannot be
   * matched by one: it takes what does not carry an earlier case's (or a probe's) Call-ID, and of the
   * replies only those whose top Via branch is the case's own (the reply copies the Vias, §8.2.6.2).
   * Side effect: the case's Call-ID joins the side's earlier ones.
   */
  private attribution(side: Side, sent: SipText): (m: SipText) => boolean {
    let earlier = this.earlierCallIds.get(side.name);
    if (earlier === undefined) this.earlierCallIds.set(side.name, (earlier = new Set()));
    const callId = callIdOf(sent);
    const notProbe = (m: SipText): boolean => !callIdOf(m).startsWith(PROBE_PREFIX);
    if (callId !== '') {
      earlier.add(callId);
      return (m) => notProbe(m) && callIdOf(m) === callId;
    }
    const seen = earlier;
    const branch = param(header(sent, 'via'), 'branch');
    return (m) => {
      const id = callIdOf(m);
      if (id.startsWith(PROBE_PREFIX) || (id !== '' && seen.has(id))) return false;
      return m.kind !== 'response' || branch === undefined || param(header(m, 'via'), 'branch') === branch;
    };
  }

  /** an OPTIONS with a user part: no keepalive, relayed to the next hop by every oracle route. */
  private probe(side: Side, callId: string): string {
    return (
      `OPTIONS sip:probe@127.0.0.1:${side.port} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP ${side.client.address}:${side.client.port};branch=z9hG4bK-${callId}\r\n` +
      'Max-Forwards: 70\r\n' +
      `From: <sip:oracle@${side.client.address}>;tag=probe\r\n` +
      `To: <sip:probe@127.0.0.1:${side.port}>\r\n` +
      `Call-ID: ${callId}\r\n` +
      'CSeq: 1 OPTIONS\r\n' +
      'Content-Length: 0\r\n\r\n'
    );
  }

  async stop(): Promise<void> {
    await this.kam.stop();
    await this.node.node.stop();
    await Promise.all([this.kamailio.client.close(), this.siphon.client.close(), this.kamailio.sink.close(), this.siphon.sink.close()]);
  }
}
