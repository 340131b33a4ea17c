// The suite's rows 7 and 8, the workloads users run beyond 100-byte SET/GET: row 7 is
// redis-benchmark with larger values, a thousand clients, MSET and INCR; row 8 is YCSB's
// workloads B and A over a Zipfian key distribution through the kv-bench engine. Both run kv-ts
// and redis-server single nodes side by side with the rows' rotating rounds (suite-rows.ts).
// Never prints tables or writes docs, never installs anything, always stops its servers.

import { ASYNC_FSYNC, addCommand, baseOptions, benchRun, CLIENTS, KEYSPACE, owned, preload, recordError, redisBenchmarkRows, rotation, SHARED_LINE_REQUESTS_MIN, shownCommand, type SuiteContext } from './suite-rows.js';
import { startKv, startRedis } from './servers.js';
import type { System } from './compare.js';
import type { BenchOptions } from '../../src/bench/run.js';
import { ZIPFIAN_THETA } from '../../src/bench/zipfian.js';

/**
 * Row 7's variants. `share` scales the suite's -n so the row fits the suite's time budget
 * (suite-budget.ts): 1 KiB values, 1000 clients and INCR get a twentieth of -n (25 000 at the
 * default), 16 KiB values a hundredth (500k × 16 KiB would write 8 GB per run), MSET (ten keys
 * per request) a fortieth.
 */
export interface Row7Variant {
  /** Label part after the test name, e.g. "-d 1024". */
  readonly what: string;
  readonly tests: readonly string[];
  readonly valueBytes?: number;
  readonly clients?: number;
  /** Requests per run = max(1, round(-n × share)). */
  readonly share: number;
}

/** redis-benchmark -c for the many-connections line; kv-server's maxclients default (10000) and a 20000 fd limit leave room. */
export const MANY_CLIENTS = 1000;

export const ROW7_VARIANTS: readonly Row7Variant[] = [
  { what: '-d 1024', tests: ['set', 'get'], valueBytes: 1024, share: 1 / 20 },
  { what: '-d 16384', tests: ['set', 'get'], valueBytes: 16384, share: 1 / 100 },
  { what: `-c ${MANY_CLIENTS}`, tests: ['set', 'get'], clients: MANY_CLIENTS, share: 1 / 20 },
  { what: '(10 keys)', tests: ['mset'], share: 1 / 40 },
  { what: '', tests: ['incr'], share: 1 / 20 },
];

export function row7Requests(requests: number, v: Row7Variant): number {
  return Math.max(SHARED_LINE_REQUESTS_MIN, Math.round(requests * v.share));
}

/** Row 7 labels: `7. SET -d 1024 -P 16, fsync everysec`. */
export function row7Label(test: string, v: Row7Variant, pipeline: number): string {
  return `7. ${test.toUpperCase()}${v.what === '' ? '' : ' ' + v.what} -P ${pipeline}, fsync ${ASYNC_FSYNC}`;
}

/** Row 7: single node, redis-benchmark with 1 KiB and 16 KiB values, 1000 clients, MSET and INCR. */
export async function row7(ctx: SuiteContext): Promise<void> {
  const redis = await owned(ctx, startRedis(ASYNC_FSYNC));
  try {
    const kv = await owned(ctx, startKv(ASYNC_FSYNC));
    try {
      for (const s of [redis, kv]) addCommand(ctx, 7, shownCommand(s, [s.port]));
      const targets = [
        { side: 'redis' as const, name: 'redis', port: redis.port },
        { side: 'kv' as const, name: 'kv-ts', port: kv.port },
      ];
      for (const [i, v] of ROW7_VARIANTS.entries()) {
        // Only the first variant meets freshly started servers: the others run warm.
        await redisBenchmarkRows(ctx, 7, (test, p) => row7Label(test, v, p), targets, v.tests, undefined, {
          clients: v.clients,
          valueBytes: v.valueBytes,
          requests: row7Requests(ctx.requests, v),
          cold: i === 0,
        });
      }
    } finally {
      await ctx.release(kv);
    }
  } finally {
    await ctx.release(redis);
  }
}

/** YCSB's record: 10 fields × 100 B; here one value of that size per key. */
export const YCSB_VALUE_BYTES = 1000;
/** Row 8's workloads: YCSB's core workloads B (read mostly) and A (update heavy), by GET:SET weight. */
export const YCSB_WORKLOADS: ReadonlyArray<{ readonly name: string; readonly ratio: { readonly get: number; readonly set: number } }> = [
  { name: 'B (95% GET / 5% SET)', ratio: { get: 95, set: 5 } },
  { name: 'A (50% GET / 50% SET)', ratio: { get: 1, set: 1 } },
];
/** Preload pipeline depth: the load phase is not measured. */
const YCSB_PRELOAD_PIPELINE = 16;

export function row8Label(workload: string): string {
  return `8. YCSB ${workload}, zipfian θ ${ZIPFIAN_THETA}, ${KEYSPACE} keys × ${YCSB_VALUE_BYTES} B, ${CLIENTS} connections, fsync ${ASYNC_FSYNC}`;
}

/** Row 8: YCSB B and A over Zipfian keys, kv-bench against a kv-server and a redis-server, both preloaded. */
export async function row8(ctx: SuiteContext): Promise<void> {
  const redis = ctx.redisAvailable ? await owned(ctx, startRedis(ASYNC_FSYNC)) : undefined;
  try {
    const kv = await owned(ctx, startKv(ASYNC_FSYNC));
    try {
      const targets: Array<{ side: System; port: number }> = [...(redis !== undefined ? [{ side: 'redis' as const, port: redis.port }] : []), { side: 'kv', port: kv.port }];
      for (const s of [...(redis !== undefined ? [redis] : []), kv]) addCommand(ctx, 8, shownCommand(s, [s.port]));
      const base = (port: number, seed: number): BenchOptions => ({ ...baseOptions(ctx, seed), port, valueBytes: YCSB_VALUE_BYTES, keyspace: KEYSPACE, distribution: 'zipfian' });
      const loaded: Array<{ side: System; port: number }> = [];
      for (const t of targets) {
        const o = { ...base(t.port, 1), pipeline: YCSB_PRELOAD_PIPELINE };
        addCommand(ctx, 8, `node dist/src/cli/kv-bench.js -p <port> -c ${CLIENTS} -P ${YCSB_PRELOAD_PIPELINE} -d ${YCSB_VALUE_BYTES} --keyspace ${KEYSPACE} -n ${KEYSPACE} --sequential   (preload, YCSB's load phase)`);
        ctx.log(`[row 8] preload ${KEYSPACE} keys: ${t.side === 'kv' ? 'kv-ts' : t.side} ...`);
        const err = await preload(o);
        if (err === undefined) loaded.push(t);
        else for (const w of YCSB_WORKLOADS) recordError(ctx, row8Label(w.name), t.side, err);
      }
      for (const w of YCSB_WORKLOADS) {
        const label = row8Label(w.name);
        for (let round = 0; round < ctx.rounds; round++) {
          for (const t of rotation(loaded, round)) {
            await benchRun(ctx, 8, label, t.side, round, { ...base(t.port, 1 + round), ratio: w.ratio }, '-p <port>');
          }
        }
      }
    } finally {
      await ctx.release(kv);
    }
  } finally {
    if (redis !== undefined) await ctx.release(redis);
  }
}
