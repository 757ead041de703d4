/**
 * Services and broadcasts between shard 0 and one worker shard over a MessagePort (host/shards/context.ts).
 *
 * One port per worker carries everything between the two threads (SIP batches, sends, services,
 * broadcasts, RPC), so postMessage's per-port order is the order of effects: a broadcast shard 0
 * posts before it relays a reply is applied by the worker before that reply can provoke anything.
 * Other message kinds on the port belong to the hub (hub.ts, worker.ts); `handle` says whether a
 * message was a service or broadcast message.
 */
import type { MessagePort } from 'node:worker_threads';
import type { ServiceCaller, ServiceHandlers, ShardContext } from './context.js';

/** What crosses the port for services and broadcasts. */
export type LinkMessage =
  | { t: 'call'; id: number; service: string; method: string; args: readonly unknown[] }
  | { t: 'call-sync'; service: string; method: string; args: readonly unknown[]; answer: SharedArrayBuffer }
  | { t: 'result'; id: number; ok: true; value: unknown }
  | { t: 'result'; id: number; ok: false; message: string; code?: number | string }
  | { t: 'bcast'; topic: string; payload: unknown };

/** The part of a MessagePort (or a Worker) the link uses. */
export interface PortLike {
  postMessage(value: unknown, transfer?: readonly ArrayBuffer[]): void;
}

/** calls a worker may have waiting at once; more are refused at once (a runaway loop must not grow a map). */
export const MAX_PENDING_CALLS = 65_536;

/** ms a worker blocks in callSync() for shard 0's answer; then the call fails (the worker goes on). */
export const SYNC_CALL_TIMEOUT_MS = 1000;
/** bytes of JSON a callSync() answer may take (a larger one fails). */
export const SYNC_ANSWER_MAX_BYTES = 256 * 1024;

/**
 * A callSync() answer: Int32 [state, byte length], then the JSON bytes. state: 0 waiting, 1 answer,
 * 2 fault (the bytes are its message), 3 abandoned by the worker (timed out; shard 0's late answer
 * is ignored and the buffer is never used again).
 */
const SYNC_HEAD_BYTES = 8;
const enum SyncState {
  WAITING = 0,
  ANSWER = 1,
  FAULT = 2,
  ABANDONED = 3,
}

/** shard 0: writes a callSync() answer (or fault) and wakes the worker, unless it gave up waiting. */
function answerSync(buf: SharedArrayBuffer, ok: boolean, value: unknown): void {
  let state = ok ? SyncState.ANSWER : SyncState.FAULT;
  let bytes: Buffer;
  try {
    bytes = Buffer.from(ok ? (JSON.stringify(value ?? null) ?? 'null') : String(value), 'utf8');
  } catch (e) {
    state = SyncState.FAULT;
    bytes = Buffer.from(`answer is not JSON data: ${(e as Error).message}`, 'utf8');
  }
  if (bytes.length > buf.byteLength - SYNC_HEAD_BYTES) {
    state = SyncState.FAULT;
    bytes = Buffer.from(`answer of ${bytes.length} bytes exceeds ${SYNC_ANSWER_MAX_BYTES} (SYNC_ANSWER_MAX_BYTES)`, 'utf8');
  }
  const head = new Int32Array(buf, 0, 2);
  if (Atomics.load(head, 0) !== SyncState.WAITING) return;
  new Uint8Array(buf, SYNC_HEAD_BYTES, bytes.length).set(bytes);
  Atomics.store(head, 1, bytes.length);
  if (Atomics.compareExchange(head, 0, SyncState.WAITING, state) === SyncState.WAITING) Atomics.notify(head, 0);
}

/** Shard 0's side: the registered services, and every worker port to broadcast to. */
export class ServiceRegistry {
  private readonly services = new Map<string, ServiceHandlers>();
  private readonly ports: PortLike[] = [];
  private readonly exitListeners: Array<(index: number) => void> = [];

  /** a worker shard exited while the node runs (host/shards/hub.ts): ShardContext.onShardExit listeners. */
  shardExited(index: number): void {
    for (const l of this.exitListeners) {
      try {
        l(index);
      } catch {
        // a listener's failure must not stop the others (they release state of their own)
      }
    }
  }

