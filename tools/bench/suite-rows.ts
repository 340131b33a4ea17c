// The suite's six rows: each starts its servers, runs its workloads alternating the
// systems round by round (so drift hits all of them), records samples, commands and errors in
// the shared SuiteContext, and stops its servers, also on error. Never prints tables or writes
// docs (suite.ts and suite-docs.ts do), never installs anything.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Comparison, Sample, System } from './compare.js';
import { startEtcdCluster } from './etcd-cluster.js';
import { percentile, sampleLag } from './lag.js';
import { redisBenchmarkArgs, runRedisBenchmark, type RedisBenchmarkParams } from './redis-benchmark.js';
import { runBench, type BenchOptions, type BenchResult } from '../../src/bench/run.js';
import { discoverPrimary, routeBySeeds } from '../../src/bench/seeds.js';
import { connectResp } from '../../src/client/resp-conn.js';
import { KV_SERVER_JS, REPO_ROOT, startKv, startRedis, type ServerProc } from './servers.js';
import { startKvCluster, startReplicated, type Flavor } from './topologies.js';
import { COLD_MARK } from './suite-docs.js';

/** The suite's fixed workload parameters (only -n, the rounds and the duration are adjustable). */
export const CLIENTS = 50;
export const VALUE_BYTES = 100;
export const KEYSPACE = 100_000;
export const PIPELINES = [1, 16] as const;
export const TESTS = ['set', 'get'] as const;
export const REPLICAS = 2;
export const CLUSTER_NODES = 3;
/** Row 4 reads keys 0..N-1, all written once before the reads start (default of --read-keys). */
export const PRELOAD_KEYS = 10_000;
/** Pipeline depth of the RESP preload (etcd's HTTP gateway takes one request per connection). */
const PRELOAD_PIPELINE = 16;
/** Row 5 lag load: a saturating write load (50 clients, pipeline 16). */
export const LAG_PIPELINE = 16;
/**
 * Rows 3 and 4 fsync every acknowledged write on every node: etcd always fsyncs its WAL before
 * it acknowledges, and the rows compare at equal durability settings.
 */
export const DURABLE_FSYNC = 'always';
/** Rows 1, 2 and 5: Redis as durable as kv-ts's default (`--appendonly yes --appendfsync everysec`). */
export const ASYNC_FSYNC = 'everysec';

export interface LagRow {
  readonly system: Flavor;
  readonly setsPerSec: number;
  /** Replica behind primary, in writes (redis: bytes ÷ bytes per propagated SET). */
  readonly behindP50: number;
  readonly behindP99: number;
  readonly behindMax: number;
  /** kv-ts only: INFO's lag_ms; NaN for redis (it reports whole seconds since the last ack). */
  readonly lagMsP50: number;
  readonly lagMsP99: number;
  readonly samples: number;
}

export interface StorageRow {
  readonly measure: string;
  readonly kv: string;
  readonly redis: string;
}

export interface SuiteContext {
  readonly requests: number;
  readonly rounds: number;
  readonly durationSec: number;
  /** Row 4 preloads and reads keys 0..readKeys-1. */
  readonly readKeys: number;
  readonly fsyncModes: readonly string[];
  readonly etcdAvailable: boolean;
  /** redis-server and redis-benchmark are installed (rows 1, 2 and the redis sides of 3 and 5). */
  readonly redisAvailable: boolean;
  readonly log: (s: string) => void;
  /** Workload -> samples, in table order; the row number prefixes the workload name. */
  readonly results: Map<string, Comparison>;
  /** Row number -> exact commands (ports and temp dirs as placeholders). */
  readonly commands: Map<number, Set<string>>;
  /** Skipped rows and partial failures, one line each, for the report. */
  readonly notes: string[];
  /** Runs that produced no measurement, one line each; any makes the suite exit non-zero. */
  readonly failures: string[];
  readonly lag: LagRow[];
  storage: { readonly source: string; readonly rows: readonly StorageRow[] } | undefined;
  /** Register a running set-up so Ctrl-C stops it. */
  own(x: { stop(): Promise<void> }): void;
  /** Stop a registered set-up and forget it. */
  release(x: { stop(): Promise<void> }): Promise<void>;
}

