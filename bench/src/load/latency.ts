/**
 * Latency samples of one measurement, kept whole: a run records at most a few hundred thousand, and exact
 * nearest-rank percentiles are easier to trust than a bucketed histogram's approximations.
 */
export class LatencyRecorder {
  private samples = new Float64Array(1024);
  private size = 0;
  private sorted = true;

  record(ms: number): void {
    if (this.size === this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.size++] = ms;
    this.sorted = false;
  }

  get count(): number {
    return this.size;
  }

  /** Nearest-rank percentile (p in 0–100]: the smallest sample with at least p % of samples at or below it. */
  percentile(p: number): number | null {
    if (this.size === 0) return null;
    if (!this.sorted) {
      this.samples.subarray(0, this.size).sort();
      this.sorted = true;
    }
    const rank = Math.max(1, Math.ceil((p / 100) * this.size));
    return this.samples[rank - 1]!;
  }

  summary(): { count: number; p50Ms: number | null; p99Ms: number | null } {
    return { count: this.size, p50Ms: round(this.percentile(50)), p99Ms: round(this.percentile(99)) };
  }
}

/** Figures are reported with three significant decimals at most: the machine's noise is far larger. */
export function round(value: number | null, digits = 3): number | null {
  if (value === null || !Number.isFinite(value)) return null;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
