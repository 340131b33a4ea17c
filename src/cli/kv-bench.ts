// kv-bench: command-line front end of the benchmark core (src/bench/run.ts). Parses flags,
// draws the progress bar on stderr when it is a terminal, prints the table or JSON.
// Never measures anything itself and never drives the server outside runBench.

import { performance } from 'node:perf_hooks';
import { formatJson, formatTable, progressLine, workloadLabel } from '../bench/report.js';
import { runBench, type BenchOptions, type Consistency, type Endpoint } from '../bench/run.js';
import { discoverPrimary, routeBySeeds } from '../bench/seeds.js';
import { parseAddress } from '../net/address.js';

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
  -a <password>          AUTH password
  -c <connections>       Parallel connections (default 50)
  -n <requests>          Total requests (default 100000)
  --duration <seconds>   Run for this long instead of -n
  -d <bytes>             SET value size (default 100)
  -P <depth>             Requests outstanding per connection (default 1)
  --ratio <get:set>      Operation mix by weight (default 0:1 = SET only: writes are what
                         durability and replication cost; use 1:1 for a mixed load)
  --keyspace <n>         Keys are key:000000000000 .. n-1, picked uniformly (default 100000)
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

export function parseBenchArgs(argv: readonly string[]): Parsed {
  let host = '127.0.0.1';
  let port = 4000;
  let password: string | undefined;
  let connections = 50;
  let requests = 100_000;
  let durationSec: number | undefined;
  let valueBytes = 100;
  let pipeline = 1;
  let ratio = { get: 0, set: 1 };
  let keyspace = 100_000;
  let consistency: Consistency | undefined;
  let redisWait: number | undefined;
  let seed = 1;
  let seeds: Endpoint[] | undefined;
  let etcd: string[] | undefined;
  let sequentialKeys = false;
  let json = false;
  let quiet = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const needs = (): string | undefined => argv[++i];
    const num = (): number => {
      const v = needs();
      return v === undefined || v.trim() === '' ? NaN : Number(v);
    };
    switch (flag) {
      case '-h': {
        const v = needs();
        if (v === undefined) return { ok: false, error: '-h needs a host' };
        host = v;
        break;
      }
      case '-p':
        port = num();
        break;
      case '--seeds': {
        const list = (needs() ?? '').split(',').map(parseAddress);
        if (list.length === 0 || list.some((e) => e === null)) return { ok: false, error: '--seeds needs host:port[,host:port...]' };
        seeds = list as Endpoint[];
        break;
      }
      case '--etcd': {
        const v = needs();
        if (v === undefined || v === '') return { ok: false, error: '--etcd needs http://host:port[,...]' };
        etcd = v.split(',');
        break;
      }
      case '--sequential':
        sequentialKeys = true;
        break;
      case '-a':
        password = needs();
        if (password === undefined) return { ok: false, error: '-a needs a password' };
        break;
      case '-c':
        connections = num();
        break;
      case '-n':
        requests = num();
        break;
      case '--duration':
        durationSec = num();
        break;
      case '-d':
        valueBytes = num();
        break;
      case '-P':
        pipeline = num();
        break;
      case '--ratio': {
        const m = /^(\d+):(\d+)$/.exec(needs() ?? '');
        if (m === null) return { ok: false, error: '--ratio needs get:set weights, e.g. 1:1' };
        ratio = { get: Number(m[1]), set: Number(m[2]) };
        break;
      }
      case '--keyspace':
        keyspace = num();
        break;
      case '--consistency': {
        const v = needs();
        if (v !== 'eventual' && v !== 'session' && v !== 'quorum') {
          return { ok: false, error: '--consistency must be eventual, session or quorum' };
        }
        consistency = v;
        break;
      }
      case '--redis-wait':
        redisWait = num();
        break;
      case '--seed':
        seed = num();
        break;
      case '--json':
        json = true;
        break;
      case '--quiet':
        quiet = true;
        break;
      case '--help':
        help = true;
        break;
      default:
        return { ok: false, error: `unknown option '${flag}'` };
    }
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { ok: false, error: 'port must be 1..65535' };
  if (!Number.isInteger(seed)) return { ok: false, error: '--seed must be an integer' };
  const opts: BenchOptions = {
    host,
    port,
    password,
    connections,
    requests,
    durationSec,
    valueBytes,
    pipeline,
    ratio,
    keyspace,
    consistency,
    redisWait,
    seed,
    etcd,
    sequentialKeys,
  };
  if (seeds !== undefined && etcd !== undefined) return { ok: false, error: '--seeds and --etcd exclude each other' };
  return { ok: true, opts, seeds, json, quiet, help };
}

async function main(argv: readonly string[]): Promise<number> {
  const p = parseBenchArgs(argv);
  if (!p.ok) {
    process.stderr.write(`kv-bench: ${p.error}\n${USAGE}`);
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
        `p99 ${r.latencyMs.p99.toFixed(3)} ms, errors ${r.errorsTotal}\n`,
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
