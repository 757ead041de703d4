/**
 * A worker shard (`core.workers` > 1): the whole message path without sockets, in a worker thread.
 * It receives the messages the main thread steered to it (steer.ts) in batches, routes them through
 * its own modules, plugin instance and transaction layer, and hands everything it sends back to the
 * main thread, which sends it from the listening socket the message came on (RFC 3581 §4: replies
 * leave from the port the request arrived at). Shared module state is shard 0's, reached through
 * link.ts (host/shards/context.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import type { Endpoint, Proto } from '../core/context.js';
import type { SiphonConfig } from '../config/types.js';
import type { Channel } from '../transport/types.js';
import type { ChannelProvider } from '../proxy/index.js';
import { SiphonServer } from '../server/server.js';
import {
  closeModules,
  initModules,
  loadRoutingInto,
  overloadStatistics,
  pipelineStatistics,
  pluginStatistics,
  routingManager,
  tmStatistics,
  transactionTimersFrom,
  wireDialog,
  wireAcc,
  wireUac,
  wireRtpengine,
} from '../server/app.js';
import { warmUp } from '../server/warmup.js';
import { modulePrefetchers } from '../server/modules.js';
import { LocalRequests, type LocalRequestSender } from '../proxy/local-request.js';
import { pluginRpcMethods } from '../wasm/rpc.js';
import { MethodRegistry } from '../rpc/registry.js';
import { registerCoreMethods, type LogLevelName, type StatisticsProvider } from '../rpc/core-methods.js';
import { DbStatistics } from '../db/stats.js';
import { PACKAGE_ROOT, VERSION } from '../core/version.js';
import { SiphonError } from '../errors/registry.js';
import { PikeModule } from '../modules/pike/index.js';
import { AuthModule } from '../modules/auth/index.js';
import { BatchWriter, forEachMessage } from './batch.js';
import { seedMetered } from '../wasm/metering.js';
import { ShardLink } from './link.js';
import { SUMMED_METHODS } from './merge.js';
import type { FromWorker, ListenerInfo, ShardSnapshot, ShardStatistics, ToWorker, WorkerConfig, WorkerData } from './protocol.js';
import { SiphonMetrics } from '../metrics/metrics.js';
import type { RpcValue } from '../rpc/types.js';
import type { SiphonModule } from '../modules/types.js';
import { pluginPolicyFrom } from '../server/app.js';

const port = parentPort!;
const data = workerData as WorkerData;

/** log lines still waiting for their turn's flush go first: what a request logged precedes its answer. */
let flushLogs: () => void = () => {};

function post(m: FromWorker, transfer?: ArrayBuffer[]): void {
  if (m.t === 'res') flushLogs();
  port.postMessage(m, transfer);
}

/** log lines go to the main thread's logger destination, batched per loop turn. */
class LogForwarder {
  private lines: string[] = [];
  private scheduled = false;
  write(line: string): void {
    this.lines.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.lines.length === 0) return;
    const lines = this.lines;
    this.lines = [];
    post({ t: 'log', lines });
  };
}

/** A channel of the main thread: what is sent through it is batched back to the main thread. */
class RemoteChannel implements Channel {
  constructor(
    readonly id: number,
    readonly proto: Proto,
    /** the listener's address; replaced once the main thread bound a port 0 ('listeners'). */
    public local: Endpoint,
    private readonly out: Outbox,
  ) {}
  send(buf: Buffer, address: string, port: number, name?: string, failed?: () => void): void {
    // only streams report a send that could not be made (a connect or TLS handshake refused)
    this.out.add(buf, address, port, this.id, name ?? '', failed !== undefined && this.proto !== 'udp' ? this.out.waitFor(failed) : 0);
  }
}

/** stream sends whose failure a transaction waits for, at most; the oldest is forgotten first. */
export const MAX_SEND_WAITERS = 65_536;

class Outbox {
  private readonly writer = new BatchWriter();
  private scheduled = false;
  /** failure callbacks of stream sends, by the id the main thread reports back ('send-failed'). */
  private readonly waiters = new Map<number, () => void>();
  private nextWaiter = 1;

  /** an id for `failed` (a send that succeeds is never reported: ids are dropped oldest first). */
  waitFor(failed: () => void): number {
    const id = this.nextWaiter;
    this.nextWaiter = id >= 0x7fffffff ? 1 : id + 1;
    this.waiters.set(id, failed);
    if (this.waiters.size > MAX_SEND_WAITERS) this.waiters.delete(this.waiters.keys().next().value!);
    return id;
  }

