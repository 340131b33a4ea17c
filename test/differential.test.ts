// Differential test: one seeded random sequence of keyspace commands goes to a real redis-server
// and to kv-server; their replies must agree (exactly, except TTL-like values by class and
// tolerance, KEYS/SCAN as sets, DBSIZE while logically-expired keys may linger).
// KV_LONG=1 runs 100k commands; KV_SEED replays a seed; KV_DIFF_REDIS_ONLY=1 checks the harness
// itself against two redis-servers.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startKvServer, startRedisServer, stopAndClean, KV_SERVER_JS, type RunningProcess } from './helpers/procs.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';
import { showReply, type Resp } from './helpers/resp.js';
import { RawConn } from './helpers/server-conn.js';

const COMMANDS_DEFAULT = 3_000;
const COMMANDS_LONG = 100_000;
/** TTL-like replies may differ by the time between the two servers' executions. */
const TTL_TOLERANCE_MS = 5_000;
/** Relative expiries are at least this long, so no key expires between the two executions. */
const TTL_MIN_S = 100;

const long = process.env['KV_LONG'] === '1';
const redisOnly = process.env['KV_DIFF_REDIS_ONLY'] === '1';

type Compare = 'exact' | 'ttl-s' | 'ttl-ms' | 'abs-s' | 'abs-ms' | 'set' | 'scan' | 'dbsize';
interface Cmd {
  readonly argv: Buffer[];
  readonly compare: Compare;
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
  if (k < 94) return c('exact', pick(r, ['GET', 'SET', 'INCR', 'EXPIRE', 'TTL', 'RENAME', 'GETRANGE', 'MGET', 'DEL', 'EXISTS']));
  return c('exact', 'GET', key());
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
    case 'scan': return true; // compared by runScan
  }
}

function sortedKeys(v: Resp): string {
  if (v.t !== 'array' || v.a === null) return showReply(v);
  return [...new Set(v.a.map(showReply))].sort().join(',');
}

/** Runs SCAN to completion (cursor back to 0) and returns the sorted distinct keys, or the error. */
async function runScan(cl: RawConn, argv: Buffer[]): Promise<string> {
  const keys = new Set<string>();
  let cursor = '0';
  for (let round = 0; round < 10_000; round++) {
    const args = [...argv];
    args[1] = Buffer.from(cursor);
    const r = await cl.request(...args);
    if (r.t !== 'array' || r.a === null || r.a.length !== 2) return showReply(r);
    const [cur, list] = r.a as [Resp, Resp];
    if (cur.t !== 'bulk' || cur.b === null || list.t !== 'array' || list.a === null) return showReply(r);
    for (const k of list.a) keys.add(showReply(k));
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

test('differential: random keyspace commands agree with redis-server 7', { timeout: long ? 1_800_000 : 120_000 }, async (t) => {
  if (!redisOnly && !existsSync(KV_SERVER_JS)) {
    assert.fail(`kv-server is not built at ${KV_SERVER_JS}`);
  }
  const redis = await startRedisServer();
  procs.push(redis);
  const other = redisOnly ? await startRedisServer() : await startKvServer({ args: ['--fsync', 'no'] });
  procs.push(other);
  const a = await RawConn.open(redis.port);
  const b = await RawConn.open(other.port);
  clients.push(a, b);
  const seed = testSeed(20240607);
  const r = rng(seed);
  const total = long ? COMMANDS_LONG : COMMANDS_DEFAULT;
  const state = { past: false };
  const counts = new Map<string, number>();
  for (let i = 0; i < total; i++) {
    const cmd = generate(r, Date.now(), state);
    const name = cmd.argv[0]!.toString().toUpperCase();
    counts.set(name, (counts.get(name) ?? 0) + 1);
    const shown = cmd.argv.map((x) => JSON.stringify(x.toString('latin1'))).join(' ');
    if (cmd.compare === 'scan') {
      const [ra, rb] = await Promise.all([runScan(a, cmd.argv), runScan(b, cmd.argv)]);
      assert.equal(rb, ra, `seed ${seed} command #${i}: ${shown}`);
      continue;
    }
    const [ra, rb] = await Promise.all([a.request(...cmd.argv), b.request(...cmd.argv)]);
    if (!sameReply(cmd, ra, rb)) {
      assert.fail(`seed ${seed} command #${i}: ${shown}\n  redis: ${showReply(ra)}\n  other: ${showReply(rb)}`);
    }
  }
  // The final data must agree too: every key's value and expiry class.
  for (const key of KEYS) {
    for (const cmd of ['GET', 'PTTL']) {
      const argv = [Buffer.from(cmd), Buffer.from(key, 'latin1')];
      const [ra, rb] = await Promise.all([a.request(...argv), b.request(...argv)]);
      assert.ok(sameReply({ argv, compare: cmd === 'GET' ? 'exact' : 'ttl-ms' }, ra, rb), `seed ${seed} final ${cmd} ${JSON.stringify(key)}: redis ${showReply(ra)} other ${showReply(rb)}`);
    }
  }
  t.diagnostic(`seed ${seed}: ${total} commands, ${[...counts].sort().map(([k, n]) => `${k}=${n}`).join(' ')}`);
});