export function addCommand(ctx: SuiteContext, row: number, c: string): void {
  const set = ctx.commands.get(row) ?? new Set<string>();
  set.add(c);
  ctx.commands.set(row, set);
}

/** A server's command line with its ports, temp dir and script path as placeholders. */
export function shownCommand(s: ServerProc, ports: readonly number[]): string {
  let c = s.command.split(KV_SERVER_JS).join('dist/src/cli/kv-server.js').split(s.dir).join('<tmp>');
  for (const p of ports) c = c.replace(new RegExp(`\\b${p}\\b`, 'g'), '<port>');
  return c;
}

/** The kv-bench command line equivalent to options `o` (ports as placeholders). */
export function kvBenchCommand(o: BenchOptions, via: string): string {
  const parts = ['node dist/src/cli/kv-bench.js', via, `-c ${o.connections}`, `-P ${o.pipeline}`, `-d ${o.valueBytes}`, `--keyspace ${o.keyspace}`, `--ratio ${o.ratio.get}:${o.ratio.set}`];
  parts.push(o.durationSec !== undefined ? `--duration ${o.durationSec}` : `-n ${o.requests}`);
  if (o.consistency !== undefined) parts.push(`--consistency ${o.consistency}`);
  if (o.redisWait !== undefined) parts.push(`--redis-wait ${o.redisWait}`);
  if (o.sequentialKeys === true) parts.push('--sequential');
  if (o.distribution !== undefined && o.distribution !== 'uniform') parts.push(`--distribution ${o.distribution}`);
  return parts.join(' ');
}

function record(ctx: SuiteContext, workload: string, side: System, s: Sample): void {
  const prev = ctx.results.get(workload) ?? { workload, redis: [], kv: [] };
  ctx.results.set(workload, { ...prev, [side]: [...(prev[side] ?? []), s] });
}

export function recordError(ctx: SuiteContext, workload: string, side: System, error: string): void {
  const prev = ctx.results.get(workload) ?? { workload, redis: [], kv: [] };
  ctx.results.set(workload, { ...prev, [`${side}Error`]: error });
  ctx.failures.push(`${workload}, ${side === 'kv' ? 'kv-ts' : side}: ${error}`);
}

