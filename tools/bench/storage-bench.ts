// Storage benchmark, side by side with redis-server (127.0.0.1, ephemeral port, temp dir):
// restart time and RSS at N keys x V bytes, and write throughput per fsync policy.
// Owns only measurement and reporting; never part of `npm test`.
// Usage: npm run bench:storage -- [--keys 1000000] [--value-bytes 100] [--writes 200000] [--concurrency 64]

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { openReplicatedStore as openStore } from '../../src/storage/store.js';
import { freePort } from '../lib/ports.js';
import type { FsyncPolicy } from '../../src/storage/types.js';
import { parseFlags } from '../../src/cli/flags.js';

const here = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = join(here, '..', '..', '..');
/** Keys written per event-loop turn while loading (bounds the append buffer). */
const LOAD_BATCH_KEYS = 10_000;
/** How long we wait for a restarting redis-server before giving up. */
const REDIS_START_DEADLINE_MS = 120_000;
/** Each restart is timed this many times (kv-ts and redis alike); the table shows the median. */
const RESTART_RUNS = 3;

const USAGE = 'npm run bench:storage -- [--keys 1000000] [--value-bytes 100] [--writes 200000] [--concurrency 64]';
const EXIT_USAGE = 2;
const FLAGS = {
  keys: { type: 'string', default: '1000000' },
  'value-bytes': { type: 'string', default: '100' },
  writes: { type: 'string', default: '200000' },
  concurrency: { type: 'string', default: '64' },
  /** Internal: the restart measurement re-runs this file with the data directory to open. */
  'child-open': { type: 'string' },
  help: { type: 'boolean', default: false },
} as const;

function usageError(msg: string): never {
  process.stderr.write(`bench:storage: ${msg} (usage: ${USAGE})\n`);
  process.exit(EXIT_USAGE);
}

const parsed = parseFlags(process.argv.slice(2), FLAGS);
if (!parsed.ok) usageError(parsed.error);
const flags = parsed.values;
if (flags.help) {
  process.stdout.write(`Usage: ${USAGE}\n`);
  process.exit(0);
}

/** A flag that must be a positive integer. */
function count(name: 'keys' | 'value-bytes' | 'writes' | 'concurrency'): number {
  const v = flags[name].trim() === '' ? NaN : Number(flags[name]);
  if (!Number.isInteger(v) || v < 1) usageError(`--${name} needs a positive integer`);
  return v;
}

const KEYS = count('keys');
const VALUE_BYTES = count('value-bytes');
const WRITES = count('writes');
const CONCURRENCY = count('concurrency');

function keyOf(i: number): string {
  return `key:${String(i).padStart(10, '0')}`;
}

function valueOf(i: number): Buffer {
  const b = Buffer.alloc(VALUE_BYTES, 0x61);
  b.write(String(i), 0, 'latin1');
  return b;
}

// ---------------------------------------------------------------- child mode: restart + RSS

interface ChildOpen {
  openMs: number;
  /** CPU time of the open (user + system): less sensitive than wall time to a busy machine. */
  cpuMs: number;
  rss: number;
  heapUsed: number;
  external: number;
  keys: number;
}

async function childOpen(dir: string): Promise<void> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const s = await openStore({ dir, fsync: 'no', compactMinBytes: 0 });
  const openMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const gc = (globalThis as { gc?: () => void }).gc;
  // Two collections a turn apart: V8 frees dead ArrayBuffer backing stores after the GC that
  // found them, so one gc() alone can still count freed read buffers in RSS.
  gc?.();
  await new Promise<void>((r) => setImmediate(r));
  gc?.();
  const m = process.memoryUsage();
  const keys = s.size;
  await s.close();
  const out: ChildOpen = { openMs, cpuMs: (c.user + c.system) / 1000, rss: m.rss, heapUsed: m.heapUsed, external: m.external, keys };
  process.stdout.write(JSON.stringify(out) + '\n');
}

function runChildOpen(dir: string): ChildOpen {
  const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child-open', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`child open failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as ChildOpen;
}

/** Run `f` RESTART_RUNS times and keep the run with the median `by`. */
async function medianOf<T>(f: () => T | Promise<T>, by: (t: T) => number): Promise<T> {
  const runs: T[] = [];
  for (let i = 0; i < RESTART_RUNS; i++) runs.push(await f());
  runs.sort((a, b) => by(a) - by(b));
  return runs[Math.floor(runs.length / 2)] as T;
}

// ---------------------------------------------------------------- redis helpers


/** One RESP command over a fresh connection; resolves with the raw reply text. */
function redisCmd(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    let out = '';
    s.once('error', reject);
    s.once('close', () => resolve(out)); // SHUTDOWN closes without a reply
    s.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^\$(\d+)\r\n/.exec(out);
      if ((m !== null && out.length >= m[0].length + Number(m[1]) + 2) || (m === null && out.endsWith('\r\n'))) {
        s.destroy();
        resolve(out);
      }
    });
    s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
  });
}

function startRedis(dir: string, port: number, extra: string[]): ReturnType<typeof spawn> {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', ...extra], { stdio: 'ignore' });
}

