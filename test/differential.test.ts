// Differential test: one seeded random sequence of keyspace, string, hash and list commands goes to a
// real redis-server and to kv-server, over keys of mixed types; their replies must agree (exactly,
// except TTL-like values by class and tolerance, KEYS/SCAN/HSCAN as sets, a large hash's order as
// pairs, random picks by shape, DBSIZE while logically-expired keys may linger), and DUMP/RESTORE
// round trips that move each server's payload into both. The mixed test runs ten seeds of 5,000
// commands (five in RESP2, five in RESP3) on one pair of servers per protocol, pipelining the
// commands whose replies need nothing but a comparison.
// The list tests run in RESP2 and in RESP3.
// KV_LONG=1 runs 100k commands, and twenty seeds of 50k; KV_SEED replays a seed;
// KV_DIFF_REDIS_ONLY=1 checks the harness itself against two redis-servers.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startKvServer, startRedisServer, stopAndClean, KV_SERVER_JS, type RunningProcess } from './helpers/procs.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';
import { showReply, type Resp } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';
import { randomDumpRestore, runDumpRestore, showStep, type DumpRestoreStep } from './helpers/dump-restore-step.js';

const COMMANDS_DEFAULT = 5_000;
/** Commands sent as one pipeline to each server (a failure names the command by its index). */
const PIPELINE_COMMANDS_MAX = 100;
const COMMANDS_LONG = 100_000;
/** TTL-like replies may differ by the time between the two servers' executions. */
const TTL_TOLERANCE_MS = 5_000;
/** Relative expiries are at least this long, so no key expires between the two executions. */
const TTL_MIN_S = 100;

const long = process.env['KV_LONG'] === '1';
const redisOnly = process.env['KV_DIFF_REDIS_ONLY'] === '1';

type Compare = 'exact' | 'ttl-s' | 'ttl-ms' | 'abs-s' | 'abs-ms' | 'set' | 'scan' | 'dbsize' | 'pairs' | 'shape' | 'hscan' | 'encoding' | 'int-or-null'
  /** A hash's order: exact for a listpack (insertion order, as Redis), as pairs / a set for a hashtable (its order is its own). */
  | 'hash-pairs' | 'hash-set';
interface Cmd {
  readonly argv: Buffer[];
  readonly compare: Compare;
  /** A DUMP / RESTORE round trip (argv is its DUMP), run on its own: it restores what DUMP replied. */
  readonly step?: DumpRestoreStep;
}

const KEYS = ['k0', 'k1', 'k2', 'k3', 'num', 'flt', 'b\x00\xff', ''];
const INTS = ['0', '1', '-1', '42', '-17', '9223372036854775807', '-9223372036854775808', '9223372036854775806', '007', '-0', '+1', ' 1', '1 ', '99999999999999999999', '3.0', ''];
const FLOATS = ['0.1', '-0.1', '1.5', '3e2', '-2.5e-3', '1e308', '1e4000', '5.0e3', '.5', '1.', '0x10', 'inf', '-inf', 'nan', 'abc', '1e', '1e-5000', '0.000003814697265625', '12345678901234567890.123', '-0.0'];
const PATTERNS = ['*', 'k*', 'k?', 'k[0-1]', 'k[^0]', '*m', '[kn]*', 'b\\\x00*', '\\k*', 'k[', 'k[1-', '?', '*[f]*', 'nomatch*'];

function pick<T>(r: Rng, xs: readonly T[]): T {
  return r.pick(xs);
}

function value(r: Rng): string {
  switch (r.int(6)) {
    case 0: return pick(r, INTS);
    case 1: return pick(r, FLOATS);
    case 2: return r.bytes(r.int(12)).toString('latin1');
    case 3: return '';
    case 4: return `v${r.int(1000)}`;
    default: return String(r.int(200) - 100);
  }
}

/** Random decimals, exponents and long fractions: exercises the 80-bit rounding and printing. */
function randomFloat(r: Rng): string {
  const sign = pick(r, ['', '', '-', '+']);
  const int = String(r.int(10) < 3 ? 0 : r.int(1_000_000));
  const frac = Buffer.from(r.bytes(r.int(25)).map((x) => 0x30 + (x % 10))).toString('latin1');
  const exp = r.int(4) === 0 ? `e${r.int(80) - 40}` : '';
  return `${sign}${int}${frac === '' ? '' : '.' + frac}${exp}`;
}

function expireOpts(r: Rng): string[] {
  const opts: string[] = [];
  const n = r.int(10) < 7 ? 0 : 1 + r.int(2);
  for (let i = 0; i < n; i++) opts.push(pick(r, ['NX', 'XX', 'GT', 'LT', 'nx', 'gt', 'FOO']));
  return opts;
}

