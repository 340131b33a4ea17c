// `npm run bench`: the side-by-side suite. Rows 1–2 and 6 (collection types) run redis-benchmark
// against redis-server and kv-server; rows 3–5 drive kv-ts, Redis and etcd with the kv-bench engine.
// Prints one table with each row's ratios and records it, with the chart, in docs/benchmarks.md.
// Installs and builds nothing (says what is missing and skips those rows); always stops its
// servers and removes their directories, also on error or Ctrl-C.

import { writeFileSync } from 'node:fs';
import { runBenchMain, type Stoppable } from './bench-main.js';
import { loadavg } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseFlags } from '../../src/cli/flags.js';
import { latencyChartSvg } from './chart.js';
import { markdownTable, plainTable, toRow, type Comparison } from './compare.js';
import { describeMachine, writeSection } from './docs.js';
import { haveEtcd, haveExecutable, kvServerBuilt, KV_SERVER_JS, REPO_ROOT } from './servers.js';
import { chartGroups, docsBody, lagTable, row3Verdict, rows12Verdict } from './suite-docs.js';
import { formatEstimate, QUICK_REQUESTS, QUICK_ROUNDS, QUICK_ROWS } from './suite-budget.js';
import { row7, row8 } from './suite-workloads.js';
import { row9BigKeys } from './suite-bigkeys.js';
import { KEYSPACE, PRELOAD_KEYS, row1, row2, row5Lag, row5Storage, row6, rows3and4, type SuiteContext } from './suite-rows.js';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2; // also: kv-server is not built

/** redis-benchmark -n for rows 1 and 2 (runs of 1-2 s at -P 16: shorter runs moved more between rounds). */
export const DEFAULT_REQUESTS = 500_000;
/**
 * Rounds per workload by default: three, so the median is one round's number (an outlier round
 * moves nothing) and the order of the systems rotates through every position. A whole run is
 * planned to stay under 20 minutes on a 2-core machine (suite-budget.ts prints the estimate).
 */
export const DEFAULT_ROUNDS = 3;
export const ROUNDS_MAX = 99;
/** kv-bench rows (3, 4, 5, 8) run this long per system and round by default. */
export const DEFAULT_DURATION_SEC = 4;
export const DURATION_SEC_MAX = 3600;
export const ALL_ROWS: readonly number[] = [1, 2, 3, 4, 5, 6, 7, 8, 9];
/** Every row runs by default (about 18 minutes in all on a quiet 2-core machine; --quick for the main lines). */
export const DEFAULT_ROWS: readonly number[] = ALL_ROWS;
export const CHART_FILE = 'bench-latency.svg';

interface SuiteOptions {
  readonly requests: number;
  readonly rounds: number;
  readonly durationSec: number;
  readonly rows: readonly number[];
  readonly readKeys: number;
  readonly docsPath: string | undefined;
  readonly fsyncModes: readonly string[];
  /** --plan: print what would run and the time estimate, run nothing. */
  readonly planOnly: boolean;
}

const USAGE = `Usage: npm run bench -- [--quick] [-n requests] [--rounds N] [--duration S] [--rows 1,...,8] [--no-always] [--docs path | --no-docs] [--plan]
  --quick         the main lines only, in a few minutes: rows ${QUICK_ROWS.join(' and ')}, fsync everysec, -n ${QUICK_REQUESTS},
                  ${QUICK_ROUNDS} round (explicit -n, --rounds or --rows still win)
  --plan          print the resolved options and the time estimate, run nothing
  -n <requests>   redis-benchmark -n per run, rows 1 and 2; rows 6 and 7 run a share of it
                  (default ${DEFAULT_REQUESTS}; smaller for a smoke run)
  --rounds <N>    repeat every workload N times, rotating the systems' order, and report medians
                  and each line's lowest and highest single-round ratio (default ${DEFAULT_ROUNDS})
  --duration <S>  seconds per kv-bench run, rows 3, 4, 5 and 8 (default ${DEFAULT_DURATION_SEC})
  --rows <list>   which rows to run (default all): 1 single node, 2 primary+2 replicas,
                  3 durable majority writes (kv-ts / redis WAIT / etcd), 4 linearizable reads,
                  5 replication lag under load + the storage bench's restart/RSS results,
                  6 hashes, sets and sorted sets (redis-benchmark hset,sadd,spop,zadd,zpopmin
                  and ZRANGE/HGETALL reads of preloaded keys)
                  7 values and connections (redis-benchmark SET/GET -d 1024 and -d 16384,
                  -c 1000, MSET, INCR; each at -P 1 and -P 16)
                  8 YCSB workloads B and A, Zipfian keys, kv-bench vs kv-ts and redis
                  9 10M keys × 100 B: memory, restart times and latency during a compaction
                  vs BGREWRITEAOF (also npm run bench:bigkeys; about 4 minutes)
  --read-keys <N> keys preloaded and read in row 4 (default ${PRELOAD_KEYS})
  --no-always     skip row 1's fsync-always workloads
  --docs <path>   where to record results (default docs/benchmarks.md; the chart goes next to it
                  as ${CHART_FILE}); --no-docs: print only
`;

