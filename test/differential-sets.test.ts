// Differential test of the set and sorted-set commands: one seeded random sequence (valid and
// nonsense arguments, keys of mixed types) goes to a real redis-server and to kv-server, in RESP2
// and in RESP3; replies must agree byte for byte, except where Redis's order is its hash table's
// (compared as multisets), SSCAN/ZSCAN (run to completion, compared as sets) and the random
// commands (SPOP, SRANDMEMBER, ZRANDMEMBER: compared by properties; after SPOP kv-server is
// brought to Redis's state). KV_LONG=1 runs more commands; KV_SEED replays a seed;
// KV_DIFF_REDIS_ONLY=1 runs it against two redis-servers.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKvServer, startRedisServer, stopAndClean, type RunningProcess } from './helpers/procs.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';
import { showReply, type Resp } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';
import { randomDumpRestore, runDumpRestore, showStep, type DumpRestoreStep } from './helpers/dump-restore-step.js';

const COMMANDS_DEFAULT = 5_000;
const COMMANDS_LONG = 50_000;
/** Per protocol: ten seeds in all by default. */
const SEEDS_DEFAULT = 5;
const long = process.env['KV_LONG'] === '1';
/** KV_DIFF_REDIS_ONLY=1 checks the harness itself against two redis-servers. */
const redisOnly = process.env['KV_DIFF_REDIS_ONLY'] === '1';

type Compare = 'exact' | 'unordered' | 'scan' | 'spop' | 'srandmember' | 'zrandmember';
interface Cmd {
  readonly argv: Buffer[];
  readonly compare: Compare;
  /** A DUMP / RESTORE round trip (argv is its DUMP), run on its own: it restores what DUMP replied. */
  readonly step?: DumpRestoreStep;
}

const SET_KEYS = ['s1', 's2', 's3', 'mix'];
const ZSET_KEYS = ['z1', 'z2', 'z3', 'mix'];
/** Lex commands only meet 'zl', whose scores are all 0: Redis leaves lex ranges over mixed scores unspecified. */
const LEX_KEY = 'zl';
/**
 * Keys lex commands also meet, for WRONGTYPE ('lexstr', a string set at the start of each seed)
 * and a missing key: no command writes them, so they never hold a sorted set with mixed scores,
 * whose lex ranges Redis leaves unspecified.
 */
const LEX_OTHER_KEYS = ['lexstr', 'nokey'];
const OTHER_KEYS = ['str', 'none'];
const MEMBERS = ['a', 'b', 'c', 'd', 'e', 'f', '1', '2', '3', '10', '-5', '007', 'x\x00y', '\xff', '', 'm'.repeat(70)];
const SCORES = ['0', '1', '-1', '2.5', '-3.75', '10', '100', '1e3', '0.1', 'inf', '-inf', '+inf', '1e-5', '3.0', '-0'];
const BAD_SCORES = ['nan', 'x', '', ' 1', '1e400', '1x', '(1'];
const RANGE_BOUNDS = ['-inf', '+inf', '0', '1', '(1', '2.5', '(2.5', '-1', '(-inf', '100', '(0', 'x', '', 'nan'];
const LEX_BOUNDS = ['-', '+', '[a', '(a', '[c', '(d', '[m', '[', '(', 'a', '[\xff', '+x'];
const INDEXES = ['0', '1', '-1', '2', '-2', '5', '-100', '100', '3', 'x', '9223372036854775807'];
const COUNTS = ['0', '1', '2', '3', '5', '-1', '-3', '100', 'x', '-9223372036854775808'];
const PATTERNS = ['*', 'a*', '?', '*[0-9]*', 'x*'];

function member(r: Rng): string {
  return r.int(4) === 0 ? `m${r.int(300)}` : r.pick(MEMBERS);
}

function score(r: Rng): string {
  return r.int(30) === 0 ? r.pick(BAD_SCORES) : r.int(3) === 0 ? String(r.int(20) - 5) : r.pick(SCORES);
}

function anyKey(r: Rng, pool: readonly string[]): string {
  return r.int(12) === 0 ? r.pick([...OTHER_KEYS, ...(pool === SET_KEYS ? ZSET_KEYS : SET_KEYS)]) : r.pick(pool);
}

