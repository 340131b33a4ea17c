// kv-bench: command-line front end of the benchmark core (src/bench/run.ts). Parses flags,
// draws the progress bar on stderr when it is a terminal, prints the table or JSON.
// Never measures anything itself and never drives the server outside runBench.

import { performance } from 'node:perf_hooks';
import { formatJson, formatTable, progressLine, workloadLabel } from '../bench/report.js';
import { runBench, validateOptions, type BenchOptions, type Endpoint } from '../bench/run.js';
import { discoverPrimary, routeBySeeds } from '../bench/seeds.js';
import { DISTRIBUTIONS } from '../bench/zipfian.js';
import { parseAddress } from '../net/address.js';
import { parseFlags } from './flags.js';

/** Progress bar redraw period; redrawing per request would cost more than the requests. */
const PROGRESS_INTERVAL_MS = 200;
const EXIT_OK = 0;
const EXIT_RUN_FAILED = 1; // could not connect, handshake refused
const EXIT_USAGE = 2;
const EXIT_SOME_REQUESTS_FAILED = 3; // the report is printed, but some requests got errors

const USAGE = `Usage: kv-bench [OPTIONS]
  -h <host>              Server host (default 127.0.0.1)
  -p <port>              Server port (default 4000)
  --seeds h:p[,h:p...]   Seed nodes: the primary is found via TOPOLOGY (or ROLE) from the first
                         seed that knows it; writes and quorum reads go there, a read-only
                         eventual/session load is spread over every member
  --etcd URL[,URL...]    Drive etcd's HTTP/JSON gateway instead (POST /v3/kv/put, /v3/kv/range;
                         ranges are linearizable); -P must be 1
  --etcd-grpc h:p[,h:p...]
                         Drive etcd over gRPC (the etcd3 client): one HTTP/2 channel per
                         endpoint, -c calls in flight over them; ranges are linearizable; -P 1
  -a <password>          AUTH password
  -c <connections>       Parallel connections (default 50)
  -n <requests>          Total requests (default 100000)
  --duration <seconds>   Run for this long instead of -n
  --rate <req/s>         Open loop: at most this many requests per second in total, on a fixed
                         schedule per connection; a late request counts from its scheduled time
  -d <bytes>             SET value size (default 100)
  -P <depth>             Requests outstanding per connection (default 1)
  --ratio <get:set>      Operation mix by weight (default 0:1 = SET only: writes are what
                         durability and replication cost; use 1:1 for a mixed load)
  --keyspace <n>         Keys are key:000000000000 .. n-1 (default 100000)
  --distribution <d>     uniform (default) or zipfian: YCSB's Zipfian, theta 0.99, the popular
                         keys scattered over the keyspace by a seeded bijection
  --consistency <mode>   eventual|session|quorum: sends CONSISTENCY <mode> on each connection
  --redis-wait <n>       Send WAIT n 0 after each SET (SET+WAIT count as one request)
  --seed <n>             Seed for key and operation choice (default 1)
  --sequential           Request i uses key i mod keyspace (with -n keyspace: preload every key once)
  --json                 Print the result as JSON
  --quiet                No progress bar; print one summary line
Exit status: 0 all requests ok, 3 some requests failed (see errors), 1 could not start, 2 bad usage.
`;

type Parsed =
  | {
      readonly ok: true;
      readonly opts: BenchOptions;
      readonly seeds: readonly Endpoint[] | undefined;
      readonly json: boolean;
      readonly quiet: boolean;
      readonly help: boolean;
    }
  | { readonly ok: false; readonly error: string };

