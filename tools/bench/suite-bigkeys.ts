// Row 9 of the suite (part of the default run) and `npm run bench:bigkeys`: a large keyspace (10M keys
// × 100 B by default) in a fresh kv-server and a fresh redis-server, one after the other: load
// time, memory, restart time from the log alone and after a compaction, and the latency of a
// fixed-rate GET/SET load without and during a compaction (kv-ts COMPACT / Redis BGREWRITEAOF).
// Owns its servers and their temp directories (stopped and removed, also on error); never writes
// outside docs/bigkeys-bench.md and never installs anything.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { runBench, type BenchOptions, type BenchResult, type LatencySummaryMs } from '../../src/bench/run.js';
import { respCallAt } from '../../src/bench/probe.js';
import { describeMachine } from './docs.js';
import { info } from './info.js';
import { REPO_ROOT, startInDir, type ServerProc } from './servers.js';
import type { SuiteContext } from './suite-rows.js';

export const BIGKEYS_KEYS_DEFAULT = 10_000_000;
export const BIGKEYS_VALUE_BYTES = 100;
/**
 * The steady load: open loop at a rate both servers sustain at -P 1 with room to spare (each
 * serves 40-50k requests/s at -P 1 on a quiet 2-core machine), half GETs, half SETs: the
 * percentiles then show stalls, not queueing at saturation.
 */
export const BIGKEYS_RATE_DEFAULT = 10_000;
export const BIGKEYS_CONNECTIONS = 50;
export const BIGKEYS_BASELINE_SEC_DEFAULT = 10;
/** The loader: sequential keys (every key written once), pipelined deep to load fast. */
const LOAD_CONNECTIONS = 8;
const LOAD_PIPELINE = 64;
/** A restart (or the first start) may take this long before it answers with every key. */
const RESTART_TIMEOUT_MS = 20 * 60_000;
const COMPACTION_TIMEOUT_MS = 30 * 60_000;
/** The load runs this long before the compaction starts and after it ends. */
const COMPACTION_MARGIN_MS = 1_000;
/** Upper bound of a load that ends on a signal (it ends when the compaction does). */
const OPEN_ENDED_SEC = 3_600;
const POLL_MS = 20;
export const BIGKEYS_DOC = join(REPO_ROOT, 'docs', 'bigkeys-bench.md');

/** Both servers as durable as each other and with no automatic rewrite (the bench triggers it). */
const REDIS_ARGS = ['--save', '', '--appendonly', 'yes', '--appendfsync', 'everysec', '--aof-use-rdb-preamble', 'yes', '--auto-aof-rewrite-percentage', '0'];
const KV_ARGS = ['--fsync', 'everysec', '--log-level', 'warn', '--auto-aof-rewrite-min-size', '0'];

export interface BigKeysOptions {
  readonly keys: number;
  readonly ratePerSec: number;
  readonly baselineSec: number;
  readonly log: (s: string) => void;
  /** Register / unregister a running server so the caller's Ctrl-C handler stops it. */
  readonly own?: (x: ServerProc) => void;
  readonly release?: (x: ServerProc) => void;
}

export interface LoadLatency {
  readonly throughput: number;
  readonly latencyMs: LatencySummaryMs;
  readonly errors: number;
}

export interface BigKeysSide {
  readonly system: 'kv-ts' | 'redis';
  readonly loadSec: number;
  readonly usedMemory: number;
  readonly rss: number;
  readonly restartLogMs: number;
  readonly restartCompactedMs: number;
  readonly rssAfterCompactedRestart: number;
  readonly baseline: LoadLatency;
  readonly duringCompaction: LoadLatency;
  readonly compactionMs: number;
}

export interface BigKeysResult {
  readonly keys: number;
  readonly ratePerSec: number;
  readonly kv: BigKeysSide;
  readonly redis: BigKeysSide;
  readonly totalSec: number;
  readonly load1Start: number;
  readonly load1End: number;
}

