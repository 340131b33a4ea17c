// Latency of other clients while one client deletes a big collection: kv-server and
// redis-server side by side (each started fresh, fsync everysec), one sorted set, hash and set
// of N elements each. Probe clients send GETs one at a time and record each round trip; the
// report gives their p50/p99/max inside the window that starts with the DEL and ends a while
// after its reply (kv-ts frees big collections in steps after answering). Owns its servers
// and connections; never asserts a timing (it prints numbers, tests never depend on them).
//
//   node dist/tools/bench/delete-latency.js [--elements N] [--probes N] [--types zset,hash,set] [--systems kv-ts,redis] [--redis-lazyfree]

import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseFlags } from '../../src/cli/flags.js';
import type { RespConnection } from '../../src/client/resp-conn.js';
import { percentile } from './lag.js';
import { haveExecutable, kvServerBuilt, KV_SERVER_JS, startKv, startRedis, type ServerProc } from './servers.js';
import { mustCall, mustConnect } from './slow-readers.js';

const TYPES = ['zset', 'hash', 'set'] as const;
type CollectionType = (typeof TYPES)[number];
const SYSTEMS = ['kv-ts', 'redis'] as const;
type SystemName = (typeof SYSTEMS)[number];

export const DEFAULT_ELEMENTS = 1_000_000;
export const ELEMENTS_MAX = 50_000_000;
export const DEFAULT_PROBES = 8;
export const PROBES_MAX = 200;
/** Elements per building command, and building commands in flight at once. */
const BUILD_BATCH = 1000;
const BUILD_IN_FLIGHT_MAX = 32;
/** Probe round trips measured before the DEL (the baseline) and kept after its reply. */
const BASELINE_MS = 500;
const AFTER_REPLY_MS = 1000;
/** Round trips kept per window (the max is over all of them anyway). */
const PROBE_SAMPLES_MAX = 2_000_000;
const PROBE_KEY = 'probe:small';

export interface DeleteLatencyRow {
  readonly system: SystemName;
  readonly type: CollectionType;
  readonly elements: number;
  readonly buildMs: number;
  readonly delReplyMs: number;
  readonly baseline: { readonly p50: number; readonly p99: number; readonly max: number; readonly n: number };
  readonly during: { readonly p50: number; readonly p99: number; readonly max: number; readonly n: number };
}

function buildArgs(type: CollectionType, key: string, from: number, to: number): string[] {
  const args: string[] = [type === 'zset' ? 'ZADD' : type === 'hash' ? 'HSET' : 'SADD', key];
  for (let i = from; i < to; i++) {
    if (type === 'zset') args.push(String(i), `member:${i}`);
    else if (type === 'hash') args.push(`field:${i}`, `v${i}`);
    else args.push(`member:${i}`);
  }
  return args;
}

/** Write `elements` elements into `key`, a bounded number of commands in flight. */
async function build(c: RespConnection, type: CollectionType, key: string, elements: number): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  for (let from = 0; from < elements; from += BUILD_BATCH) {
    const p: Promise<void> = mustCall(c, buildArgs(type, key, from, Math.min(elements, from + BUILD_BATCH))).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= BUILD_IN_FLIGHT_MAX) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

function stats(xs: number[]): DeleteLatencyRow['baseline'] {
  xs.sort((a, b) => a - b);
  return { p50: percentile(xs, 50), p99: percentile(xs, 99), max: xs.length > 0 ? (xs[xs.length - 1] as number) : NaN, n: xs.length };
}

async function measureOne(port: number, system: SystemName, type: CollectionType, elements: number, probes: number): Promise<DeleteLatencyRow> {
  const key = `big:${type}`;
  const admin = await mustConnect('127.0.0.1', port);
  const conns = await Promise.all(Array.from({ length: probes }, () => mustConnect('127.0.0.1', port)));
  try {
    await mustCall(admin, ['SET', PROBE_KEY, 'v']);
    const t0 = performance.now();
    await build(admin, type, key, elements);
    const buildMs = performance.now() - t0;
    // Round trips by send time: [sentAt, ms].
    const samples: Array<[number, number]> = [];
    let running = true;
    const loops = conns.map(async (c) => {
      while (running) {
        const at = performance.now();
        await mustCall(c, ['GET', PROBE_KEY]);
        if (samples.length < PROBE_SAMPLES_MAX) samples.push([at, performance.now() - at]);
      }
    });
    await new Promise((resolve) => setTimeout(resolve, BASELINE_MS));
    const delAt = performance.now();
    await mustCall(admin, ['DEL', key]);
    const delReplyAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, AFTER_REPLY_MS));
    running = false;
    await Promise.all(loops);
    const baseline = stats(samples.filter(([at]) => at < delAt).map(([, ms]) => ms));
    // A GET sent shortly before the DEL and answered after it waited for it too.
    const during = stats(samples.filter(([at, ms]) => at + ms >= delAt).map(([, ms]) => ms));
    return { system, type, elements, buildMs, delReplyMs: delReplyAt - delAt, baseline, during };
  } finally {
    admin.close();
    for (const c of conns) c.close();
  }
}