/** Flags as redis-benchmark spells them; each short flag also answers to its long name. */
const FLAGS = {
  host: { type: 'string', short: 'h', default: '127.0.0.1' },
  port: { type: 'string', short: 'p', default: '4000' },
  seeds: { type: 'string' },
  etcd: { type: 'string' },
  'etcd-grpc': { type: 'string' },
  distribution: { type: 'string', default: 'uniform' },
  password: { type: 'string', short: 'a' },
  connections: { type: 'string', short: 'c', default: '50' },
  requests: { type: 'string', short: 'n', default: '100000' },
  duration: { type: 'string' },
  rate: { type: 'string' },
  'value-bytes': { type: 'string', short: 'd', default: '100' },
  pipeline: { type: 'string', short: 'P', default: '1' },
  ratio: { type: 'string', default: '0:1' },
  keyspace: { type: 'string', default: '100000' },
  consistency: { type: 'string' },
  'redis-wait': { type: 'string' },
  seed: { type: 'string', default: '1' },
  sequential: { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  quiet: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

/** A number flag's value; NaN for an empty or non-numeric one (validateOptions then refuses it). */
function num(v: string): number {
  return v.trim() === '' ? NaN : Number(v);
}

export function parseBenchArgs(argv: readonly string[]): Parsed {
  const f = parseFlags(argv, FLAGS);
  if (!f.ok) return f;
  const v = f.values;
  let seeds: Endpoint[] | undefined;
  if (v.seeds !== undefined) {
    const list = v.seeds.split(',').map(parseAddress);
    if (list.some((e) => e === null)) return { ok: false, error: '--seeds needs host:port[,host:port...]' };
    seeds = list as Endpoint[];
  }
  if (v.etcd === '') return { ok: false, error: '--etcd needs http://host:port[,...]' };
  const etcdGrpc = v['etcd-grpc']?.split(',');
  if (etcdGrpc !== undefined && etcdGrpc.some((e) => parseAddress(e) === null)) return { ok: false, error: '--etcd-grpc needs host:port[,host:port...]' };
  const distribution = DISTRIBUTIONS.find((d) => d === v.distribution);
  if (distribution === undefined) return { ok: false, error: `--distribution must be ${DISTRIBUTIONS.join(' or ')}` };
  const m = /^(\d+):(\d+)$/.exec(v.ratio);
  if (m === null) return { ok: false, error: '--ratio needs get:set weights, e.g. 1:1' };
  const consistency = v.consistency;
  if (consistency !== undefined && consistency !== 'eventual' && consistency !== 'session' && consistency !== 'quorum') {
    return { ok: false, error: '--consistency must be eventual, session or quorum' };
  }
  const port = num(v.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { ok: false, error: 'port must be 1..65535' };
  const seed = num(v.seed);
  if (!Number.isInteger(seed)) return { ok: false, error: '--seed must be an integer' };
  const opts: BenchOptions = {
    host: v.host,
    port,
    password: v.password,
    connections: num(v.connections),
    requests: num(v.requests),
    durationSec: v.duration === undefined ? undefined : num(v.duration),
    ratePerSec: v.rate === undefined ? undefined : num(v.rate),
    valueBytes: num(v['value-bytes']),
    pipeline: num(v.pipeline),
    ratio: { get: Number(m[1]), set: Number(m[2]) },
    keyspace: num(v.keyspace),
    consistency,
    redisWait: v['redis-wait'] === undefined ? undefined : num(v['redis-wait']),
    seed,
    etcd: v.etcd?.split(','),
    etcdGrpc,
    distribution,
    sequentialKeys: v.sequential,
  };
  if (seeds !== undefined && (opts.etcd !== undefined || opts.etcdGrpc !== undefined)) return { ok: false, error: '--seeds and --etcd/--etcd-grpc exclude each other' };
  if (opts.etcd !== undefined && opts.etcdGrpc !== undefined) return { ok: false, error: '--etcd and --etcd-grpc exclude each other' };
  const invalid = validateOptions(opts);
  if (invalid !== undefined) return { ok: false, error: invalid };
  return { ok: true, opts, seeds, json: v.json, quiet: v.quiet, help: v.help };
}

async function main(argv: readonly string[]): Promise<number> {
  const p = parseBenchArgs(argv);
  if (!p.ok) {
    process.stderr.write(`kv-bench: ${p.error} (see --help)\n`);
    return EXIT_USAGE;
  }
  if (p.help) {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  let opts = p.opts;
  if (p.seeds !== undefined) {
    const d = await discoverPrimary(p.seeds);
    if (!d.ok) {
      process.stderr.write(`kv-bench: ${d.error}\n`);
      return EXIT_RUN_FAILED;
    }
    opts = routeBySeeds(opts, d.discovery);
  }
  const showProgress = !p.quiet && process.stderr.isTTY === true;
  let done = 0;
  const t0 = performance.now();
  const timer = showProgress
    ? setInterval(() => {
        const el = (performance.now() - t0) / 1000;
        process.stderr.write(progressLine(done, opts.durationSec === undefined ? opts.requests : undefined, el, opts.durationSec));
      }, PROGRESS_INTERVAL_MS)
    : undefined;
  const outcome = await runBench({ ...opts, onProgress: showProgress ? (d) => (done = d) : undefined });
  if (timer !== undefined) {
    clearInterval(timer);
    process.stderr.write('\r\x1b[K');
  }
  if (!outcome.ok) {
    process.stderr.write(`kv-bench: ${outcome.error}\n`);
    return EXIT_RUN_FAILED;
  }
  const r = outcome.result;
  if (p.json) process.stdout.write(formatJson(opts, r));
  else if (p.quiet) {
    process.stdout.write(
      `${workloadLabel(opts)}: ${r.throughput.toFixed(0)} ok req/s, p50 ${r.latencyMs.p50.toFixed(3)} ms, ` +
        `p99 ${r.latencyMs.p99.toFixed(3)} ms, p99.9 ${r.latencyMs.p999.toFixed(3)} ms, max ${r.latencyMs.max.toFixed(3)} ms, errors ${r.errorsTotal}\n`,
    );
  } else process.stdout.write(formatTable(opts, r));
  return r.errorsTotal === 0 ? EXIT_OK : EXIT_SOME_REQUESTS_FAILED;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`kv-bench: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = EXIT_RUN_FAILED;
  },
);
