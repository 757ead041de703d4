/**
 * Prometheus metrics of a siphon node, on a private prom-client Registry (never the global one, so two
 * nodes in one process or a test suite do not collide). Served as `GET /metrics` by the control plane's
 * HTTP listener, in the spirit of Kamailio's xhttp_prom.
 *
 * Hot-path cost: prom-client's label children hash their label object on every increment, so the
 * message-path instruments here are plain numbers in typed arrays instead (counting a request is one Map
 * lookup by method name plus one array increment; a hook observation a scan over 12 bucket bounds) and
 * are turned into Prometheus series only when /metrics is scraped.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { RpcCallObserver } from '../rpc/binrpc.js';
import type { StatisticsProvider } from '../rpc/core-methods.js';

/** Methods that get their own label value; anything else is counted as "other" (bounded cardinality). */
export const KNOWN_SIP_METHODS = [
  'INVITE',
  'ACK',
  'BYE',
  'CANCEL',
  'REGISTER',
  'OPTIONS',
  'INFO',
  'UPDATE',
  'PRACK',
  'SUBSCRIBE',
  'NOTIFY',
  'PUBLISH',
  'MESSAGE',
  'REFER',
] as const;

/** Hook latency buckets: 10 µs .. 80 ms, hooks are expected to run in microseconds. */
export const HOOK_BUCKETS: readonly number[] = [1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 8e-2];

/**
 * The message-path counters the pipeline and the proxy feed (SiphonMetrics implements it): each call
 * is an array increment, no allocation. (additive)
 */
export interface MessageMetrics {
  requestIn(method: string): void;
  requestOut(method: string): void;
  replyIn(status: number): void;
  replyOut(status: number): void;
  parseError(proto: string): void;
}

/** Transaction counts read at scrape time (TransactionLayer.stats and live table sizes). */
export interface TransactionCounts {
  serverCreated: number;
  clientCreated: number;
  clientTimeouts: number;
}

/** Per (plugin, hook) instruments, bound once. */
export interface HookMetrics {
  /** one hook call took `seconds`. */
  observe(seconds: number): void;
  /** the hook trapped / aborted / ran out of gas. */
  trap(kind: 'trap' | 'abort' | 'gas' | 'timeout'): void;
  /** gas units used by one call. */
  gas(units: number): void;
}

export interface SiphonMetricsOptions {
  /** default metrics (process, GC, event-loop lag); on unless false. */
  defaultMetrics?: boolean;
  /** constant labels added to every metric, e.g. { node: 'edge-1' }. */
  labels?: Record<string, string>;
  /** metric name prefix, default "siphon_". */
  prefix?: string;
}

type Labels = Record<string, string | number>;
interface SeriesValue {
  labels: Labels;
  value: number;
  metricName?: string;
}

/**
 * A metric whose series are produced at scrape time from state kept elsewhere; it has the shape
 * prom-client's Registry.registerMetric expects (name, help, type, get()).
 */
class ScrapedMetric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly produce: () => SeriesValue[],
  ) {}

  get(): { name: string; help: string; type: string; values: SeriesValue[]; aggregator: 'sum' } {
    return { name: this.name, help: this.help, type: this.type, values: this.produce(), aggregator: 'sum' };
  }
}

const METHOD_LABELS: readonly string[] = [...KNOWN_SIP_METHODS, 'other'];
const CLASS_LABELS: readonly string[] = ['other', '1xx', '2xx', '3xx', '4xx', '5xx', '6xx'];
const OTHER_METHOD = KNOWN_SIP_METHODS.length;

