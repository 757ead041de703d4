/**
 * What the main thread and a worker shard post to each other (besides link.ts's services and
 * broadcasts, which share the same port). host/shards/README.md describes the exchange.
 */
import type { Proto } from '../core/context.js';
import type { RpcValue } from '../rpc/types.js';
import type { WireBatch } from './batch.js';

/** A listener of the main thread as a worker shard sees it (channel id = its index). */
export interface ListenerInfo {
  proto: Proto;
  family: 4 | 6;
  address: string;
  port: number;
}

/** The plain-data part of a SiphonConfig (its `source.where` function cannot cross threads). */
export interface WorkerConfig {
  core: Record<string, unknown>;
  modules: Record<string, Record<string, unknown>>;
  routing: Record<string, unknown>;
  source: { file: string | null; dir: string };
}

export interface WorkerData {
  index: number;
  count: number;
  config: WorkerConfig;
  /** the routing plugin the main thread loaded (its current version at start). */
  pluginFile: string;
  listeners: ListenerInfo[];
  logLevel: string;
  /** the main thread's instrumented plugin modules (host/wasm/metering.ts), so a worker does not instrument again. */
  metered: Array<[string, import('../wasm/metering.js').MeteredModule]>;
}

/** Statistics groups of one shard: group → counter → value. */
export type ShardStatistics = Record<string, Record<string, number>>;

/** What a worker shard answers a stats request with. */
export interface ShardSnapshot {
  groups: ShardStatistics;
  metrics: import('../metrics/metrics.js').MetricsSnapshot;
}

export type ToWorker =
  | { t: 'in'; b: WireBatch; sentAt: number; mainDelay: number }
  | { t: 'chan'; id: number; listener: number; address: string; port: number }
  | { t: 'chan-gone'; id: number }
  | { t: 'listeners'; listeners: ListenerInfo[] }
  /** the main thread's instrumented plugins (host/wasm/metering.ts cache), before a plugin.* fan-out. */
  | { t: 'metered'; entries: Array<[string, import('../wasm/metering.js').MeteredModule]> }
  | { t: 'req'; id: number; op: 'stats' }
  | { t: 'req'; id: number; op: 'rpc'; name: string; params: RpcValue[] }
  | { t: 'req'; id: number; op: 'stop' }
  /** a stream send of the worker's (failId) could not be made (connect / TLS refused): Channel.send's `failed`. */
  | { t: 'send-failed'; id: number };

export type FromWorker =
  | { t: 'out'; b: WireBatch }
  | { t: 'log'; lines: string[] }
  | { t: 'res'; id: number; ok: true; value: unknown }
  | { t: 'res'; id: number; ok: false; message: string; code?: number | string }
  | { t: 'ready' }
  | { t: 'failed'; message: string; code?: number | string };

/** channel ids of TCP connections start here; below are listener indexes. */
export const FIRST_CONNECTION_ID = 1 << 16;