/** SET / GETEX options: mostly valid combinations, sometimes conflicting or malformed. */
function setOpts(r: Rng, nowMs: number, forSet: boolean, pastFlag: { past: boolean }): string[] {
  const out: string[] = [];
  const n = r.int(4);
  for (let i = 0; i < n; i++) {
    const w = forSet ? pick(r, ['NX', 'XX', 'GET', 'KEEPTTL', 'EX', 'PX', 'EXAT', 'PXAT', 'xx', 'get', 'BOGUS']) : pick(r, ['EX', 'PX', 'EXAT', 'PXAT', 'PERSIST', 'persist', 'NX']);
    out.push(w);
    const upper = w.toUpperCase();
    if (upper === 'EX' || upper === 'PX' || upper === 'EXAT' || upper === 'PXAT') {
      if (r.int(8) === 0) continue; // missing argument: syntax error or the next word as number
      out.push(timeArg(r, upper, nowMs, pastFlag));
    }
  }
  return out;
}

function timeArg(r: Rng, unit: string, nowMs: number, pastFlag: { past: boolean }): string {
  const k = r.int(12);
  if (k === 0) return pick(r, ['0', '-5', 'abc', '9223372036854775807', '1.5', '']);
  if (unit === 'EX') return String(TTL_MIN_S + r.int(10_000));
  if (unit === 'PX') return String(TTL_MIN_S * 1000 + r.int(10_000_000));
  if (k === 1) {
    pastFlag.past = true;
    return unit === 'EXAT' ? String(Math.floor(nowMs / 1000) - 1 - r.int(1000)) : String(nowMs - 1000 - r.int(100_000));
  }
  return unit === 'EXAT' ? String(Math.floor(nowMs / 1000) + TTL_MIN_S + r.int(100_000)) : String(nowMs + TTL_MIN_S * 1000 + r.int(100_000_000));
}

function expireTime(r: Rng, cmd: string, nowMs: number): string {
  const k = r.int(10);
  if (k === 0) return pick(r, ['abc', '', '9223372036854775807', '-9223372036854775808', '9223372036854775', '1.5']);
  if (k === 1) return pick(r, ['0', '-1', '-100']); // past: deletes
  switch (cmd) {
    case 'EXPIRE': return String(TTL_MIN_S + r.int(10_000));
    case 'PEXPIRE': return String(TTL_MIN_S * 1000 + r.int(10_000_000));
    case 'EXPIREAT': return String(Math.floor(nowMs / 1000) + TTL_MIN_S + r.int(100_000));
    default: return String(nowMs + TTL_MIN_S * 1000 + r.int(100_000_000));
  }
}

