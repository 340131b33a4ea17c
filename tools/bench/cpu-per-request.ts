// Server CPU per request: redis-server, kv-server and the I/O floor (io-floor-server.ts: Node's
// read and write path alone), each started fresh and measured alone, under the same
// redis-benchmark load. The user and system time a server spent (/proc/PID/stat) over a measured
// run, after a warm-up run of the same size, divided by the requests. CPU per request, not
// throughput, is what decides the pipelined lines on a 2-core machine where both the server and
// redis-benchmark are busy (docs/perf-notes.md, 'What is left'). Owns this measurement and its
// table; never asserts on a number.
//
// Usage: npm run build && npm run bench:cpu -- [--tests ping_mbulk,get,set,incr,sadd,hset,rpush]
//   [--requests 500000] [--pipelines 16,1] [--clients 50] [--keyspace 100000]
// At -P 1 each run has a tenth of --requests (a request costs ten times the wall time).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags } from '../../src/cli/flags.js';
import { runBenchMain, type Stoppable } from './bench-main.js';
import { runRedisBenchmark } from './redis-benchmark.js';
import { freePort, haveExecutable, kvServerBuilt, KV_SERVER_JS, launch, REPO_ROOT, startKv, startRedis, type ServerProc } from './servers.js';

const IO_FLOOR_JS = join(REPO_ROOT, 'dist', 'tools', 'bench', 'io-floor-server.js');
/** The floor server answers only this test (its frames have one fixed size). */
const FLOOR_TEST = 'ping_mbulk';
/** -P 1 runs get this share of --requests. */
const UNPIPELINED_SHARE = 10;

interface CpuTimes {
  readonly userUs: number;
  readonly sysUs: number;
}

function clockTicksPerSecond(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'latin1' });
  const n = Number(String(r.stdout).trim());
  return Number.isInteger(n) && n > 0 ? n : 100;
}

/** utime and stime of `pid` (fields 14 and 15 of /proc/PID/stat; the command name may hold spaces). */
function cpuTimes(pid: number, ticksPerSecond: number): CpuTimes {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const us = (ticks: string | undefined): number => (Number(ticks) * 1e6) / ticksPerSecond;
  return { userUs: us(f[11]), sysUs: us(f[12]) };
}

export interface CpuRow {
  readonly test: string;
  readonly pipeline: number;
  readonly server: string;
  readonly userUs: number;
  readonly sysUs: number;
  readonly rps: number;
}

interface Options {
  readonly tests: readonly string[];
  readonly requests: number;
  readonly pipelines: readonly number[];
  readonly clients: number;
  readonly keyspace: number;
}

const EXIT_OK = 0;
const EXIT_USAGE = 2;
const REQUESTS_MAX = 100_000_000;
const CLIENTS_MAX = 10_000;
/** redis-benchmark's -P above this measures its own buffering more than the server. */
const PIPELINE_MAX = 1_000;
/** Tests this tool runs (redis-benchmark -t names whose load needs no preloaded key). */
const TESTS = ['ping_inline', 'ping_mbulk', 'get', 'set', 'incr', 'lpush', 'rpush', 'lpop', 'rpop', 'sadd', 'hset', 'spop', 'zadd', 'zpopmin', 'mset', 'publish'] as const;
/** Tests redis-benchmark has no -t for: run as its trailing command (row 6's PUBLISH line, no subscriber). */
const CUSTOM_COMMANDS: ReadonlyMap<string, readonly string[]> = new Map([['publish', ['PUBLISH', 'bench:channel', 'message']]]);

const USAGE = `Usage: npm run bench:cpu -- [--tests t1,t2] [--requests N] [--pipelines 16,1] [--clients C] [--keyspace K]
  Server CPU (user and system µs per request, from /proc) of redis-server, kv-server and, for
  ping_mbulk, the I/O floor (Node's read and write path alone), each fresh and measured alone.
  --tests <list>      redis-benchmark tests, of ${TESTS.join(',')} (default ping_mbulk,get,set,incr,sadd,hset,rpush)
  --requests <N>      requests per measured run at -P > 1 (default 500000; -P 1 runs a tenth)
  --pipelines <list>  redis-benchmark -P values (default 16,1)
  --clients <C>       redis-benchmark -c (default 50)
  --keyspace <K>      redis-benchmark -r (default 100000)
`;

const FLAGS = {
  tests: { type: 'string', default: 'ping_mbulk,get,set,incr,sadd,hset,rpush' },
  requests: { type: 'string', default: '500000' },
  pipelines: { type: 'string', default: '16,1' },
  clients: { type: 'string', default: '50' },
  keyspace: { type: 'string', default: '100000' },
  help: { type: 'boolean', default: false },
} as const;

