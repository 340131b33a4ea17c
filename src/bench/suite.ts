// `npm run bench`: the side-by-side suite. Starts redis-server and kv-server with equal
// durability settings, runs redis-benchmark against each in alternation (so drift hits both),
// prints the comparison and records it in docs/benchmarks.md. Installs and builds nothing;
// always stops its servers and removes their directories, also on error or Ctrl-C.

import { join } from 'node:path';
import { describeMachine, writeSection, type Machine } from './docs.js';
import { markdownTable, plainTable, toRow, type Comparison, type Sample } from './compare.js';
import { redisBenchmarkArgs, runRedisBenchmark, type RedisBenchmarkParams } from './redis-benchmark.js';
import { haveExecutable, kvServerBuilt, KV_SERVER_JS, REPO_ROOT, startKv, startRedis, type ServerProc } from './servers.js';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2; // also: a prerequisite is missing

/** The fixed workload parameters (only -n and the rounds are adjustable). */
export const CLIENTS = 50;
export const VALUE_BYTES = 100;
export const KEYSPACE = 100_000;
export const PIPELINES = [1, 16] as const;
export const TESTS = ['set', 'get'] as const;
export const DEFAULT_REQUESTS = 200_000;
export const ROUNDS_MAX = 99;

interface SuiteOptions {
  readonly requests: number;
  readonly rounds: number;
  readonly docsPath: string | undefined;
  readonly fsyncModes: readonly string[];
}

const USAGE = `Usage: npm run bench -- [-n requests] [--rounds N] [--no-always] [--docs path | --no-docs]
  -n <requests>   redis-benchmark -n per run (default ${DEFAULT_REQUESTS}; smaller for a smoke run)
  --rounds <N>    repeat every row N times, alternating servers, and report medians (default 1)
  --no-always     skip the fsync-always rows
  --docs <path>   where to record results (default docs/benchmarks.md); --no-docs: print only
`;

type Parsed = { ok: true; opts: SuiteOptions } | { ok: false; error: string } | { ok: 'help' };

function parseArgs(argv: readonly string[]): Parsed {
  let requests = DEFAULT_REQUESTS;
  let rounds = 1;
  let docsPath: string | undefined = join(REPO_ROOT, 'docs', 'benchmarks.md');
  let fsyncModes = ['everysec', 'always'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '-n':
        requests = Number(argv[++i]);
        if (!Number.isInteger(requests) || requests < 1) return { ok: false, error: '-n needs a positive integer' };
        break;
      case '--rounds':
        rounds = Number(argv[++i]);
        if (!Number.isInteger(rounds) || rounds < 1 || rounds > ROUNDS_MAX) return { ok: false, error: `--rounds needs 1..${ROUNDS_MAX}` };
        break;
      case '--no-always':
        fsyncModes = ['everysec'];
        break;
      case '--docs': {
        const p = argv[++i];
        if (p === undefined) return { ok: false, error: '--docs needs a path' };
        docsPath = p;
        break;
      }
      case '--no-docs':
        docsPath = undefined;
        break;
      case '--help':
        return { ok: 'help' };
      default:
        return { ok: false, error: `unknown option '${a}'` };
    }
  }
  return { ok: true, opts: { requests, rounds, docsPath, fsyncModes } };
}

/** Every server this process started and has not yet stopped. */
const live = new Set<ServerProc>();

async function stopAll(): Promise<void> {
  const ps = [...live];
  live.clear();
  await Promise.all(ps.map((p) => p.stop()));
}

async function started(p: Promise<ServerProc>): Promise<ServerProc> {
  const s = await p;
  live.add(s);
  return s;
}

const log = (s: string): boolean => process.stderr.write(s + '\n');

