/**
 * Counters for stats.get_statistics (`dispatcher:<name>`), and the destination-state gauges.
 * With several shards the lead sums every shard's keys: the counters are this shard's work, the
 * gauges of the shared sets come from shard 0 only (`gauges` false in worker shards omits them).
 */
import { isSkipped } from './destination.js';
import type { Dispatcher } from './dispatcher.js';

export function dispatcherStatistics(ds: Dispatcher, gauges = true): Record<string, number> {
  let targets = 0;
  let active = 0;
  let inactive = 0;
  for (const set of ds.sets.ordered) {
    for (const d of set.dests) {
      targets++;
      if (isSkipped(d.flags)) inactive++;
      else active++;
    }
  }
  const c = ds.counters;
  return {
    ...(gauges ? { sets: ds.sets.size, targets, targets_active: active, targets_inactive: inactive } : {}),
    selections: c.selections,
    selection_failures: c.selectionFailures,
    pings_sent: c.pingsSent,
    ping_failures: c.pingFailures,
    reloads: c.reloads,
    reload_failures: c.reloadFailures,
    active_calls: ds.callLoad?.size ?? 0,
    call_load_evicted: ds.callLoad?.evicted ?? 0,
  };
}