  /** the main thread could not make send `id`. */
  sendFailed(id: number): void {
    const f = this.waiters.get(id);
    if (f === undefined) return;
    this.waiters.delete(id);
    f();
  }

  add(buf: Buffer, address: string, port: number, chan: number, name = '', failId = 0): void {
    this.writer.add(buf, address, port, chan, name, failId);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.writer.count === 0) return;
    const b = this.writer.take();
    post({ t: 'out', b }, [b.data]);
  };
}

function configFrom(c: WorkerConfig): SiphonConfig {
  const name = c.source.file ?? '<defaults>';
  return { ...(c as unknown as Omit<SiphonConfig, 'source'>), source: { file: c.source.file, dir: c.source.dir, where: () => name } };
}

function endpointOf(l: ListenerInfo): Endpoint {
  return { address: l.address, port: l.port, proto: l.proto, family: l.family };
}

async function main(): Promise<void> {
  seedMetered(data.metered);
  const link = new ShardLink(port, true);
  // the port is read from the start: module init waits on shard 0's services (link results); the
  // hub's own messages wait in `early` until the message path exists
  const early: Array<{ t: string }> = [];
  let onMessage: ((m: ToWorker) => void) | null = null;
  port.on('message', (m: { t: string }) => {
    if (link.handle(m)) return;
    if (onMessage === null) early.push(m);
    else onMessage(m as ToWorker);
  });
  const shard = link.context(data.index, data.count);
  const config = configFrom(data.config);
  const logs = new LogForwarder();
  flushLogs = logs.flush;
  const log = pino(
    {
      level: data.logLevel,
      base: { pid: process.pid, node: config.core.node_id, shard: data.index },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    { write: (s: string) => logs.write(s) },
  );

  const outbox = new Outbox();
  const channels = new Map<number, RemoteChannel>();
  const listeners = data.listeners.map((l, i) => {
    const ch = new RemoteChannel(i, l.proto, endpointOf(l), outbox);
    channels.set(i, ch);
    return ch;
  });
  const provider: ChannelProvider = {
    channelFor(proto: Proto, family: 4 | 6, _address: string, _port: number, name?: string): Channel | null {
      for (const ch of listeners) {
        if (ch.proto !== proto || ch.local.family !== family) continue;
        if (name === undefined) return ch;
        // a TLS server name (SNI, the name the peer's certificate must carry) goes with every send
        return { proto: ch.proto, local: ch.local, send: (b, a, p, n, failed) => ch.send(b, a, p, n ?? name, failed) };
      }
      return null;
    },
  };

  // requests the modules originate (keepalives) go through this shard's transaction layer
  let tmRequests: LocalRequests | null = null;
  const localRequests: LocalRequestSender = {
    request: (r) => (tmRequests ? tmRequests.request(r) : Promise.reject(new SiphonError('TM_LOCAL_REQUEST', 'transaction layer not started'))),
  };
  const dbStats = new DbStatistics();
  const modules = await initModules(config, log, { localRequests, dbStats, shard });
  const server = new SiphonServer({ config, log, router: null, transactions: { timers: transactionTimersFrom(config) }, prefetchers: modulePrefetchers(modules) });
  server.setOutbound(provider);
  // this shard's message-path counters; the main thread adds them to the node's /metrics
  const metrics = new SiphonMetrics({ defaultMetrics: false });
  if (server.transactions && server.proxy) tmRequests = new LocalRequests(server.transactions, server, server.proxy.resolver, { index: data.index, count: data.count });
  wireShardModules(modules, server);
  wireDialog(modules, server, tmRequests);
  wireAcc(modules);
  wireUac(modules, server);
  wireRtpengine(modules, server);
  const plugins = routingManager(config, log, metrics, server, modules);
  // the same routing as shard 0: routing.chain, or the one plugin (host/server/app.ts loadRoutingInto)
  await loadRoutingInto(plugins, config, data.pluginFile);
  server.setRouter(plugins);
  if (config.core.warmup > 0) {
    try {
      await warmUp(config, config.core.warmup, plugins.current());
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'warm-up failed; starting cold');
    }
  }
  server.startDetached();

  // RPC methods the main thread fans out to every shard (plugin.*, corex.debug, stats resets)
  const registry = new MethodRegistry();
  const providers: StatisticsProvider[] = [pipelineStatistics(server), pluginStatistics(plugins), ...tmStatistics(server), ...modules];
  providers.push({ name: 'db', statistics: () => dbStats.statistics() });
  const overload = overloadStatistics(server);
  if (overload !== null) providers.push(overload);
  registerCoreMethods(registry, {
    name: 'siphon',
    version: VERSION,
    startedAt: new Date(),
    statisticsProviders: () => providers,
    getLogLevel: () => log.level as LogLevelName,
    setLogLevel: (l) => {
      log.level = l;
    },
  });
  registry.registerAll(pluginRpcMethods(plugins, { rootDir: PACKAGE_ROOT, pathPolicy: pluginPolicyFrom(config, data.pluginFile), log }));
  // the modules' per-shard counters (merge.ts SUMMED_METHODS); their other methods are shard 0's
  for (const m of modules) registry.registerAll(m.rpcMethods().filter((r) => SUMMED_METHODS.includes(r.name)));
  // what the main thread merges over shards (dlg.list ...: host/shards/merge.ts DIALOG_METHODS)
  for (const m of modules) if (m.shardRpcMethods) registry.registerAll(m.shardRpcMethods());

  const stop = async (): Promise<void> => {
    await server.stop();
    plugins.closeAll();
    await closeModules(modules, log);
    outbox.flush();
    logs.flush();
    link.close('worker shard stopped');
  };

  onMessage = (msg: ToWorker): void => {
    switch (msg.t) {
      case 'in': {
        // the batch's age plus the main thread's own socket queue: this shard's queueing delay (core.overload)
        server.overload?.probeDelay(Math.max(0, Date.now() - msg.sentAt) + msg.mainDelay);
        forEachMessage(msg.b, (bytes, address, p, chan) => {
          const ch = channels.get(chan) ?? listeners[0]!;
          server.receive(bytes, { address, port: p, proto: ch.proto, family: address.includes(':') ? 6 : 4 }, ch);
        });
        return;
      }
      case 'chan': {
        const l = listeners[msg.listener]!;
        channels.set(msg.id, new RemoteChannel(msg.id, l.proto, l.local, outbox));
        return;
      }
      case 'chan-gone':
        channels.delete(msg.id);
        return;
      case 'listeners':
        msg.listeners.forEach((l, i) => {
          if (listeners[i]) listeners[i]!.local = endpointOf(l);
        });
        return;
      case 'metered':
        seedMetered(msg.entries);
        return;
      case 'send-failed':
        outbox.sendFailed(msg.id);
        return;
      case 'req':
        void answer(msg, registry, () => ({ groups: snapshot(providers), metrics: metrics.snapshot() }), stop);
        return;
    }
  };
  for (const m of early.splice(0)) onMessage(m as ToWorker);
  post({ t: 'ready' });
}