function generate(r: Rng, nowMs: number, state: { past: boolean }): Cmd {
  const key = (): string => pick(r, KEYS);
  const c = (compare: Compare, ...args: string[]): Cmd => ({ argv: args.map((a) => Buffer.from(a, 'latin1')), compare });
  const k = r.int(100);
  if (k < 8) return c('exact', 'SET', key(), value(r), ...setOpts(r, nowMs, true, state));
  if (k < 14) return c('exact', 'GET', key());
  if (k < 16) return c('exact', 'SETNX', key(), value(r));
  if (k < 18) return c('exact', pick(r, ['SETEX', 'PSETEX']), key(), r.int(6) === 0 ? pick(r, ['0', '-1', 'x']) : String(TTL_MIN_S * 1000 + r.int(100_000)), value(r));
  if (k < 20) return c('exact', 'GETSET', key(), value(r));
  if (k < 22) return c('exact', 'GETDEL', key());
  if (k < 25) return c('exact', 'GETEX', key(), ...setOpts(r, nowMs, false, state));
  if (k < 27) return c('exact', 'MGET', key(), key(), key());
  if (k < 29) {
    const args = ['MSET'];
    const pairs = 1 + r.int(3);
    for (let i = 0; i < pairs; i++) args.push(key(), value(r));
    if (r.int(10) === 0) args.pop();
    return c('exact', ...args);
  }
  if (k < 30) return c('exact', 'MSETNX', key(), value(r), key(), value(r));
  if (k < 35) return c('exact', pick(r, ['INCR', 'DECR']), pick(r, ['num', 'num', 'k0', 'flt']));
  if (k < 40) return c('exact', pick(r, ['INCRBY', 'DECRBY']), pick(r, ['num', 'num', 'k1']), pick(r, INTS));
  if (k < 45) return c('exact', 'INCRBYFLOAT', pick(r, ['flt', 'flt', 'num', 'k2']), r.int(2) === 0 ? pick(r, FLOATS) : randomFloat(r));
  if (k < 48) return c('exact', 'APPEND', key(), value(r));
  if (k < 50) return c('exact', 'STRLEN', key());
  if (k < 53) return c('exact', pick(r, ['GETRANGE', 'SUBSTR']), key(), pick(r, ['0', '1', '-1', '-3', '5', '100', '-100', '9223372036854775807', '-9223372036854775808', 'x']), pick(r, ['0', '2', '-1', '-2', '100', '-100', '-9223372036854775808', 'y']));
  if (k < 56) return c('exact', 'SETRANGE', key(), pick(r, ['0', '1', '3', '10', '-1', 'x', '536870912', '1000']), pick(r, ['', 'ab', 'xyz', '\x00']));
  if (k < 58) return c('exact', 'TYPE', key());
  if (k < 60) return c('set', 'KEYS', pick(r, PATTERNS));
  if (k < 62) {
    const args = ['SCAN', '0'];
    if (r.int(2) === 0) args.push('MATCH', pick(r, PATTERNS));
    if (r.int(2) === 0) args.push('COUNT', pick(r, ['1', '2', '10', '1000']));
    if (r.int(4) === 0) args.push('TYPE', pick(r, ['string', 'STRING', 'list', 'none']));
    return c('scan', ...args);
  }
  if (k < 63) return c('exact', 'SCAN', pick(r, ['abc', ' 1', '1 ', '-x', '18446744073709551616']), ...(r.int(2) === 0 ? [] : [pick(r, ['COUNT', 'MATCH', 'TYPE', 'FOO']), ...(r.int(3) === 0 ? [] : [pick(r, ['0', 'x', '5'])])]));
  if (k < 64) return c('scan', 'SCAN', '0', pick(r, ['COUNT', 'MATCH', 'TYPE', 'FOO']), ...(r.int(3) === 0 ? [] : [pick(r, ['0', '-1', 'x', '5'])]));
  if (k < 67) return c('exact', 'EXISTS', key(), key(), key());
  if (k < 70) return c('exact', pick(r, ['DEL', 'UNLINK']), key(), key());
  if (k < 77) {
    const cmd = pick(r, ['EXPIRE', 'PEXPIRE', 'EXPIREAT', 'PEXPIREAT']);
    return c('exact', cmd, key(), expireTime(r, cmd, nowMs), ...expireOpts(r));
  }
  if (k < 80) return c('ttl-s', 'TTL', key());
  if (k < 82) return c('ttl-ms', 'PTTL', key());
  if (k < 83) return c('abs-s', 'EXPIRETIME', key());
  if (k < 84) return c('abs-ms', 'PEXPIRETIME', key());
  if (k < 86) return c('exact', 'PERSIST', key());
  if (k < 89) return c('exact', pick(r, ['RENAME', 'RENAMENX']), key(), key());
  if (k < 91) return c(state.past ? 'dbsize' : 'exact', 'DBSIZE');
  if (k < 92) {
    // Mostly malformed: a real flush empties the key space the other commands interact through.
    if (r.int(4) !== 0) return c('exact', 'FLUSHALL', ...pick(r, [['bogus'], ['x'], ['sync', 'extra']]));
    state.past = false;
    return c('exact', 'FLUSHALL', ...(r.int(2) === 0 ? [] : [pick(r, ['SYNC', 'async'])]));
  }
  // Arity errors come from the dispatcher with the command name as Redis spells it.
  if (k < 94) return c('exact', pick(r, ['GET', 'SET', 'INCR', 'EXPIRE', 'TTL', 'RENAME', 'GETRANGE', 'MGET', 'DEL', 'EXISTS', 'DUMP', 'RESTORE']));
  if (k < 96) return dumpRestore(r, KEYS, nowMs);
  // RESTORE's argument checks and their order (options, BUSYKEY, TTL, payload).
  if (k < 97) return c('exact', 'RESTORE', key(), pick(r, ['0', '-1', 'x', '1000']), pick(r, ['junk', '', '\x00\x0a\x00']), ...pick(r, [[], ['REPLACE'], ['IDLETIME'], ['FREQ', '1', 'IDLETIME', '1'], ['ABSTTL', 'x']]));
  return c('exact', 'GET', key());
}

function dumpRestore(r: Rng, keys: readonly string[], nowMs: number): Cmd {
  const step = randomDumpRestore(r, keys, nowMs);
  return { argv: [Buffer.from('DUMP'), Buffer.from(step.src, 'latin1')], compare: 'exact', step };
}

// ---------------------------------------------------------------- hashes

/** Hash keys; mixed with the string keys so WRONGTYPE and overwrites happen both ways. 'bigh' grows past the listpack limits. */
const HKEYS = ['h0', 'h1', 'bigh', 'k0', 'num'];
const FIELDS = ['f0', 'f1', 'f2', '', 'n', 'fl', 'f\x00\xff'];