function members(r: Rng, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(member(r));
  return out;
}

/** Sometimes many members at once, to cross the intset / listpack limits. */
function bulkMembers(r: Rng): string[] {
  const k = r.int(40);
  if (k === 0) return Array.from({ length: 130 + r.int(10) }, (_, i) => `n${i}`);
  if (k === 1) return Array.from({ length: 520 }, (_, i) => String(i));
  return members(r, 1 + r.int(4));
}

function genSet(r: Rng, c: (compare: Compare, ...args: string[]) => Cmd): Cmd {
  const key = (): string => anyKey(r, SET_KEYS);
  const keys = (n: number): string[] => Array.from({ length: n }, key);
  const k = r.int(76);
  if (k < 18) return c('exact', 'SADD', key(), ...bulkMembers(r));
  if (k < 26) return c('exact', 'SREM', key(), ...members(r, 1 + r.int(3)));
  if (k < 30) return c('exact', 'SISMEMBER', key(), member(r));
  if (k < 33) return c('exact', 'SMISMEMBER', key(), ...members(r, 1 + r.int(3)));
  if (k < 37) return c('unordered', 'SMEMBERS', key());
  if (k < 40) return c('exact', 'SCARD', key());
  if (k < 45) return c('spop', 'SPOP', key(), ...(r.int(2) === 0 ? [] : [r.pick(COUNTS)]));
  if (k < 50) return c('srandmember', 'SRANDMEMBER', key(), ...(r.int(3) === 0 ? [] : [r.pick(COUNTS)]));
  if (k < 54) return c('exact', 'SMOVE', key(), key(), member(r));
  const n = 1 + r.int(3);
  if (k < 58) return c('unordered', r.pick(['SINTER', 'SUNION', 'SDIFF']), ...keys(n));
  if (k < 64) return c('exact', r.pick(['SINTERSTORE', 'SUNIONSTORE', 'SDIFFSTORE']), key(), ...keys(n));
  if (k < 68) {
    const extra = r.int(3) === 0 ? ['LIMIT', r.pick(COUNTS)] : [];
    return c('exact', 'SINTERCARD', r.int(8) === 0 ? r.pick(['0', '-1', 'x', '9']) : String(n), ...keys(n), ...extra);
  }
  if (k < 73) {
    const args = ['SSCAN', key(), '0'];
    if (r.int(2) === 0) args.push('MATCH', r.pick(PATTERNS));
    if (r.int(2) === 0) args.push('COUNT', r.pick(['1', '3', '100']));
    return c('scan', ...args);
  }
  if (k < 75) return c('exact', r.pick(['SADD', 'SREM', 'SPOP', 'SMOVE', 'SINTERCARD', 'SISMEMBER']));
  return c('exact', 'SCARD', key());
}

function zaddFlags(r: Rng): string[] {
  const out: string[] = [];
  for (const f of ['NX', 'XX', 'GT', 'LT', 'CH', 'INCR']) if (r.int(7) === 0) out.push(f);
  return out;
}

function rangeTail(r: Rng, store: boolean): string[] {
  const out: string[] = [];
  if (r.int(3) === 0) out.push('LIMIT', r.pick(['0', '1', '-1', '2']), r.pick(['1', '2', '-1', '0', '5']));
  if (!store && r.int(2) === 0) out.push('WITHSCORES');
  if (r.int(25) === 0) out.push(r.pick(['REV', 'BYSCORE', 'junk']));
  return out;
}

function zopTail(r: Rng, n: number, store: boolean): string[] {
  const out: string[] = [];
  if (r.int(3) === 0) out.push('WEIGHTS', ...Array.from({ length: r.int(10) === 0 ? n + 1 : n }, () => r.pick(['1', '2', '-1', '0', '0.5', 'inf', 'x'])));
  if (r.int(3) === 0) out.push('AGGREGATE', r.pick(['SUM', 'MIN', 'MAX', 'avg']));
  if (!store && r.int(2) === 0) out.push('WITHSCORES');
  return out;
}

