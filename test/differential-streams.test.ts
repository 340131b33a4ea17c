// Differential test of the stream commands: one seeded random sequence (valid and nonsense
// arguments, keys of other types, explicit ids only, since '*' ids come from each server's clock)
// goes to a real redis-server and to kv-server, in RESP2 and in RESP3; replies must agree byte for
// byte, except the fields that are times (XPENDING's idle, XINFO CONSUMERS' idle) and XINFO
// STREAM's radix-tree-nodes (the radix tree's inner node count), which are masked. Claims and
// idle filters use thresholds of 0 or far beyond the test's length, so timing never changes a
// reply. KV_LONG=1 runs more commands; KV_SEED replays a seed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replicaOfArgs, serverPairPerFile, startKvServer, stopAndClean } from './helpers/procs.js';
import { info } from './helpers/info.js';
import { waitFor } from './helpers/wait.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';
import { showReply, type Resp } from './helpers/resp.js';
import { framesUntilMarker, openPairConns, RawConn } from './helpers/server-conn.js';

const COMMANDS_DEFAULT = 3_000;
const COMMANDS_LONG = 30_000;
const SEEDS_DEFAULT = 3;
const long = process.env['KV_LONG'] === '1';
const pair = serverPairPerFile();

const STREAM_KEYS = ['s1', 's2', 's3'];
const KEYS = [...STREAM_KEYS, 'str', 'nokey'];
const GROUPS = ['g1', 'g2', 'nog'];
const CONSUMERS = ['alice', 'bob', 'carol'];
const FIELDS = ['f', 'g', 'name', '', 'x\x00y', 'v'.repeat(40)];
const BAD_IDS = ['x', '-1', '1-x', '1--1', '', '18446744073709551616', '1-18446744073709551616', '+', '-', ' 1', '0x10'];
const IDLES = ['0', '0', '100000000', '-5', 'x'];

/** Ids near the ones in use: the stream's ms range is small so ranges and trims meet entries. */
function id(r: Rng): string {
  const k = r.int(20);
  if (k === 0) return r.pick(BAD_IDS);
  if (k === 1) return String(r.int(60));
  if (k === 2) return '18446744073709551615-18446744073709551615';
  return `${r.int(60)}-${r.int(4)}`;
}

function bound(r: Rng, low: boolean): string {
  const k = r.int(10);
  if (k === 0) return low ? '-' : '+';
  if (k === 1) return `(${id(r)}`;
  if (k === 2) return r.pick(['-', '+', '(-', '(+', 'x']);
  return id(r);
}

function pairs(r: Rng): string[] {
  const out: string[] = [];
  const n = 1 + r.int(3);
  for (let i = 0; i < n; i++) out.push(r.pick(FIELDS), `v${r.int(100)}`);
  if (r.int(30) === 0) out.pop();
  return out;
}

function trimArgs(r: Rng): string[] {
  const strategy = r.int(2) === 0 ? 'MAXLEN' : 'MINID';
  const out = [r.int(5) === 0 ? strategy.toLowerCase() : strategy];
  const op = r.int(3);
  if (op === 1) out.push('~');
  if (op === 2) out.push('=');
  out.push(strategy === 'MAXLEN' ? r.pick(['0', '1', '3', '10', '150', '-1', 'x']) : id(r));
  if (r.int(4) === 0) out.push('LIMIT', r.pick(['0', '1', '100', '-1', 'x']));
  return out;
}

function xadd(r: Rng, state: { ms: number; seq: number }): string[] {
  const args = ['XADD', r.int(8) === 0 ? r.pick(KEYS) : r.pick(STREAM_KEYS)];
  if (r.int(8) === 0) args.push('NOMKSTREAM');
  if (r.int(4) === 0) args.push(...trimArgs(r));
  // Mostly the next id, so streams grow past a node (100 entries); sometimes ms-*, a stale or bad one.
  const k = r.int(12);
  if (k === 0) args.push(id(r));
  else if (k === 1) args.push(`${state.ms}-*`);
  else {
    state.seq += 1 + r.int(2);
    if (r.int(4) === 0) {
      state.ms += 1 + r.int(3);
      state.seq = r.int(2);
    }
    args.push(`${state.ms}-${state.seq}`);
  }
  return [...args, ...pairs(r)];
}

