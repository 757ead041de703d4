/**
 * Keepalive round-trip statistics of one destination (Kamailio `latency_stats_update`,
 * `ds_ping_latency_stats=1`): Welford running mean and standard deviation, an EWMA estimate,
 * maximum, and the count of 408 timeouts.
 */

/** after 2^21 samples the mean becomes a weighted average (Kamailio). */
const COUNT_CAP = 2097152;
/** samples after which a stable estimator is considered trained. */
const TRAINING_COUNT = 10000;

export class LatencyStats {
  average = 0;
  stdev = 0;
  estimate = 0;
  max = 0;
  min = 0;
  /** Welford's sum of squared differences. */
  m2 = 0;
  count = 0;
  timeout = 0;
  /** when the outstanding keepalive was sent (ms, monotonic), 0 when none. */
  start = 0;

  /** `latency=` attribute: seeds AVG/EST/MAX/MIN as if trained (count 10000). */
  seed(latencyMs: number, count = TRAINING_COUNT): void {
    this.stdev = 0;
    this.m2 = 0;
    this.max = latencyMs;
    this.min = latencyMs;
    this.average = latencyMs;
    this.estimate = latencyMs;
    this.count = count;
  }

  /** Adds one sample; `alpha` is the EWMA weight of the newest sample (0..1). */
  add(latencyMs: number, alpha: number): void {
    if (this.count < COUNT_CAP) this.count++;
    else this.m2 -= this.m2 / (this.count || 1);
    if (this.count === 1) this.seed(latencyMs, 1);
    // a stable average after 10 samples trains the estimator at once
    if (this.count > 10 && this.count < TRAINING_COUNT && this.stdev < 0.5) this.count = TRAINING_COUNT;
    if (this.min > latencyMs) this.min = latencyMs;
    if (this.max < latencyMs) this.max = latencyMs;
    if (this.count > 1) {
      const delta = latencyMs - this.average;
      this.average += delta / (this.count || 1);
      const delta2 = latencyMs - this.average;
      this.m2 += delta * delta2;
      this.stdev = Math.sqrt(this.m2 / (this.count - 1 || 1));
    }
    if (this.count < 10) this.estimate = this.average;
    else this.estimate = latencyMs * alpha + this.estimate * (1 - alpha);
  }

  copyFrom(o: LatencyStats): void {
    this.average = o.average;
    this.stdev = o.stdev;
    this.estimate = o.estimate;
    this.max = o.max;
    this.min = o.min;
    this.m2 = o.m2;
    this.count = o.count;
    this.timeout = o.timeout;
  }
}

/** What congestion control reads and writes of a destination (destination.ts Destination). */
interface CongestionTarget {
  readonly attrs: { readonly cc: number; readonly weight: number };
  readonly latency: LatencyStats;
  rweight: number;
}

/**
 * Congestion control (Kamailio ds_update_latency, `cc=1`) after a new sample of `d`: its relative
 * weight is lowered by the estimated congestion in ms (EST - AVG); when every target of the set is
 * congested they share by the ratio of congestion. True when the set's alg 11/15 tables must be
 * rebuilt (every target has cc and a weight changed).
 */
export function applyCongestion(set: { readonly dests: readonly CongestionTarget[] }, d: CongestionTarget): boolean {
  let congested = 0;
  let normal = 0;
  let totalCms = 0;
  let enabled = true;
  let changed = false;
  for (const x of set.dests) {
    if (x.attrs.cc && x.attrs.weight > 0) {
      const cms = Math.max(0, Math.trunc(x.latency.estimate - x.latency.average));
      totalCms += cms;
      const active = Math.max(0, x.attrs.weight - cms);
      if (active === 0) congested++;
      else normal++;
      if (x === d && x.rweight !== active) {
        x.rweight = active;
        changed = true;
      }
    }
    if (!x.attrs.cc) enabled = false;
  }
  if (enabled && congested > 1 && normal === 0) {
    for (const x of set.dests) {
      const cms = Math.trunc(x.latency.estimate - x.latency.average);
      const active = Math.trunc((totalCms << 4) / (cms || 1));
      if (x.rweight !== active) {
        x.rweight = active;
        changed = true;
      }
    }
  }
  return enabled && changed;
}