class HookInstruments implements HookMetrics {
  /** per-bucket (non-cumulative) counts; the last slot is +Inf. */
  readonly buckets = new Float64Array(HOOK_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  readonly traps = { trap: 0, abort: 0, gas: 0, timeout: 0 };
  gasUsed = 0;

  constructor(
    readonly plugin: string,
    readonly hook: string,
  ) {}

  observe(seconds: number): void {
    let i = 0;
    while (i < HOOK_BUCKETS.length && seconds > HOOK_BUCKETS[i]!) i++;
    this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
  }

  trap(kind: 'trap' | 'abort' | 'gas' | 'timeout'): void {
    this.traps[kind]++;
  }

  gas(units: number): void {
    this.gasUsed += units;
  }
}

/** One hook's instruments as plain data. */
export interface HookSnapshot {
  plugin: string;
  hook: string;
  buckets: ArrayLike<number> & Iterable<number>;
  sum: number;
  count: number;
  traps: { trap: number; abort: number; gas: number; timeout: number };
  gasUsed: number;
}

/** A shard's message-path counters (SiphonMetrics.snapshot), summed into the node's /metrics. */
export interface MetricsSnapshot {
  /** [direction in/out][method index] */
  requests: number[][];
  /** [direction in/out][status class] */
  replies: number[][];
  parseErrors: Record<string, number>;
  hooks: Array<HookSnapshot & { buckets: number[] }>;
  transactions: TransactionCounts | null;
}

export class SiphonMetrics implements RpcCallObserver, MessageMetrics {
  /** the private registry; `text()` renders it. */
  readonly registry = new Registry();
  private readonly methodIndex = new Map<string, number>();
  /** [direction in=0/out=1][method index] */
  private readonly requests = [new Float64Array(METHOD_LABELS.length), new Float64Array(METHOD_LABELS.length)];
  /** [direction][status class, 0 = outside 100..699] */
  private readonly replies = [new Float64Array(CLASS_LABELS.length), new Float64Array(CLASS_LABELS.length)];
  private readonly parseErrors = new Map<string, number>([
    ['udp', 0],
    ['tcp', 0],
  ]);
  private readonly hooks = new Map<string, HookInstruments>();
  private readonly rpcCalls = new Map<string, number>();
  private readonly providers = new Set<StatisticsProvider>();
  private transactionSource: (() => TransactionCounts) | null = null;
  /** core.workers > 1: the worker shards' last snapshots, added in at scrape time (host/shards/). */
  private peers: () => readonly MetricsSnapshot[] = () => [];
  private beforeScrape: (() => Promise<void>) | null = null;

  constructor(opts: SiphonMetricsOptions = {}) {
    const prefix = opts.prefix ?? 'siphon_';
    if (opts.labels) this.registry.setDefaultLabels(opts.labels);
    if (opts.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, prefix, eventLoopMonitoringPrecision: 20 });
    }
    KNOWN_SIP_METHODS.forEach((m, i) => this.methodIndex.set(m, i));
    const dirs = ['in', 'out'] as const;
    const add = (name: string, help: string, type: 'counter' | 'gauge' | 'histogram', produce: () => SeriesValue[]): void =>
      this.registry.registerMetric(new ScrapedMetric(`${prefix}${name}`, help, type, produce) as never);

