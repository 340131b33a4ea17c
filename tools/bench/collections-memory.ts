// Collections memory, side by side with Redis: loads the same small hashes, small sets and one
// large sorted set (and, when asked, one large hash and one large set) into a fresh kv-server and a fresh redis-server (no persistence on Redis,
// --fsync no on kv-ts) and reports RSS (VmRSS) and used_memory of each, with the ratio.
// Owns those runs and their report; never touches servers it did not start.
//
//   node dist/tools/bench/collections-memory.js [--keys N] [--zset-members N] [--big-members N]
//     [--only hash|set|zset|big-hash|big-set]

import { readFileSync } from 'node:fs';
import { connectResp } from '../../src/client/resp-conn.js';
import { info } from './info.js';
import { pipelineCalls } from './pipeline.js';
import { startKv, startRedis, type ServerProc } from './servers.js';

/** Members per ZADD while loading the sorted set. */
const ZADD_MEMBERS_PER_CALL = 500;
const HASH_FIELDS = 10;
const SET_MEMBERS = 5;
/** Pause before reading memory, so both servers settle after the load (kv-ts's GC, Redis's lazy frees). */
const SETTLE_MS = 2_000;

type Dataset = 'hash' | 'set' | 'zset' | 'big-hash' | 'big-set';
/** Fields per HSET or members per SADD while loading the large hash or set. */
const BIG_MEMBERS_PER_CALL = 500;

interface Options {
  keys: number;
  zsetMembers: number;
  bigMembers: number;
  only: Dataset[];
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { keys: 1_000_000, zsetMembers: 1_000_000, bigMembers: 1_000_000, only: ['hash', 'set', 'zset'] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${a} needs a value`);
    i++;
    if (a === '--keys') o.keys = positiveInt(a, v);
    else if (a === '--zset-members') o.zsetMembers = positiveInt(a, v);
    else if (a === '--big-members') o.bigMembers = positiveInt(a, v);
    else if (a === '--only') o.only = v.split(',').map(dataset);
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

function positiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${v}`);
  return n;
}

function dataset(v: string): Dataset {
  if (v === 'hash' || v === 'set' || v === 'zset' || v === 'big-hash' || v === 'big-set') return v;
  throw new Error(`--only takes hash, set, zset, big-hash or big-set, got ${v}`);
}

/** A 10-byte value that differs per key and field (no sharing of identical strings). */
function value10(i: number, f: number): string {
  return `v${String(i * HASH_FIELDS + f).padStart(9, '0')}`.slice(-10);
}

/** The commands of one dataset, generated lazily (a million arrays at once would skew nothing but our own heap). */
function* commands(d: Dataset, o: Options): Generator<string[]> {
  if (d === 'hash') {
    for (let i = 0; i < o.keys; i++) {
      const args = ['HSET', `hash:${i}`];
      for (let f = 0; f < HASH_FIELDS; f++) args.push(`f${f}`, value10(i, f));
      yield args;
    }
  } else if (d === 'set') {
    for (let i = 0; i < o.keys; i++) {
      const args = ['SADD', `set:${i}`];
      for (let m = 0; m < SET_MEMBERS; m++) args.push(`member:${(i + m * 7919) % 100_000}`);
      yield args;
    }
  } else if (d === 'big-hash' || d === 'big-set') {
    for (let start = 0; start < o.bigMembers; start += BIG_MEMBERS_PER_CALL) {
      const args = d === 'big-hash' ? ['HSET', 'bighash'] : ['SADD', 'bigset'];
      for (let m = start; m < Math.min(o.bigMembers, start + BIG_MEMBERS_PER_CALL); m++) {
        if (d === 'big-hash') args.push(`field:${m}`, value10(m, 0));
        else args.push(`member:${m}`);
      }
      yield args;
    }
  } else {
    for (let start = 0; start < o.zsetMembers; start += ZADD_MEMBERS_PER_CALL) {
      const args = ['ZADD', 'zset'];
      for (let m = start; m < Math.min(o.zsetMembers, start + ZADD_MEMBERS_PER_CALL); m++) args.push(String((m * 7919) % 1_000_003), `member:${m}`);
      yield args;
    }
  }
}

interface Memory {
  rssBytes: number;
  usedBytes: number;
}

/** VmRSS of the server process (its pid from INFO server) and used_memory from INFO memory. */
async function memory(port: number): Promise<Memory> {
  const pid = (await info(port, 'server')).get('process_id');
  if (pid === undefined) throw new Error(`no process_id from INFO on ${port}`);
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  const used = Number((await info(port, 'memory')).get('used_memory'));
  return { rssBytes: Number(m[1]) * 1024, usedBytes: used };
}

interface Row {
  server: string;
  empty: Memory;
  loaded: Memory;
  seconds: number;
}

async function measure(name: string, start: () => Promise<ServerProc>, d: Dataset, o: Options): Promise<Row> {
  const proc = await start();
  try {
    const c = await connectResp('127.0.0.1', proc.port);
    if (!c.ok) throw new Error(`${name}: ${c.error}`);
    try {
      const empty = await memory(proc.port);
      const t0 = Date.now();
      await pipelineCalls(c.conn, commands(d, o));
      const seconds = (Date.now() - t0) / 1000;
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      return { server: name, empty, loaded: await memory(proc.port), seconds };
    } finally {
      c.conn.close();
    }
  } finally {
    await proc.stop();
  }
}

const mb = (n: number): string => (n / 1024 / 1024).toFixed(1);

function report(d: Dataset, o: Options, kv: Row, redis: Row): string {
  const items = d === 'zset' ? o.zsetMembers : d === 'hash' || d === 'set' ? o.keys : o.bigMembers;
  const unit = d === 'hash' || d === 'set' ? 'key' : 'member';
  const what = {
    hash: `${o.keys} hashes of ${HASH_FIELDS} fields`,
    set: `${o.keys} sets of ${SET_MEMBERS} members`,
    zset: `1 zset of ${o.zsetMembers} members`,
    'big-hash': `1 hash of ${o.bigMembers} fields (10 B values)`,
    'big-set': `1 set of ${o.bigMembers} members`,
  }[d];
  const per = (r: Row, f: keyof Memory): number => (r.loaded[f] - r.empty[f]) / items;
  const lines = [`## ${what}`, `| server | RSS MB | used_memory MB | RSS B/${unit} (over empty) | used B/${unit} | load s |`, '|---|---:|---:|---:|---:|---:|'];
  for (const r of [kv, redis]) {
    lines.push(`| ${r.server} | ${mb(r.loaded.rssBytes)} | ${mb(r.loaded.usedBytes)} | ${per(r, 'rssBytes').toFixed(0)} | ${per(r, 'usedBytes').toFixed(0)} | ${r.seconds.toFixed(1)} |`);
  }
  const ratio = (f: keyof Memory): string => (per(kv, f) / per(redis, f)).toFixed(2);
  lines.push(`| kv-ts / redis | ${(kv.loaded.rssBytes / redis.loaded.rssBytes).toFixed(2)}x | ${(kv.loaded.usedBytes / redis.loaded.usedBytes).toFixed(2)}x | ${ratio('rssBytes')}x | ${ratio('usedBytes')}x | |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  process.stdout.write(`# Collections memory: kv-ts vs redis-server (node ${process.version})\n\n`);
  for (const d of o.only) {
    const kv = await measure('kv-ts', () => startKv('no'), d, o);
    const redis = await measure('redis', () => startRedis('no', ['--appendonly', 'no']), d, o);
    process.stdout.write(report(d, o, kv, redis) + '\n\n');
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`collections-memory: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