  provide(service: string, handlers: ServiceHandlers): void {
    if (this.services.has(service)) throw new Error(`shard service "${service}" is already provided`);
    this.services.set(service, handlers);
  }

  addPort(port: PortLike): void {
    this.ports.push(port);
  }

  removePort(port: PortLike): void {
    const i = this.ports.indexOf(port);
    if (i >= 0) this.ports.splice(i, 1);
  }

  broadcast(topic: string, payload: unknown): void {
    const m: LinkMessage = { t: 'bcast', topic, payload };
    for (const p of this.ports) p.postMessage(m);
  }

  /** a worker's service call: runs it and posts the result back on `port`. Returns false for other kinds of message. */
  handle(msg: { t?: unknown }, port: PortLike): boolean {
    if (msg.t === 'call-sync') {
      const m = msg as Extract<LinkMessage, { t: 'call-sync' }>;
      const fn = this.services.get(m.service)?.[m.method] as ((...a: unknown[]) => unknown) | undefined;
      if (fn === undefined) {
        answerSync(m.answer, false, `no shard service ${m.service}.${m.method}`);
        return true;
      }
      try {
        const out = fn(...m.args);
        if (out instanceof Promise) out.then((v: unknown) => answerSync(m.answer, true, v), (e: unknown) => answerSync(m.answer, false, (e as Error)?.message ?? String(e)));
        else answerSync(m.answer, true, out);
      } catch (e) {
        answerSync(m.answer, false, (e as Error)?.message ?? String(e));
      }
      return true;
    }
    if (msg.t !== 'call') return false;
    const m = msg as Extract<LinkMessage, { t: 'call' }>;
    const fn = this.services.get(m.service)?.[m.method] as ((...a: unknown[]) => unknown) | undefined;
    if (fn === undefined) {
      port.postMessage({ t: 'result', id: m.id, ok: false, message: `no shard service ${m.service}.${m.method}` } satisfies LinkMessage);
      return true;
    }
    const reply = (r: LinkMessage): void => {
      try {
        port.postMessage(r);
      } catch (e) {
        // a result that cannot be cloned is a bug in the service: the caller gets the reason
        port.postMessage({ t: 'result', id: m.id, ok: false, message: `result of ${m.service}.${m.method} cannot cross threads: ${(e as Error).message}` } satisfies LinkMessage);
      }
    };
    try {
      const out = fn(...m.args);
      if (out instanceof Promise) {
        out.then(
          (value: unknown) => reply({ t: 'result', id: m.id, ok: true, value }),
          (e: unknown) => reply(failure(m.id, e)),
        );
      } else {
        reply({ t: 'result', id: m.id, ok: true, value: out });
      }
    } catch (e) {
      reply(failure(m.id, e));
    }
    return true;
  }

  /** shard 0's ShardContext. */
  context(count: number): ShardContext {
    return {
      index: 0,
      count,
      main: null,
      provide: (service, handlers) => this.provide(service, handlers),
      broadcast: (topic, payload) => this.broadcast(topic, payload),
      on: () => {},
      onShardExit: (listener) => void this.exitListeners.push(listener),
    };
  }
}

function failure(id: number, e: unknown): LinkMessage {
  const err = e as { message?: unknown; code?: unknown };
  const code = typeof err?.code === 'number' || typeof err?.code === 'string' ? err.code : undefined;
  return { t: 'result', id, ok: false, message: typeof err?.message === 'string' ? err.message : String(e), ...(code !== undefined ? { code } : {}) };
}

/** A worker shard's side: calls into shard 0 and the broadcast listeners. */
export class ShardLink implements ServiceCaller {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly listeners = new Map<string, Array<(payload: unknown) => void>>();

  /** the buffer of the next callSync() (one at a time: the thread blocks); replaced after a timeout. */
  private syncBuf: SharedArrayBuffer | null = null;

  /** `blocking`: this side runs in its own thread (a worker shard), so callSync() may block it. */
  constructor(
    private readonly port: PortLike,
    private readonly blocking = false,
  ) {
    if (blocking) this.callSync = this.blockingCall;
  }

  callSync?: (service: string, method: string, args: readonly unknown[]) => unknown;