function genZSet(r: Rng, c: (compare: Compare, ...args: string[]) => Cmd): Cmd {
  const key = (): string => anyKey(r, ZSET_KEYS);
  const keys = (n: number): string[] => Array.from({ length: n }, key);
  // Other types for WRONGTYPE; never a key that may hold a zset with mixed scores.
  const lexKey = (): string => (r.int(10) === 0 ? r.pick(LEX_OTHER_KEYS) : LEX_KEY);
  const k = r.int(118);
  if (k < 16) {
    const args = ['ZADD', key(), ...zaddFlags(r)];
    const bulk = r.int(40) === 0;
    const pairs = bulk ? 130 : 1 + r.int(3);
    for (let i = 0; i < pairs; i++) args.push(bulk ? String(i % 7) : score(r), bulk ? `n${i}` : member(r));
    if (r.int(20) === 0) args.pop();
    return c('exact', ...args);
  }
  if (k < 20) return c('exact', 'ZADD', LEX_KEY, ...members(r, 1 + r.int(3)).flatMap((m) => ['0', m]));
  if (k < 24) return c('exact', 'ZINCRBY', key(), score(r), member(r));
  if (k < 28) return c('exact', 'ZREM', r.int(4) === 0 ? LEX_KEY : key(), ...members(r, 1 + r.int(3)));
  if (k < 30) return c('exact', 'ZCARD', key());
  if (k < 33) return c('exact', 'ZSCORE', key(), member(r));
  if (k < 35) return c('exact', 'ZMSCORE', key(), ...members(r, 1 + r.int(3)));
  if (k < 38) return c('exact', r.pick(['ZRANK', 'ZREVRANK']), key(), member(r));
  if (k < 41) return c('exact', 'ZCOUNT', key(), r.pick(RANGE_BOUNDS), r.pick(RANGE_BOUNDS));
  if (k < 43) return c('exact', 'ZLEXCOUNT', lexKey(), r.pick(LEX_BOUNDS), r.pick(LEX_BOUNDS));
  if (k < 50) {
    const by = r.int(3);
    const rev = r.int(3) === 0 ? ['REV'] : [];
    if (by === 0) return c('exact', 'ZRANGE', key(), r.pick(INDEXES), r.pick(INDEXES), ...rev, ...(r.int(2) === 0 ? ['WITHSCORES'] : []), ...(r.int(15) === 0 ? ['LIMIT', '0', '1'] : []));
    if (by === 1) return c('exact', 'ZRANGE', key(), r.pick(RANGE_BOUNDS), r.pick(RANGE_BOUNDS), 'BYSCORE', ...rev, ...rangeTail(r, false));
    return c('exact', 'ZRANGE', lexKey(), r.pick(LEX_BOUNDS), r.pick(LEX_BOUNDS), 'BYLEX', ...rev, ...rangeTail(r, true));
  }
  if (k < 54) {
    const by = r.pick(['', 'BYSCORE', 'BYLEX']);
    const src = by === 'BYLEX' ? lexKey() : key();
    const bounds = by === '' ? INDEXES : by === 'BYSCORE' ? RANGE_BOUNDS : LEX_BOUNDS;
    return c('exact', 'ZRANGESTORE', r.pick(['z3', 'dst', 's1']), src, r.pick(bounds), r.pick(bounds), ...(by ? [by] : []), ...(r.int(3) === 0 ? ['REV'] : []), ...(by ? rangeTail(r, true) : []));
  }
  if (k < 60) return c('exact', r.pick(['ZRANGEBYSCORE', 'ZREVRANGEBYSCORE']), key(), r.pick(RANGE_BOUNDS), r.pick(RANGE_BOUNDS), ...rangeTail(r, false));
  if (k < 63) return c('exact', r.pick(['ZRANGEBYLEX', 'ZREVRANGEBYLEX']), lexKey(), r.pick(LEX_BOUNDS), r.pick(LEX_BOUNDS), ...rangeTail(r, true));
  if (k < 66) return c('exact', 'ZREVRANGE', key(), r.pick(INDEXES), r.pick(INDEXES), ...(r.int(2) === 0 ? ['WITHSCORES'] : []));
  if (k < 68) return c('exact', 'ZREMRANGEBYRANK', key(), r.pick(INDEXES), r.pick(INDEXES));
  if (k < 70) return c('exact', 'ZREMRANGEBYSCORE', key(), r.pick(RANGE_BOUNDS), r.pick(RANGE_BOUNDS));
  if (k < 71) return c('exact', 'ZREMRANGEBYLEX', lexKey(), r.pick(LEX_BOUNDS), r.pick(LEX_BOUNDS));
  if (k < 75) return c('exact', r.pick(['ZPOPMIN', 'ZPOPMAX']), key(), ...(r.int(2) === 0 ? [] : [r.pick(COUNTS)]));
  if (k < 78) {
    const n = 1 + r.int(3);
    return c('exact', 'ZMPOP', r.int(8) === 0 ? r.pick(['0', '-1', 'x', '5']) : String(n), ...keys(n), r.pick(['MIN', 'MAX', 'min', 'bad']), ...(r.int(2) === 0 ? [] : ['COUNT', r.pick(COUNTS)]));
  }
  if (k < 83) {
    const tail = r.int(3) === 0 ? [] : [r.pick(COUNTS), ...(r.int(2) === 0 ? ['WITHSCORES'] : [])];
    return c('zrandmember', 'ZRANDMEMBER', key(), ...tail);
  }
  const n = 1 + r.int(3);
  const numkeys = r.int(10) === 0 ? r.pick(['0', '-1', 'x', '7']) : String(n);
  if (k < 92) return c('exact', r.pick(['ZUNION', 'ZINTER', 'ZDIFF']), numkeys, ...keys(n), ...zopTail(r, n, false));
  if (k < 100) return c('exact', r.pick(['ZUNIONSTORE', 'ZINTERSTORE', 'ZDIFFSTORE']), r.pick(['z3', 'dst', 's1', 'z1']), numkeys, ...keys(n), ...zopTail(r, n, true));
  if (k < 103) return c('exact', 'ZINTERCARD', numkeys, ...keys(n), ...(r.int(3) === 0 ? ['LIMIT', r.pick(COUNTS)] : []));
  if (k < 108) {
    const args = ['ZSCAN', key(), '0'];
    if (r.int(2) === 0) args.push('MATCH', r.pick(PATTERNS));
    if (r.int(2) === 0) args.push('COUNT', r.pick(['1', '3', '100']));
    return c('scan', ...args);
  }
  if (k < 110) return c('exact', r.pick(['ZADD', 'ZRANGE', 'ZINCRBY', 'ZUNIONSTORE', 'ZMPOP', 'ZRANGESTORE']), key());
  if (k < 112) return c('exact', 'ZSCORE', key(), member(r));
  if (k < 114) {
    // The listpack limits (and their 7.0 aliases), low enough for these sets to cross them, or back to the defaults.
    const entries = r.int(2) === 0;
    const name = `zset-max-${r.pick(['listpack', 'ziplist'])}-${entries ? 'entries' : 'value'}`;
    return c('exact', 'CONFIG', 'SET', name, entries ? r.pick(['0', '1', '2', '3', '5', '128']) : r.pick(['0', '1', '2', '3', '64']));
  }
  return c('exact', 'OBJECT', 'ENCODING', r.int(4) === 0 ? LEX_KEY : r.pick([...ZSET_KEYS, 'dst']));
}