/** The exact commands, for the report (ports and temp dirs as placeholders). */
export function bigKeysCommands(o: Pick<BigKeysOptions, 'keys' | 'ratePerSec'>): string[] {
  return [
    `redis-server --port <port> --bind 127.0.0.1 --dir <tmp> ${REDIS_ARGS.map((a) => (a === '' ? "''" : a)).join(' ')}`,
    `node dist/src/cli/kv-server.js --port <port> --host 127.0.0.1 --dir <tmp> ${KV_ARGS.join(' ')}`,
    `load: kv-bench -p <port> --sequential -n ${o.keys} --keyspace ${o.keys} -c ${LOAD_CONNECTIONS} -P ${LOAD_PIPELINE} -d ${BIGKEYS_VALUE_BYTES}`,
    `steady load: kv-bench -p <port> --rate ${o.ratePerSec} -c ${BIGKEYS_CONNECTIONS} -P 1 --ratio 1:1 --keyspace ${o.keys} -d ${BIGKEYS_VALUE_BYTES}`,
    'compaction: BGREWRITEAOF (kv-ts: the same as COMPACT), then INFO persistence until aof_rewrite_in_progress:0',
  ];
}

function benchOptions(port: number, keys: number, over: Partial<BenchOptions>): BenchOptions {
  return {
    host: '127.0.0.1',
    port,
    connections: BIGKEYS_CONNECTIONS,
    requests: keys,
    valueBytes: BIGKEYS_VALUE_BYTES,
    pipeline: 1,
    ratio: { get: 1, set: 1 },
    keyspace: keys,
    seed: 9,
    ...over,
  };
}

async function mustBench(what: string, o: BenchOptions): Promise<BenchResult> {
  const out = await runBench(o);
  if (!out.ok) throw new Error(`${what}: ${out.error}`);
  return out.result;
}

function loadLatency(r: BenchResult): LoadLatency {
  return { throughput: r.throughput, latencyMs: r.latencyMs, errors: r.errorsTotal };
}

/** Wait until DBSIZE answers `keys` (Redis answers -LOADING while it replays). */
async function waitForKeys(port: number, keys: number): Promise<void> {
  const deadline = Date.now() + RESTART_TIMEOUT_MS;
  for (;;) {
    const r = await respCallAt({ host: '127.0.0.1', port }, ['DBSIZE']);
    if (r?.type === 'integer' && r.value === BigInt(keys)) return;
    if (r?.type === 'integer' && r.value > BigInt(keys)) throw new Error(`DBSIZE ${r.value}, expected ${keys}`);
    if (Date.now() > deadline) throw new Error(`DBSIZE did not reach ${keys} within ${RESTART_TIMEOUT_MS} ms`);
    await delay(POLL_MS);
  }
}

async function memory(port: number): Promise<{ used: number; rss: number }> {
  const m = await info(port, 'memory');
  return { used: Number(m.get('used_memory') ?? NaN), rss: Number(m.get('used_memory_rss') ?? NaN) };
}

/** BGREWRITEAOF, then wait until no rewrite runs or is scheduled; resolves with its duration. */
async function compact(port: number): Promise<number> {
  const t0 = performance.now();
  const r = await respCallAt({ host: '127.0.0.1', port }, ['BGREWRITEAOF']);
  if (r === undefined || r.type === 'error') throw new Error(`BGREWRITEAOF: ${r === undefined ? 'no answer' : r.message}`);
  const deadline = Date.now() + COMPACTION_TIMEOUT_MS;
  for (;;) {
    const p = await info(port, 'persistence');
    if (p.get('aof_rewrite_in_progress') === '0' && (p.get('aof_rewrite_scheduled') ?? '0') === '0') return performance.now() - t0;
    if (Date.now() > deadline) throw new Error(`compaction still running after ${COMPACTION_TIMEOUT_MS} ms`);
    await delay(POLL_MS);
  }
}

/** The steady load for exactly as long as `during` takes, plus a margin on each side. */
async function loadDuring(port: number, keys: number, rate: number, during: () => Promise<number>): Promise<{ load: BenchResult; ms: number }> {
  const stop = new AbortController();
  const load = mustBench('load during compaction', benchOptions(port, keys, { ratePerSec: rate, durationSec: OPEN_ENDED_SEC, requests: 0, signal: stop.signal }));
  try {
    await delay(COMPACTION_MARGIN_MS);
    const ms = await during();
    await delay(COMPACTION_MARGIN_MS);
    stop.abort();
    return { ms, load: await load };
  } finally {
    stop.abort();
    await load.catch(() => undefined);
  }
}