/** Round r's order of the systems: rotated each round so no system always runs first. */
export function rotation<T>(xs: readonly T[], round: number): T[] {
  const k = round % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

export async function owned<T extends { stop(): Promise<void> }>(ctx: SuiteContext, p: Promise<T>): Promise<T> {
  const x = await p;
  ctx.own(x);
  return x;
}

// ------------------------------------------------------------------------- rows 1 and 2

/**
 * Rows 1 and 2 first send each freshly started server its first requests (-P 1, at most this
 * many per test) and report them as their own "cold" lines; the rounds then measure the warm
 * servers. kv-ts runs on V8: until its hot paths are optimized, a fresh process is slower
 * (docs/perf-notes.md, 'Cold start / V8 warm-up'). Redis has no JIT. Without this pass the first
 * round of a row mixed the two states.
 */
const COLD_REQUESTS = 200_000;

interface RedisBenchmarkPass {
  readonly row: number;
  readonly label: (test: string, pipeline: number) => string;
  readonly tests: readonly string[];
  readonly pipelines: readonly number[];
  readonly requests: number;
  /** For the progress log, e.g. "round 1/2". */
  readonly what: string;
  /** The round (0-based) its samples belong to; undefined for the cold pass. */
  readonly round: number | undefined;
  /** A custom command run instead of redis-benchmark's own tests; `tests` is then its one CSV name. */
  readonly command?: readonly string[] | undefined;
  /** redis-benchmark -c and -d; default CLIENTS and VALUE_BYTES. */
  readonly clients?: number | undefined;
  readonly valueBytes?: number | undefined;
}

/** Run redis-benchmark once per pipeline depth against each target in the order given; record each test. */
async function redisBenchmarkPass(ctx: SuiteContext, pass: RedisBenchmarkPass, targets: ReadonlyArray<{ side: System; name: string; port: number }>): Promise<void> {
  for (const pipeline of pass.pipelines) {
    for (const t of targets) {
      const params: RedisBenchmarkParams = { port: t.port, tests: pass.tests, requests: pass.requests, clients: pass.clients ?? CLIENTS, valueBytes: pass.valueBytes ?? VALUE_BYTES, keyspace: KEYSPACE, pipeline, command: pass.command };
      addCommand(ctx, pass.row, 'redis-benchmark ' + redisBenchmarkArgs({ ...params, port: 0 }).join(' ').replace('-p 0', '-p <port>'));
      ctx.log(`[row ${pass.row}] ${pass.what} -P ${pipeline} ${t.name} ...`);
      const r = await runRedisBenchmark(params);
      for (const test of pass.tests) {
        const workload = pass.label(test, pipeline);
        if (!r.ok) {
          recordError(ctx, workload, t.side, r.error);
          continue;
        }
        // redis-benchmark names some tests with a note ("LRANGE_100 (first 100 elements)").
        const csv = r.rows.find((x) => x.test.toLowerCase() === test || x.test.toLowerCase().startsWith(`${test} (`));
        if (csv === undefined) {
          recordError(ctx, workload, t.side, `redis-benchmark printed no row for ${test}`);
          continue;
        }
        ctx.log(`  ${csv.test}: ${csv.rps.toFixed(0)} req/s, p50 ${csv.p50Ms} ms`);
        record(ctx, workload, t.side, { rps: csv.rps, p50Ms: csv.p50Ms, p99Ms: csv.p99Ms, maxMs: csv.maxMs, round: pass.round });
      }
    }
  }
}

/** What a redis-benchmark row may change from the defaults (rows 7: sizes, clients, request counts). */
export interface RedisBenchmarkShape {
  readonly clients?: number | undefined;
  readonly valueBytes?: number | undefined;
  /** -n per run; default ctx.requests. */
  readonly requests?: number | undefined;
  /** Run the cold pass first (default true: the servers were just started). */
  readonly cold?: boolean | undefined;
}

/** The cold pass on freshly started servers, then the rounds (order rotating), for rows 1 and 2. */
export async function redisBenchmarkRows(
  ctx: SuiteContext,
  row: number,
  label: (test: string, pipeline: number) => string,
  targets: ReadonlyArray<{ side: System; name: string; port: number }>,
  tests: readonly string[],
  command?: readonly string[],
  shape: RedisBenchmarkShape = {},
): Promise<void> {
  const requests = shape.requests ?? ctx.requests;
  const { clients, valueBytes } = shape;
  if (shape.cold !== false) {
    const cold = Math.min(COLD_REQUESTS, requests);
    const coldLabel = (test: string, p: number): string => `${label(test, p)}${COLD_MARK} first ${cold} after start`;
    await redisBenchmarkPass(ctx, { row, label: coldLabel, tests, pipelines: [1], requests: cold, what: 'cold start', round: undefined, command, clients, valueBytes }, targets);
  }
  for (let round = 0; round < ctx.rounds; round++) {
    const what = `round ${round + 1}/${ctx.rounds}`;
    await redisBenchmarkPass(ctx, { row, label, tests, pipelines: PIPELINES, requests, what, round, command, clients, valueBytes }, rotation(targets, round));
  }
}

/** Row 1: single node, redis-benchmark SET and GET, per fsync mode. */
export async function row1(ctx: SuiteContext): Promise<void> {
  for (const mode of ctx.fsyncModes) {
    const redis = await owned(ctx, startRedis(mode));
    try {
      const kv = await owned(ctx, startKv(mode));
      try {
        for (const s of [redis, kv]) addCommand(ctx, 1, shownCommand(s, [s.port]));
        await redisBenchmarkRows(
          ctx,
          1,
          (test, p) => `1. ${test.toUpperCase()} -P ${p}, fsync ${mode}`,
          [
            { side: 'redis', name: 'redis', port: redis.port },
            { side: 'kv', name: 'kv-ts', port: kv.port },
          ],
          TESTS,
        );
      } finally {
        await ctx.release(kv);
      }
    } finally {
      await ctx.release(redis);
    }
  }
}

/** Row 2: primary + 2 replicas streaming, async SET through the primary. */
export async function row2(ctx: SuiteContext): Promise<void> {
  const redis = await owned(ctx, startReplicated('redis', ASYNC_FSYNC, REPLICAS));
  try {
    const kv = await owned(ctx, startReplicated('kv-ts', ASYNC_FSYNC, REPLICAS));
    try {
      for (const set of [redis, kv]) {
        const ports = [set.primary.port, ...set.replicas.map((r) => r.port)];
        addCommand(ctx, 2, shownCommand(set.primary, ports));
        addCommand(ctx, 2, `${shownCommand(set.replicas[0] as ServerProc, ports)}   (x${REPLICAS})`);
      }
      await redisBenchmarkRows(
        ctx,
        2,
        (_t, p) => `2. SET -P ${p}, primary + ${REPLICAS} replicas, fsync ${ASYNC_FSYNC}`,
        [
          { side: 'redis', name: 'redis', port: redis.primary.port },
          { side: 'kv', name: 'kv-ts', port: kv.primary.port },
        ],
        ['set'],
      );
    } finally {
      await ctx.release(kv);
    }
  } finally {
    await ctx.release(redis);
  }
}

/**
 * Row 6 runs 14 lines (11 tests in one redis-benchmark call, 3 custom reads), the LRANGE ones
 * far slower per request than SET: at the full -n the row alone would exceed the whole suite's
 * time budget, so each of its runs gets this share of -n (docs/perf-notes.md, "The suite's time
 * budget, anchors and workloads").
 */
export const ROW6_SHARE = 1 / 20;

/**
 * Fewest requests a shared-out line runs: redis-benchmark reports a run too short for its clock
 * as "inf" requests/s (a tiny -n, e.g. a smoke run's, on a quiet machine), which is no number.
 */
export const SHARED_LINE_REQUESTS_MIN = 1000;

export function row6Requests(requests: number): number {
  return Math.max(SHARED_LINE_REQUESTS_MIN, Math.round(requests * ROW6_SHARE));
}

/** Row 6: redis-benchmark's own hash, set, sorted-set and list tests. */
export const COLLECTION_TESTS = ['hset', 'sadd', 'spop', 'zadd', 'zpopmin', 'lpush', 'rpush', 'lpop', 'rpop', 'lrange_100', 'lrange_600'] as const;
/** Row 6 read lines: members of the preloaded sorted set and fields of the preloaded hash. */
export const READ_ZSET_MEMBERS = 100;
export const READ_HASH_FIELDS = 10;
const READ_ZSET_KEY = 'bench:zset';
const READ_HASH_KEY = 'bench:hash';
/** Custom-command read lines of row 6, each on a key preloaded before the cold pass. */
export const COLLECTION_READS: ReadonlyArray<{ readonly label: string; readonly command: readonly string[] }> = [
  { label: `ZRANGE key 0 9 (${READ_ZSET_MEMBERS} members)`, command: ['ZRANGE', READ_ZSET_KEY, '0', '9'] },
  { label: `HGETALL key (${READ_HASH_FIELDS} fields)`, command: ['HGETALL', READ_HASH_KEY] },
  // No subscriber: what a publish costs the publisher (routing, the reply), as redis-benchmark's own PUBLISH line.
  { label: 'PUBLISH channel (no subscribers)', command: ['PUBLISH', 'bench:channel', 'message'] },
];

/** Write the keys row 6 reads: one sorted set and one hash, the same on both servers. */
async function preloadCollections(port: number): Promise<string | undefined> {
  const c = await connectResp('127.0.0.1', port);
  if (!c.ok) return `preload failed: ${c.error}`;
  try {
    const zadd = ['ZADD', READ_ZSET_KEY, ...Array.from({ length: READ_ZSET_MEMBERS }, (_, i) => [String(i), `member:${i}`]).flat()];
    const hset = ['HSET', READ_HASH_KEY, ...Array.from({ length: READ_HASH_FIELDS }, (_, i) => [`field:${i}`, 'x'.repeat(VALUE_BYTES / READ_HASH_FIELDS)]).flat()];
    for (const args of [['DEL', READ_ZSET_KEY, READ_HASH_KEY], zadd, hset]) {
      const r = await c.conn.call(args);
      if (!r.ok) return `preload failed: ${r.error}`;
      if (r.reply.type === 'error') return `preload failed: ${args[0] ?? ''}: ${r.reply.message}`;
    }
    return undefined;
  } finally {
    c.conn.close();
  }
}

/** Row 6: single node, hashes, sets, sorted sets and lists: redis-benchmark's tests, two read lines and PUBLISH. */
export async function row6(ctx: SuiteContext): Promise<void> {
  const redis = await owned(ctx, startRedis(ASYNC_FSYNC));
  try {
    const kv = await owned(ctx, startKv(ASYNC_FSYNC));
    try {
      for (const s of [redis, kv]) addCommand(ctx, 6, shownCommand(s, [s.port]));
      const targets = [
        { side: 'redis' as const, name: 'redis', port: redis.port },
        { side: 'kv' as const, name: 'kv-ts', port: kv.port },
      ];
      for (const t of targets) {
        const err = await preloadCollections(t.port);
        if (err !== undefined) recordError(ctx, `6. preload`, t.side, err);
      }
      addCommand(ctx, 6, `ZADD ${READ_ZSET_KEY} 0 member:0 ... ${READ_ZSET_MEMBERS - 1} member:${READ_ZSET_MEMBERS - 1}; HSET ${READ_HASH_KEY} field:0 <${VALUE_BYTES / READ_HASH_FIELDS} B> ... (${READ_HASH_FIELDS} fields)   (preload)`);
      const requests = row6Requests(ctx.requests);
      await redisBenchmarkRows(ctx, 6, (test, p) => `6. ${test.toUpperCase()} -P ${p}, fsync ${ASYNC_FSYNC}`, targets, COLLECTION_TESTS, undefined, { requests });
      for (const read of COLLECTION_READS) {
        // The servers are warm by now: the cold pass ran with the first invocation.
        await redisBenchmarkRows(ctx, 6, (_t, p) => `6. ${read.label} -P ${p}, fsync ${ASYNC_FSYNC}`, targets, [read.command.join(' ').toLowerCase()], read.command, { requests, cold: false });
      }
    } finally {
      await ctx.release(kv);
    }
  } finally {
    await ctx.release(redis);
  }
}

// ------------------------------------------------------------------------- rows 3 and 4

function sampleOf(r: BenchResult, round: number): Sample {
  return { rps: r.throughput, p50Ms: r.latencyMs.p50, p90Ms: r.latencyMs.p90, p99Ms: r.latencyMs.p99, p999Ms: r.latencyMs.p999, maxMs: r.latencyMs.max, round };
}

/** One kv-bench engine run of `round`, recorded under `workload`; errors are recorded, never hidden. */
export async function benchRun(ctx: SuiteContext, row: number, workload: string, side: System, round: number, o: BenchOptions, via: string): Promise<void> {
  addCommand(ctx, row, kvBenchCommand(o, via));
  ctx.log(`[row ${row}] ${workload}: ${side === 'kv' ? 'kv-ts' : side} ...`);
  const out = await runBench(o);
  if (!out.ok) {
    recordError(ctx, workload, side, out.error);
    return;
  }
  const r = out.result;
  ctx.log(`  ${r.throughput.toFixed(0)} ok req/s, p50 ${r.latencyMs.p50.toFixed(3)} ms, p99 ${r.latencyMs.p99.toFixed(3)} ms, errors ${r.errorsTotal}`);
  if (r.errorsTotal > 0) ctx.notes.push(`${workload}, ${side === 'kv' ? 'kv-ts' : side}: ${r.errorsTotal} failed requests (${JSON.stringify(r.errors)}), excluded from req/s`);
  record(ctx, workload, side, sampleOf(r, round));
}

export function baseOptions(ctx: SuiteContext, seed: number): BenchOptions {
  return {
    host: '127.0.0.1',
    port: 0,
    connections: CLIENTS,
    requests: 0,
    durationSec: ctx.durationSec,
    valueBytes: VALUE_BYTES,
    pipeline: 1,
    ratio: { get: 0, set: 1 },
    keyspace: KEYSPACE,
    seed,
  };
}

/** Write keys 0..keyspace-1 once; an error text when any write failed. */
export async function preload(o: BenchOptions): Promise<string | undefined> {
  const out = await runBench({ ...o, durationSec: undefined, requests: o.keyspace, sequentialKeys: true, ratio: { get: 0, set: 1 } });
  if (!out.ok) return `preload failed: ${out.error}`;
  if (out.result.errorsTotal > 0) return `preload failed: ${JSON.stringify(out.result.errors)}`;
  return undefined;
}

/** The line of rows 3 and 4 that drives etcd through its HTTP/JSON gateway instead of gRPC. */
export const ETCD_GATEWAY_SUFFIX = ' — etcd via JSON gateway (HTTP/1.1)';

/**
 * Copy the kv-ts samples of `from` into `to`: the gateway line of rows 3 and 4 repeats the main
 * line's kv-ts measurement (the same runs) so its kv-ts÷etcd ratio is against the gateway.
 */
function mirrorKv(ctx: SuiteContext, from: string, to: string): void {
  const main = ctx.results.get(from);
  const line = ctx.results.get(to);
  if (main === undefined || line === undefined) return;
  ctx.results.set(to, { ...line, kv: main.kv, ...(main.kvError !== undefined ? { kvError: main.kvError } : {}) });
}

/** host:port of an etcd client URL: the same port serves gRPC and the JSON gateway. */
function grpcEndpointOf(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port}`;
}

/**
 * Rows 3 and 4 share their servers: a kv-ts cluster, a redis primary with replicas, an etcd
 * cluster. etcd is driven over gRPC (the etcd3 client, as etcd's Node users talk to it) for the
 * main lines, and once more through its JSON gateway on a line of its own.
 */
export async function rows3and4(ctx: SuiteContext, rows: ReadonlySet<number>): Promise<void> {
  const w3 = `3. durable majority SET, ${CLIENTS} connections, fsync ${DURABLE_FSYNC}`;
  const w4 = `4. linearizable GET, ${CLIENTS} connections, ${ctx.readKeys} preloaded keys`;
  const w3gw = w3 + ETCD_GATEWAY_SUFFIX;
  const w4gw = w4 + ETCD_GATEWAY_SUFFIX;
  const cluster = await owned(ctx, startKvCluster(CLUSTER_NODES, DURABLE_FSYNC));
  const stops: Array<{ stop(): Promise<void> }> = [cluster];
  try {
    const ports = cluster.nodes.map((n) => n.port);
    for (const r of [3, 4]) if (rows.has(r)) addCommand(ctx, r, `${shownCommand(cluster.nodes[0] as ServerProc, ports)}   (x${CLUSTER_NODES}: n1..n${CLUSTER_NODES})`);
    const found = await discoverPrimary(ports.map((port) => ({ host: '127.0.0.1', port })));
    if (!found.ok) throw new Error(`kv-ts cluster: ${found.error}`);
    const kvSeeds = `--seeds ${ports.map(() => '127.0.0.1:<port>').join(',')}`;
    let redis: Awaited<ReturnType<typeof startReplicated>> | undefined;
    if (rows.has(3) && ctx.redisAvailable) {
      redis = await owned(ctx, startReplicated('redis', DURABLE_FSYNC, REPLICAS));
      stops.push(redis);
      const rp = [redis.primary.port, ...redis.replicas.map((x) => x.port)];
      addCommand(ctx, 3, shownCommand(redis.primary, rp));
      addCommand(ctx, 3, `${shownCommand(redis.replicas[0] as ServerProc, rp)}   (x${REPLICAS}; every node appendfsync always, the client sends WAIT 1 0)`);
    }
    let etcdUrl: string | undefined;
    if (ctx.etcdAvailable) {
      const etcd = await owned(ctx, startEtcdCluster(CLUSTER_NODES));
      stops.push(etcd);
      for (const r of [3, 4]) if (rows.has(r)) addCommand(ctx, r, `${etcd.commandShown}   (x${CLUSTER_NODES}: e1..e${CLUSTER_NODES})`);
      const leader = await etcd.leaderUrl();
      if (leader.ok) etcdUrl = leader.url;
      else for (const w of [w3, w4, w3gw, w4gw]) recordError(ctx, w, 'etcd', leader.error);
    }
    // etcd's best case: every request to the leader, as kv-ts sends everything to its primary.
    const etcdVia = '--etcd http://127.0.0.1:<leader-client-port>';
    const grpcVia = '--etcd-grpc 127.0.0.1:<leader-client-port>';
    type Side = 'redis' | 'kv' | 'etcd' | 'etcd-gateway';
    const etcdSides: Side[] = etcdUrl !== undefined ? ['etcd', 'etcd-gateway'] : [];
    if (rows.has(3)) {
      for (let round = 0; round < ctx.rounds; round++) {
        const systems: Side[] = [...(redis !== undefined ? (['redis'] as const) : []), 'kv', ...etcdSides];
        for (const side of rotation(systems, round)) {
          const base = baseOptions(ctx, 1 + round);
          if (side === 'kv') await benchRun(ctx, 3, w3, side, round, routeBySeeds({ ...base, consistency: 'quorum' }, found.discovery), kvSeeds);
          else if (side === 'redis' && redis !== undefined) await benchRun(ctx, 3, w3, side, round, { ...base, port: redis.primary.port, redisWait: 1 }, '-p <primary-port>');
          else if (side === 'etcd' && etcdUrl !== undefined) await benchRun(ctx, 3, w3, 'etcd', round, { ...base, etcdGrpc: [grpcEndpointOf(etcdUrl)] }, grpcVia);
          else if (side === 'etcd-gateway' && etcdUrl !== undefined) await benchRun(ctx, 3, w3gw, 'etcd', round, { ...base, etcd: [etcdUrl] }, etcdVia);
        }
      }
      mirrorKv(ctx, w3, w3gw);
    }
    if (rows.has(4)) {
      const kvRead = routeBySeeds({ ...baseOptions(ctx, 1), consistency: 'quorum', ratio: { get: 1, set: 0 }, keyspace: ctx.readKeys }, found.discovery);
      const kvPre = await preload({ ...kvRead, pipeline: PRELOAD_PIPELINE });
      addCommand(ctx, 4, kvBenchCommand({ ...kvRead, pipeline: PRELOAD_PIPELINE, ratio: { get: 0, set: 1 }, durationSec: undefined, requests: ctx.readKeys, sequentialKeys: true }, kvSeeds) + '   (preload)');
      if (kvPre !== undefined) recordError(ctx, w4, 'kv', kvPre);
      let etcdPre: string | undefined = 'etcd not available';
      const etcdRead: BenchOptions | undefined = etcdUrl === undefined ? undefined : { ...baseOptions(ctx, 1), etcdGrpc: [grpcEndpointOf(etcdUrl)], ratio: { get: 1, set: 0 }, keyspace: ctx.readKeys };
      if (etcdRead !== undefined) {
        // One preload serves both etcd lines: the gateway reads the same keys of the same cluster.
        etcdPre = await preload(etcdRead);
        addCommand(ctx, 4, kvBenchCommand({ ...etcdRead, ratio: { get: 0, set: 1 }, durationSec: undefined, requests: ctx.readKeys, sequentialKeys: true }, grpcVia) + '   (preload)');
        if (etcdPre !== undefined) for (const w of [w4, w4gw]) recordError(ctx, w, 'etcd', etcdPre);
      }
      const etcdOk = etcdPre === undefined;
      for (let round = 0; round < ctx.rounds; round++) {
        for (const side of rotation(['kv', ...etcdSides] as Side[], round)) {
          if (side === 'kv' && kvPre === undefined) await benchRun(ctx, 4, w4, side, round, { ...kvRead, seed: 1 + round }, kvSeeds);
          if (side === 'etcd' && etcdOk && etcdRead !== undefined) await benchRun(ctx, 4, w4, 'etcd', round, { ...etcdRead, seed: 1 + round }, grpcVia);
          if (side === 'etcd-gateway' && etcdOk && etcdRead !== undefined && etcdUrl !== undefined) {
            const { etcdGrpc: _grpc, ...gw } = etcdRead;
            await benchRun(ctx, 4, w4gw, 'etcd', round, { ...gw, etcd: [etcdUrl], seed: 1 + round }, etcdVia);
          }
        }
      }
      mirrorKv(ctx, w4, w4gw);
    }
  } finally {
    for (const s of stops.reverse()) await ctx.release(s);
  }
}

// ------------------------------------------------------------------------- row 5

/** Bytes redis propagates for one kv-bench SET: `*3 $3 SET $16 key:… $100 <value>` in RESP. */
export function redisSetBytes(valueBytes: number): number {
  const key = 4 + 12;
  return `*3\r\n$3\r\nSET\r\n$${key}\r\n`.length + key + 2 + `$${valueBytes}\r\n`.length + valueBytes + 2;
}

/** Replication lag while a saturating SET load runs on the primary of a primary + 2 replicas. */
export async function row5Lag(ctx: SuiteContext): Promise<void> {
  const flavors: Flavor[] = ctx.redisAvailable ? ['redis', 'kv-ts'] : ['kv-ts'];
  for (const flavor of flavors) {
    const set = await owned(ctx, startReplicated(flavor, ASYNC_FSYNC, REPLICAS));
    try {
      const o: BenchOptions = { ...baseOptions(ctx, 1), port: set.primary.port, pipeline: LAG_PIPELINE };
      addCommand(ctx, 5, kvBenchCommand(o, '-p <primary-port>') + `   (${flavor} primary + ${REPLICAS} replicas, fsync ${ASYNC_FSYNC}; INFO replication sampled every 50 ms on all three)`);
      ctx.log(`[row 5] replication lag under load: ${flavor} ...`);
      let running = true;
      const sampling = sampleLag(flavor, set.primary.port, set.replicas.map((r) => r.port), () => running);
      const out = await runBench(o);
      running = false;
      const s = await sampling;
      if (!out.ok) {
        ctx.failures.push(`5. replication lag, ${flavor}: ${out.error}`);
        continue;
      }
      const perWrite = flavor === 'redis' ? redisSetBytes(VALUE_BYTES) : 1;
      const behind = s.behind.map((b) => b / perWrite);
      const row: LagRow = {
        system: flavor,
        setsPerSec: out.result.throughput,
        behindP50: percentile(behind, 50),
        behindP99: percentile(behind, 99),
        behindMax: percentile(behind, 100),
        lagMsP50: percentile(s.lagMs, 50),
        lagMsP99: percentile(s.lagMs, 99),
        samples: s.behind.length,
      };
      ctx.log(`  ${row.setsPerSec.toFixed(0)} SET/s, behind p99 ${row.behindP99.toFixed(0)} writes, lag_ms p99 ${Number.isFinite(row.lagMsP99) ? row.lagMsP99 : '-'}`);
      ctx.lag.push(row);
    } finally {
      await ctx.release(set);
    }
  }
}

/** The storage bench's latest restart and RSS rows, read from docs/storage-bench.md (never rerun here: it takes minutes). */
export function row5Storage(ctx: SuiteContext): void {
  const path = join(REPO_ROOT, 'docs', 'storage-bench.md');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    ctx.notes.push('5. restart/RSS: docs/storage-bench.md not found; run `npm run bench:storage` first');
    return;
  }
  const rows: StorageRow[] = [];
  for (const line of text.split('\n')) {
    const m = /^\| (restart[^|]*|RSS at[^|]*|keys after restart) \| ([^|]*) \| ([^|]*) \|$/.exec(line.trim());
    if (m !== null) rows.push({ measure: (m[1] as string).trim(), kv: (m[2] as string).trim(), redis: (m[3] as string).trim() });
  }
  const cmd = /^Command: `([^`]*)`/m.exec(text)?.[1] ?? 'npm run bench:storage';
  const when = /^Machine: (.*)$/m.exec(text)?.[1] ?? '';
  if (rows.length === 0) ctx.notes.push('5. restart/RSS: no result rows in docs/storage-bench.md');
  else ctx.storage = { source: `\`${cmd}\` — ${when}`, rows };
}
