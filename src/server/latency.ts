// Per-command statistics for INFO commandstats and latencystats: call counts, total time,
// rejected/failed calls and a latency histogram per command (as Redis 7 keeps them).
// Owns only counters; it never decides what is rejected or failed — the dispatcher reports it.
//
// The histogram is a fixed log-linear bucket array (HDR-style, 128 sub-buckets per power of
// two: ≤ 0.8% relative error, finer than Redis's 2 significant digits). Recording runs per
// command, so it is a few integer ops (docs/perf-notes.md, 'Command dispatch').

import assert from 'node:assert';
import type { CommandSpec } from './command-types.js';

/** Redis CONFIG_LATENCY_HISTOGRAM_MIN/MAX_VALUE: 1 ns .. 1 s. */
const LATENCY_NS_MIN = 1;
const LATENCY_NS_MAX = 1_000_000_000;
/** LATENCY HISTOGRAM reports cumulative counts at 1024 ns, then at each power of two above (Redis's HDR log iteration). */
const CDF_FIRST_NS = 1024;

/** Settings the table reads live (the server's config object). */
export interface LatencyTrackingSettings {
  /** latency-tracking: record per-command histograms. */
  readonly latencyTracking: boolean;
  /** latency-tracking-info-percentiles: what INFO latencystats prints. */
  readonly latencyPercentiles: readonly number[];
}

const TRACK_DEFAULT: LatencyTrackingSettings = { latencyTracking: true, latencyPercentiles: [50, 99, 99.9] };

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

  clear(): void {
    this.counts.fill(0);
    this.totalCount = 0;
  }

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

  /**
   * Cumulative counts at ascending bounds (Prometheus `le` buckets): values whose bucket's
   * highest value is at or below each bound, so a bound's count is exact to the bucket width.
   * One pass over the buckets; the metrics endpoint calls it at scrape time.
   */
  countsAtOrBelow(boundsNs: readonly number[]): number[] {
    const out: number[] = [];
    let seen = 0;
    let b = 0;
    for (const bound of boundsNs) {
      for (; b < HISTOGRAM_BUCKETS && bucketHighestNs(b) <= bound; b++) seen += this.counts[b] as number;
      out.push(seen);
    }
    return out;
  }

  /**
   * LATENCY HISTOGRAM's histogram_usec: [µs, values at or below it] at 1024 ns and each power of
   * two above, the µs being the highest value of that level's bucket, levels that add no value
   * left out, until every value is counted.
   */
  cdfUsec(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let seen = 0;
    let b = 0;
    let prev = 0;
    for (let level = CDF_FIRST_NS; seen < this.totalCount; level *= 2) {
      const top = level >= LATENCY_NS_MAX ? HISTOGRAM_BUCKETS - 1 : bucketOf(level);
      for (; b <= top; b++) seen += this.counts[b] as number;
      if (seen > prev) out.push([Math.floor(bucketHighestNs(top) / 1000), seen]);
      prev = seen;
    }
    return out;
  }
}

export interface CommandStats {
  calls: number;
  usecTotal: number;
  rejectedCalls: number;
  failedCalls: number;
  readonly histogram: LatencyHistogram;
}

/** A container command's subcommand named by argv[1] (compared without case and without allocating), or null. */
export function subcommandOf(subs: readonly string[], arg: Buffer): string | null {
  for (const sub of subs) {
    if (sub.length !== arg.length) continue;
    let i = 0;
    for (; i < sub.length; i++) {
      const c = arg[i] as number;
      if ((c >= 0x41 && c <= 0x5a ? c + 0x20 : c) !== sub.charCodeAt(i)) break;
    }
    if (i === sub.length) return sub;
  }
  return null;
}

export class CommandStatsTable {
  private readonly byName = new Map<string, CommandStats>();

  constructor(private readonly settings: LatencyTrackingSettings = TRACK_DEFAULT) {}

  /**
   * The stats a call counts in: a container command's (CONFIG, CLIENT...) are kept per
   * subcommand under Redis's `config|get` names; an unknown subcommand counts for the container.
   */
  forCommand(spec: CommandSpec, argv: readonly Buffer[]): CommandStats {
    const subs = spec.subcommands;
    if (subs === undefined || argv.length < 2) return this.get(spec.name);
    const sub = subcommandOf(subs, argv[1] as Buffer);
    return this.get(sub === null ? spec.name : `${spec.name}|${sub}`);
  }

  /** Without creating an entry. */
  peek(name: string): CommandStats | undefined {
    return this.byName.get(name);
  }

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
    if (this.settings.latencyTracking) s.histogram.record(Math.round(durationMs * 1e6));
  }

  /**
   * CONFIG RESETSTAT. Zeroed in place, not dropped: the running command (CONFIG RESETSTAT itself)
   * holds its entry and is counted in it once it returns, as Redis counts it.
   */
  reset(): void {
    for (const s of this.byName.values()) {
      s.calls = 0;
      s.usecTotal = 0;
      s.rejectedCalls = 0;
      s.failedCalls = 0;
      s.histogram.clear();
    }
  }

  /** Every command's stats, unsorted (the metrics endpoint reads them at scrape time). */
  entries(): IterableIterator<[string, CommandStats]> {
    return this.byName.entries();
  }

  /** Names with a recorded histogram, sorted (LATENCY HISTOGRAM without arguments). */
  histogramNames(): string[] {
    return [...this.byName].filter(([, s]) => s.histogram.totalCount > 0).map(([n]) => n).sort();
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
      const parts = this.settings.latencyPercentiles.map((p) => `p${p}=${(s.histogram.valueAtPercentile(p) / 1000).toFixed(3)}`);
      out.push(`latency_percentiles_usec_${name}:${parts.join(',')}`);
    }
    return out;
  }
}