async function measureSide(system: 'kv-ts' | 'redis', o: BigKeysOptions): Promise<BigKeysSide> {
  const dir = mkdtempSync(join(tmpdir(), system === 'redis' ? 'kvts-bigkeys-redis-' : 'kvts-bigkeys-kv-'));
  const args = system === 'redis' ? REDIS_ARGS : KV_ARGS;
  let srv: ServerProc | undefined;
  /** Keys the server must answer DBSIZE with before it counts as started. */
  let keysNow = 0;
  const start = async (): Promise<{ srv: ServerProc; ms: number }> => {
    const t0 = performance.now();
    const s = await startInDir(system, dir, args, RESTART_TIMEOUT_MS);
    srv = s;
    o.own?.(s);
    await waitForKeys(s.port, keysNow);
    return { srv: s, ms: performance.now() - t0 };
  };
  const stop = async (): Promise<void> => {
    if (srv === undefined) return;
    const s = srv;
    srv = undefined;
    o.release?.(s);
    await s.stop();
  };
  try {
    const first = await start();
    o.log(`bigkeys: ${system}: loading ${o.keys} keys`);
    const tl = performance.now();
    const loaded = await mustBench('load', benchOptions(first.srv.port, o.keys, { sequentialKeys: true, connections: LOAD_CONNECTIONS, pipeline: LOAD_PIPELINE, ratio: { get: 0, set: 1 } }));
    if (loaded.errorsTotal > 0) throw new Error(`load: ${loaded.errorsTotal} errors ${JSON.stringify(loaded.errors)}`);
    keysNow = o.keys;
    await waitForKeys(first.srv.port, keysNow);
    const loadSec = (performance.now() - tl) / 1000;
    const mem = await memory(first.srv.port);
    await stop();
    o.log(`bigkeys: ${system}: loaded in ${loadSec.toFixed(1)} s; restart from the log`);
    const logOnly = await start();
    // The baseline runs on the process that compacts next, so it has also warmed that process:
    // the compaction is then measured against a server past its cold start, as the baseline was.
    o.log(`bigkeys: ${system}: restarted in ${(logOnly.ms / 1000).toFixed(1)} s; steady load ${o.baselineSec} s at ${o.ratePerSec}/s`);
    const baseline = await mustBench('baseline', benchOptions(logOnly.srv.port, o.keys, { ratePerSec: o.ratePerSec, durationSec: o.baselineSec, requests: 0 }));
    o.log(`bigkeys: ${system}: compaction under load`);
    const during = await loadDuring(logOnly.srv.port, o.keys, o.ratePerSec, () => compact(logOnly.srv.port));
    await stop();
    o.log(`bigkeys: ${system}: compaction took ${(during.ms / 1000).toFixed(1)} s; restart after it`);
    const compacted = await start();
    const memAfter = await memory(compacted.srv.port);
    await stop();
    return {
      system,
      loadSec,
      usedMemory: mem.used,
      rss: mem.rss,
      restartLogMs: logOnly.ms,
      restartCompactedMs: compacted.ms,
      rssAfterCompactedRestart: memAfter.rss,
      baseline: loadLatency(baseline),
      duringCompaction: loadLatency(during.load),
      compactionMs: during.ms,
    };
  } finally {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** kv-ts first, then Redis: one large dataset in memory at a time. */
export async function runBigKeys(o: BigKeysOptions): Promise<BigKeysResult> {
  const load1Start = loadavg()[0] ?? 0;
  const t0 = performance.now();
  const kv = await measureSide('kv-ts', o);
  const redis = await measureSide('redis', o);
  return { keys: o.keys, ratePerSec: o.ratePerSec, kv, redis, totalSec: (performance.now() - t0) / 1000, load1Start, load1End: loadavg()[0] ?? 0 };
}

const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(0)} MiB`;
const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
function lat(l: LoadLatency): string {
  const m = l.latencyMs;
  const f = (x: number): string => x.toFixed(2);
  return `${f(m.p50)} / ${f(m.p99)} / ${f(m.p999)} / ${f(m.max)} ms (${l.throughput.toFixed(0)}/s${l.errors > 0 ? `, ${l.errors} errors` : ''})`;
}

export function bigKeysTable(r: BigKeysResult): string {
  const rows: Array<[string, (s: BigKeysSide) => string]> = [
    [`load ${r.keys} keys (sequential, -c ${LOAD_CONNECTIONS} -P ${LOAD_PIPELINE})`, (s) => `${s.loadSec.toFixed(1)} s (${(r.keys / s.loadSec).toFixed(0)}/s)`],
    ['used_memory after the load', (s) => mib(s.usedMemory)],
    ['RSS after the load', (s) => mib(s.rss)],
    ['RSS after the restart from compaction', (s) => mib(s.rssAfterCompactedRestart)],
    ['restart, log only (kv-ts WAL / Redis AOF commands), until DBSIZE = all keys', (s) => sec(s.restartLogMs)],
    ['restart, after compaction (kv-ts snapshot / Redis RDB preamble)', (s) => sec(s.restartCompactedMs)],
    ['compaction (COMPACT / BGREWRITEAOF) under the steady load', (s) => sec(s.compactionMs)],
    [`steady load, no compaction: p50 / p99 / p99.9 / max`, (s) => lat(s.baseline)],
    [`steady load during the compaction: p50 / p99 / p99.9 / max`, (s) => lat(s.duringCompaction)],
  ];
  return ['| measure | kv-ts | redis-server |', '| --- | --- | --- |', ...rows.map(([m, f]) => `| ${m} | ${f(r.kv)} | ${f(r.redis)} |`)].join('\n');
}

/** One line for the suite's notes: the two goals, either way. */
export function bigKeysVerdict(r: BigKeysResult): string {
  const p = (s: BigKeysSide): number => s.duringCompaction.latencyMs.p999;
  const restartOk = r.kv.restartCompactedMs <= r.redis.restartCompactedMs && r.kv.restartLogMs <= r.redis.restartLogMs;
  return (
    `9. ${r.keys} keys: p99.9 during compaction kv-ts ${p(r.kv).toFixed(2)} ms vs Redis ${p(r.redis).toFixed(2)} ms during BGREWRITEAOF (${p(r.kv) < p(r.redis) ? 'below' : 'NOT below'}); ` +
    `restart log-only ${sec(r.kv.restartLogMs)} vs ${sec(r.redis.restartLogMs)}, after compaction ${sec(r.kv.restartCompactedMs)} vs ${sec(r.redis.restartCompactedMs)} (${restartOk ? 'kv-ts ≤ Redis' : 'kv-ts slower'}); details in bigkeys-bench.md`
  );
}

export function writeBigKeysDoc(r: BigKeysResult, command: string, path = BIGKEYS_DOC): void {
  const m = describeMachine();
  const md = [
    `# Large keyspace benchmark (${r.keys} keys × ${BIGKEYS_VALUE_BYTES} B, kv-ts vs redis-server)`,
    '',
    `Command: \`${command}\``,
    '',
    `Machine: ${m.cores} x ${m.cpuModel}, node ${m.node}, redis-server ${m.redis}, ${m.date.slice(0, 10)}; load average ${r.load1Start.toFixed(2)} at the start, ${r.load1End.toFixed(2)} at the end. One run; the whole run took ${r.totalSec.toFixed(0)} s.`,
    '',
    bigKeysTable(r),
    '',
    bigKeysVerdict(r),
    '',
    'Commands:',
    '',
    ...bigKeysCommands(r).map((c) => `- \`${c}\``),
    '',
    'Restart = from spawning the server until `DBSIZE` answers every key (Redis answers -LOADING until then; kv-ts listens once its data is loaded). Latency counts from each request\'s scheduled time, so a stall shows in the percentiles. The load during a compaction runs from one second before `BGREWRITEAOF` until one second after the rewrite ended.',
    '',
  ].join('\n');
  writeFileSync(path, md);
}

