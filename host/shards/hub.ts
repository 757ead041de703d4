/**
 * The main thread's side of `core.workers` > 1 (host/shards/README.md): it receives every message from
 * the listening sockets, runs the flood guard (modules.pike.auto) on the source, steers the message
 * by its Call-ID (steer.ts) to shard 0 (this thread's SiphonServer) or to a worker shard (worker.ts),
 * and sends what the worker shards send, from the listener the worker named (RFC 3581 §4).
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { PACKAGE_ROOT } from '../core/version.js';
import type { Logger } from 'pino';
import pino from 'pino';
import type { Endpoint } from '../core/context.js';
import type { SiphonConfig } from '../config/types.js';
import type { Channel, Listener, MessageSink } from '../transport/types.js';
import type { FloodGuard } from '../server/server.js';
import type { RpcValue } from '../rpc/types.js';
import { RpcFault } from '../rpc/types.js';
import { SiphonError } from '../errors/registry.js';
import { BatchWriter, forEachMessage } from './batch.js';
import type { ServiceRegistry } from './link.js';
import { shardOf } from './steer.js';
import { meteredEntries } from '../wasm/metering.js';
import type { MetricsSnapshot } from '../metrics/metrics.js';
import { FIRST_CONNECTION_ID, type FromWorker, type ListenerInfo, type ShardSnapshot, type ShardStatistics, type ToWorker, type WorkerData } from './protocol.js';

/** ms a worker shard may take to load its modules and plugin and warm up. */
export const WORKER_START_TIMEOUT_MS = 60_000;
/** ms the main thread waits for a worker's answer to a stats/RPC request. */
export const WORKER_REQUEST_TIMEOUT_MS = 10_000;

export interface HubOptions {
  config: SiphonConfig;
  log: Logger;
  /** shard 0: this thread's message path. */
  shard0: MessageSink;
  /** the main thread's listeners, in config order (a worker names them by index); read once they are open (listenersOpened). */
  listeners: () => readonly Listener[];
  services: ServiceRegistry;
  pluginFile: string;
  /** modules.pike.auto, run here on every request before steering. */
  floodGuard?: FloodGuard | null;
  /** shard 0 answers a request the flood guard shed (shed: 1 drop, 2 reply 503). */
  shed?: (buf: Buffer, source: Endpoint, channel: Channel, shed: number) => void;
  /** the server's own addresses (never flood-checked). */
  isOwnAddress?: (ip: string) => boolean;
  /** the main thread's current queueing delay (core.overload), added to each batch's age in the workers. */
  mainDelay?: () => number;
}

interface ConnectionRef {
  ref: WeakRef<Channel>;
  listener: number;
  /** workers that were told about this connection. */
  told: Set<WorkerShard>;
}

/**
 * The worker's script: next to this file in dist/; when this file runs from TypeScript sources
 * (vitest), the built copy in dist/ (`npm test` builds first).
 */
function workerScript(): URL {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) return pathToFileURL(path.join(PACKAGE_ROOT, 'dist', 'host', 'shards', 'worker.js'));
  return new URL('./worker.js', import.meta.url);
}

/** "SIP/" at the start: a response (never flood-checked, as in the single-shard path). */
function isResponse(buf: Buffer): boolean {
  return buf.length >= 4 && buf[0] === 0x53 && buf[1] === 0x49 && buf[2] === 0x50 && buf[3] === 0x2f;
}

/** messages held for a worker shard that is still starting; more are dropped (counted in `heldDropped`). */
export const MAX_HELD_MESSAGES = 65_536;

class WorkerShard {
  readonly inbox = new BatchWriter();
  /** null until start() spawned the thread: messages steered here meanwhile wait in the inbox. */
  worker: Worker | null = null;
  private scheduled = false;
  private nextReq = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  exited = false;

  constructor(
    readonly index: number,
    private readonly hub: ShardHub,
  ) {}

  enqueue(buf: Buffer, source: Endpoint, chan: number): void {
    if (this.worker === null && this.inbox.count >= MAX_HELD_MESSAGES) {
      this.hub.heldDropped++;
      return;
    }
    this.inbox.add(buf, source.address, source.port, chan);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.inbox.count === 0 || this.exited || this.worker === null) return;
    const b = this.inbox.take();
    this.post({ t: 'in', b, sentAt: Date.now(), mainDelay: this.hub.mainDelay() }, [b.data]);
  };

  post(m: ToWorker, transfer?: ArrayBuffer[]): void {
    if (!this.exited) this.worker?.postMessage(m, transfer);
  }

  request(m: { op: 'stats' } | { op: 'rpc'; name: string; params: RpcValue[] } | { op: 'stop' }): Promise<unknown> {
    if (this.exited || this.worker === null) return Promise.reject(new Error(`worker shard ${this.index} has exited`));
    const id = this.nextReq++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`worker shard ${this.index} did not answer ${m.op} within ${WORKER_REQUEST_TIMEOUT_MS} ms`));
      }, WORKER_REQUEST_TIMEOUT_MS);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      this.post({ t: 'req', id, ...m } as ToWorker);
    });
  }

  settle(m: Extract<FromWorker, { t: 'res' }>): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.ok) p.resolve(m.value);
    else p.reject(Object.assign(new Error(m.message), m.code !== undefined ? { code: m.code } : {}));
  }

  failAll(reason: string): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(reason));
    }
    this.pending.clear();
  }
}