function generateHash(r: Rng): Cmd {
  const c = (compare: Compare, ...args: string[]): Cmd => ({ argv: args.map((a) => Buffer.from(a, 'latin1')), compare });
  const key = (): string => pick(r, HKEYS);
  const fld = (): string => pick(r, FIELDS);
  const k = r.int(100);
  if (k < 14) {
    const args = [pick(r, ['HSET', 'HSET', 'HMSET']), key()];
    const pairs = 1 + r.int(3);
    for (let i = 0; i < pairs; i++) args.push(fld(), value(r));
    if (r.int(12) === 0) args.pop();
    return c('exact', ...args);
  }
  if (k < 17) {
    // Grow 'bigh' past hash-max-listpack-entries, or give it a value past hash-max-listpack-value.
    const args = ['HSET', 'bigh'];
    for (let i = 0; i < 20; i++) args.push(`g${r.int(400)}`, r.int(30) === 0 ? 'v'.repeat(65 + r.int(10)) : String(r.int(1000)));
    return c('exact', ...args);
  }
  if (k < 20) return c('exact', 'HSETNX', key(), fld(), value(r));
  if (k < 28) return c('exact', 'HGET', key(), fld());
  if (k < 31) return c('exact', 'HMGET', key(), fld(), fld(), fld());
  if (k < 36) return c('hash-pairs', 'HGETALL', key());
  if (k < 39) return c('hash-set', pick(r, ['HKEYS', 'HVALS']), key());
  if (k < 46) return c('exact', 'HDEL', key(), fld(), ...(r.int(2) === 0 ? [fld()] : []));
  if (k < 49) return c('exact', 'HEXISTS', key(), fld());
  if (k < 52) return c('exact', 'HLEN', key());
  if (k < 54) return c('exact', 'HSTRLEN', key(), fld());
  if (k < 60) return c('exact', 'HINCRBY', key(), pick(r, ['n', 'n', 'f0', 'fl']), pick(r, INTS));
  if (k < 66) return c('exact', 'HINCRBYFLOAT', key(), pick(r, ['fl', 'fl', 'n', 'f1']), r.int(2) === 0 ? pick(r, FLOATS) : randomFloat(r));
  if (k < 72) {
    const count = pick(r, ['1', '2', '5', '100', '-1', '-3', '-20', '0', 'x', '9223372036854775807', '-9223372036854775808', '4611686018427387904']);
    const tail = r.int(3) === 0 ? [] : [pick(r, ['WITHVALUES', 'withvalues', 'WITHVALUES', 'bogus'])];
    return c('shape', 'HRANDFIELD', key(), ...(r.int(5) === 0 ? [] : [count, ...tail]));
  }
  if (k < 76) {
    const args = ['HSCAN', key(), '0'];
    if (r.int(2) === 0) args.push('MATCH', pick(r, ['f*', '*', 'g1*', '?', 'n']));
    if (r.int(2) === 0) args.push('COUNT', pick(r, ['1', '5', '100']));
    return c('hscan', ...args);
  }
  if (k < 78) return c('exact', 'HSCAN', key(), pick(r, ['x', '-1', '0']), ...pick(r, [['COUNT', '0'], ['COUNT', 'x'], ['MATCH'], ['TYPE', 'hash'], ['FOO', '1']]));
  if (k < 82) return c('exact', 'TYPE', key());
  if (k < 85) return c('encoding', 'OBJECT', pick(r, ['ENCODING', 'ENCODING', 'REFCOUNT', 'encoding', 'FREQX']), key());
  if (k < 88) {
    const args = ['COPY', key(), key()];
    if (r.int(2) === 0) args.push('REPLACE');
    if (r.int(8) === 0) args.push(...pick(r, [['DB', '0'], ['DB', 'x'], ['BOGUS']]));
    return c('exact', ...args);
  }
  if (k < 90) return c('exact', pick(r, ['RENAME', 'RENAMENX']), key(), key());
  if (k < 92) return c('int-or-null', 'MEMORY', 'USAGE', key(), ...(r.int(3) === 0 ? ['SAMPLES', pick(r, ['0', '5', '-1', 'x'])] : []));
  if (k < 94) return c('exact', pick(r, ['GET', 'INCR', 'APPEND', 'STRLEN', 'GETRANGE', 'SETRANGE', 'GETDEL', 'GETSET']), key(), ...pick(r, [[], ['1'], ['0', '1']]));
  if (k < 96) return c('exact', pick(r, ['DEL', 'EXISTS']), key(), key());
  if (k < 97) return c('exact', 'SET', key(), value(r), ...pick(r, [[], ['NX'], ['XX'], ['GET']]));
  if (k < 98) return c('scan', 'SCAN', '0', 'TYPE', pick(r, ['hash', 'HASH', 'string']));
  // Arity errors of the hash commands.
  if (r.int(2) === 0) return c('exact', pick(r, ['HLEN', 'HGETALL', 'HRANDFIELD', 'HKEYS']));
  return c('exact', pick(r, ['HSET', 'HGET', 'HMGET', 'HDEL', 'HINCRBY', 'HSCAN', 'HSTRLEN', 'HSETNX']), ...(r.int(2) === 0 ? [] : [key()]));
}