  private readonly blockingCall = (service: string, method: string, args: readonly unknown[]): unknown => {
    const buf = (this.syncBuf ??= new SharedArrayBuffer(SYNC_HEAD_BYTES + SYNC_ANSWER_MAX_BYTES));
    const head = new Int32Array(buf, 0, 2);
    Atomics.store(head, 0, SyncState.WAITING);
    this.port.postMessage({ t: 'call-sync', service, method, args, answer: buf } satisfies LinkMessage);
    Atomics.wait(head, 0, SyncState.WAITING, SYNC_CALL_TIMEOUT_MS);
    // give up unless shard 0 answered meanwhile; an abandoned buffer is never reused
    const state = Atomics.compareExchange(head, 0, SyncState.WAITING, SyncState.ABANDONED);
    if (state === SyncState.WAITING) {
      this.syncBuf = null;
      throw new Error(`shard 0 did not answer ${service}.${method} within ${SYNC_CALL_TIMEOUT_MS} ms`);
    }
    const text = Buffer.from(buf, SYNC_HEAD_BYTES, Atomics.load(head, 1)).toString('utf8');
    if (state === SyncState.FAULT) throw new Error(text);
    return JSON.parse(text) as unknown;
  };

  call(service: string, method: string, args: readonly unknown[]): Promise<unknown> {
    if (this.pending.size >= MAX_PENDING_CALLS) return Promise.reject(new Error(`too many shard service calls waiting (${MAX_PENDING_CALLS})`));
    const id = this.nextId;
    this.nextId = id >= 0x7fffffff ? 1 : id + 1;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.port.postMessage({ t: 'call', id, service, method, args } satisfies LinkMessage);
      } catch (e) {
        // arguments that cannot be cloned: nothing was sent
        this.pending.delete(id);
        reject(e as Error);
      }
    });
  }

  on(topic: string, listener: (payload: unknown) => void): void {
    const list = this.listeners.get(topic);
    if (list) list.push(listener);
    else this.listeners.set(topic, [listener]);
  }

  /** a result or broadcast from shard 0; false for other kinds of message. */
  handle(msg: { t?: unknown }): boolean {
    if (msg.t === 'result') {
      const m = msg as Extract<LinkMessage, { t: 'result' }>;
      const p = this.pending.get(m.id);
      if (p === undefined) return true;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(Object.assign(new Error(m.message), m.code !== undefined ? { code: m.code } : {}));
      return true;
    }
    if (msg.t === 'bcast') {
      const m = msg as Extract<LinkMessage, { t: 'bcast' }>;
      for (const l of this.listeners.get(m.topic) ?? []) l(m.payload);
      return true;
    }
    return false;
  }

  /** calls waiting for shard 0. */
  get waiting(): number {
    return this.pending.size;
  }

  /** the thread is going away: every waiting call fails. */
  close(reason = 'shard link closed'): void {
    for (const p of this.pending.values()) p.reject(new Error(reason));
    this.pending.clear();
  }

  context(index: number, count: number): ShardContext {
    return {
      index,
      count,
      main: this,
      provide: () => {
        throw new Error('only shard 0 provides shard services');
      },
      broadcast: () => {},
      on: (topic, listener) => this.on(topic, listener),
    };
  }
}

/**
 * For tests of a module's shard behaviour in one thread: shard 0's context and `workers` worker
 * contexts, linked through MessageChannels as the hub links threads. `close()` ends the channels.
 */
export async function linkedShards(workers: number): Promise<{ main: ShardContext; workers: ShardContext[]; close(): void }> {
  const { MessageChannel } = await import('node:worker_threads');
  const registry = new ServiceRegistry();
  const count = workers + 1;
  const contexts: ShardContext[] = [];
  const channels: Array<{ port1: MessagePort; port2: MessagePort }> = [];
  for (let i = 1; i <= workers; i++) {
    const ch = new MessageChannel();
    channels.push(ch);
    const link = new ShardLink(ch.port2);
    ch.port1.on('message', (m: { t?: unknown }) => registry.handle(m, ch.port1));
    ch.port2.on('message', (m: { t?: unknown }) => link.handle(m));
    registry.addPort(ch.port1);
    contexts.push(link.context(i, count));
  }
  return {
    main: registry.context(count),
    workers: contexts,
    close: () => {
      for (const ch of channels) {
        ch.port1.close();
        ch.port2.close();
      }
    },
  };
}