function command(r: Rng, state: { ms: number; seq: number }): string[] {
  const key = r.int(10) === 0 ? r.pick(KEYS) : r.pick(STREAM_KEYS);
  const group = r.pick(GROUPS);
  const consumer = r.pick(CONSUMERS);
  switch (r.int(24)) {
    case 0: case 1: case 2: case 3: case 4: case 5:
      return xadd(r, state);
    case 6:
      return ['XLEN', key];
    case 7: case 8: {
      const rev = r.int(2) === 0;
      const args = [rev ? 'XREVRANGE' : 'XRANGE', key, bound(r, !rev), bound(r, rev)];
      if (r.int(2) === 0) args.push('COUNT', r.pick(['0', '1', '2', '5', '-1', 'x']));
      if (r.int(40) === 0) args.push('JUNK');
      return args;
    }
    case 9:
      return ['XDEL', key, id(r), ...(r.int(2) === 0 ? [id(r)] : [])];
    case 10:
      return ['XTRIM', key, ...(r.int(20) === 0 ? ['LIMIT', '5'] : trimArgs(r))];
    case 11: {
      const keys = r.int(3) === 0 ? [key, r.pick(STREAM_KEYS)] : [key];
      const args = ['XREAD'];
      if (r.int(2) === 0) args.push('COUNT', r.pick(['1', '2', '5', '0', '-1']));
      args.push('STREAMS', ...keys, ...keys.map(() => (r.int(6) === 0 ? r.pick(['$', '>', 'x']) : id(r))));
      if (r.int(30) === 0) args.pop();
      return args;
    }
    case 12: {
      const sub = r.int(6);
      if (sub === 0) return ['XGROUP', 'CREATE', key, group, r.pick(['$', '0', id(r)]), ...(r.int(2) === 0 ? ['MKSTREAM'] : []), ...(r.int(5) === 0 ? ['ENTRIESREAD', r.pick(['0', '3', '-1', '-2', 'x'])] : [])];
      if (sub === 1) return ['XGROUP', 'SETID', key, group, r.pick(['$', '0', id(r)]), ...(r.int(4) === 0 ? ['ENTRIESREAD', r.pick(['2', '-1'])] : [])];
      if (sub === 2) return ['XGROUP', 'DESTROY', key, group];
      if (sub === 3) return ['XGROUP', 'CREATECONSUMER', key, group, consumer];
      if (sub === 4) return ['XGROUP', 'DELCONSUMER', key, group, consumer];
      return ['XGROUP', r.pick(['HELP', 'FOO', 'create']), ...(r.int(2) === 0 ? [key] : [])];
    }
    case 13: case 14: case 15: {
      const args = ['XREADGROUP', 'GROUP', group, consumer];
      if (r.int(2) === 0) args.push('COUNT', r.pick(['1', '2', '3', '0']));
      if (r.int(6) === 0) args.push('NOACK');
      args.push('STREAMS', key, r.int(3) === 0 ? r.pick(['0', id(r), '$']) : '>');
      return args;
    }
    case 16:
      return ['XACK', key, group, id(r), ...(r.int(2) === 0 ? [id(r)] : [])];
    case 17: {
      if (r.int(2) === 0) return ['XPENDING', key, group];
      const args = ['XPENDING', key, group];
      if (r.int(3) === 0) args.push('IDLE', r.pick(IDLES));
      args.push(bound(r, true), bound(r, false), r.pick(['10', '1', '0', '-1', 'x']));
      if (r.int(3) === 0) args.push(consumer);
      return args;
    }
    case 18: {
      const args = ['XCLAIM', key, group, consumer, r.pick(IDLES), id(r)];
      if (r.int(2) === 0) args.push(id(r));
      const opts = [['JUSTID'], ['FORCE'], ['RETRYCOUNT', r.pick(['3', '0', 'x'])], ['LASTID', id(r)], ['IDLE', '100000000'], ['BOGUS']];
      for (let i = r.int(3); i > 0; i--) args.push(...r.pick(opts));
      return args;
    }
    case 19: {
      const args = ['XAUTOCLAIM', key, group, consumer, r.pick(IDLES), bound(r, true)];
      if (r.int(2) === 0) args.push('COUNT', r.pick(['1', '2', '10', '0', 'x']));
      if (r.int(3) === 0) args.push('JUSTID');
      return args;
    }
    case 20: {
      const sub = r.int(5);
      if (sub === 0) return ['XINFO', 'STREAM', key];
      if (sub === 1) return ['XINFO', 'GROUPS', key];
      if (sub === 2) return ['XINFO', 'CONSUMERS', key, group];
      if (sub === 3) return ['XINFO', 'HELP'];
      return ['XINFO', 'STREAM', key, r.pick(['FULLX', 'COUNT'])];
    }
    case 21:
      return ['XSETID', key, id(r), ...(r.int(3) === 0 ? ['ENTRIESADDED', r.pick(['0', '5', '1000', '-1'])] : []), ...(r.int(3) === 0 ? ['MAXDELETEDID', id(r)] : [])];
    case 22:
      return r.pick([['TYPE', key], ['OBJECT', 'ENCODING', key], ['EXISTS', key], ['SET', 'str', 'x']]);
    default:
      return r.int(4) === 0 ? ['DEL', key] : ['XLEN', key];
  }
}

