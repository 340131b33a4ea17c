// Replication lag under load: while a load runs on a primary, sample INFO replication on the
// primary and its replicas together and record how far each replica's applied offset trails.
// Owns the sampling and its statistics; never generates load and never changes server state.

import { setTimeout as delay } from 'node:timers/promises';
import { info, replicaLine } from './info.js';
import type { Flavor } from './topologies.js';

/** Sampling period: often enough for a p99 over a few seconds, rare enough not to load the primary. */
export const LAG_SAMPLE_MS = 50;
/** Hard bound on samples kept (a 10-minute run at LAG_SAMPLE_MS). */
export const LAG_SAMPLES_MAX = 12_000;

export interface LagSamples {
  /** Primary offset minus replica offset, one entry per (sample, replica). kv-ts: writes; redis: bytes. */
  readonly behind: number[];
  /** kv-ts only: the primary's lag_ms per replica (age of the oldest write the replica has not acknowledged). */
  readonly lagMs: number[];
  /** Primary offset at the first and last sample, to turn redis bytes into writes. */
  firstOffset: number;
  lastOffset: number;
}

/** Sample until `running()` turns false; the primary and replica INFO calls go out together. */
export async function sampleLag(flavor: Flavor, primaryPort: number, replicaPorts: readonly number[], running: () => boolean): Promise<LagSamples> {
  const s: LagSamples = { behind: [], lagMs: [], firstOffset: NaN, lastOffset: NaN };
  while (running() && s.behind.length < LAG_SAMPLES_MAX) {
    const [p, ...rs] = await Promise.all([info(primaryPort, 'replication'), ...replicaPorts.map((port) => info(port, 'replication'))]);
    const primaryOffset = Number(p?.get('master_repl_offset'));
    if (Number.isFinite(primaryOffset)) {
      if (Number.isNaN(s.firstOffset)) s.firstOffset = primaryOffset;
      s.lastOffset = primaryOffset;
      for (const r of rs) {
        const replicaOffset = Number(r.get('slave_repl_offset'));
        // The two INFO calls are not one instant: a replica read just after the primary can be ahead.
        if (Number.isFinite(replicaOffset)) s.behind.push(Math.max(0, primaryOffset - replicaOffset));
      }
      if (flavor === 'kv-ts') {
        for (const [k, v] of p ?? []) {
          if (!/^slave\d+$/.test(k)) continue;
          const ms = Number(replicaLine(v).get('lag_ms'));
          if (Number.isFinite(ms)) s.lagMs.push(ms);
        }
      }
    }
    await delay(LAG_SAMPLE_MS);
  }
  return s;
}

/** Exact percentile of a small sample (nearest rank); NaN when empty. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1] as number;
}