/** Flat field/value replies (or a RESP3 map) as sorted pairs. */
function sortedPairs(v: Resp): string {
  if ((v.t !== 'array' && v.t !== 'map') || v.a === null) return showReply(v);
  const pairs: string[] = [];
  for (let i = 0; i + 1 < v.a.length; i += 2) pairs.push(`${showReply(v.a[i] as Resp)}=${showReply(v.a[i + 1] as Resp)}`);
  return `${v.t}:${pairs.sort().join(',')}`;
}

/** A reply with every bulk string's content hidden: random picks agree in shape and errors only. */
function shape(v: Resp): string {
  if (v.t === 'bulk') return v.b === null ? 'nil' : 'b';
  if ((v.t === 'array' || v.t === 'map' || v.t === 'set') && v.a !== null) return `${v.t}[${v.a.map(shape).join(',')}]`;
  return showReply(v);
}

function ttlClass(v: Resp): string {
  if (v.t !== 'int') return showReply(v);
  return v.n < 0n ? String(v.n) : 'positive';
}

function sameReply(cmd: Cmd, a: Resp, b: Resp): boolean {
  switch (cmd.compare) {
    case 'exact': return showReply(a) === showReply(b);
    case 'ttl-s':
    case 'ttl-ms':
    case 'abs-s':
    case 'abs-ms': {
      if (ttlClass(a) !== ttlClass(b)) return false;
      if (a.t !== 'int' || b.t !== 'int' || a.n < 0n) return true;
      const scale = cmd.compare.endsWith('-s') ? 1000 : 1;
      return Math.abs(Number(a.n - b.n)) * scale <= TTL_TOLERANCE_MS;
    }
    case 'set': return sortedKeys(a) === sortedKeys(b);
    case 'dbsize': return a.t === 'int' && b.t === 'int' && Math.abs(Number(a.n - b.n)) <= KEYS.length;
    case 'scan':
    case 'hscan': return true; // compared by runScan
    case 'pairs': return sortedPairs(a) === sortedPairs(b);
    case 'hash-pairs':
    case 'hash-set': return showReply(a) === showReply(b); // see hashOrderAgrees
    case 'shape': return shape(a) === shape(b);
    // Strings: kv-ts does not record how a value was built (APPEND and SETRANGE make Redis's
    // short strings raw, integers too, INCRBYFLOAT leaves an integer result embstr; a COPY of a
    // shared small integer has its own refcount).
    case 'encoding': return showReply(a) === showReply(b) || (isBulk(a, ['embstr', 'raw']) && isBulk(b, ['embstr', 'raw', 'int'])) || (a.t === 'int' && b.t === 'int');
    // Sizes are kv-ts's estimate: only whether the key exists (or the error) must agree.
    case 'int-or-null': return a.t === 'int' ? b.t === 'int' : showReply(a) === showReply(b);
  }
}

function needsEncoding(cmd: Cmd): boolean {
  return cmd.compare === 'hash-pairs' || cmd.compare === 'hash-set';
}

/** For a hashtable-encoded hash (`enc`: redis-server's OBJECT ENCODING right after), whole-hash replies agree as pairs / sets. */
function hashOrderAgrees(cmd: Cmd, a: Resp, b: Resp, enc: Resp | undefined): boolean {
  if (!needsEncoding(cmd) || enc === undefined || !isBulk(enc, ['hashtable'])) return false;
  return cmd.compare === 'hash-pairs' ? sortedPairs(a) === sortedPairs(b) : sortedKeys(a) === sortedKeys(b);
}

function isBulk(v: Resp, texts: readonly string[]): boolean {
  return v.t === 'bulk' && v.b !== null && texts.includes(v.b.toString());
}

function sortedKeys(v: Resp): string {
  if (v.t !== 'array' || v.a === null) return showReply(v);
  return [...new Set(v.a.map(showReply))].sort().join(',');
}

/** Runs SCAN (or HSCAN: field=value pairs) to completion (cursor back to 0) and returns the sorted distinct items, or the error. */
async function runScan(cl: RawConn, argv: Buffer[]): Promise<string> {
  const keys = new Set<string>();
  const at = argv[0]!.toString().toUpperCase() === 'HSCAN' ? 2 : 1;
  let cursor = '0';
  for (let round = 0; round < 10_000; round++) {
    const args = [...argv];
    args[at] = Buffer.from(cursor);
    const r = await cl.request(...args);
    if (r.t !== 'array' || r.a === null || r.a.length !== 2) return showReply(r);
    const [cur, list] = r.a as [Resp, Resp];
    if (cur.t !== 'bulk' || cur.b === null || list.t !== 'array' || list.a === null) return showReply(r);
    if (at === 2) for (let i = 0; i + 1 < list.a.length; i += 2) keys.add(`${showReply(list.a[i] as Resp)}=${showReply(list.a[i + 1] as Resp)}`);
    else for (const k of list.a) keys.add(showReply(k));
    cursor = cur.b.toString();
    if (cursor === '0') return [...keys].sort().join(',');
  }
  return 'scan did not finish';
}