export class ShardHub implements MessageSink {
  readonly count: number;
  private readonly workers: WorkerShard[] = [];
  private readonly connIds = new WeakMap<Channel, number>();
  private readonly connections = new Map<number, ConnectionRef>();
  private readonly finalizer = new FinalizationRegistry<number>((id) => this.connectionGone(id));
  private nextConnId = FIRST_CONNECTION_ID;
  private readonly listenerIndex = new Map<Channel | Listener, number>();
  private stopping = false;
  /** messages dropped because a starting worker shard already held MAX_HELD_MESSAGES. */
  heldDropped = 0;
  /** worker sends dropped because this server had closed their TCP connection (sendOut). */
  closedDropped = 0;
  private listenerList: readonly Listener[] = [];
  private statsTimer: NodeJS.Timeout | null = null;
  /** messages steered to each shard (index 0 = this thread). */
  readonly steered: number[];
  /** the latest statistics of every worker shard (refreshStatistics). */
  private snapshots: ShardStatistics[] = [];
  private metricSnapshots: MetricsSnapshot[] = [];
  private refreshing: Promise<void> | null = null;

  constructor(private readonly opts: HubOptions) {
    this.count = Math.max(1, opts.config.core.workers ?? 1);
    this.steered = new Array<number>(this.count).fill(0);
    // the shards exist from the start: what is steered to one before its thread runs waits for it
    for (let i = 1; i < this.count; i++) this.workers.push(new WorkerShard(i, this));
  }

  mainDelay(): number {
    return this.opts.mainDelay?.() ?? 0;
  }

  /** Starts the worker shards; resolves when every one has loaded its modules and plugin (or rejects, E3020). */
  async start(): Promise<void> {
    // the workers start before the sockets open (a request must not wait for a starting shard and
    // be retransmitted meanwhile): they get the configured addresses, and the bound ones later
    // when a port was 0 (listenersOpened)
    const listeners: ListenerInfo[] = this.opts.config.core.listenAddresses.map((a) => ({ proto: a.proto, family: a.family, address: a.host, port: a.port }));
    const c = this.opts.config;
    const config = { core: c.core as unknown as Record<string, unknown>, modules: c.modules, routing: c.routing as unknown as Record<string, unknown>, source: { file: c.source.file, dir: c.source.dir } };
    const url = workerScript();
    const started: Array<Promise<void>> = [];
    for (const shard of this.workers) {
      const data: WorkerData = { index: shard.index, count: this.count, config, pluginFile: this.opts.pluginFile, listeners, logLevel: this.opts.log.level, metered: meteredEntries() };
      const worker = new Worker(url, { workerData: data, name: `siphon-shard-${shard.index}` });
      shard.worker = worker;
      this.opts.services.addPort(worker);
      started.push(this.attach(shard, worker));
      // what was steered here while the thread started (it reads its port once it is ready)
      shard.flush();
    }
    try {
      await Promise.all(started);
    } catch (e) {
      await this.stop();
      throw e;
    }
    // /metrics reads the workers' last statistics; stats.* RPC refreshes them first
    this.statsTimer = setInterval(() => void this.refreshStatistics(), 1000);
    this.statsTimer.unref();
  }

  /**
   * The sockets are open: sends go out through them from now on, and the workers learn the bound
   * addresses when they differ from the configured ones (port 0), before any message reaches them.
   */
  listenersOpened(): void {
    this.listenerList = this.opts.listeners();
    this.listenerList.forEach((l, i) => this.listenerIndex.set(l, i));
    const bound: ListenerInfo[] = this.listenerList.map((l) => ({ proto: l.proto, family: l.local.family ?? 4, address: l.local.address, port: l.local.port }));
    const configured = this.opts.config.core.listenAddresses;
    if (bound.some((b, i) => b.port !== configured[i]?.port || b.address !== configured[i]?.host)) {
      for (const w of this.workers) w.post({ t: 'listeners', listeners: bound });
    }
  }