/** A whole number in [1, max], or null. */
function count(v: string, max: number): number | null {
  const n = Number(v);
  return /^\d+$/.test(v) && Number.isSafeInteger(n) && n >= 1 && n <= max ? n : null;
}

/** The options, or the reason they are refused. */
function options(argv: readonly string[]): Options | { readonly help: true } | { readonly error: string } {
  const f = parseFlags(argv, FLAGS);
  if (!f.ok) return { error: f.error };
  const v = f.values;
  if (v.help) return { help: true };
  const tests = v.tests.split(',');
  if (!tests.every((t) => (TESTS as readonly string[]).includes(t))) return { error: `--tests needs a list of ${TESTS.join(',')}` };
  const requests = count(v.requests, REQUESTS_MAX);
  if (requests === null) return { error: `--requests needs 1..${REQUESTS_MAX}` };
  const pipelines = v.pipelines.split(',').map((p) => count(p, PIPELINE_MAX));
  if (pipelines.some((p) => p === null)) return { error: `--pipelines needs a list of 1..${PIPELINE_MAX}` };
  const clients = count(v.clients, CLIENTS_MAX);
  if (clients === null) return { error: `--clients needs 1..${CLIENTS_MAX}` };
  const keyspace = count(v.keyspace, REQUESTS_MAX);
  if (keyspace === null) return { error: `--keyspace needs 1..${REQUESTS_MAX}` };
  return { tests, requests, pipelines: pipelines as number[], clients, keyspace };
}

async function startFloor(): Promise<ServerProc> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'kvts-bench-floor-'));
  return launch('io-floor', process.execPath, [IO_FLOOR_JS, String(port)], port, dir);
}

async function measure(live: Set<Stoppable>, server: ServerProc, test: string, pipeline: number, requests: number, o: Options, ticks: number): Promise<CpuRow> {
  const params = { port: server.port, tests: [test], requests, clients: o.clients, valueBytes: 3, keyspace: o.keyspace, pipeline, command: CUSTOM_COMMANDS.get(test) };
  try {
    const warm = await runRedisBenchmark(params);
    if (!warm.ok) throw new Error(warm.error);
    const before = cpuTimes(server.pid, ticks);
    const run = await runRedisBenchmark(params);
    if (!run.ok) throw new Error(run.error);
    const after = cpuTimes(server.pid, ticks);
    const rps = run.rows[0]?.rps ?? NaN;
    return { test, pipeline, server: server.name, userUs: (after.userUs - before.userUs) / requests, sysUs: (after.sysUs - before.sysUs) / requests, rps };
  } finally {
    live.delete(server);
    await server.stop();
  }
}

export function cpuTable(rows: readonly CpuRow[]): string {
  const lines = ['| test | -P | server | user µs/req | sys µs/req | user+sys | req/s |', '| --- | ---: | --- | ---: | ---: | ---: | ---: |'];
  for (const r of rows) {
    lines.push(`| ${r.test} | ${r.pipeline} | ${r.server} | ${r.userUs.toFixed(2)} | ${r.sysUs.toFixed(2)} | ${(r.userUs + r.sysUs).toFixed(2)} | ${Math.round(r.rps)} |`);
  }
  return lines.join('\n');
}

const live = new Set<Stoppable>();

async function main(argv: readonly string[]): Promise<number> {
  const o = options(argv);
  if ('help' in o) {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  const fail = (msg: string): number => {
    process.stderr.write(`bench:cpu: ${msg} (see --help)\n`);
    return EXIT_USAGE;
  };
  if ('error' in o) return fail(o.error);
  if (!haveExecutable('redis-server') || !haveExecutable('redis-benchmark')) return fail('redis-server and redis-benchmark not found (apt-get install redis-server redis-tools)');
  if (!kvServerBuilt()) return fail(`${KV_SERVER_JS} is missing; run \`npm run build\` first`);
  const ticks = clockTicksPerSecond();
  const rows: CpuRow[] = [];
  for (const pipeline of o.pipelines) {
    const requests = pipeline === 1 ? Math.max(1000, Math.floor(o.requests / UNPIPELINED_SHARE)) : o.requests;
    for (const test of o.tests) {
      const starters: Array<() => Promise<ServerProc>> = [() => startRedis('everysec'), () => startKv('everysec')];
      if (test === FLOOR_TEST) starters.push(startFloor);
      for (const start of starters) {
        const server = await start();
        live.add(server);
        const row = await measure(live, server, test, pipeline, requests, o, ticks);
        rows.push(row);
        process.stderr.write(`${test} -P ${pipeline} ${row.server}: user ${row.userUs.toFixed(2)} sys ${row.sysUs.toFixed(2)} µs/req\n`);
      }
    }
  }
  process.stdout.write(`${cpuTable(rows)}\n`);
  return EXIT_OK;
}

runBenchMain('bench:cpu', live, () => main(process.argv.slice(2)));