    add('sip_requests_total', 'SIP requests received (in) and sent (out), by method', 'counter', () =>
      dirs.flatMap((direction, d) =>
        METHOD_LABELS.map((method, i) => ({ labels: { direction, method }, value: this.requests[d]![i]! + this.peerSum((p) => p.requests[d]![i]!) })),
      ),
    );
    add('sip_replies_total', 'SIP replies received (in) and sent (out), by status class', 'counter', () =>
      dirs.flatMap((direction, d) =>
        CLASS_LABELS.map((cls, i) => ({ labels: { direction, class: cls }, value: this.replies[d]![i]! + this.peerSum((p) => p.replies[d]![i]!) })),
      ),
    );
    add('sip_parse_errors_total', 'SIP messages dropped because they did not parse, by transport', 'counter', () =>
      [...this.parseErrors].map(([proto, value]) => ({ labels: { proto }, value: value + this.peerSum((p) => p.parseErrors[proto] ?? 0) })),
    );
    const hookName = `${prefix}plugin_hook_duration_seconds`;
    add('plugin_hook_duration_seconds', 'Wall time of one plugin hook call', 'histogram', () => {
      const out: SeriesValue[] = [];
      for (const h of this.allHooks()) {
        let cumulative = 0;
        for (let i = 0; i <= HOOK_BUCKETS.length; i++) {
          cumulative += h.buckets[i]!;
          out.push({
            metricName: `${hookName}_bucket`,
            labels: { le: i < HOOK_BUCKETS.length ? HOOK_BUCKETS[i]! : '+Inf', plugin: h.plugin, hook: h.hook },
            value: cumulative,
          });
        }
        out.push({ metricName: `${hookName}_sum`, labels: { plugin: h.plugin, hook: h.hook }, value: h.sum });
        out.push({ metricName: `${hookName}_count`, labels: { plugin: h.plugin, hook: h.hook }, value: h.count });
      }
      return out;
    });
    add('plugin_traps_total', 'Plugin hook calls that trapped, aborted, ran out of gas or were stopped by the wall-clock guard (timeout)', 'counter', () =>
      this.allHooks().flatMap((h) =>
        (['trap', 'abort', 'gas', 'timeout'] as const).map((kind) => ({
          labels: { plugin: h.plugin, hook: h.hook, kind },
          value: h.traps[kind],
        })),
      ),
    );
    add('plugin_gas_used_total', 'Gas units consumed by plugin hook calls', 'counter', () =>
      this.allHooks().map((h) => ({ labels: { plugin: h.plugin, hook: h.hook }, value: h.gasUsed })),
    );
    add('rpc_calls_total', 'Control-plane RPC calls, by transport and outcome', 'counter', () =>
      [...this.rpcCalls].map(([key, value]) => {
        const [transport, outcome] = key.split(':');
        return { labels: { transport: transport!, outcome: outcome! }, value };
      }),
    );
    add('sip_transactions_total', 'RFC 3261 §17 transactions created, by kind (server, client), and client transactions that timed out', 'counter', () => {
      const own = this.transactionSource?.();
      if (!own) return [];
      const t = { serverCreated: own.serverCreated, clientCreated: own.clientCreated, clientTimeouts: own.clientTimeouts };
      for (const p of this.peers()) {
        if (p.transactions === null) continue;
        t.serverCreated += p.transactions.serverCreated;
        t.clientCreated += p.transactions.clientCreated;
        t.clientTimeouts += p.transactions.clientTimeouts;
      }
      return [
        { labels: { kind: 'server' }, value: t.serverCreated },
        { labels: { kind: 'client' }, value: t.clientCreated },
        { labels: { kind: 'client_timeout' }, value: t.clientTimeouts },
      ];
    });
    // Module statistics() bridge: read at scrape time, never on the message path.
    add(
      'module_statistic',
      'Module counters as reported by statistics() (the same values as stats.get_statistics)',
      'gauge',
      () => {
        const out: SeriesValue[] = [];
        for (const p of this.providers) {
          const stats = p.statistics();
          for (const name of Object.keys(stats)) out.push({ labels: { module: p.name, name }, value: stats[name]! });
        }
        return out;
      },
    );
  }

  /** a request arrived (method as parsed, e.g. "INVITE"). */
  requestIn(method: string): void {
    this.requests[0]![this.methodIndex.get(method) ?? OTHER_METHOD]!++;
  }

  requestOut(method: string): void {
    this.requests[1]![this.methodIndex.get(method) ?? OTHER_METHOD]!++;
  }

  replyIn(status: number): void {
    const c = (status / 100) | 0;
    this.replies[0]![c >= 1 && c <= 6 ? c : 0]!++;
  }

  replyOut(status: number): void {
    const c = (status / 100) | 0;
    this.replies[1]![c >= 1 && c <= 6 ? c : 0]!++;
  }

  parseError(proto: string): void {
    this.parseErrors.set(proto, (this.parseErrors.get(proto) ?? 0) + 1);
  }

  /** instruments for one plugin hook; call once when the plugin is loaded and keep the result. */
  hook(plugin: string, hook: string): HookMetrics {
    const key = `${plugin}\u0000${hook}`;
    let h = this.hooks.get(key);
    if (!h) this.hooks.set(key, (h = new HookInstruments(plugin, hook)));
    return h;
  }

  rpcCall(transport: 'binrpc' | 'jsonrpc', outcome: 'ok' | 'fault' | 'error'): void {
    const key = `${transport}:${outcome}`;
    this.rpcCalls.set(key, (this.rpcCalls.get(key) ?? 0) + 1);
  }

  /** the transaction layer's counters, read when /metrics is scraped. */
  setTransactionSource(source: (() => TransactionCounts) | null): void {
    this.transactionSource = source;
  }

  /** exposes a module's statistics() (or any provider) as siphon_module_statistic. */
  addStatisticsProvider(p: StatisticsProvider): void {
    this.providers.add(p);
  }

  removeStatisticsProvider(p: StatisticsProvider): void {
    this.providers.delete(p);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** the Prometheus text exposition. */
  async text(): Promise<string> {
    if (this.beforeScrape !== null) await this.beforeScrape();
    return this.registry.metrics();
  }

  /** this thread's message-path counters as plain data (a worker shard's part of the node's /metrics). */
  snapshot(): MetricsSnapshot {
    const t = this.transactionSource?.();
    return {
      requests: this.requests.map((a) => [...a]),
      replies: this.replies.map((a) => [...a]),
      parseErrors: Object.fromEntries(this.parseErrors),
      hooks: [...this.hooks.values()].map((h) => ({ plugin: h.plugin, hook: h.hook, buckets: [...h.buckets], sum: h.sum, count: h.count, traps: { ...h.traps }, gasUsed: h.gasUsed })),
      transactions: t ? { serverCreated: t.serverCreated, clientCreated: t.clientCreated, clientTimeouts: t.clientTimeouts } : null,
    };
  }

  /**
   * core.workers > 1: adds the worker shards' snapshots to every series at scrape time; `refresh`
   * fetches fresh ones before a scrape. (additive)
   */
  addPeers(peers: () => readonly MetricsSnapshot[], refresh: () => Promise<void>): void {
    this.peers = peers;
    this.beforeScrape = refresh;
  }

  private peerSum(pick: (p: MetricsSnapshot) => number): number {
    let n = 0;
    for (const p of this.peers()) n += pick(p);
    return n;
  }

  /** this thread's hook instruments plus the peers', summed per plugin and hook. */
  private allHooks(): HookSnapshot[] {
    const peers = this.peers();
    const own = [...this.hooks.values()];
    if (peers.length === 0) return own;
    const byKey = new Map<string, HookSnapshot & { buckets: number[] }>();
    const add = (h: HookSnapshot): void => {
      const key = `${h.plugin}\u0000${h.hook}`;
      const have = byKey.get(key);
      if (!have) {
        byKey.set(key, { plugin: h.plugin, hook: h.hook, buckets: [...h.buckets], sum: h.sum, count: h.count, traps: { ...h.traps }, gasUsed: h.gasUsed });
        return;
      }
      for (let i = 0; i < have.buckets.length; i++) have.buckets[i] = have.buckets[i]! + (h.buckets[i] ?? 0);
      have.sum += h.sum;
      have.count += h.count;
      have.gasUsed += h.gasUsed;
      for (const k of ['trap', 'abort', 'gas', 'timeout'] as const) have.traps[k] += h.traps[k];
    };
    for (const h of own) add(h);
    for (const p of peers) for (const h of p.hooks) add(h);
    return [...byKey.values()];
  }
}