  private attach(shard: WorkerShard, worker: Worker): Promise<void> {
    const log = this.opts.log;
    const dest = (log as unknown as Record<symbol, { write(s: string): void }>)[pino.symbols.streamSym];
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => reject(new SiphonError('SHARD_START', `worker shard ${shard.index} did not start within ${WORKER_START_TIMEOUT_MS} ms`)), WORKER_START_TIMEOUT_MS);
      timer.unref();
      worker.on('message', (m: FromWorker | { t: string }) => {
        if (this.opts.services.handle(m, worker)) return;
        const msg = m as FromWorker;
        switch (msg.t) {
          case 'out':
            this.sendOut(msg.b, shard);
            return;
          case 'log':
            for (const line of msg.lines) dest?.write(line);
            return;
          case 'res':
            shard.settle(msg);
            return;
          case 'ready':
            ready = true;
            clearTimeout(timer);
            resolve();
            return;
          case 'failed':
            clearTimeout(timer);
            reject(new SiphonError('SHARD_START', `worker shard ${shard.index}: ${msg.message}`));
            return;
        }
      });
      worker.on('error', (err) => {
        log.error({ shard: shard.index, err: err.message, stack: err.stack, code: 3021 }, 'worker shard crashed [E3021]');
        if (!ready) {
          clearTimeout(timer);
          reject(new SiphonError('SHARD_START', `worker shard ${shard.index}: ${err.message}`));
        }
      });
      worker.on('exit', (code) => {
        shard.exited = true;
        shard.failAll(`worker shard ${shard.index} exited`);
        this.opts.services.removePort(worker);
        if (!this.stopping) {
          log.error({ shard: shard.index, exitCode: code, code: 3021 }, 'worker shard exited; its messages go to shard 0 [E3021]');
          this.opts.services.shardExited(shard.index);
        }
      });
    });
  }

  // ---- inbound: steering -----------------------------------------------------------------

  receive(buf: Buffer, source: Endpoint, channel: Channel): void {
    const guard = this.opts.floodGuard;
    if (guard && !isResponse(buf) && !(this.opts.isOwnAddress?.(source.address) ?? false)) {
      const shed = guard.shed(source.address);
      if (shed !== 0) {
        this.opts.shed?.(buf, source, channel, shed);
        return;
      }
    }
    let s = shardOf(buf, this.count);
    const worker = s === 0 ? null : this.workers[s - 1];
    if (worker === undefined || worker === null || worker.exited) s = 0;
    this.steered[s]!++;
    if (s === 0) {
      this.opts.shard0.receive(buf, source, channel);
      return;
    }
    worker!.enqueue(buf, source, this.channelId(channel, worker!));
  }

  /** a listener's index, or the id of a TCP connection (told to `worker` before its first message). */
  private channelId(channel: Channel, worker: WorkerShard): number {
    const l = this.listenerIndex.get(channel);
    if (l !== undefined) return l;
    let id = this.connIds.get(channel);
    let ref = id === undefined ? undefined : this.connections.get(id);
    if (id === undefined || ref === undefined) {
      id = this.nextConnId++;
      this.connIds.set(channel, id);
      ref = { ref: new WeakRef(channel), listener: this.listenerOf(channel), told: new Set() };
      this.connections.set(id, ref);
      this.finalizer.register(channel, id);
    }
    if (!ref.told.has(worker)) {
      ref.told.add(worker);
      worker.post({ t: 'chan', id, listener: ref.listener, address: '', port: 0 });
    }
    return id;
  }

  /** the listener a TCP connection belongs to: the first TCP listener with its local address. */
  private listenerOf(channel: Channel): number {
    const ls = this.listenerList;
    for (let i = 0; i < ls.length; i++) {
      const l = ls[i]!;
      if (l.proto === channel.proto && l.local.port === channel.local.port) return i;
    }
    return Math.max(0, ls.findIndex((l) => l.proto === channel.proto));
  }

  private connectionGone(id: number): void {
    const ref = this.connections.get(id);
    if (!ref) return;
    this.connections.delete(id);
    for (const w of ref.told) w.post({ t: 'chan-gone', id });
  }

  // ---- outbound: what the workers send ---------------------------------------------------

  private sendOut(b: import('./batch.js').WireBatch, shard: WorkerShard): void {
    forEachMessage(b, (bytes, address, port, chan, nameText, failId) => {
      const name = nameText === '' ? undefined : nameText;
      // the worker's transaction learns that its request could not be sent (RFC 3261 §17.1.4)
      const failed = failId === 0 ? undefined : () => shard.post({ t: 'send-failed', id: failId });
      if (chan < FIRST_CONNECTION_ID) {
        const l = this.listenerList[chan];
        if (l === undefined) return;
        const ch = l.channelTo?.(address, port, name) ?? (l as unknown as Channel);
        ch.send(bytes, address, port, name, failed);
        return;
      }
      const ref = this.connections.get(chan);
      const conn = ref?.ref.deref();
      if (conn?.closedByServer === true) {
        // this server closed the connection (a core.tcp limit, a framing error): what a worker still
        // answers to the requests it had read from it is dropped, as a single shard never routes what
        // such a connection sent after the close, instead of opening new connections to that peer
        this.closedDropped++;
        return;
      }
      if (conn !== undefined) {
        conn.send(bytes, address, port, name, failed);
        return;
      }
      // the connection closed meanwhile: its listener opens or reuses one (Channel.send's contract)
      const l = this.listenerList[ref?.listener ?? 0];
      l?.channelTo?.(address, port, name).send(bytes, address, port, name, failed);
    });
  }

  // ---- statistics and RPC across shards ----------------------------------------------------

  /** asks every worker shard for its statistics (the merged view reads them synchronously afterwards). */
  refreshStatistics(): Promise<void> {
    // callers at the same moment share one round
    return (this.refreshing ??= (async () => {
      const none: ShardSnapshot | null = null;
      const out = await Promise.all(this.workers.map((w) => (w.exited || w.worker === null ? Promise.resolve(none) : (w.request({ op: 'stats' }) as Promise<ShardSnapshot>).catch(() => none))));
      const got = out.filter((s): s is ShardSnapshot => s !== null);
      this.snapshots = got.map((s) => s.groups);
      this.metricSnapshots = got.map((s) => s.metrics);
    })().finally(() => (this.refreshing = null)));
  }

  /** the worker shards' message-path counters (SiphonMetrics.addPeers). */
  metrics(): readonly MetricsSnapshot[] {
    return this.metricSnapshots;
  }

  /** the group `name` of every worker shard's last snapshot. */
  workerGroups(name: string): Array<Record<string, number>> {
    const out: Array<Record<string, number>> = [];
    for (const s of this.snapshots) {
      const g = s[name];
      if (g) out.push(g);
    }
    return out;
  }

  /** group names the workers reported that `known` lacks. */
  extraGroups(known: ReadonlySet<string>): string[] {
    const out = new Set<string>();
    for (const s of this.snapshots) for (const k of Object.keys(s)) if (!known.has(k)) out.add(k);
    return [...out];
  }

  /** runs an RPC method in every worker shard (after shard 0 ran it); a worker's fault is raised as a 500 naming the shard. */
  async fanOut(name: string, params: RpcValue[]): Promise<void> {
    // a plugin shard 0 just loaded is instrumented already: the workers take it from its cache
    // instead of metering it again each (a child process per load, seconds on a loaded machine)
    if (name.startsWith('plugin.')) {
      const entries = meteredEntries();
      for (const w of this.workers) w.post({ t: 'metered', entries });
    }
    await this.gather(name, params);
  }

  /** runs an RPC method in every running worker shard and returns their answers (a fault: 500 naming the shard). */
  async gather(name: string, params: RpcValue[]): Promise<RpcValue[]> {
    const running = this.workers.filter((w) => !w.exited && w.worker !== null);
    const results = await Promise.allSettled(running.map((w) => w.request({ op: 'rpc', name, params }) as Promise<RpcValue>));
    const failed = results.map((r, i) => (r.status === 'rejected' ? `shard ${running[i]!.index}: ${(r.reason as Error).message}` : null)).filter((x) => x !== null);
    if (failed.length > 0) throw new RpcFault(500, `${name} failed in ${failed.join('; ')}`);
    return results.map((r) => (r as PromiseFulfilledResult<RpcValue>).value);
  }

  /** runs an RPC method in every live worker shard; each one's outcome, faults included (merge.ts DIALOG_METHODS 'first'). (additive) */
  gatherSettled(name: string, params: RpcValue[]): Promise<Array<PromiseSettledResult<unknown>>> {
    return Promise.allSettled(this.workers.filter((w) => !w.exited && w.worker !== null).map((w) => w.request({ op: 'rpc', name, params })));
  }

  /** worker shards and their thread ids (core.ps). */
  threads(): Array<{ index: number; threadId: number; alive: boolean }> {
    return this.workers.map((w) => ({ index: w.index, threadId: w.worker?.threadId ?? -1, alive: w.worker !== null && !w.exited }));
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.statsTimer !== null) clearInterval(this.statsTimer);
    await Promise.all(
      this.workers.map(async (w) => {
        if (w.exited || w.worker === null) return;
        try {
          await w.request({ op: 'stop' });
        } catch {
          // a worker that does not stop in time is terminated below
        }
        w.failAll('hub stopped');
        await w.worker.terminate();
        w.exited = true;
      }),
    );
  }
}
