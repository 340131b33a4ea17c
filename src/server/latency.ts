// Per-command statistics for INFO commandstats and latencystats: call counts, total time,
// rejected/failed calls and an HDR latency histogram per command (as Redis 7 keeps them).
// Owns only counters; it never decides what is rejected or failed — the dispatcher reports it.

import * as hdr from 'hdr-histogram-js';

/** Redis CONFIG_LATENCY_HISTOGRAM_MIN/MAX_VALUE: 1 ns .. 1 s, 2 significant digits. */
const LATENCY_NS_MIN = 1;
const LATENCY_NS_MAX = 1_000_000_000;
const LATENCY_SIGNIFICANT_DIGITS = 2;
/** Redis's default latency-tracking-info-percentiles. */
export const LATENCY_PERCENTILES: readonly number[] = [50, 99, 99.9];

export interface CommandStats {
  calls: number;
  usecTotal: number;
  rejectedCalls: number;
  failedCalls: number;
  readonly histogram: hdr.Histogram;
}

export class CommandStatsTable {
  private readonly byName = new Map<string, CommandStats>();

  get(name: string): CommandStats {
    let s = this.byName.get(name);
    if (s === undefined) {
      s = {
        calls: 0,
        usecTotal: 0,
        rejectedCalls: 0,
        failedCalls: 0,
        histogram: hdr.build({
          lowestDiscernibleValue: LATENCY_NS_MIN,
          highestTrackableValue: LATENCY_NS_MAX,
          numberOfSignificantValueDigits: LATENCY_SIGNIFICANT_DIGITS,
          autoResize: false,
        }),
      };
      this.byName.set(name, s);
    }
    return s;
  }

  /** One executed call that took `durationMs` (performance.now() difference). */
  recordCall(s: CommandStats, durationMs: number, failed: boolean): void {
    s.calls++;
    s.usecTotal += durationMs * 1000;
    if (failed) s.failedCalls++;
    const ns = Math.min(LATENCY_NS_MAX, Math.max(LATENCY_NS_MIN, Math.round(durationMs * 1e6)));
    s.histogram.recordValue(ns);
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
      const parts = LATENCY_PERCENTILES.map((p) => `p${p}=${(s.histogram.getValueAtPercentile(p) / 1000).toFixed(3)}`);
      out.push(`latency_percentiles_usec_${name}:${parts.join(',')}`);
    }
    return out;
  }
}
