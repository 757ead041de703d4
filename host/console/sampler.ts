/**
 * The overview's history: every sample_interval seconds one sample of the node's counters, read through
 * the RPC registry (stats.get_statistics all, plugin.list) like any operator tool would, kept in a ring
 * of one hour (3600 / sample_interval samples). Rates are the difference of two consecutive samples.
 * Siremis draws the same from Kamailio's statistics over RPC; nothing here touches the message path.
 */
import type { RpcRegistry, RpcValue } from '../rpc/types.js';

export interface Sample {
  /** ms since the epoch. */
  t: number;
  /** new dialogs per second (dialog:processed_dialogs); requests/s when the dialog module is off. */
  calls_per_s: number;
  requests_per_s: number;
  active_dialogs: number;
  registrations: number;
  /** parse errors, sanity failures, plugin errors/traps, internal errors: per second. */
  errors_per_s: number;
  /** routing plugin hook latency (plugin.list of the current version), µs. */
  hook_avg_us: number;
  hook_p99_us: number;
}

/** `group:name = value` lines of stats.get_statistics → a map. */
export function statisticsMap(v: RpcValue): Map<string, number> {
  const out = new Map<string, number>();
  if (!Array.isArray(v)) return out;
  for (const line of v) {
    if (typeof line !== 'string') continue;
    const eq = line.indexOf(' = ');
    if (eq > 0) out.set(line.slice(0, eq), Number(line.slice(eq + 3)) || 0);
  }
  return out;
}

const ERROR_KEYS = ['core:parseErrors', 'core:sanityFailures', 'core:pluginErrors', 'core:internalErrors'];

export class OverviewSampler {
  private readonly ring: (Sample | undefined)[];
  private next = 0;
  private timer: NodeJS.Timeout | null = null;
  private prev: { t: number; calls: number; requests: number; errors: number } | null = null;
  private readonly listeners = new Set<(s: Sample) => void>();
  private sampling = false;

  constructor(
    private readonly registry: RpcRegistry,
    private readonly intervalS: number,
  ) {
    this.ring = new Array<Sample | undefined>(Math.ceil(3600 / intervalS));
  }

  start(): void {
    if (this.timer !== null) return;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalS * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.listeners.clear();
  }

  onSample(f: (s: Sample) => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** the last hour, oldest first. */
  history(): Sample[] {
    const out: Sample[] = [];
    for (let i = 0; i < this.ring.length; i++) {
      const s = this.ring[(this.next + i) % this.ring.length];
      if (s !== undefined) out.push(s);
    }
    return out;
  }

  /** takes one sample now (also called by the timer); overlapping calls are skipped. */
  async sample(): Promise<Sample | null> {
    if (this.sampling) return null;
    this.sampling = true;
    try {
      const stats = statisticsMap(await this.registry.call('stats.get_statistics', ['all']));
      let hookAvg = 0;
      let hookP99 = 0;
      if (this.registry.get('plugin.list')) {
        const list = await this.registry.call('plugin.list', []);
        const cur = Array.isArray(list) ? list.find((p) => typeof p === 'object' && p !== null && !Array.isArray(p) && p.state === 'current') : undefined;
        if (cur && typeof cur === 'object' && !Array.isArray(cur)) {
          hookAvg = Number(cur.hook_avg_us) || 0;
          hookP99 = Number(cur.hook_p99_us) || 0;
        }
      }
      const t = Date.now();
      const requests = stats.get('core:requests') ?? 0;
      const hasDialogs = stats.has('dialog:processed_dialogs');
      const calls = hasDialogs ? stats.get('dialog:processed_dialogs')! : requests;
      let errors = stats.get('plugin:traps') ?? 0;
      for (const k of ERROR_KEYS) errors += stats.get(k) ?? 0;
      let registrations = 0;
      for (const [k, v] of stats) if (k.endsWith(':registered_contacts')) registrations += v;
      const p = this.prev;
      const dt = p === null ? 0 : Math.max(0.001, (t - p.t) / 1000);
      const rate = (now: number, before: number | undefined): number => (p === null || before === undefined ? 0 : Math.max(0, Math.round(((now - before) / dt) * 100) / 100));
      const s: Sample = {
        t,
        calls_per_s: rate(calls, p?.calls),
        requests_per_s: rate(requests, p?.requests),
        active_dialogs: stats.get('dialog:active_dialogs') ?? 0,
        registrations,
        errors_per_s: rate(errors, p?.errors),
        hook_avg_us: hookAvg,
        hook_p99_us: hookP99,
      };
      this.prev = { t, calls, requests, errors };
      this.ring[this.next] = s;
      this.next = (this.next + 1) % this.ring.length;
      for (const f of this.listeners) f(s);
      return s;
    } catch {
      return null;
    } finally {
      this.sampling = false;
    }
  }
}
