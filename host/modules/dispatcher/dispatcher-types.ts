/**
 * The Dispatcher's interface types: how a selection is applied (Kamailio DS_SETOP_*), the request
 * fields it writes, dst-up / dst-down events, counters, options and the shard sync hooks. Split out
 * of dispatcher.ts.
 */
import type { Logger } from 'pino';
import type { Destination } from './destination.js';
import type { Prober } from './prober.js';
import type { DestinationSet } from './sets.js';

/** How a selection is applied to the request (Kamailio DS_SETOP_*). */
export const SetOp = { DST_URI: 0, RURI: 1, XAVP: 2 } as const;
export type SetOpValue = (typeof SetOp)[keyof typeof SetOp];

/** The request fields a selection writes. */
export interface DsRouteTarget {
  dstUri: string | null;
  readonly requestUri: string;
  setRequestUri(uri: string): void;
}

/** Emitted as 'dst-up' / 'dst-down' (Kamailio event_route[dispatcher:dst-up|down]). */
export interface DsStateEvent {
  name: 'dispatcher:dst-up' | 'dispatcher:dst-down';
  setid: number;
  uri: string;
  /** reply code that caused it (keepalive), 800/810/820 for function calls as in Kamailio. */
  code: number;
  reason: string;
  source: 'keepalive' | 'function' | 'init';
}

export interface DispatcherCounters {
  selections: number;
  selectionFailures: number;
  pingsSent: number;
  pingFailures: number;
  reloads: number;
  reloadFailures: number;
}

export interface DispatcherOptions {
  log?: Logger;
  prober?: Prober | null;
  /** name resolution for destinations (tests may inject). */
  resolve?: (host: string) => Promise<string[]>;
}

/**
 * How one Dispatcher takes part in a node of several shards (shards.ts); absent with one shard.
 * Shard 0's sync announces every runtime change; a worker shard's sync forwards plugin marks.
 */
export interface DispatcherSync {
  /** true in worker shards: shard 0 owns the state and fires the dst-up/dst-down events. */
  readonly replica: boolean;
  /** a destination's runtime state (flags, counters, relative weight, latency) changed. */
  changed(set: DestinationSet, d: Destination): void;
  /** a new snapshot is in use (reload, add, remove). */
  published(): void;
  /** ds_mark_dst / ds_mark_addr applied here (thresholds bypassed): `state` as requested. */
  marked(state: number, setid: number, uri: string, code: number): void;
}