const procs: RunningProcess[] = [];
const clients: RawConn[] = [];
after(async () => {
  for (const c of clients) c.close();
  for (const p of procs) await stopAndClean(p);
});

interface ServerPair {
  /** redis-server. */
  readonly a: RawConn;
  /** kv-server (a second redis-server with KV_DIFF_REDIS_ONLY=1). */
  readonly b: RawConn;
}

/** A fresh redis-server and kv-server speaking `protocol`; the seeds of one test share them (each run starts with FLUSHALL). */
async function startPair(protocol: 2 | 3): Promise<ServerPair> {
  if (!redisOnly && !existsSync(KV_SERVER_JS)) {
    assert.fail(`kv-server is not built at ${KV_SERVER_JS}`);
  }
  // redis-server's built-in hash-max-listpack-entries is 512; redis.conf's, and kv-ts's default, 128.
  const limits = ['--hash-max-listpack-entries', '128'];
  const redis = await startRedisServer(limits);
  procs.push(redis);
  const other = redisOnly ? await startRedisServer(limits) : await startKvServer({ args: ['--fsync', 'no'] });
  procs.push(other);
  const a = await RawConn.open(redis.port);
  const b = await RawConn.open(other.port);
  clients.push(a, b);
  if (protocol === 3) {
    for (const cl of [a, b]) assert.equal((await cl.request(Buffer.from('HELLO'), Buffer.from('3'))).t, 'map');
  }
  return { a, b };
}

/**
 * One differential run: `total` commands from `gen` to both servers of `pair`, emptied first,
 * then every key's final value and expiry class compared.
 */
async function runDifferential(t: { diagnostic(msg: string): void }, pair: ServerPair, seed: number, total: number, protocol: 2 | 3, gen: (r: Rng, nowMs: number, state: { past: boolean }) => Cmd, finalKeys: readonly string[]): Promise<void> {
  const { a, b } = pair;
  for (const cl of [a, b]) assert.equal(showReply(await cl.request('FLUSHALL')), '+OK');
  const r = rng(seed);
  const state = { past: false };
  const counts = new Map<string, number>();
  const shown = (cmd: Cmd): string => (cmd.step !== undefined ? showStep(cmd.step) : cmd.argv.map((x) => JSON.stringify(x.toString('latin1'))).join(' '));
  // Commands whose replies need nothing but a comparison go in one pipeline per batch (the
  // servers run them in the same order as one at a time); scans and DUMP/RESTORE go alone.
  let batch: Array<{ i: number; cmd: Cmd }> = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const argvs: Buffer[][] = [];
    for (const { cmd } of batch) {
      argvs.push(cmd.argv);
      if (needsEncoding(cmd)) argvs.push([Buffer.from('OBJECT'), Buffer.from('ENCODING'), cmd.argv[1] as Buffer]);
    }
    const [ra, rb] = await Promise.all([a.requestMany(argvs), b.requestMany(argvs)]);
    let j = 0;
    for (const { i, cmd } of batch) {
      const [x, y] = [ra[j] as Resp, rb[j] as Resp];
      const enc = needsEncoding(cmd) ? ra[++j] : undefined;
      j++;
      if (!sameReply(cmd, x, y) && !hashOrderAgrees(cmd, x, y, enc)) {
        assert.fail(`seed ${seed} command #${i}: ${shown(cmd)}\n  redis: ${showReply(x)}\n  other: ${showReply(y)}`);
      }
    }
    batch = [];
  };
  for (let i = 0; i < total; i++) {
    const cmd = gen(r, Date.now(), state);
    const name = cmd.step !== undefined ? 'DUMP+RESTORE' : cmd.argv[0]!.toString().toUpperCase();
    counts.set(name, (counts.get(name) ?? 0) + 1);
    if (cmd.compare === 'scan' || cmd.compare === 'hscan') {
      await flush();
      const [ra, rb] = await Promise.all([runScan(a, cmd.argv), runScan(b, cmd.argv)]);
      assert.equal(rb, ra, `seed ${seed} command #${i}: ${shown(cmd)}`);
    } else if (cmd.step !== undefined) {
      await flush();
      const problem = await runDumpRestore(a, b, cmd.step);
      if (problem !== null) assert.fail(`seed ${seed} command #${i}: ${shown(cmd)}\n  ${problem}`);
    } else {
      batch.push({ i, cmd });
      if (batch.length >= PIPELINE_COMMANDS_MAX) await flush();
    }
  }
  await flush();
  // The final data must agree too: every key's type, value or contents, and expiry class.
  for (const key of finalKeys) {
    for (const cmd of ['TYPE', 'GET', 'HGETALL', 'LRANGE', 'PTTL']) {
      const argv = [Buffer.from(cmd), Buffer.from(key, 'latin1'), ...(cmd === 'LRANGE' ? [Buffer.from('0'), Buffer.from('-1')] : [])];
      const [ra, rb] = await Promise.all([a.request(...argv), b.request(...argv)]);
      const compare: Compare = cmd === 'PTTL' ? 'ttl-ms' : cmd === 'HGETALL' ? 'pairs' : 'exact';
      assert.ok(sameReply({ argv, compare }, ra, rb), `seed ${seed} final ${cmd} ${JSON.stringify(key)}: redis ${showReply(ra)} other ${showReply(rb)}`);
    }
  }
  t.diagnostic(`seed ${seed}, RESP${protocol}: ${total} commands, ${[...counts].sort().map(([k, n]) => `${k}=${n}`).join(' ')}`);
}

