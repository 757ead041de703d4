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