/** The same reply with time-valued fields zeroed (see the header). */
function masked(argv: readonly string[], v: Resp): Resp {
  const name = `${(argv[0] as string).toUpperCase()} ${(argv[1] ?? '').toUpperCase()}`;
  const zero: Resp = { t: 'int', n: 0n };
  const zeroAfter = (a: Resp[], label: string): Resp[] => a.map((x, i) => (i > 0 && a[i - 1]?.t === 'bulk' && a[i - 1]?.t === 'bulk' && (a[i - 1] as { b: Buffer | null }).b?.toString() === label ? zero : x));
  if ((v.t === 'array' || v.t === 'map') && v.a !== null) {
    if (name.startsWith('XPENDING') && argv.length > 3) return { t: 'array', a: v.a.map((row) => (row.t === 'array' && row.a !== null && row.a.length === 4 ? { t: 'array', a: [row.a[0] as Resp, row.a[1] as Resp, zero, row.a[3] as Resp] } : row)) };
    if (name === 'XINFO CONSUMERS') return { t: 'array', a: v.a.map((c) => ((c.t === 'array' || c.t === 'map') && c.a !== null ? { ...c, a: zeroAfter(c.a, 'idle') } : c)) };
    if (name === 'XINFO STREAM') return { ...v, a: zeroAfter(v.a, 'radix-tree-nodes') };
  }
  return v;
}

async function runSeed(seed: number, protocol: 2 | 3, commands: number): Promise<void> {
  const { kv, redis } = await openPairConns(pair, protocol);
  try {
    for (const c of [kv, redis]) await c.request('FLUSHALL');
    await Promise.all([kv.request('SET', 'str', 'x'), redis.request('SET', 'str', 'x')]);
    const r = rng(seed);
    const state = { ms: 1, seq: 0 };
    for (let i = 0; i < commands; i++) {
      const argv = command(r, state);
      const [a, b] = [await kv.request(...argv), await redis.request(...argv)];
      const [sa, sb] = [showReply(masked(argv, a)), showReply(masked(argv, b))];
      if (process.env['KV_TRACE'] === '1') console.log(i, JSON.stringify(argv), sa);
      assert.equal(sa, sb, `seed ${seed} RESP${protocol} command ${i}: ${JSON.stringify(argv)}`);
    }
    // Final states: every stream whole, with its groups' pending entries.
    for (const key of STREAM_KEYS) {
      const argv = ['XRANGE', key, '-', '+'];
      assert.equal(showReply(await kv.request(...argv)), showReply(await redis.request(...argv)), `seed ${seed} final ${key}`);
    }
  } finally {
    kv.close();
    redis.close();
  }
}