async function waitRedisLoaded(port: number): Promise<void> {
  const deadline = Date.now() + REDIS_START_DEADLINE_MS;
  for (;;) {
    try {
      const pong = await redisCmd(port, 'PING');
      if (pong.startsWith('+PONG')) {
        const info = await redisCmd(port, 'INFO', 'persistence');
        if (/loading:0/.test(info)) return;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('redis-server did not come up');
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function stopRedis(child: ReturnType<typeof spawn>, port: number): Promise<void> {
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await redisCmd(port, 'SHUTDOWN', 'NOSAVE').catch(() => undefined);
  await exited;
}

function infoField(info: string, field: string): number {
  const m = new RegExp(`${field}:(\\d+)`).exec(info);
  return m === null ? NaN : Number(m[1]);
}

async function redisLoad(port: number): Promise<void> {
  // redis-cli --pipe with generated SETs: the same keys and values kv-ts gets.
  const child = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--pipe'], { stdio: ['pipe', 'ignore', 'inherit'] });
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  for (let i = 0; i < KEYS; i += LOAD_BATCH_KEYS) {
    const parts: Buffer[] = [];
    for (let j = i; j < Math.min(KEYS, i + LOAD_BATCH_KEYS); j++) {
      const k = keyOf(j);
      const v = valueOf(j);
      parts.push(Buffer.from(`*3\r\n$3\r\nSET\r\n$${k.length}\r\n${k}\r\n$${v.length}\r\n`), v, Buffer.from('\r\n'));
    }
    if (!child.stdin.write(Buffer.concat(parts))) await new Promise((r) => child.stdin.once('drain', r));
  }
  child.stdin.end();
  await done;
}

async function timeRedisRestart(dir: string): Promise<{ ms: number; rss: number; keys: number }> {
  const port = await freePort();
  const t0 = performance.now();
  const child = startRedis(dir, port, []);
  await waitRedisLoaded(port);
  const ms = performance.now() - t0;
  const mem = await redisCmd(port, 'INFO', 'memory');
  const ks = await redisCmd(port, 'DBSIZE');
  await stopRedis(child, port);
  return { ms, rss: infoField(mem, 'used_memory_rss'), keys: Number(/:(\d+)/.exec(ks)?.[1]) };
}

// ---------------------------------------------------------------- throughput

async function kvThroughput(policy: FsyncPolicy): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'kvts-bench-'));
  const s = await openStore({ dir, fsync: policy });
  const value = Buffer.alloc(VALUE_BYTES, 0x62);
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < WRITES) {
      const i = next++;
      await s.set(keyOf(i % 100_000), value);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const opsPerSec = WRITES / ((performance.now() - t0) / 1000);
  await s.close();
  rmSync(dir, { recursive: true, force: true });
  return opsPerSec;
}

async function redisThroughput(policy: FsyncPolicy): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'kvts-bench-redis-'));
  const port = await freePort();
  const child = startRedis(dir, port, ['--appendfsync', policy]);
  await waitRedisLoaded(port);
  const r = spawnSync('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-t', 'set', '-n', String(WRITES), '-c', '50', '-d', String(VALUE_BYTES), '-r', '100000', '-P', '1', '--csv'], { encoding: 'utf8' });
  await stopRedis(child, port);
  rmSync(dir, { recursive: true, force: true });
  const line = r.stdout.split('\n').find((l) => l.startsWith('"SET"'));
  if (line === undefined) throw new Error(`redis-benchmark output: ${r.stdout} ${r.stderr}`);
  return Number(JSON.parse(`[${line}]`)[1]);
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const mb = (b: number): string => (b / 1024 / 1024).toFixed(0);
  console.log(`storage bench: ${KEYS} keys x ${VALUE_BYTES} B, ${WRITES} writes, node ${process.version}, ${cpus().length} cpus`);
  const kvDir = mkdtempSync(join(tmpdir(), 'kvts-bench-'));
  const redisDir = mkdtempSync(join(tmpdir(), 'kvts-bench-redis-'));
  try {
    // kv-ts: load through the engine (fsync no), then measure restarts in a fresh child.
    const s = await openStore({ dir: kvDir, fsync: 'no', compactMinBytes: 0 });
    const tl = performance.now();
    for (let i = 0; i < KEYS; i += LOAD_BATCH_KEYS) {
      for (let j = i; j < Math.min(KEYS, i + LOAD_BATCH_KEYS); j++) s.apply([{ t: 'set', key: keyOf(j), value: valueOf(j), expireAtMs: 0 }]);
      await s.whenDurable(s.lastPosition.seq);
    }
    const kvLoadMs = performance.now() - tl;
    await s.close();
    const kvLogOnly = await medianOf(() => runChildOpen(kvDir), (r) => r.openMs);
    const s2 = await openStore({ dir: kvDir, fsync: 'no', compactMinBytes: 0 });
    const tc = performance.now();
    await s2.compact();
    const kvCompactMs = performance.now() - tc;
    await s2.close();
    const kvSnap = await medianOf(() => runChildOpen(kvDir), (r) => r.openMs);

    // redis: same data via redis-cli --pipe into an appendonly server.
    const port = await freePort();
    const r = startRedis(redisDir, port, ['--appendfsync', 'no']);
    await waitRedisLoaded(port);
    const rl = performance.now();
    await redisLoad(port);
    const redisLoadMs = performance.now() - rl;
    await stopRedis(r, port);
    const redisLogOnly = await medianOf(() => timeRedisRestart(redisDir), (r) => r.ms);
    const port2 = await freePort();
    const r2 = startRedis(redisDir, port2, []);
    await waitRedisLoaded(port2);
    await redisCmd(port2, 'BGREWRITEAOF');
    for (;;) {
      const info = await redisCmd(port2, 'INFO', 'persistence');
      if (infoField(info, 'aof_rewrite_in_progress') === 0 && infoField(info, 'aof_rewrite_scheduled') === 0) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    await stopRedis(r2, port2);
    const redisRewritten = await medianOf(() => timeRedisRestart(redisDir), (r) => r.ms);

    const tput: Array<[FsyncPolicy, number, number]> = [];
    for (const p of ['always', 'everysec', 'no'] as const) tput.push([p, await kvThroughput(p), await redisThroughput(p)]);

    const rows = [
      ['restart, log only (kv-ts WAL / redis AOF commands)', `${kvLogOnly.openMs.toFixed(0)} ms (cpu ${kvLogOnly.cpuMs.toFixed(0)} ms)`, `${redisLogOnly.ms.toFixed(0)} ms`],
      ['restart, after compaction (snapshot / AOF rewrite, RDB preamble)', `${kvSnap.openMs.toFixed(0)} ms (cpu ${kvSnap.cpuMs.toFixed(0)} ms)`, `${redisRewritten.ms.toFixed(0)} ms`],
      [`RSS at ${KEYS} keys (after restart from compaction)`, `${mb(kvSnap.rss)} MiB (heap ${mb(kvSnap.heapUsed)}, off-heap ${mb(kvSnap.external)})`, `${mb(redisRewritten.rss)} MiB`],
      [`RSS at ${KEYS} keys (after log-only restart)`, `${mb(kvLogOnly.rss)} MiB`, `${mb(redisLogOnly.rss)} MiB`],
      ['keys after restart', String(kvSnap.keys), String(redisRewritten.keys)],
      ['initial load time', `${kvLoadMs.toFixed(0)} ms (embedded apply)`, `${redisLoadMs.toFixed(0)} ms (redis-cli --pipe)`],
      ['compaction time', `${kvCompactMs.toFixed(0)} ms`, 'n/a'],
      ...tput.map(([p, kv, rd]) => [`writes/s, fsync ${p}`, kv.toFixed(0), rd.toFixed(0)]),
    ];
    const table = ['| measure | kv-ts | redis-server 7.0 |', '|---|---|---|', ...rows.map((r3) => `| ${r3.join(' | ')} |`)].join('\n');
    console.log(table);
    const cmd = `npm run build && npm run bench:storage -- --keys ${KEYS} --value-bytes ${VALUE_BYTES} --writes ${WRITES} --concurrency ${CONCURRENCY}`;
    const md = [
      '# Storage benchmark (kv-ts vs redis-server)',
      '',
      `Command: \`${cmd}\``,
      '',
      `Machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, node ${process.version}, ${new Date().toISOString().slice(0, 10)}. One run of the bench; restarts are medians of ${RESTART_RUNS}.`,
      '',
      table,
      '',
      'What each number measures:',
      `- Restarts: each is run ${RESTART_RUNS} times and the median is shown (the machine is shared; single runs vary by +-50%). kv-ts restart = a fresh \`node\` process calling \`openStore\` (snapshot load + log replay), timed inside the process (excludes node's ~40 ms start-up); cpu = user + system CPU time of the open. Redis restart = spawn until \`PING\` answers and \`INFO persistence\` says \`loading:0\` (includes process start; polled every 2 ms).`,
      '- RSS: kv-ts = `process.memoryUsage().rss` after two forced GCs a turn apart in the restarted process (node itself with the storage modules loaded is ~55 MiB of it); heap = V8 heapUsed, off-heap = `external` (the value slabs and typed arrays); redis = `used_memory_rss`.',
      `- kv-ts throughput: embedded API, ${CONCURRENCY} concurrent async writers in one process (no network, no protocol). Redis: \`redis-benchmark -t set -n ${WRITES} -c 50 -d ${VALUE_BYTES} -r 100000 -P 1\` over TCP loopback. They are different workloads (redis pays for the network and RESP parsing; kv-ts here does not), so compare the *ratios between policies*, not the absolute columns.`,
      '',
    ].join('\n');
    mkdirSync(join(REPO_ROOT, 'docs'), { recursive: true });
    writeFileSync(join(REPO_ROOT, 'docs', 'storage-bench.md'), md);
    console.log('written to docs/storage-bench.md');
  } finally {
    rmSync(kvDir, { recursive: true, force: true });
    rmSync(redisDir, { recursive: true, force: true });
  }
}

const childDir = flags['child-open'];
if (childDir !== undefined) {
  await childOpen(childDir);
} else {
  await main();
}
