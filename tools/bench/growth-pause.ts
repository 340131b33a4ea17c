// Event-loop pauses while the keyspace grows: kv-server and redis-server side by side (each
// started fresh, fsync everysec), each filled towards N keys by redis-benchmark (`-t set -r N
// -P 16`, a separate process), while one probe client sends a PING, waits for its reply, sleeps
// 1 ms and sends the next. The report gives the probe's p50/p99/max round trip during the fill:
// a table that rehashes or copies its arrays in one go shows up as the max. Owns its servers
// and connections; never asserts a timing (it prints numbers, tests never depend on them).
//
//   node dist/tools/bench/growth-pause.js [--keys N] [--systems kv-ts,redis] [--kv-server PATH]

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseFlags } from '../../src/cli/flags.js';
import type { RespConnection } from '../../src/client/resp-conn.js';
import { percentile } from './lag.js';
import { runRedisBenchmark } from './redis-benchmark.js';
import { haveExecutable, KV_SERVER_JS, startKv, startRedis, type ServerProc } from './servers.js';
import { mustConnect } from './slow-readers.js';

const SYSTEMS = ['kv-ts', 'redis'] as const;
type SystemName = (typeof SYSTEMS)[number];

export const DEFAULT_KEYS = 2_000_000;
export const KEYS_MAX = 50_000_000;
/** SETs sent per key of the range: random keys, so 3 per key fill ~95 % of it. */
const REQUESTS_PER_KEY = 3;
const FILL_CLIENTS = 50;
const FILL_PIPELINE = 16;
const FILL_VALUE_BYTES = 16;
/** The probe's sleep between a reply and its next PING. */
const PROBE_GAP_MS = 1;
/** Round trips kept (the max is tracked over all of them anyway). */
const PROBE_SAMPLES_MAX = 2_000_000;

export interface GrowthPauseRow {
  readonly system: SystemName;
  readonly keys: number;
  readonly fillMs: number;
  readonly probes: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

async function dbsize(c: RespConnection): Promise<number> {
  const r = await c.call(['DBSIZE']);
  if (!r.ok || r.reply.type !== 'integer') throw new Error(`DBSIZE failed: ${r.ok ? JSON.stringify(r.reply) : r.error}`);
  return Number(r.reply.value);
}

async function measureOne(server: ServerProc, system: SystemName, keys: number): Promise<GrowthPauseRow> {
  const probe = await mustConnect('127.0.0.1', server.port);
  try {
    const samples: number[] = [];
    let max = 0;
    let running = true;
    const loop = (async () => {
      while (running) {
        const at = performance.now();
        const r = await probe.call(['PING']);
        if (!r.ok) throw new Error(`PING failed: ${r.error}`);
        const ms = performance.now() - at;
        if (ms > max) max = ms;
        if (samples.length < PROBE_SAMPLES_MAX) samples.push(ms);
        await delay(PROBE_GAP_MS);
      }
    })();
    const t0 = performance.now();
    const fill = await runRedisBenchmark({ port: server.port, tests: ['set'], requests: keys * REQUESTS_PER_KEY, clients: FILL_CLIENTS, valueBytes: FILL_VALUE_BYTES, keyspace: keys, pipeline: FILL_PIPELINE });
    const fillMs = performance.now() - t0;
    running = false;
    await loop;
    if (!fill.ok) throw new Error(fill.error);
    samples.sort((a, b) => a - b);
    return { system, keys: await dbsize(probe), fillMs, probes: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99), max };
  } finally {
    probe.close();
  }
}

export async function measureGrowthPause(systems: readonly SystemName[], keys: number, kvServerJs: string, log: (s: string) => void): Promise<GrowthPauseRow[]> {
  const rows: GrowthPauseRow[] = [];
  for (const system of systems) {
    const server = system === 'redis' ? await startRedis('everysec') : await startKv('everysec', [], undefined, kvServerJs);
    try {
      log(`${system}: filling towards ${keys} keys ...`);
      const r = await measureOne(server, system, keys);
      log(`  ${r.keys} keys in ${r.fillMs.toFixed(0)} ms; PING p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(2)} ms`);
      rows.push(r);
    } finally {
      await server.stop();
    }
  }
  return rows;
}

export function growthPauseTable(rows: readonly GrowthPauseRow[]): string {
  const head = ['system', 'keys at end', 'fill ms', 'PINGs', 'PING p50 ms', 'PING p99 ms', 'PING max ms'];
  const lines = rows.map((r) => [r.system, String(r.keys), r.fillMs.toFixed(0), String(r.probes), r.p50.toFixed(2), r.p99.toFixed(2), r.max.toFixed(2)]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  return [head, ...lines].map((l) => l.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()).join('\n') + '\n';
}

const FLAGS = {
  keys: { type: 'string', default: String(DEFAULT_KEYS) },
  systems: { type: 'string', default: SYSTEMS.join(',') },
  'kv-server': { type: 'string', default: KV_SERVER_JS },
  help: { type: 'boolean', default: false },
} as const;

const USAGE = `Usage: node dist/tools/bench/growth-pause.js [--keys N] [--systems kv-ts,redis] [--kv-server PATH]
  A 1 ms PING probe's round trips while redis-benchmark fills each server towards N keys
  (default ${DEFAULT_KEYS}; -t set -r N -n ${REQUESTS_PER_KEY}N -P ${FILL_PIPELINE} -c ${FILL_CLIENTS}).
  --kv-server PATH  the kv-server.js to start (e.g. another checkout's build, for a before/after)
`;

async function main(argv: readonly string[]): Promise<number> {
  const p = parseFlags(argv, FLAGS);
  const fail = (e: string): number => (process.stderr.write(`growth-pause: ${e} (see --help)\n`), 2);
  if (!p.ok) return fail(p.error);
  if (p.values.help) return (process.stdout.write(USAGE), 0);
  const keys = Number(p.values.keys);
  if (!Number.isInteger(keys) || keys < 1 || keys > KEYS_MAX) return fail(`--keys needs 1..${KEYS_MAX}`);
  const systems = p.values.systems.split(',');
  if (!systems.every((s): s is SystemName => (SYSTEMS as readonly string[]).includes(s))) return fail(`--systems needs a list of ${SYSTEMS.join(',')}`);
  const kvServerJs = resolve(p.values['kv-server']);
  if (systems.includes('kv-ts') && !existsSync(kvServerJs)) return fail(`${kvServerJs} is missing; run \`npm run build\` first`);
  if (systems.includes('redis') && !haveExecutable('redis-server')) return fail('redis-server not found (apt-get install redis-server)');
  if (!haveExecutable('redis-benchmark')) return fail('redis-benchmark not found (apt-get install redis-tools)');
  const rows = await measureGrowthPause(systems, keys, kvServerJs, (s) => process.stderr.write(s + '\n'));
  process.stdout.write(growthPauseTable(rows));
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`growth-pause: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