/** Every key the generators use: DUMP/RESTORE moves values of any type between them. */
const ALL_KEYS = [...new Set([...SET_KEYS, ...ZSET_KEYS, LEX_KEY, ...OTHER_KEYS, 'dst'])];
/** Every key the final comparison reads. */
const FINAL_KEYS = [...ALL_KEYS, ...LEX_OTHER_KEYS];

function generate(r: Rng): Cmd {
  const c = (compare: Compare, ...args: string[]): Cmd => ({ argv: args.map((a) => Buffer.from(a, 'latin1')), compare });
  const k = r.int(100);
  if (k < 40) return genSet(r, c);
  if (k < 93) return genZSet(r, c);
  if (k < 95) {
    // Never into the lex key: a payload from another key may bring a sorted set with mixed scores.
    const step = randomDumpRestore(r, ALL_KEYS, Date.now());
    const safe = { ...step, dsts: step.dsts.map((d) => (d === LEX_KEY ? 'dst' : d)) as [string, string] };
    return { argv: [Buffer.from('DUMP'), Buffer.from(step.src, 'latin1')], compare: 'exact', step: safe };
  }
  if (k < 97) return c('exact', 'SET', r.pick(['str', 'mix']), 'v');
  if (k < 98) return c('exact', 'DEL', r.pick([...SET_KEYS, ...ZSET_KEYS, LEX_KEY, 'dst']));
  return c('exact', 'TYPE', r.pick([...SET_KEYS, ...ZSET_KEYS, 'dst']));
}

