// Differential test of the GEO commands: seeded random sequences (coordinates inside the limits,
// exactly at them and outside, nonsense numbers, members clustered around a few hubs so small
// searches find some, every option of the searches in random order, keys of other types) go to a
// real redis-server and to kv-server, in RESP2 and in RESP3; every reply must print the same
// (showReply: type and bytes), and each key's final contents (scores included) must agree.
// One allowance, counted and reported: a STOREDIST distance read back at full precision (ZRANGE
// WITHSCORES, the only non-integer scores here) may differ in its last bits (at most
// NEAR_ULPS_MAX ulps), because kv-ts's sin, cos and asin are correctly rounded where glibc's
// occasionally are not (see storage/libm.ts); the four decimals of WITHDIST and GEODIST agree.
// The same kv-server then restarts on its directory and must hold what redis holds: the GEO
// writes went through the log. KV_SEED replays a seed; KV_LONG=1 runs more commands.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverPairPerFile, startKvServer, stopAndClean } from './helpers/procs.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';
import { showReply, type Resp } from './helpers/resp.js';
import { RawConn, openPairConns } from './helpers/server-conn.js';

const COMMANDS_PER_SEED = process.env['KV_LONG'] === '1' ? 20_000 : 2_500;
const SEEDS_PER_PROTOCOL = 3;
/** Commands sent as one pipeline to each server (a failure names the command by its index). */
const PIPELINE_COMMANDS_MAX = 100;

const pair = serverPairPerFile();

const GEO_KEYS = ['g1', 'g2', 'g3'];
const DST_KEYS = ['dst', 'g3'];
const OTHER_KEYS = ['str', 'none'];
const FINAL_KEYS = [...GEO_KEYS, 'dst'];
const LIMIT_LONS = ['180', '-180', '0', '179.9999999', '-179.99999999'];
const LIMIT_LATS = ['85.05112878', '-85.05112878', '0', '85.0511287', '-85.051128779'];
const BAD_COORDS = ['180.0000001', '-180.00001', '85.05112879', '-85.0511288', '90', '-90', '1e400', 'inf', '-inf', 'nan', 'x', '', ' 1', '1e300'];
const UNITS = ['m', 'km', 'ft', 'mi', 'M', 'KM', 'Mi', 'yd', 'kilometers'];
const RADII = ['0', '1', '10', '150', '1000', '25000', '200000', '1500000', '6000000', '20000000', '1e9', '0.5', '-1', 'x', 'nan', '-0'];
const COUNTS = ['1', '2', '3', '5', '10', '100', '0', '-1', 'x', '9223372036854775807'];

/** A few hub points per seed, so members cluster where searches look. */
function hubs(r: Rng): Array<[number, number]> {
  return Array.from({ length: 4 }, () => [r.next() * 360 - 180, r.next() * 170 - 85]);
}

function fixed(x: number, r: Rng): string {
  return x.toFixed(1 + r.int(9));
}

function coordPair(r: Rng, hs: ReadonlyArray<[number, number]>): [string, string] {
  const k = r.int(40);
  if (k === 0) return [r.pick(BAD_COORDS), fixed(r.next() * 170 - 85, r)];
  if (k === 1) return [fixed(r.next() * 360 - 180, r), r.pick(BAD_COORDS)];
  if (k === 2) return [r.pick(LIMIT_LONS), fixed(r.next() * 170 - 85, r)];
  if (k === 3) return [fixed(r.next() * 360 - 180, r), r.pick(LIMIT_LATS)];
  if (k === 4) return [r.pick(LIMIT_LONS), r.pick(LIMIT_LATS)];
  if (k < 12) return [fixed(r.next() * 360 - 180, r), fixed(r.next() * 170.1 - 85.05, r)];
  const [lon, lat] = r.pick(hs);
  const spread = [0.001, 0.05, 1, 5][r.int(4)] as number;
  const clamp = (v: number, lim: number): number => Math.max(-lim, Math.min(lim, v));
  return [fixed(clamp(lon + (r.next() * 2 - 1) * spread, 180), r), fixed(clamp(lat + (r.next() * 2 - 1) * spread, 85.05), r)];
}

function member(r: Rng): string {
  return r.int(10) === 0 ? r.pick(['', 'x\x00y', '\xff', 'm'.repeat(70), 'nx', 'ch']) : `m${r.int(120)}`;
}