export async function measureDeleteLatency(systems: readonly SystemName[], types: readonly CollectionType[], elements: number, probes: number, redisLazyfree: boolean, log: (s: string) => void): Promise<DeleteLatencyRow[]> {
  const rows: DeleteLatencyRow[] = [];
  for (const type of types) {
    for (const system of systems) {
      const server: ServerProc = system === 'redis' ? await startRedis('everysec', redisLazyfree ? ['--lazyfree-lazy-user-del', 'yes'] : []) : await startKv('everysec');
      try {
        log(`${system} ${type}: building ${elements} elements ...`);
        const r = await measureOne(server.port, system, type, elements, probes);
        log(`  DEL replied in ${r.delReplyMs.toFixed(1)} ms; GET p99 ${r.during.p99.toFixed(2)} ms, max ${r.during.max.toFixed(2)} ms`);
        rows.push(r);
      } finally {
        await server.stop();
      }
    }
  }
  return rows;
}

export function deleteLatencyTable(rows: readonly DeleteLatencyRow[]): string {
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '-');
  const head = ['system', 'type', 'elements', 'build ms', 'DEL reply ms', 'GET p50/p99/max before', 'GET p50/p99/max from DEL on', 'GETs from DEL on'];
  const lines = rows.map((r) => [r.system, r.type, String(r.elements), r.buildMs.toFixed(0), f(r.delReplyMs), `${f(r.baseline.p50)} / ${f(r.baseline.p99)} / ${f(r.baseline.max)}`, `${f(r.during.p50)} / ${f(r.during.p99)} / ${f(r.during.max)}`, String(r.during.n)]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  return [head, ...lines].map((l) => l.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()).join('\n') + '\n';
}

const FLAGS = {
  elements: { type: 'string', default: String(DEFAULT_ELEMENTS) },
  probes: { type: 'string', default: String(DEFAULT_PROBES) },
  types: { type: 'string', default: TYPES.join(',') },
  systems: { type: 'string', default: SYSTEMS.join(',') },
  'redis-lazyfree': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

const USAGE = `Usage: node dist/tools/bench/delete-latency.js [--elements N] [--probes N] [--types zset,hash,set] [--systems kv-ts,redis] [--redis-lazyfree]
  Other clients' GET latency while one client DELs a collection of N elements (default ${DEFAULT_ELEMENTS}).
  --redis-lazyfree  start redis-server with lazyfree-lazy-user-del yes (Redis 7.0's default is no:
                    its DEL frees the collection before it answers; UNLINK frees it in a thread)
`;

async function main(argv: readonly string[]): Promise<number> {
  const p = parseFlags(argv, FLAGS);
  const fail = (e: string): number => (process.stderr.write(`delete-latency: ${e} (see --help)\n`), 2);
  if (!p.ok) return fail(p.error);
  if (p.values.help) return (process.stdout.write(USAGE), 0);
  const elements = Number(p.values.elements);
  if (!Number.isInteger(elements) || elements < 1 || elements > ELEMENTS_MAX) return fail(`--elements needs 1..${ELEMENTS_MAX}`);
  const probes = Number(p.values.probes);
  if (!Number.isInteger(probes) || probes < 1 || probes > PROBES_MAX) return fail(`--probes needs 1..${PROBES_MAX}`);
  const types = p.values.types.split(',');
  if (!types.every((t): t is CollectionType => (TYPES as readonly string[]).includes(t))) return fail(`--types needs a list of ${TYPES.join(',')}`);
  const systems = p.values.systems.split(',');
  if (!systems.every((s): s is SystemName => (SYSTEMS as readonly string[]).includes(s))) return fail(`--systems needs a list of ${SYSTEMS.join(',')}`);
  if (systems.includes('kv-ts') && !kvServerBuilt()) return fail(`${KV_SERVER_JS} is missing; run \`npm run build\` first`);
  if (systems.includes('redis') && !haveExecutable('redis-server')) return fail('redis-server not found (apt-get install redis-server)');
  const rows = await measureDeleteLatency(systems, types, elements, probes, p.values['redis-lazyfree'], (s) => process.stderr.write(s + '\n'));
  process.stdout.write(deleteLatencyTable(rows));
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`delete-latency: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