/** what the main thread wires between modules, minus what only shard 0 does (flood guard, keepalives). */
function wireShardModules(modules: readonly SiphonModule[], server: SiphonServer): void {
  const pike = modules.find((m): m is PikeModule => m instanceof PikeModule)?.pike;
  const auth = modules.find((m): m is AuthModule => m instanceof AuthModule)?.digestAuth;
  // pike_check_req() leaves the server's own addresses out here too (without it a worker counted
  // and blocked requests the node sent itself, e.g. keepalives looped back from 127.0.0.1)
  pike?.setOwnAddress(server.isOwnAddress);
  // with modules.pike.auto the hub counted every request before steering it here (as wirePike's
  // flood guard does for shard 0): a second count in pike_check_req() would block at half the density
  if (pike && pike.cfg.auto !== 'off') server.setFloodCheckedUpstream();
  if (pike && auth) auth.setFailureSink((address, weight) => void pike.penalize(address, weight));
}

async function answer(msg: Extract<ToWorker, { t: 'req' }>, registry: MethodRegistry, stats: () => ShardSnapshot, stop: () => Promise<void>): Promise<void> {
  try {
    let value: unknown;
    if (msg.op === 'stats') value = stats();
    else if (msg.op === 'rpc') value = await registry.call(msg.name, msg.params as RpcValue[]);
    else value = await stop();
    post({ t: 'res', id: msg.id, ok: true, value: value ?? null });
  } catch (e) {
    const err = e as { message?: string; code?: number | string; faultCode?: number };
    post({ t: 'res', id: msg.id, ok: false, message: err.message ?? String(e), code: err.faultCode ?? err.code });
  }
}

function snapshot(providers: readonly StatisticsProvider[]): ShardStatistics {
  const out: ShardStatistics = {};
  for (const p of providers) {
    const s = p.statistics();
    const g: Record<string, number> = (out[p.name] ??= {});
    for (const [k, v] of Object.entries(s)) if (typeof v === 'number') g[k] = (g[k] ?? 0) + v;
  }
  return out;
}

main().catch((e: unknown) => {
  const err = e as { message?: string; code?: number | string };
  post({ t: 'failed', message: err.message ?? String(e), code: err.code });
});