for (const protocol of [2, 3] as const) {
  test(`differential: stream commands agree with redis-server 7 (RESP${protocol})`, { timeout: long ? 1_800_000 : 300_000 }, async () => {
    const base = testSeed(20261207);
    for (let s = 0; s < (long ? 10 : SEEDS_DEFAULT); s++) await runSeed(base + s + (protocol === 3 ? 1000 : 0), protocol, long ? COMMANDS_LONG : COMMANDS_DEFAULT);
  });
}

test("keyspace events of the stream commands are Redis's, on the primary and on a replica", async () => {
  const { kv, redis } = await openPairConns(pair, 3);
  const subs = await openPairConns(pair, 3);
  for (const c of [kv, redis]) await c.request('FLUSHALL');
  const replica = await startKvServer({ args: replicaOfArgs(pair.kvPort()) });
  const replicaSub = await RawConn.open(replica.port);
  const caughtUp = async (): Promise<void> => {
    const want = (await info(pair.kvPort())).get('kv_position');
    await waitFor('the replica applied every entry', async () => (await info(replica.port)).get('kv_position') === want);
  };
  try {
    await caughtUp();
    for (const c of [kv, redis, replicaSub]) await c.request('CONFIG', 'SET', 'notify-keyspace-events', 'KEA');
    await replicaSub.request('HELLO', '3');
    for (const c of [subs.kv, subs.redis, replicaSub]) await c.request('PSUBSCRIBE', '__key*__:*');
    const lines: string[][] = [
      ['XADD', 'e', '1-1', 'a', '1'], ['XADD', 'e', 'MAXLEN', '1', '1-2', 'a', '2'], ['XADD', 'e', 'MAXLEN', '5', '1-3', 'a', '3'], ['XTRIM', 'e', 'MAXLEN', '1'], ['XTRIM', 'e', 'MAXLEN', '1'],
      ['XDEL', 'e', '1-3'], ['XDEL', 'e', '9-9'], ['XSETID', 'e', '5-5'], ['XGROUP', 'CREATE', 'e', 'g', '0'], ['XGROUP', 'CREATE', 'm', 'g', '$', 'MKSTREAM'],
      ['XADD', 'e', '6-1', 'b', '1'], ['XREADGROUP', 'GROUP', 'g', 'c1', 'STREAMS', 'e', '>'], ['XREADGROUP', 'GROUP', 'g', 'c1', 'STREAMS', 'e', '0'],
      ['XGROUP', 'CREATECONSUMER', 'e', 'g', 'c2'], ['XCLAIM', 'e', 'g', 'c3', '0', '6-1'], ['XCLAIM', 'e', 'g', 'c5', '0', '7-7', 'LASTID', '9-0'],
      ['XAUTOCLAIM', 'e', 'g', 'c4', '0', '0'], ['XACK', 'e', 'g', '6-1'], ['XGROUP', 'SETID', 'e', 'g', '0'], ['XGROUP', 'DELCONSUMER', 'e', 'g', 'c1'],
      ['MULTI'], ['XADD', 'e', '10-1', 'c', '1'], ['XADD', 'e', '10-2', 'c', '2'], ['XDEL', 'e', '10-1', '10-2'], ['EXEC'],
      ['XGROUP', 'DESTROY', 'e', 'g'], ['DEL', 'e'],
    ];
    for (const argv of lines) assert.equal(showReply(await kv.request(...argv)), showReply(await redis.request(...argv)), argv.join(' '));
    await caughtUp();
    const [fa, fb, fr] = await Promise.all([framesUntilMarker(subs.kv, []), framesUntilMarker(subs.redis, []), framesUntilMarker(replicaSub, [])]);
    assert.deepEqual(fa, fb, 'events on the primary');
    assert.deepEqual(fr, fb, 'events on the replica');
  } finally {
    for (const c of [kv, redis]) await c.request('CONFIG', 'SET', 'notify-keyspace-events', '');
    for (const c of [kv, redis, subs.kv, subs.redis, replicaSub]) c.close();
    await stopAndClean(replica);
  }
});