type Parsed = { ok: true; opts: SuiteOptions } | { ok: false; error: string } | { ok: 'help' };

const FLAGS = {
  // -n, --rounds and --rows have no parse default: --quick changes them unless they are given.
  requests: { type: 'string', short: 'n' },
  rounds: { type: 'string' },
  duration: { type: 'string', default: String(DEFAULT_DURATION_SEC) },
  rows: { type: 'string' },
  quick: { type: 'boolean', default: false },
  plan: { type: 'boolean', default: false },
  'read-keys': { type: 'string', default: String(PRELOAD_KEYS) },
  'no-always': { type: 'boolean', default: false },
  docs: { type: 'string' },
  'no-docs': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

export function parseSuiteArgs(argv: readonly string[]): Parsed {
  const f = parseFlags(argv, FLAGS);
  if (!f.ok) return f;
  const v = f.values;
  if (v.help) return { ok: 'help' };
  const requests = Number(v.requests ?? (v.quick ? QUICK_REQUESTS : DEFAULT_REQUESTS));
  if (!Number.isInteger(requests) || requests < 1) return { ok: false, error: '-n needs a positive integer' };
  const rounds = Number(v.rounds ?? (v.quick ? QUICK_ROUNDS : DEFAULT_ROUNDS));
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > ROUNDS_MAX) return { ok: false, error: `--rounds needs 1..${ROUNDS_MAX}` };
  const durationSec = Number(v.duration);
  if (!(durationSec > 0 && durationSec <= DURATION_SEC_MAX)) return { ok: false, error: `--duration needs seconds in (0, ${DURATION_SEC_MAX}]` };
  const list = (v.rows ?? (v.quick ? QUICK_ROWS : DEFAULT_ROWS).join(',')).split(',').map(Number);
  if (list.some((r) => !ALL_ROWS.includes(r))) return { ok: false, error: `--rows needs a list of ${ALL_ROWS.join(',')}` };
  const readKeys = Number(v['read-keys']);
  if (!Number.isInteger(readKeys) || readKeys < 1 || readKeys > KEYSPACE) return { ok: false, error: `--read-keys needs 1..${KEYSPACE}` };
  if (v.docs !== undefined && v['no-docs']) return { ok: false, error: '--docs and --no-docs exclude each other' };
  const docsPath = v['no-docs'] ? undefined : (v.docs ?? join(REPO_ROOT, 'docs', 'benchmarks.md'));
  const fsyncModes = v['no-always'] || v.quick ? ['everysec'] : ['everysec', 'always'];
  const rows = ALL_ROWS.filter((r) => list.includes(r));
  return { ok: true, opts: { requests, rounds, durationSec, rows, readKeys, docsPath, fsyncModes, planOnly: v.plan } };
}

/** Every set-up this process started and has not yet stopped. */
const live = new Set<Stoppable>();


const started = Date.now();
/** Progress on stderr, each line stamped with the time since start (what each row took, against the estimate). */
const log = (s: string): boolean => {
  const sec = Math.floor((Date.now() - started) / 1000);
  return process.stderr.write(`${String(Math.floor(sec / 60)).padStart(2, '0')}:${String(sec % 60).padStart(2, '0')} ${s}\n`);
};

/** Say what is missing (never install it) and which rows or columns are skipped for it. */
function prerequisites(rows: readonly number[]): { redis: boolean; etcd: boolean; lines: string[] } {
  const lines: string[] = [];
  const missingRedis = ['redis-server', 'redis-benchmark'].filter((c) => !haveExecutable(c));
  const redis = missingRedis.length === 0;
  if (!redis && rows.some((r) => r !== 4)) {
    lines.push(`${missingRedis.join(' and ')} not found: apt-get install redis-server redis-tools — skipping rows 1, 2, 6 and 7 and the redis columns of rows 3, 5 and 8`);
  }
  const etcd = haveEtcd();
  if (!etcd && rows.some((r) => r === 3 || r === 4)) lines.push('etcd not found: apt-get install etcd-server etcd-client — skipping the etcd columns of rows 3 and 4');
  return { redis, etcd, lines };
}