/** The elements of an array/set reply, sorted; anything else as shown. */
function multiset(v: Resp): string {
  if ((v.t !== 'array' && v.t !== 'set') || v.a === null) return showReply(v);
  return `${v.t}:${v.a.map(showReply).sort().join(',')}`;
}

function elements(v: Resp): Resp[] {
  return (v.t === 'array' || v.t === 'set') && v.a !== null ? v.a : [];
}

/** Runs SSCAN/ZSCAN to completion; the distinct elements (members, or member=score pairs), sorted. */
async function runScan(cl: RawConn, argv: Buffer[], pairs: boolean): Promise<string> {
  const seen = new Set<string>();
  let cursor = '0';
  for (let round = 0; round < 10_000; round++) {
    const args = [...argv];
    args[2] = Buffer.from(cursor);
    const r = await cl.request(...args);
    if (r.t !== 'array' || r.a === null || r.a.length !== 2) return showReply(r);
    const [cur, list] = r.a as [Resp, Resp];
    if (cur.t !== 'bulk' || cur.b === null) return showReply(r);
    const items = elements(list);
    for (let i = 0; i < items.length; i += pairs ? 2 : 1) {
      seen.add(pairs ? `${showReply(items[i] as Resp)}=${showReply(items[i + 1] as Resp)}` : showReply(items[i] as Resp));
    }
    cursor = cur.b.toString();
    if (cursor === '0') return [...seen].sort().join(',');
  }
  return 'scan did not finish';
}

/** The bulk members of a reply (flattening RESP3 [member, score] pairs), as latin1 strings. */
function replyMembers(v: Resp, withScores: boolean, protocol: 2 | 3): string[] {
  const items = elements(v);
  const out: string[] = [];
  if (withScores && protocol === 3) {
    for (const p of items) out.push(showReply(elements(p)[0] as Resp));
  } else {
    for (let i = 0; i < items.length; i += withScores ? 2 : 1) out.push(showReply(items[i] as Resp));
  }
  return out;
}

/**
 * SRANDMEMBER / ZRANDMEMBER / SPOP: same reply shape and size, every element a member of the
 * key as it was (asked of redis, whose state equals kv-server's), distinct unless the count was
 * negative; WITHSCORES scores as Redis has them.
 */
async function checkRandom(cmd: Cmd, ra: Resp, rb: Resp, redis: RawConn, protocol: 2 | 3, before: Resp): Promise<string | null> {
  if (ra.t === 'error' || rb.t === 'error' || ra.t === 'bulk' || rb.t === 'bulk' || ra.t === 'null' || rb.t === 'null') {
    const single = (v: Resp): string => (v.t === 'bulk' && v.b !== null ? 'member' : showReply(v));
    if (single(ra) !== single(rb)) return 'different reply kinds';
    if (rb.t === 'bulk' && rb.b !== null && !memberOf(showReply(rb), before)) return `${showReply(rb)} is not a member`;
    return null;
  }
  if (ra.t !== rb.t) return 'different reply types';
  const withScores = cmd.argv.some((a) => a.toString().toUpperCase() === 'WITHSCORES');
  const ma = replyMembers(ra, withScores, protocol);
  const mb = replyMembers(rb, withScores, protocol);
  if (ma.length !== mb.length) return `sizes ${ma.length} vs ${mb.length}`;
  const count = cmd.argv[2] === undefined ? 1 : Number(cmd.argv[2].toString());
  if (count >= 0 && new Set(mb).size !== mb.length) return 'repeated member with a positive count';
  for (const m of mb) if (!memberOf(m, before)) return `${m} is not a member`;
  if (withScores) {
    const z = await redis.request('ZMSCORE', cmd.argv[1] as Buffer, ...elementsWithScores(rb, protocol).map((e) => Buffer.from(JSON.parse(e[0]) as string, 'latin1')));
    const want = elements(z).map(showReply).map((s) => s.replace(/^,/, ''));
    const got = elementsWithScores(rb, protocol).map((e) => e[1].replace(/^,/, ''));
    if (want.join() !== got.join()) return `scores ${got.join()} vs ${want.join()}`;
  }
  return null;
}