test('differential: random keyspace commands agree with redis-server 7', { timeout: long ? 1_800_000 : 120_000 }, async (t) => {
  await runDifferential(t, await startPair(2), testSeed(20240607), long ? COMMANDS_LONG : COMMANDS_DEFAULT, 2, generate, KEYS);
});

/** Hash commands and the type-aware keyspace commands over mixed keys, with the string commands now and then. */
function generateMixed(r: Rng, nowMs: number, state: { past: boolean }): Cmd {
  const k = r.int(40);
  if (k === 0) return dumpRestore(r, MIXED_KEYS, nowMs);
  return k < 10 ? generate(r, nowMs, state) : generateHash(r);
}

const MIXED_KEYS = [...new Set([...KEYS, ...HKEYS])];

for (const protocol of [2, 3] as const) {
  test(`differential: hash and type-aware keyspace commands agree with redis-server 7 (RESP${protocol}, several seeds)`, { timeout: long ? 3_600_000 : 240_000 }, async (t) => {
    // Ten seeds by default (five per protocol); KV_LONG=1 runs twenty, ten times longer each.
    const base = protocol === 2 ? 31 : 36;
    const seeds = process.env['KV_SEED'] !== undefined ? [testSeed(0)] : Array.from({ length: long ? 10 : 5 }, (_, i) => (long ? 100 + protocol * 10 : base) + i);
    const pair = await startPair(protocol);
    for (const seed of seeds) await runDifferential(t, pair, seed, long ? COMMANDS_LONG / 2 : COMMANDS_DEFAULT, protocol, generateMixed, MIXED_KEYS);
  });
}

// ---------------------------------------------------------------- lists

/** List keys, mixed with string, hash, set and sorted-set keys (WRONGTYPE both ways, overwrites by SET and RENAME). */
const LKEYS = ['l0', 'l1', 'l2', 'k0', 'h0', 's0', 'z0'];
const ELEMENTS = ['a', 'b', 'c', '1', '2', '10', '-3', '', 'x\x00y', '\xff', 'e'.repeat(70)];
const LIST_INDEXES = ['0', '1', '-1', '2', '-2', '3', '5', '-5', '100', '-100', '9223372036854775807', '-9223372036854775808', 'x', '1.5', ''];
const LIST_COUNTS = ['0', '1', '2', '3', '5', '100', '-1', '-2', 'x', '9223372036854775807'];

function element(r: Rng): string {
  const k = r.int(60);
  if (k === 0) return 'B'.repeat(9000 + r.int(100)); // larger than a chunk's 8 KiB
  return k < 10 ? `m${r.int(40)}` : pick(r, ELEMENTS);
}

/** Mostly a few elements; sometimes a few hundred, so lists cross many chunks (and LREM/LPOS meet packed ones). */
function pushElements(r: Rng): string[] {
  if (r.int(25) === 0) return Array.from({ length: 100 + r.int(300) }, (_, i) => (r.int(4) === 0 ? pick(r, ELEMENTS) : `n${i % 50}`));
  return Array.from({ length: 1 + r.int(4) }, () => element(r));
}

