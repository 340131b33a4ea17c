// Per-command statistics for INFO commandstats and latencystats: call counts, total time,
// rejected/failed calls and a latency histogram per command (as Redis 7 keeps them).
// Owns only counters; it never decides what is rejected or failed — the dispatcher reports it.
//
// The histogram is a fixed log-linear bucket array (HDR-style, 128 sub-buckets per power of
// two: ≤ 0.8% relative error, finer than Redis's 2 significant digits). Recording runs per
// command, so it is a few integer ops (docs/perf-notes.md, 'Command dispatch').

import assert from 'node:assert';

/** Redis CONFIG_LATENCY_HISTOGRAM_MIN/MAX_VALUE: 1 ns .. 1 s. */
const LATENCY_NS_MIN = 1;
const LATENCY_NS_MAX = 1_000_000_000;
/** Redis's default latency-tracking-info-percentiles. */
export const LATENCY_PERCENTILES: readonly number[] = [50, 99, 99.9];

/** Values below this many ns get one bucket each; above, 2^SUB_BITS buckets per power of two. */
const SUB_BITS = 7;
const SUB_BUCKETS = 1 << SUB_BITS;
/** Highest power of two that LATENCY_NS_MAX needs (2^29 <= 1e9 < 2^30). */
const EXPONENT_MAX = 29;
/** Buckets: SUB_BUCKETS exact ones, then SUB_BUCKETS per exponent SUB_BITS..EXPONENT_MAX. */
export const HISTOGRAM_BUCKETS = SUB_BUCKETS + (EXPONENT_MAX - SUB_BITS + 1) * SUB_BUCKETS;

/** Bucket of a value in [LATENCY_NS_MIN, LATENCY_NS_MAX] (an integer). */
export function bucketOf(ns: number): number {
  if (ns < SUB_BUCKETS) return ns;
  const e = 31 - Math.clz32(ns); // ns < 2^30, so this is floor(log2(ns)) and e >= SUB_BITS
  const sub = ns >>> (e - SUB_BITS); // in [SUB_BUCKETS, 2 * SUB_BUCKETS)
  return SUB_BUCKETS + (e - SUB_BITS) * SUB_BUCKETS + (sub - SUB_BUCKETS);
}

/** Highest value that falls in bucket `b` (what HDR's getValueAtPercentile reports). */
export function bucketHighestNs(b: number): number {
  if (b < SUB_BUCKETS) return b;
  const e = SUB_BITS + Math.floor((b - SUB_BUCKETS) / SUB_BUCKETS);
  const sub = SUB_BUCKETS + ((b - SUB_BUCKETS) % SUB_BUCKETS);
  const width = 2 ** (e - SUB_BITS);
  return sub * width + width - 1;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(HISTOGRAM_BUCKETS);
  totalCount = 0;

  record(ns: number): void {
    const v = ns < LATENCY_NS_MIN ? LATENCY_NS_MIN : ns > LATENCY_NS_MAX ? LATENCY_NS_MAX : ns;
    const b = bucketOf(v);
    this.counts[b] = (this.counts[b] as number) + 1;
    this.totalCount++;
  }

  /** HDR semantics: the highest value of the bucket holding the ceil(p% of count)-th value. */
  valueAtPercentile(p: number): number {
    assert(p >= 0 && p <= 100, 'percentile out of range');
    if (this.totalCount === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.totalCount));
    let seen = 0;
    for (let b = 0; b < HISTOGRAM_BUCKETS; b++) {
      seen += this.counts[b] as number;
      if (seen >= rank) return bucketHighestNs(b);
    }
    return LATENCY_NS_MAX; // unreachable: the counts sum to totalCount
  }
}

export interface CommandStats {
  calls: number;
  usecTotal: number;
  rejectedCalls: number;
  failedCalls: number;
  readonly histogram: LatencyHistogram;
}

export class CommandStatsTable {
  private readonly byName = new Map<string, CommandStats>();

  get(name: string): CommandStats {
    let s = this.byName.get(name);
    if (s === undefined) {
      s = { calls: 0, usecTotal: 0, rejectedCalls: 0, failedCalls: 0, histogram: new LatencyHistogram() };
      this.byName.set(name, s);
    }
    return s;
  }

  /** One executed call that took `durationMs` (performance.now() difference). */
  recordCall(s: CommandStats, durationMs: number, failed: boolean): void {
    s.calls++;
    s.usecTotal += durationMs * 1000;
    if (failed) s.failedCalls++;
    s.histogram.record(Math.round(durationMs * 1e6));
  }

  reset(): void {
    this.byName.clear();
  }

  /** `cmdstat_get:calls=2,usec=15,usec_per_call=7.50,rejected_calls=0,failed_calls=0` lines. */
  commandStatsLines(): string[] {
    const out: string[] = [];
    for (const [name, s] of [...this.byName].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      if (s.calls === 0 && s.rejectedCalls === 0 && s.failedCalls === 0) continue;
      const usec = Math.round(s.usecTotal);
      const perCall = s.calls === 0 ? 0 : s.usecTotal / s.calls;
      out.push(`cmdstat_${name}:calls=${s.calls},usec=${usec},usec_per_call=${perCall.toFixed(2)},rejected_calls=${s.rejectedCalls},failed_calls=${s.failedCalls}`);
    }
    return out;
  }

  /** `latency_percentiles_usec_get:p50=1.003,p99=3.007,p99.9=10.015` lines (Redis 7 format). */
  latencyLines(): string[] {
    const out: string[] = [];
    for (const [name, s] of [...this.byName].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      if (s.histogram.totalCount === 0) continue;
      const parts = LATENCY_PERCENTILES.map((p) => `p${p}=${(s.histogram.valueAtPercentile(p) / 1000).toFixed(3)}`);
      out.push(`latency_percentiles_usec_${name}:${parts.join(',')}`);
    }
    return out;
  }
}