function key(r: Rng): string {
  return r.int(15) === 0 ? r.pick(OTHER_KEYS) : r.pick(GEO_KEYS);
}

function shuffle<T>(r: Rng, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

/** Search options in random order; each is a group of words kept together. */
function searchOptions(r: Rng, store: 'radius' | 'search' | 'none'): string[] {
  const groups: string[][] = [];
  if (r.int(3) === 0) groups.push(['WITHCOORD']);
  if (r.int(3) === 0) groups.push(['WITHDIST']);
  if (r.int(3) === 0) groups.push(['WITHHASH']);
  if (r.int(2) === 0) groups.push([r.pick(['ASC', 'DESC', 'asc', 'desc'])]);
  if (r.int(2) === 0) groups.push(['COUNT', r.pick(COUNTS)]);
  if (r.int(4) === 0) groups.push(['ANY']);
  if (store === 'radius' && r.int(4) === 0) groups.push([r.pick(['STORE', 'STOREDIST']), r.pick(DST_KEYS)]);
  if (store === 'search' && r.int(2) === 0) groups.push(['STOREDIST']);
  if (r.int(40) === 0) groups.push([r.pick(['bogus', 'COUNT', 'STORE', 'FROMMEMBER', 'BYBOX', 'STOREDIST'])]);
  return shuffle(r, groups).flat();
}

/** GEOSEARCH's centre and shape (occasionally missing, doubled or malformed), in random order. */
function searchShape(r: Rng, hs: ReadonlyArray<[number, number]>): string[] {
  const groups: string[][] = [];
  const from = r.int(20);
  if (from < 9) groups.push(['FROMMEMBER', member(r)]);
  else if (from < 18) groups.push(['FROMLONLAT', ...coordPair(r, hs)]);
  else if (from === 18) groups.push(['FROMMEMBER', member(r)], ['FROMLONLAT', ...coordPair(r, hs)]);
  const by = r.int(20);
  if (by < 9) groups.push(['BYRADIUS', r.pick(RADII), r.pick(UNITS)]);
  else if (by < 18) groups.push(['BYBOX', r.pick(RADII), r.pick(RADII), r.pick(UNITS)]);
  else if (by === 18) groups.push(['BYRADIUS', r.pick(RADII), r.pick(UNITS)], ['BYBOX', r.pick(RADII), r.pick(RADII), r.pick(UNITS)]);
  return shuffle(r, groups).flat();
}

function generate(r: Rng, hs: ReadonlyArray<[number, number]>): string[] {
  const k = r.int(100);
  if (k < 30) {
    const opts = shuffle(r, [r.int(5) === 0 ? ['NX'] : [], r.int(5) === 0 ? ['XX'] : [], r.int(4) === 0 ? ['CH'] : []]).flat();
    const triples = Array.from({ length: r.int(12) === 0 ? 1 + r.int(150) : 1 + r.int(4) }, () => [...coordPair(r, hs), member(r)]).flat();
    if (r.int(30) === 0) triples.pop();
    return ['GEOADD', key(r), ...opts, ...triples];
  }
  if (k < 36) return ['GEOPOS', key(r), ...Array.from({ length: r.int(4) }, () => member(r))];
  if (k < 42) return ['GEOHASH', key(r), ...Array.from({ length: r.int(4) }, () => member(r))];
  if (k < 50) return ['GEODIST', key(r), member(r), member(r), ...(r.int(3) === 0 ? [] : [r.pick(UNITS)]), ...(r.int(30) === 0 ? ['km'] : [])];
  if (k < 66) return ['GEOSEARCH', key(r), ...searchShape(r, hs), ...searchOptions(r, 'none')];
  if (k < 72) return ['GEOSEARCHSTORE', r.pick(DST_KEYS), key(r), ...searchShape(r, hs), ...searchOptions(r, 'search')];
  if (k < 80) return [r.pick(['GEORADIUS', 'GEORADIUS_RO', 'georadius']), key(r), ...coordPair(r, hs), r.pick(RADII), r.pick(UNITS), ...searchOptions(r, 'radius')];
  if (k < 88) return [r.pick(['GEORADIUSBYMEMBER', 'GEORADIUSBYMEMBER_RO']), key(r), member(r), r.pick(RADII), r.pick(UNITS), ...searchOptions(r, 'radius')];
  if (k < 93) return ['ZRANGE', r.pick([...DST_KEYS, ...GEO_KEYS]), '0', '-1', 'WITHSCORES'];
  if (k < 96) return ['ZREM', key(r), member(r), member(r)];
  // A member whose score no GEOADD wrote: any 52-bit integer decodes.
  if (k < 98) return ['ZADD', r.pick(GEO_KEYS), String(r.int(2 ** 26) * 2 ** 26 + r.int(2 ** 26)), member(r)];
  return ['DEL', r.pick([...DST_KEYS, 'g2'])];
}

/** `a` is redis-server, `b` kv-ts. */
async function openPair(protocol: 2 | 3): Promise<{ a: RawConn; b: RawConn }> {
  const { kv, redis } = await openPairConns(pair, protocol);
  return { a: redis, b: kv };
}

async function contents(c: RawConn, k: string): Promise<Resp> {
  return c.request('ZRANGE', k, '0', '-1', 'WITHSCORES');
}

/** A reply leaf as a number when it is one (a RESP3 double or a bulk string holding a float). */
function leafNumber(v: Resp): number | null {
  const text = v.t === 'double' ? v.s : v.t === 'bulk' && v.b !== null ? v.b.toString('latin1') : null;
  if (text === null || text === '' || !/^[-+0-9.e]+$/.test(text)) return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

/** Ulps a stored distance may differ by (an ulp of sin/cos/asin, grown through the formula). */
const NEAR_ULPS_MAX = 4n;

/** Whether two doubles of the same sign are at most NEAR_ULPS_MAX representable steps apart. */
function nearDoubles(x: number, y: number): boolean {
  const b = new BigInt64Array(new Float64Array([x, y]).buffer);
  const d = (b[0] as bigint) - (b[1] as bigint);
  return Math.sign(x) === Math.sign(y) && d <= NEAR_ULPS_MAX && d >= -NEAR_ULPS_MAX;
}

/**
 * Compares a ZRANGE WITHSCORES reply: the same shape and bytes, except non-integer scores (stored
 * distances) a few ulps apart, whose count is returned; null when they differ otherwise.
 */
function compareRange(x: Resp, y: Resp): number | null {
  if (showReply(x) === showReply(y)) return 0;
  const xs = x.t === 'array' || x.t === 'set' || x.t === 'map' ? x.a : undefined;
  const ys = y.t === 'array' || y.t === 'set' || y.t === 'map' ? y.a : undefined;
  if (xs !== undefined || ys !== undefined) {
    if (x.t !== y.t || !xs || !ys || xs.length !== ys.length) return null;
    let n = 0;
    for (let i = 0; i < xs.length; i++) {
      const d = compareRange(xs[i] as Resp, ys[i] as Resp);
      if (d === null) return null;
      n += d;
    }
    return n;
  }
  const p = leafNumber(x);
  const q = leafNumber(y);
  if (x.t !== y.t || p === null || q === null || Number.isInteger(p) || Number.isInteger(q)) return null;
  return nearDoubles(p, q) ? 1 : null;
}

async function runSeed(a: RawConn, b: RawConn, seed: number, protocol: 2 | 3): Promise<{ counts: Map<string, number>; ulps: number }> {
  for (const c of [a, b]) {
    assert.equal(showReply(await c.request('FLUSHALL')), '+OK');
    assert.equal(showReply(await c.request('SET', 'str', 'v')), '+OK');
  }
  const r = rng(seed);
  const hs = hubs(r);
  const counts = new Map<string, number>();
  let batch: string[][] = [];
  let first = 0;
  let ulps = 0;
  const flush = async (): Promise<void> => {
    const [ra, rb] = await Promise.all([a.requestMany(batch), b.requestMany(batch)]);
    batch.forEach((argv, j) => {
      const x = showReply(ra[j] as Resp);
      const y = showReply(rb[j] as Resp);
      const near = argv[0] === 'ZRANGE' ? compareRange(ra[j] as Resp, rb[j] as Resp) : null;
      if (near !== null) ulps += near;
      else if (x !== y) assert.fail(`seed ${seed} RESP${protocol} command #${first + j}: ${argv.map((s) => JSON.stringify(s)).join(' ')}\n  redis: ${x}\n  kv:    ${y}`);
    });
    first += batch.length;
    batch = [];
  };
  for (let i = 0; i < COMMANDS_PER_SEED; i++) {
    const argv = generate(r, hs);
    const name = (argv[0] as string).toUpperCase();
    counts.set(name, (counts.get(name) ?? 0) + 1);
    batch.push(argv);
    if (batch.length >= PIPELINE_COMMANDS_MAX) await flush();
  }
  if (batch.length > 0) await flush();
  for (const k of FINAL_KEYS) {
    const [x, y] = [await contents(a, k), await contents(b, k)];
    if (compareRange(x, y) === null) assert.fail(`seed ${seed} RESP${protocol}: final contents of ${k}\n  redis: ${showReply(x)}\n  kv:    ${showReply(y)}`);
  }
  return { counts, ulps };
}

for (const protocol of [2, 3] as const) {
  test(`differential: GEO commands agree with redis-server 7 (RESP${protocol})`, { timeout: 300_000 }, async (t) => {
    const { a, b } = await openPair(protocol);
    try {
      const base = testSeed(20261207) + (protocol === 3 ? 1000 : 0);
      for (let s = 0; s < SEEDS_PER_PROTOCOL; s++) {
        const { counts, ulps } = await runSeed(a, b, base + s, protocol);
        t.diagnostic(`seed ${base + s}: ${[...counts].sort().map(([n, c]) => `${n}=${c}`).join(' ')}; stored distances a few ulps apart: ${ulps}`);
      }
    } finally {
      a.close();
      b.close();
    }
  });
}

test('GEO writes are logged: a restarted kv-server holds what redis-server holds', { timeout: 120_000 }, async () => {
  const redis = await RawConn.open(pair.redisPort());
  const kv = await startKvServer({ args: ['--fsync', 'no'] });
  let restarted: Awaited<ReturnType<typeof startKvServer>> | undefined;
  try {
    const script: string[][] = [
      ['FLUSHALL'],
      ['GEOADD', 'g1', '13.361389', '38.115556', 'Palermo', '15.087269', '37.502669', 'Catania', '180', '85.05112878', 'corner'],
      ['GEOADD', 'g1', 'XX', 'CH', '13.5', '38.2', 'Palermo', '1', '1', 'absent'],
      ['GEOSEARCHSTORE', 'dst', 'g1', 'FROMLONLAT', '15', '37', 'BYRADIUS', '300', 'km', 'STOREDIST'],
      ['GEORADIUS', 'g1', '15', '37', '300', 'km', 'STORE', 'dst2'],
      ['GEORADIUSBYMEMBER', 'g1', 'Palermo', '1', 'm', 'STORE', 'gone'],
    ];
    const c = await RawConn.open(kv.port);
    for (const argv of script) assert.equal(showReply(await c.request(...argv)), showReply(await redis.request(...argv)), argv.join(' '));
    c.close();
    await kv.kill('SIGKILL');
    restarted = await startKvServer({ dir: kv.dir, args: ['--fsync', 'no'] });
    const d = await RawConn.open(restarted.port);
    for (const k of ['g1', 'dst', 'dst2', 'gone']) assert.equal(showReply(await contents(d, k)), showReply(await contents(redis, k)), k);
    d.close();
  } finally {
    redis.close();
    await stopAndClean(restarted);
    await stopAndClean(kv);
  }
});

test('equal distances under COUNT come back in the order Redis leaves them (its partial quicksort)', async () => {
  const { a, b } = await openPair(2);
  try {
    const r = rng(testSeed(20261208));
    const add = ['GEOADD', 'ties'];
    // Members on a few shared points, so many distances are equal.
    const points = Array.from({ length: 5 }, () => [(r.next() * 20).toFixed(5), (r.next() * 20).toFixed(5)]);
    for (let i = 0; i < 90; i++) add.push(...(r.pick(points) as string[]), `t${i}`);
    const commands: string[][] = [['DEL', 'ties'], add];
    for (let count = 1; count <= 91; count += 3) {
      for (const dir of ['ASC', 'DESC']) commands.push(['GEOSEARCH', 'ties', 'FROMLONLAT', '10', '10', 'BYRADIUS', '5000', 'km', 'COUNT', String(count), dir]);
    }
    const [ra, rb] = await Promise.all([a.requestMany(commands), b.requestMany(commands)]);
    commands.forEach((argv, i) => assert.equal(showReply(rb[i] as Resp), showReply(ra[i] as Resp), argv.join(' ')));
  } finally {
    a.close();
    b.close();
  }
});