/** All rows for one fsync mode: both servers up, every (pipeline, round) alternating A/B. */
async function runMode(mode: string, o: SuiteOptions, out: Map<string, Comparison>, commands: Set<string>): Promise<void> {
  const redis = await started(startRedis(mode));
  const kv = await started(startKv(mode));
  commands.add(redis.command.replace(redis.dir, '<tmp>').replace(String(redis.port), '<port>'));
  commands.add(kv.command.replace(KV_SERVER_JS, 'dist/src/cli/kv-server.js').replace(kv.dir, '<tmp>').replace(String(kv.port), '<port>'));
  try {
    for (let round = 0; round < o.rounds; round++) {
      for (const pipeline of PIPELINES) {
        // Alternate who goes first each round, so neither side always runs on a warmer machine.
        const order = round % 2 === 0 ? [redis, kv] : [kv, redis];
        for (const target of order) {
          const params: RedisBenchmarkParams = {
            port: target.port,
            tests: TESTS,
            requests: o.requests,
            clients: CLIENTS,
            valueBytes: VALUE_BYTES,
            keyspace: KEYSPACE,
            pipeline,
          };
          commands.add('redis-benchmark ' + redisBenchmarkArgs({ ...params, port: 0 }).join(' ').replace('-p 0', '-p <port>'));
          log(`[${mode}] round ${round + 1}/${o.rounds} -P ${pipeline} ${target.name} ...`);
          const r = await runRedisBenchmark(params);
          for (const test of TESTS) {
            const workload = `${test.toUpperCase()} -P ${pipeline}, fsync ${mode}`;
            const prev = out.get(workload) ?? { workload, redis: [], kv: [] };
            const side = target === redis ? 'redis' : 'kv';
            if (!r.ok) {
              log(`  ${target.name} failed: ${r.error}`);
              out.set(workload, { ...prev, [`${side}Error`]: r.error });
              continue;
            }
            const row = r.rows.find((x) => x.test.toLowerCase() === test);
            if (row === undefined) continue;
            const s: Sample = { rps: row.rps, p50Ms: row.p50Ms };
            log(`  ${row.test}: ${row.rps.toFixed(0)} req/s, p50 ${row.p50Ms} ms`);
            out.set(workload, { ...prev, [side]: [...prev[side], s] });
          }
        }
      }
    }
  } finally {
    await redis.stop();
    await kv.stop();
    live.delete(redis);
    live.delete(kv);
  }
}

function docsBody(o: SuiteOptions, m: Machine, table: string, commands: Set<string>, argv: readonly string[]): string {
  const cmd = ['npm run bench', ...(argv.length > 0 ? ['--', ...argv] : [])].join(' ');
  return [
    '## Single node: redis-benchmark against redis-server and kv-server',
    '',
    `Generated by \`${cmd}\` on ${m.date}.`,
    '',
    `- Machine: ${m.cpuModel}, ${m.cores} cores, ${m.os}; client and servers share these cores; 1-min load average at start ${m.load1.toFixed(1)}.`,
    `- Versions: node ${m.node}, redis-server ${m.redis}.`,
    `- Each row: median of ${o.rounds} round(s); within a round redis and kv-ts run back to back, alternating which goes first.`,
    '- Commands:',
    ...[...commands].map((c) => `  - \`${c}\``),
    '',
    table.trimEnd(),
    '',
    'ratio = kv-ts req/s ÷ redis req/s (issue 7 target: ≥ 0.8 now, 1.0 goal).',
  ].join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const p = parseArgs(argv);
  if (p.ok === 'help') {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  if (!p.ok) {
    process.stderr.write(`bench: ${p.error}\n${USAGE}`);
    return EXIT_USAGE;
  }
  const missing = ['redis-server', 'redis-benchmark'].filter((c) => !haveExecutable(c));
  if (missing.length > 0) {
    process.stderr.write(`bench: ${missing.join(' and ')} not found. Install them with:\n  apt-get install redis-server redis-tools\n`);
    return EXIT_USAGE;
  }
  if (!kvServerBuilt()) {
    process.stderr.write(`bench: ${KV_SERVER_JS} is missing; run \`npm run build\` first (the suite builds nothing)\n`);
    return EXIT_USAGE;
  }
  const o = p.opts;
  // Described before the run: the load average must show what else was running, not our own load.
  const machine = describeMachine();
  const results = new Map<string, Comparison>();
  const commands = new Set<string>();
  for (const mode of o.fsyncModes) await runMode(mode, o, results, commands);
  const rows = [...results.values()].map(toRow);
  process.stdout.write('\n' + plainTable(rows));
  if (o.docsPath !== undefined) {
    const w = writeSection(o.docsPath, docsBody(o, machine, markdownTable(rows), commands, argv));
    if (!w.ok) {
      process.stderr.write(`bench: could not update ${o.docsPath}: ${w.error}\n`);
      return EXIT_FAILED;
    }
    process.stderr.write(`bench: results written to ${o.docsPath}\n`);
  }
  const failed = [...results.values()].some((c) => c.redisError !== undefined || c.kvError !== undefined);
  return failed ? EXIT_FAILED : EXIT_OK;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void stopAll().finally(() => process.exit(130));
  });
}

main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = EXIT_FAILED;
    },
  )
  .finally(() => stopAll());