/**
 * Suite row 9 (about 4 minutes on a quiet 2-core machine): runs the comparison, records it in
 * bigkeys-bench.md next to the suite's docs file (not with --no-docs), notes the verdict.
 */
export async function row9BigKeys(ctx: SuiteContext, docsPath: string | undefined): Promise<void> {
  if (!ctx.redisAvailable) {
    ctx.notes.push('9. skipped: redis-server not found');
    return;
  }
  const o = { keys: BIGKEYS_KEYS_DEFAULT, ratePerSec: BIGKEYS_RATE_DEFAULT, baselineSec: BIGKEYS_BASELINE_SEC_DEFAULT };
  for (const c of bigKeysCommands(o)) {
    const set = ctx.commands.get(9) ?? new Set<string>();
    ctx.commands.set(9, set.add(c));
  }
  try {
    // No release: ctx.release would stop the server a second time (a second SIGTERM makes kv-server
    // exit at once); an entry left for Ctrl-C after its server stopped costs nothing.
    const r = await runBigKeys({ ...o, log: ctx.log, own: ctx.own });
    if (docsPath !== undefined) writeBigKeysDoc(r, 'npm run build && npm run bench -- --rows 9', join(dirname(docsPath), basename(BIGKEYS_DOC)));
    ctx.log(bigKeysTable(r));
    ctx.notes.push(bigKeysVerdict(r));
  } catch (e) {
    ctx.failures.push(`9. ${o.keys} keys: ${(e as Error).message}`);
  }
}
