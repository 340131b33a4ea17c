// The suite's time budget: how long each row takes for given -n, rounds and duration, printed
// before a run starts (and by --plan instead of running), and the --quick preset. Pure
// arithmetic from per-request costs and fixed overheads measured on a 2-core machine; never
// measures or runs anything itself, so an estimate is a plan, not a result.

import { COLLECTION_READS, COLLECTION_TESTS, PIPELINES, row6Requests } from './suite-rows.js';
import { ROW7_VARIANTS, row7Requests, YCSB_WORKLOADS } from './suite-workloads.js';

/** `--quick`: rows 1 and 2, fsync everysec only, fewer requests, one round (a few minutes). */
export const QUICK_ROWS: readonly number[] = [1, 2];
export const QUICK_REQUESTS = 200_000;
export const QUICK_ROUNDS = 1;
/** Row 9 (10M keys): a whole run of it took 220 s on the quiet 2-core machine (403 s at load 5-10). */
const BIGKEYS_ROW_SEC = 230;
/** What a whole default run must stay under on a 2-core machine. */
export const WHOLE_RUN_BUDGET_SEC = 20 * 60;

export interface BudgetPlan {
  readonly rows: readonly number[];
  readonly requests: number;
  readonly rounds: number;
  readonly durationSec: number;
  readonly fsyncModes: readonly string[];
}

/**
 * Assumed throughput of one redis-benchmark run at -c 50, 100 B values: the slower system's,
 * rounded down from the suite's recorded quiet runs on the 2-core machine (rows 1 and 2 of
 * docs/benchmarks.md), so an estimate errs long: the whole run of 2026-12-07 (rows 1-8, quiet)
 * took 14:15 against an estimate of 17:11 at 42k/s (16:17 at 47k/s: still long).
 */
const RPS_P1 = 47_000;
const RPS_P16 = 300_000;
/** SET with every write fsynced before its reply (row 1 fsync always, group-committed). */
const RPS_FSYNC_ALWAYS = 35_000;
/** A replicated primary (row 2) answers slower than a single node. */
const REPLICATED_FACTOR = 0.75;
/** Row 6's tests relative to SET: LRANGE_100 and LRANGE_600 return 100 and 600 elements. */
const ROW6_TEST_COST: Readonly<Record<string, number>> = { lrange_100: 3, lrange_600: 10 };
/** Row 7's variants relative to a 100 B SET (bytes moved, clients served, keys per request). */
const ROW7_COST: Readonly<Record<string, number>> = { '-d 1024': 1.5, '-d 16384': 8, '-c 1000': 1.5, '(10 keys)': 4, '': 1 };
/** Per redis-benchmark or kv-bench process: start, connect, report. */
const RUN_OVERHEAD_SEC = 0.5;
/** Starting and stopping one row's servers (a kv-ts cluster and an etcd cluster take longest). */
const SERVERS_SEC: Readonly<Record<number, number>> = { 1: 4, 2: 6, 3: 12, 4: 0, 5: 10, 6: 4, 7: 4, 8: 4 };
/** Cold pass size (suite-rows.ts COLD_REQUESTS). */
const COLD_REQUESTS = 200_000;
/** Preloads of rows 4 and 8 (10k resp. 100k keys at -P 16). */
const PRELOAD_SEC = 5;

const SYSTEMS_REDIS_BENCHMARK = 2;

/** Seconds for the cold pass plus the rounds of one redis-benchmark line set. */
function redisBenchmarkSec(requests: number, rounds: number, tests: number, cost: number, cold: boolean): number {
  const coldN = Math.min(COLD_REQUESTS, requests);
  const coldSec = cold ? SYSTEMS_REDIS_BENCHMARK * (tests * cost * coldN / RPS_P1 + RUN_OVERHEAD_SEC) : 0;
  let perRound = 0;
  for (const p of PIPELINES) perRound += SYSTEMS_REDIS_BENCHMARK * (tests * cost * requests / (p === 1 ? RPS_P1 : RPS_P16) + RUN_OVERHEAD_SEC);
  return coldSec + rounds * perRound;
}

/** Estimated seconds of one row under `plan` (0 for a row this module does not know). */
export function estimateRowSec(row: number, plan: BudgetPlan): number {
  const { requests: n, rounds, durationSec: d } = plan;
  const kvBenchRun = d + RUN_OVERHEAD_SEC;
  const servers = SERVERS_SEC[row] ?? 0;
  switch (row) {
    case 1: {
      let s = 0;
      for (const mode of plan.fsyncModes) {
        // SET and GET; under fsync always the SET half runs at the fsync rate.
        const setCost = mode === 'always' ? RPS_P1 / RPS_FSYNC_ALWAYS : 1;
        s += servers + redisBenchmarkSec(n, rounds, 1, 1, true) + redisBenchmarkSec(n, rounds, 1, setCost, true);
      }
      return s;
    }
    case 2:
      return servers + redisBenchmarkSec(n, rounds, 1, 1 / REPLICATED_FACTOR, true);
    case 3:
      // redis, kv-ts, etcd over gRPC, etcd via the gateway.
      return servers + rounds * 4 * kvBenchRun;
    case 4:
      return PRELOAD_SEC + rounds * 3 * kvBenchRun + (plan.rows.includes(3) ? 0 : SERVERS_SEC[3] ?? 0);
    case 5:
      return servers + 2 * kvBenchRun;
    case 6:
      return (
        servers +
        redisBenchmarkSec(row6Requests(n), rounds, 1, COLLECTION_TESTS.reduce((c, t) => c + (ROW6_TEST_COST[t] ?? 1), 0), true) +
        COLLECTION_READS.length * redisBenchmarkSec(row6Requests(n), rounds, 1, 1, false)
      );
    case 7:
      return servers + ROW7_VARIANTS.reduce((s, v, i) => s + redisBenchmarkSec(row7Requests(n, v), rounds, v.tests.length, ROW7_COST[v.what] ?? 1, i === 0), 0);
    case 8:
      return servers + 2 * PRELOAD_SEC + YCSB_WORKLOADS.length * rounds * 2 * kvBenchRun;
    case 9:
      // Dominated by loading and restarting 10M keys on each system, not by -n or rounds.
      return BIGKEYS_ROW_SEC;
    default:
      return 0;
  }
}

function mmss(sec: number): string {
  const s = Math.round(sec);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The plan's estimate, one line per row and the total (printed before the run starts). */
export function formatEstimate(plan: BudgetPlan): string {
  const per = plan.rows.map((r) => [r, estimateRowSec(r, plan)] as const);
  const total = per.reduce((s, [, x]) => s + x, 0);
  const unknown = per.filter(([, x]) => x === 0).map(([r]) => r);
  const lines = [
    `estimated duration ${mmss(total)} (rows ${per.map(([r, x]) => `${r}: ${mmss(x)}`).join(', ')})${unknown.length > 0 ? `; no estimate for row(s) ${unknown.join(', ')}` : ''}`,
  ];
  if (total > WHOLE_RUN_BUDGET_SEC) lines.push(`over the ${mmss(WHOLE_RUN_BUDGET_SEC)} budget of a whole run: lower -n, --rounds or --duration`);
  return lines.join('\n');
}