async function main(argv: readonly string[]): Promise<number> {
  const p = parseSuiteArgs(argv);
  if (p.ok === 'help') {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  if (!p.ok) {
    process.stderr.write(`bench: ${p.error} (see --help)\n`);
    return EXIT_USAGE;
  }
  if (!kvServerBuilt()) {
    process.stderr.write(`bench: ${KV_SERVER_JS} is missing; run \`npm run build\` first (the suite builds nothing)\n`);
    return EXIT_USAGE;
  }
  const o = p.opts;
  log(`bench: rows ${o.rows.join(',')}, -n ${o.requests}, ${o.rounds} round(s), ${o.durationSec} s per kv-bench run, fsync ${o.fsyncModes.join(' and ')}`);
  log(`bench: ${formatEstimate(o)}`);
  if (o.planOnly) return EXIT_OK;
  const pre = prerequisites(o.rows);
  for (const l of pre.lines) log(`bench: ${l}`);
  // Described before the run: the load average must show what else was running, not our own load.
  const machine = describeMachine();
  const ctx: SuiteContext = {
    requests: o.requests,
    rounds: o.rounds,
    durationSec: o.durationSec,
    readKeys: o.readKeys,
    fsyncModes: o.fsyncModes,
    etcdAvailable: pre.etcd,
    redisAvailable: pre.redis,
    log,
    results: new Map<string, Comparison>(),
    commands: new Map(),
    notes: [...pre.lines],
    failures: [],
    lag: [],
    storage: undefined,
    own: (x) => void live.add(x),
    release: async (x) => {
      live.delete(x);
      await x.stop();
    },
  };
  const has = new Set(o.rows);
  if (pre.redis && has.has(1)) await row1(ctx);
  if (pre.redis && has.has(2)) await row2(ctx);
  if (has.has(3) || has.has(4)) await rows3and4(ctx, has);
  if (pre.redis && has.has(6)) await row6(ctx);
  if (pre.redis && has.has(7)) await row7(ctx);
  if (has.has(8)) await row8(ctx);
  if (has.has(5)) {
    await row5Lag(ctx);
    row5Storage(ctx);
  }
  if (has.has(9)) await row9BigKeys(ctx, o.docsPath);
  const load1End = loadavg()[0] ?? 0;
  const comparisons = [...ctx.results.values()];
  const rows = comparisons.map(toRow);
  const verdicts = [rows12Verdict(rows), row3Verdict(rows.find((r) => r.workload.startsWith('3.')))].filter((v): v is string => v !== undefined);
  if (rows.length > 0) process.stdout.write('\n' + plainTable(rows));
  for (const v of verdicts) process.stdout.write(`\n${v}\n`);
  if (ctx.lag.length > 0) process.stdout.write('\nRow 5, replication lag under load:\n' + lagTable(ctx.lag) + '\n');
  for (const f of ctx.failures) process.stdout.write(`FAILED: ${f}\n`);
  if (o.docsPath !== undefined) {
    const groups = chartGroups(comparisons);
    let chartFile: string | undefined;
    if (groups.some((g) => g.series.length > 0)) {
      const svgPath = join(dirname(o.docsPath), CHART_FILE);
      writeFileSync(svgPath, latencyChartSvg(`kv-ts / redis / etcd latency percentiles (${machine.date.slice(0, 10)}, ${machine.cores} cores)`, groups));
      chartFile = basename(svgPath);
    }
    const body = docsBody({
      argv,
      machine,
      load1End,
      rounds: o.rounds,
      durationSec: o.durationSec,
      rowsRun: o.rows,
      table: markdownTable(rows),
      verdicts,
      chartFile,
      commands: ctx.commands,
      lag: ctx.lag,
      storage: ctx.storage,
      notes: ctx.notes,
      failures: ctx.failures,
    });
    const w = writeSection(o.docsPath, body);
    if (!w.ok) {
      process.stderr.write(`bench: could not update ${o.docsPath}: ${w.error}\n`);
      return EXIT_FAILED;
    }
    process.stderr.write(`bench: results written to ${o.docsPath}${chartFile !== undefined ? ` and ${chartFile}` : ''}\n`);
  }
  return ctx.failures.length > 0 ? EXIT_FAILED : EXIT_OK;
}

runBenchMain('bench', live, () => main(process.argv.slice(2)));