function elementsWithScores(v: Resp, protocol: 2 | 3): Array<[string, string]> {
  const items = elements(v);
  if (protocol === 3) return items.map((p) => [showReply(elements(p)[0] as Resp), showReply(elements(p)[1] as Resp)]);
  const out: Array<[string, string]> = [];
  for (let i = 0; i < items.length; i += 2) out.push([showReply(items[i] as Resp), showReply(items[i + 1] as Resp)]);
  return out;
}

/** `before` is the key's SMEMBERS or ZRANGE 0 -1 reply. */
function memberOf(shown: string, before: Resp): boolean {
  return elements(before).some((e) => showReply(e) === shown || (e.t === 'array' && showReply(elements(e)[0] as Resp) === shown));
}

/** A key's whole state, for the final comparison. */
async function dump(cl: RawConn, key: string): Promise<string> {
  const t = await cl.request('TYPE', key);
  const type = showReply(t);
  if (type === '+set') return `${type} ${multiset(await cl.request('SMEMBERS', key))}`;
  if (type === '+zset') return `${type} ${showReply(await cl.request('ZRANGE', key, '0', '-1', 'WITHSCORES'))}`;
  if (type === '+string') return `${type} ${showReply(await cl.request('GET', key))}`;
  return type;
}

const procs: RunningProcess[] = [];
const conns: RawConn[] = [];
after(async () => {
  for (const c of conns) c.close();
  for (const p of procs) await stopAndClean(p);
});

/** A redis-server and a kv-server (two redis-servers with KV_DIFF_REDIS_ONLY=1) speaking `protocol`, shared by a test's seeds. */
async function startPair(protocol: 2 | 3): Promise<{ a: RawConn; b: RawConn }> {
  const redis = await startRedisServer();
  procs.push(redis);
  const kv = redisOnly ? await startRedisServer() : await startKvServer({ args: ['--fsync', 'no'] });
  procs.push(kv);
  const a = await RawConn.open(redis.port);
  const b = await RawConn.open(kv.port);
  conns.push(a, b);
  if (protocol === 3) {
    await a.request('HELLO', '3');
    await b.request('HELLO', '3');
  }
  return { a, b };
}

/** Commands sent as one pipeline to each server (a failure names the command by its index). */
const PIPELINE_COMMANDS_MAX = 100;