function generateList(r: Rng, nowMs: number): Cmd {
  const c = (compare: Compare, ...args: string[]): Cmd => ({ argv: args.map((a) => Buffer.from(a, 'latin1')), compare });
  const key = (): string => (r.int(8) === 0 ? pick(r, LKEYS) : pick(r, ['l0', 'l1', 'l2']));
  const side = (): string => (r.int(15) === 0 ? pick(r, ['up', 'LEFTX', '']) : pick(r, ['LEFT', 'RIGHT', 'left', 'right']));
  const k = r.int(120);
  if (k < 16) return c('exact', pick(r, ['LPUSH', 'RPUSH']), key(), ...pushElements(r));
  if (k < 19) return c('exact', pick(r, ['LPUSHX', 'RPUSHX']), key(), ...pushElements(r));
  if (k < 27) return c('exact', pick(r, ['LPOP', 'RPOP']), key(), ...(r.int(2) === 0 ? [] : [pick(r, LIST_COUNTS), ...(r.int(20) === 0 ? ['extra'] : [])]));
  if (k < 30) return c('exact', 'LLEN', key());
  if (k < 35) return c('exact', 'LINDEX', key(), pick(r, LIST_INDEXES));
  if (k < 39) return c('exact', 'LSET', key(), pick(r, LIST_INDEXES), element(r));
  if (k < 44) return c('exact', 'LINSERT', key(), r.int(10) === 0 ? 'middle' : pick(r, ['BEFORE', 'AFTER', 'before']), element(r), element(r));
  if (k < 53) return c('exact', 'LRANGE', key(), pick(r, LIST_INDEXES), pick(r, LIST_INDEXES));
  if (k < 58) return c('exact', 'LREM', key(), pick(r, LIST_COUNTS), element(r));
  if (k < 62) return c('exact', 'LTRIM', key(), pick(r, LIST_INDEXES), pick(r, LIST_INDEXES));
  if (k < 69) {
    const args = ['LPOS', key(), element(r)];
    for (const opt of ['RANK', 'COUNT', 'MAXLEN']) if (r.int(3) === 0) args.push(opt, pick(r, opt === 'RANK' ? ['1', '2', '-1', '-2', '0', '-9223372036854775808', 'x', '5'] : LIST_COUNTS));
    if (r.int(25) === 0) args.push(pick(r, ['RANK', 'bogus']));
    return c('exact', ...args);
  }
  if (k < 76) return c('exact', 'LMOVE', key(), key(), side(), side());
  if (k < 79) return c('exact', 'RPOPLPUSH', key(), key());
  if (k < 85) {
    const n = 1 + r.int(3);
    const numkeys = r.int(10) === 0 ? pick(r, ['0', '-1', 'x', '9']) : String(n);
    return c('exact', 'LMPOP', numkeys, ...Array.from({ length: n }, key), side(), ...(r.int(2) === 0 ? [] : ['COUNT', pick(r, LIST_COUNTS)]), ...(r.int(20) === 0 ? ['COUNT', '1'] : []));
  }
  if (k < 88) return c('encoding', 'OBJECT', 'ENCODING', key());
  if (k < 90) return c('int-or-null', 'MEMORY', 'USAGE', key());
  if (k < 92) return c('exact', 'TYPE', key());
  if (k < 94) return c('scan', 'SCAN', '0', 'TYPE', pick(r, ['list', 'LIST', 'hash', 'string']), ...(r.int(2) === 0 ? [] : ['COUNT', '2']));
  // Other types' commands on list keys, list commands on other types.
  if (k < 100) return c('exact', ...pick(r, [['GET', key()], ['APPEND', key(), 'x'], ['INCR', key()], ['STRLEN', key()], ['HSET', key(), 'f', 'v'], ['HGET', key(), 'f'], ['SADD', key(), 'm'], ['SCARD', key()], ['ZADD', key(), '1', 'm'], ['ZCARD', key()], ['SETRANGE', key(), '0', 'x']]));
  if (k < 104) return c('exact', pick(r, ['RENAME', 'RENAMENX']), key(), key());
  if (k < 106) return c('exact', 'COPY', key(), key(), ...(r.int(2) === 0 ? ['REPLACE'] : []));
  if (k < 108) return c('exact', 'SET', key(), element(r));
  if (k < 110) return c('exact', 'DEL', key());
  if (k < 112) return c('exact', 'EXPIRE', key(), String(TTL_MIN_S + r.int(1000)));
  if (k < 114) return c('ttl-s', 'TTL', key());
  // DUMP on one server, RESTORE of both servers' payloads on both (lists move between them both ways).
  if (k < 117) return dumpRestore(r, LKEYS, nowMs);
  // Arity errors from the dispatcher, and a bad command shape.
  return c('exact', pick(r, ['LPUSH', 'RPUSH', 'LPOP', 'LLEN', 'LINDEX', 'LSET', 'LINSERT', 'LRANGE', 'LREM', 'LTRIM', 'LPOS', 'LMOVE', 'RPOPLPUSH', 'LMPOP', 'LPUSHX']), ...(r.int(2) === 0 ? [] : [key()]));
}

for (const protocol of [2, 3] as const) {
  test(`differential: list commands over mixed-type keys agree with redis-server 7 (RESP${protocol}, several seeds)`, { timeout: long ? 3_600_000 : 240_000 }, async (t) => {
    const seeds = process.env['KV_SEED'] !== undefined ? [testSeed(0)] : long ? [41, 42, 43, 44, 45, 46, 47, 48] : protocol === 2 ? [41, 42] : [43, 44];
    // A few hash and string commands in between, so list keys meet the other types' writes.
    const gen = (r: Rng, nowMs: number, state: { past: boolean }): Cmd => {
      const k = r.int(20);
      if (k === 0) return generateHash(r);
      if (k === 1) return generate(r, nowMs, state);
      return generateList(r, nowMs);
    };
    const pair = await startPair(protocol);
    for (const seed of seeds) await runDifferential(t, pair, seed, long ? COMMANDS_LONG / 10 : COMMANDS_DEFAULT, protocol, gen, [...new Set([...KEYS, ...LKEYS])]);
  });
}