async function runSeed(pair: { a: RawConn; b: RawConn }, seed: number, protocol: 2 | 3, total: number): Promise<string> {
  const { a, b } = pair;
  for (const cl of [a, b]) assert.equal(showReply(await cl.request('FLUSHALL')), '+OK');
  for (const cl of [a, b]) assert.equal(showReply(await cl.request('SET', 'lexstr', 'v')), '+OK');
  const r = rng(seed);
  const counts = new Map<string, number>();
  const whereOf = (i: number, cmd: Cmd): string => `seed ${seed} RESP${protocol} command #${i}: ${cmd.step !== undefined ? showStep(cmd.step) : cmd.argv.map((x) => JSON.stringify(x.toString('latin1'))).join(' ')}`;
  // 'exact' and 'unordered' commands go in one pipeline per batch (the servers run them in the
  // same order as one at a time); scans, random picks and DUMP/RESTORE go alone.
  let batch: Array<{ i: number; cmd: Cmd }> = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const argvs = batch.map((x) => x.cmd.argv);
    const [ra, rb] = await Promise.all([a.requestMany(argvs), b.requestMany(argvs)]);
    batch.forEach(({ i, cmd }, j) => {
      const [x, y] = [ra[j] as Resp, rb[j] as Resp];
      const same = cmd.compare === 'unordered' ? multiset(x) === multiset(y) : showReply(x) === showReply(y);
      if (!same) assert.fail(`${whereOf(i, cmd)}\n  redis: ${showReply(x)}\n  kv:    ${showReply(y)}`);
    });
    batch = [];
  };
  for (let i = 0; i < total; i++) {
    const cmd = generate(r);
    const name = cmd.step !== undefined ? 'DUMP+RESTORE' : (cmd.argv[0] as Buffer).toString().toUpperCase();
    counts.set(name, (counts.get(name) ?? 0) + 1);
    if ((cmd.compare === 'exact' || cmd.compare === 'unordered') && cmd.step === undefined) {
      batch.push({ i, cmd });
      if (batch.length >= PIPELINE_COMMANDS_MAX) await flush();
      continue;
    }
    await flush();
    const where = whereOf(i, cmd);
    if (cmd.step !== undefined) {
      const problem = await runDumpRestore(a, b, cmd.step);
      if (problem !== null) assert.fail(`${where}\n  ${problem}`);
      continue;
    }
    if (cmd.compare === 'scan') {
      const pairs = name === 'ZSCAN';
      const [ra, rb] = await Promise.all([runScan(a, cmd.argv, pairs), runScan(b, cmd.argv, pairs)]);
      assert.equal(rb, ra, where);
      continue;
    }
    const random = cmd.compare === 'spop' || cmd.compare === 'srandmember' || cmd.compare === 'zrandmember';
    const before = random ? await a.request(...(cmd.compare === 'zrandmember' ? ['ZRANGE', cmd.argv[1] as Buffer, '0', '-1'] : ['SMEMBERS', cmd.argv[1] ?? ''])) : null;
    const [ra, rb] = await Promise.all([a.request(...cmd.argv), b.request(...cmd.argv)]);
    if (random) {
      const problem = await checkRandom(cmd, ra, rb, a, protocol, before as Resp);
      if (problem !== null) assert.fail(`${where}\n  ${problem}\n  redis: ${showReply(ra)}\n  kv:    ${showReply(rb)}`);
      if (cmd.compare === 'spop' && ra.t !== 'error') {
        // Bring kv-server to Redis's state: put back what it popped, pop what Redis popped.
        const key = cmd.argv[1] as Buffer;
        const poppedKv = ra.t === 'bulk' || rb.t === 'bulk' ? [rb] : elements(rb);
        const poppedRedis = ra.t === 'bulk' ? [ra] : elements(ra);
        const asArgs = (vs: Resp[]): Buffer[] => vs.flatMap((v) => (v.t === 'bulk' && v.b !== null ? [v.b] : []));
        if (asArgs(poppedKv).length > 0) await b.request('SADD', key, ...asArgs(poppedKv));
        if (asArgs(poppedRedis).length > 0) await b.request('SREM', key, ...asArgs(poppedRedis));
      }
      continue;
    }
    assert.fail(`${where}: no comparison for ${cmd.compare}`);
  }
  await flush();
  for (const key of FINAL_KEYS) {
    const [da, db] = await Promise.all([dump(a, key), dump(b, key)]);
    assert.equal(db, da, `seed ${seed} RESP${protocol} final state of ${key}`);
  }
  return [...counts].sort().map(([k, n]) => `${k}=${n}`).join(' ');
}

for (const protocol of [2, 3] as const) {
  test(`differential: set and sorted-set commands agree with redis-server 7 (RESP${protocol})`, { timeout: long ? 1_800_000 : 300_000 }, async (t) => {
    const base = testSeed(20261206);
    const seeds = long ? 10 : SEEDS_DEFAULT;
    const pair = await startPair(protocol);
    for (let s = 0; s < seeds; s++) {
      const summary = await runSeed(pair, base + s + (protocol === 3 ? 1000 : 0), protocol, long ? COMMANDS_LONG : COMMANDS_DEFAULT);
      if (s === 0) t.diagnostic(summary);
    }
  });
}
