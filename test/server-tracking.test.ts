// Client-side caching (server/tracking.ts, CLIENT TRACKING / CACHING / GETREDIR / TRACKINGINFO):
// seeded command sequences and a scripted one run against kv-server and a real redis-server in
// RESP2 (invalidations redirected to a __redis__:invalidate subscriber) and RESP3 (pushes on the
// tracking connection), and every frame each connection receives must agree; node-redis's
// client-side cache sees its cached value invalidated by another client's write; ioredis reads
// invalidations on a RESP2 redirect subscriber; a replica tells its tracking clients of the
// primary's writes it applies; tracking-table-max-keys bounds the table; an expiry invalidates.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createClient } from '@redis/client';
import { serverPairPerFile, startKvServer, stopAndClean } from './helpers/procs.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';
import { showReply, ReplyError } from './helpers/resp.js';
import { framesUntilMarker, RawConn } from './helpers/server-conn.js';
import { info } from './helpers/info.js';
import { waitFor } from './helpers/wait.js';

const STEPS = 300;
const SEEDS = 3;
/** Steps before a difference that its message shows. */
const STEPS_SHOWN = 25;

const servers = serverPairPerFile();

/** The connections of one server: T tracks, R receives redirected invalidations, W writes. */
interface Side {
  readonly t: RawConn;
  readonly r: RawConn;
  readonly w: RawConn;
  /** R's client id on this server (REDIRECT names it; replies show it). */
  readonly rId: string;
  rOpen: boolean;
}

async function openSide(port: number, protocol: 2 | 3): Promise<Side> {
  const [t, r, w] = await Promise.all([RawConn.open(port), RawConn.open(port), RawConn.open(port)]);
  await w.call('FLUSHALL');
  if (protocol === 3) {
    await t.call('HELLO', '3');
    await r.call('HELLO', '3');
  }
  const rId = String(await r.call('CLIENT', 'ID'));
  // A RESP2 redirect target gets messages only in subscribed mode (a RESP3 one in any mode).
  if (protocol === 2) await framesUntilMarker(r, [['SUBSCRIBE', '__redis__:invalidate']]);
  return { t, r, w, rId, rOpen: true };
}

function closeSide(s: Side): void {
  for (const c of [s.t, s.r, s.w]) c.close();
}

/** One step: commands for one connection (pipelined), or closing R. '$R' stands for R's client id. */
interface Step {
  readonly on: 't' | 'w' | 'r';
  readonly argv: ReadonlyArray<ReadonlyArray<string>>;
  readonly closeR?: boolean;
}

/** A CLIENT INFO line: only its tracking fields compare (addresses, ages and ids differ). */
function trackingFields(line: string): string {
  const flags = /(?:^|\s)flags=(\S*)/.exec(line)?.[1] ?? '?';
  const redir = /(?:^|\s)redir=(\S*)/.exec(line)?.[1] ?? '?';
  return `flags=${flags.replace(/[^tRBP]/g, '')} redir=${redir}`;
}

/** Client ids differ between the servers: where a reply shows R's id, it is printed as R (a lone GETREDIR's reply too). */
function normalise(frames: readonly string[], rId: string, getredir: boolean): string[] {
  return frames.map((f) =>
    (f.includes(' flags=') ? trackingFields(f) : f)
      .replace(new RegExp(`redir=${rId}\\b`), 'redir=R')
      .replace(new RegExp(`"redirect", :${rId}\\b`, 'g'), '"redirect", :R')
      .replace(new RegExp(`"tracking-redir-broken", :${rId}\\b`, 'g'), '"tracking-redir-broken", :R')
      .replace(getredir ? new RegExp(`^:${rId}$`) : /^$^/, ':R'),
  );
}

async function runStep(s: Side, step: Step): Promise<string> {
  if (step.closeR === true) {
    s.r.close();
    s.rOpen = false;
    // The next steps expect the server to know R is gone.
    await waitFor('the server sees R closed', async () => String(await s.w.call('CLIENT', 'LIST', 'ID', s.rId)) === '');
    return 'close R';
  }
  const argv = step.argv.map((a) => a.map((x) => (x === '$R' ? s.rId : x)));
  const own = s[step.on];
  const frames: Record<string, string[]> = {};
  frames[step.on] = await framesUntilMarker(own, argv);
  // Every connection's pushes and messages up to now (the writes above were answered first).
  for (const name of ['t', 'r', 'w'] as const) {
    if (name === step.on || (name === 'r' && !s.rOpen)) continue;
    frames[name] = await framesUntilMarker(s[name], []);
  }
  return (['t', 'r', 'w'] as const)
    .filter((n) => frames[n] !== undefined)
    .map((n) => `${n}: ${normalise(frames[n] as string[], s.rId, n === step.on && step.argv.length === 1 && step.argv[0]?.[1] === 'GETREDIR').join(' | ')}`)
    .join('\n');
}

const KEYS = ['k1', 'k2', 'fo:1', 'foo:2', 'bar:1', 'h', 's1', 's2'];
const PREFIXES = ['fo', 'foo:', 'bar', 'k', '', 'x'];

function trackingOn(r: Rng, protocol: 2 | 3): string[] {
  const argv = ['CLIENT', 'TRACKING', r.pick(['ON', 'ON', 'ON', 'on', 'OFF', 'maybe'])];
  const n = r.int(4);
  for (let i = 0; i < n; i++) {
    switch (r.int(9)) {
      case 0: case 1: argv.push('REDIRECT', r.int(8) === 0 ? r.pick(['0', 'abc', '99999', '-1']) : '$R'); break;
      case 2: argv.push('BCAST'); break;
      case 3: argv.push('PREFIX', r.pick(PREFIXES)); break;
      case 4: argv.push('OPTIN'); break;
      case 5: argv.push('OPTOUT'); break;
      case 6: argv.push('NOLOOP'); break;
      case 7: argv.push(r.pick(['REDIRECT', 'PREFIX', 'bogus'])); break;
      default: argv.push('BCAST', 'PREFIX', r.pick(PREFIXES));
    }
  }
  // In RESP2 the invalidations have no way to T but through R.
  if (protocol === 2 && argv[2] !== 'OFF' && !argv.includes('REDIRECT') && r.int(4) !== 0) argv.push('REDIRECT', '$R');
  return argv;
}

function readCmd(r: Rng): string[] {
  const k = (): string => r.pick(KEYS);
  switch (r.int(8)) {
    case 0: case 1: return ['GET', k()];
    case 2: return ['MGET', k(), k(), k()];
    case 3: return ['EXISTS', k(), k()];
    case 4: return ['HGET', 'h', 'f'];
    case 5: return ['SINTERCARD', '2', 's1', 's2'];
    case 6: return ['STRLEN', k()];
    default: return ['TYPE', k()];
  }
}

function writeCmd(r: Rng): string[] {
  const k = (): string => r.pick(KEYS.filter((x) => x !== 'h' && !x.startsWith('s')));
  switch (r.int(10)) {
    case 0: case 1: case 2: return ['SET', k(), `v${r.int(100)}`];
    case 3: return ['DEL', k(), k()];
    case 4: return ['APPEND', k(), 'x'];
    case 5: return ['HSET', 'h', 'f', `v${r.int(10)}`];
    case 6: return ['SADD', r.pick(['s1', 's2']), `m${r.int(4)}`];
    case 7: return ['MSET', k(), '1', k(), '2'];
    case 8: return r.int(4) === 0 ? ['FLUSHALL'] : ['EXPIRE', k(), '1000'];
    default: return ['SETNX', k(), 'n'];
  }
}

function randomStep(r: Rng, protocol: 2 | 3): Step {
  switch (r.int(16)) {
    case 0: case 1: return { on: 't', argv: [trackingOn(r, protocol)] };
    case 2: return { on: 't', argv: [['CLIENT', 'CACHING', r.pick(['yes', 'no', 'YES', 'maybe'])]] };
    case 3: return { on: 't', argv: [['CLIENT', r.pick(['GETREDIR', 'TRACKINGINFO'])]] };
    case 4: case 5: case 6: return { on: 't', argv: [readCmd(r)] };
    case 7: return { on: 't', argv: [['CLIENT', 'CACHING', 'yes'], readCmd(r), readCmd(r)] };
    case 8: return { on: 't', argv: [writeCmd(r)] };
    case 9: return { on: 't', argv: [['MULTI'], readCmd(r), writeCmd(r), ['EXEC']] };
    case 10: return { on: 'w', argv: [['MULTI'], writeCmd(r), writeCmd(r), ['EXEC']] };
    case 11: return { on: 'w', argv: [writeCmd(r), writeCmd(r)] };
    default: return { on: 'w', argv: [writeCmd(r)] };
  }
}

async function differential(steps: readonly Step[], protocol: 2 | 3, label: string): Promise<void> {
  const a = await openSide(servers.kvPort(), protocol);
  const b = await openSide(servers.redisPort(), protocol);
  try {
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i] as Step;
      const got = await runStep(a, step);
      const want = await runStep(b, step);
      const context = steps.slice(Math.max(0, i - STEPS_SHOWN), i).map((x) => `${x.on} ${JSON.stringify(x.argv)}`).join('\n');
      assert.equal(got, want, `${label}, step ${i}: ${step.on} ${JSON.stringify(step.argv)}; the steps before:\n${context}`);
    }
  } finally {
    closeSide(a);
    closeSide(b);
  }
}

for (const protocol of [2, 3] as const) {
  test(`differential: tracking commands, reads and writes agree with redis-server 7, frame for frame (RESP${protocol}, seeded)`, { timeout: 240_000 }, async () => {
    const base = testSeed(7100 + protocol);
    for (let s = 0; s < SEEDS; s++) {
      const seed = base + s;
      const r = rng(seed);
      const steps: Step[] = [];
      for (let i = 0; i < STEPS; i++) steps.push(randomStep(r, protocol));
      await differential(steps, protocol, `seed ${seed}`);
    }
  });
}

/** The cases a random sequence meets rarely: every error text, BCAST with NOLOOP, the redirect target going away. */
const SCRIPT: readonly Step[] = [
  { on: 't', argv: [['CLIENT', 'TRACKING']] },
  { on: 't', argv: [['CLIENT', 'CACHING', 'yes']] },
  { on: 't', argv: [['CLIENT', 'CACHING', 'yes', 'no']] },
  { on: 't', argv: [['CLIENT', 'GETREDIR', 'x']] },
  { on: 't', argv: [['CLIENT', 'TRACKINGINFO', 'x']] },
  { on: 't', argv: [['CLIENT', 'TRACKINGINFO']] },
  { on: 't', argv: [['CLIENT', 'TRACKING', 'ON', 'PREFIX', 'a']] },
  { on: 't', argv: [['CLIENT', 'TRACKING', 'ON', 'BCAST', 'OPTIN']] },
  { on: 't', argv: [['CLIENT', 'TRACKING', 'ON', 'OPTIN', 'OPTOUT']] },
  { on: 't', argv: [['CLIENT', 'TRACKING', 'ON', 'REDIRECT', '$R', 'REDIRECT', '$R']] },
  { on: 't', argv: [['CLIENT', 'TRACKING', 'ON', 'BCAST', 'PREFIX', 'ab', 'PREFIX', 'abc']] },
  { on: 't', argv: [['CLIENT', 'TRACKING', 'ON', 'OPTIN', 'REDIRECT', '$R']] },
  { on: 't', argv: [['CLIENT', 'TRACKING', 'ON', 'OPTOUT']] },
  { on: 't', argv: [['CLIENT', 'TRACKING', 'ON', 'BCAST']] },
  { on: 't', argv: [['CLIENT', 'CACHING', 'no']] },
  { on: 't', argv: [['CLIENT', 'CACHING', 'yes'], ['GET', 'k1'], ['GET', 'k2'], ['CLIENT', 'TRACKINGINFO']] },
  { on: 'w', argv: [['SET', 'k1', '1'], ['SET', 'k2', '2']] },
  { on: 't', argv: [['CLIENT', 'TRACKING', 'OFF'], ['CLIENT', 'TRACKING', 'ON', 'BCAST', 'PREFIX', 'foo', 'NOLOOP', 'REDIRECT', '$R']] },
  { on: 't', argv: [['CLIENT', 'TRACKING', 'ON', 'BCAST', 'PREFIX', 'fo']] },
  { on: 't', argv: [['CLIENT', 'TRACKING', 'ON', 'BCAST', 'PREFIX', 'bar', 'NOLOOP', 'REDIRECT', '$R'], ['CLIENT', 'TRACKINGINFO'], ['CLIENT', 'INFO']] },
  { on: 't', argv: [['SET', 'foo1', 'a'], ['SET', 'bar1', 'b'], ['SET', 'other', 'c']] },
  { on: 'w', argv: [['SET', 'foo1', 'a'], ['SET', 'foo0', 'b'], ['SET', 'bar1', 'c'], ['DEL', 'foo0'], ['SET', 'baz', 'd']] },
  { on: 'w', argv: [['FLUSHALL']] },
  { on: 't', argv: [['CLIENT', 'TRACKING', 'OFF'], ['CLIENT', 'TRACKING', 'ON', 'REDIRECT', '$R'], ['GET', 'k1'], ['MGET', 'k1', 'k2']] },
  { on: 't', argv: [['SET', 'k1', 'mine']] },
  { on: 't', argv: [['GET', 'k1'], ['CLIENT', 'TRACKING', 'ON', 'NOLOOP', 'REDIRECT', '$R'], ['SET', 'k1', 'again']] },
  { on: 't', argv: [['GET', 'k2']] },
  { on: 'w', argv: [['FLUSHDB']] },
  { on: 'w', argv: [['FLUSHALL']] },
  { on: 't', argv: [['GET', 'k1']] },
  { on: 'r', argv: [], closeR: true },
  { on: 'w', argv: [['SET', 'k1', 'x']] },
  { on: 't', argv: [['CLIENT', 'TRACKINGINFO'], ['CLIENT', 'INFO']] },
  { on: 't', argv: [['CLIENT', 'TRACKING', 'ON', 'REDIRECT', '$R']] },
  { on: 't', argv: [['CLIENT', 'TRACKING', 'OFF'], ['CLIENT', 'INFO'], ['CLIENT', 'TRACKING', 'ON', 'BCAST'], ['CLIENT', 'INFO']] },
];

for (const protocol of [2, 3] as const) {
  test(`differential: tracking errors, CACHING, BCAST with NOLOOP, flushes and a redirect target that leaves agree with redis-server 7 (RESP${protocol})`, { timeout: 60_000 }, async () => {
    await differential(SCRIPT, protocol, 'script');
  });
}

test('node-redis client-side cache (RESP3): a cached GET is invalidated by another client\'s write', { timeout: 30_000 }, async () => {
  const url = `redis://127.0.0.1:${servers.kvPort()}`;
  const cached = createClient({ url, RESP: 3, clientSideCache: { ttl: 0, maxEntries: 0 } });
  const writer = createClient({ url });
  await cached.connect();
  await writer.connect();
  try {
    await writer.set('csc:key', 'one');
    assert.equal(await cached.get('csc:key'), 'one');
    assert.equal(await cached.get('csc:key'), 'one');
    const cache = cached.clientSideCache;
    assert.ok(cache !== undefined);
    assert.equal(cache.stats().hitCount, 1, 'the second GET came from the cache');
    assert.equal(cache.size(), 1);
    await writer.set('csc:key', 'two');
    await waitFor('the cached entry is invalidated', () => cache.size() === 0);
    assert.equal(await cached.get('csc:key'), 'two');
  } finally {
    cached.destroy();
    writer.destroy();
  }
});

test('ioredis: RESP2 tracking with REDIRECT to a __redis__:invalidate subscriber', { timeout: 30_000 }, async () => {
  const port = servers.kvPort();
  const sub = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  const tracker = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  await sub.connect();
  await tracker.connect();
  try {
    const subId = await sub.client('ID');
    // ioredis hands over a message's key array as its text.
    const got: string[] = [];
    sub.on('message', (channel: string, message: unknown) => {
      assert.equal(channel, '__redis__:invalidate');
      got.push(String(message));
    });
    await sub.subscribe('__redis__:invalidate');
    assert.equal(await tracker.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', String(subId)), 'OK');
    await tracker.mset('io:a', '1', 'io:b', '2');
    await tracker.mget('io:a', 'io:b');
    await tracker.set('io:a', '3');
    await tracker.del('io:b');
    await waitFor('two invalidations', () => got.length >= 2);
    assert.deepEqual(got, ['io:a', 'io:b']);
    assert.equal(await tracker.call('CLIENT', 'GETREDIR'), subId);
  } finally {
    sub.disconnect();
    tracker.disconnect();
  }
});

test('replication: a replica\'s tracking clients are told of the primary\'s writes and flushes it applies, and of a full resync', { timeout: 60_000 }, async () => {
  const p = await startKvServer();
  const rep = await startKvServer({ args: ['--replica-of', `127.0.0.1:${p.port}`] });
  const p2 = await startKvServer();
  const pc = await RawConn.open(p.port);
  const t = await RawConn.open(rep.port);
  try {
    await waitFor('the replica is linked', async () => (await info(rep.port)).get('master_link_status') === 'up');
    assert.equal(await pc.call('SET', 'rk', 'v1'), 'OK');
    await waitFor('replicated', async () => (await t.call('GET', 'rk'))?.toString() === 'v1');
    await t.call('HELLO', '3');
    assert.equal(await t.call('CLIENT', 'TRACKING', 'ON'), 'OK');
    assert.equal((await t.call('GET', 'rk'))?.toString(), 'v1');
    assert.equal(await pc.call('SET', 'rk', 'v2'), 'OK');
    assert.equal(showReply(await t.readResp()), '>["invalidate", ["rk"]]');
    assert.equal((await t.call('GET', 'rk'))?.toString(), 'v2');
    assert.equal(await pc.call('FLUSHALL'), 'OK');
    assert.equal(showReply(await t.readResp()), '>["invalidate", _]');

    // Pointed at another primary, the replica's dataset is replaced (a full resync, or a truncation to
    // where the two logs agree): any key may have changed, so every key is invalid.
    assert.equal(await pc.call('SET', 'rk', 'v3'), 'OK');
    await waitFor('replicated', async () => (await t.call('GET', 'rk'))?.toString() === 'v3');
    const p2c = await RawConn.open(p2.port);
    assert.equal(await p2c.call('SET', 'other', 'x'), 'OK');
    p2c.close();
    const admin = await RawConn.open(rep.port);
    assert.equal(await admin.call('REPLICAOF', '127.0.0.1', String(p2.port)), 'OK');
    admin.close();
    assert.equal(showReply(await t.readResp(30_000)), '>["invalidate", _]');
  } finally {
    pc.close();
    t.close();
    await stopAndClean(rep);
    await stopAndClean(p);
    await stopAndClean(p2);
  }
});

test('tracking-table-max-keys bounds the table: the keys past it are forgotten with an invalidation each; INFO counts the table', { timeout: 30_000 }, async () => {
  const port = servers.kvPort();
  const [t, r, admin] = await Promise.all([RawConn.open(port), RawConn.open(port), RawConn.open(port)]);
  const KEYS_READ = 150;
  const BOUND = 10;
  try {
    assert.deepEqual((await admin.call('CONFIG', 'GET', 'tracking-table-max-keys')) as unknown, [Buffer.from('tracking-table-max-keys'), Buffer.from('1000000')]);
    await r.call('HELLO', '3');
    const rId = String(await r.call('CLIENT', 'ID'));
    assert.equal(await t.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', rId), 'OK');
    const keys = Array.from({ length: KEYS_READ }, (_, i) => `bound:${i}`);
    await t.call('MGET', ...keys);
    let st = await info(port, 'stats');
    assert.equal(st.get('tracking_total_keys'), String(KEYS_READ));
    assert.equal(st.get('tracking_total_items'), String(KEYS_READ));
    assert.equal((await info(port, 'clients')).get('tracking_clients'), '1');
    assert.equal(await admin.call('CONFIG', 'SET', 'tracking-table-max-keys', String(BOUND)), 'OK');
    // Applied before the next command (and on the server's cron): one invalidation per forgotten key.
    await t.call('PING');
    const told = new Set<string>();
    while (told.size < KEYS_READ - BOUND) {
      const m = showReply(await r.readResp());
      const k = /^>\["invalidate", \["(bound:\d+)"\]\]$/.exec(m);
      assert.ok(k !== null, m);
      assert.ok(!told.has(k[1] as string), `told twice: ${m}`);
      told.add(k[1] as string);
    }
    st = await info(port, 'stats');
    assert.equal(st.get('tracking_total_keys'), String(BOUND));
    const bad = await admin.call('CONFIG', 'SET', 'tracking-table-max-keys', 'x');
    assert.ok(bad instanceof ReplyError && bad.message.includes("argument couldn't be parsed into an integer"), String(bad));
  } finally {
    await admin.call('CONFIG', 'SET', 'tracking-table-max-keys', '1000000');
    t.close();
    r.close();
    admin.close();
  }
  // The last tracking client gone, nothing stays behind.
  await waitFor('tracking state dropped', async () => (await info(port, 'clients')).get('tracking_clients') === '0');
  const st = await info(port, 'stats');
  assert.equal(st.get('tracking_total_keys'), '0');
  assert.equal(st.get('tracking_total_prefixes'), '0');
});

test('an expiry delete invalidates: the key a tracking client read is announced when it expires', { timeout: 30_000 }, async () => {
  const port = servers.kvPort();
  const [t, w] = await Promise.all([RawConn.open(port), RawConn.open(port)]);
  try {
    await t.call('HELLO', '3');
    assert.equal(await t.call('CLIENT', 'TRACKING', 'ON'), 'OK');
    assert.equal(await w.call('SET', 'exp:k', 'v', 'PX', '50'), 'OK');
    assert.equal((await t.call('GET', 'exp:k'))?.toString(), 'v');
    // Nobody reads the key again: the server's expiry sweep finds it.
    assert.equal(showReply(await t.readResp(10_000)), '>["invalidate", ["exp:k"]]');
  } finally {
    t.close();
    w.close();
  }
});

test('several clients tracking one key: each is told once, and the table counts one key with an item per client', { timeout: 30_000 }, async () => {
  const port = servers.kvPort();
  const conns = await Promise.all([RawConn.open(port), RawConn.open(port), RawConn.open(port), RawConn.open(port)]);
  const [w, ...trackers] = conns as [RawConn, ...RawConn[]];
  try {
    // Counted from what earlier tests' closed clients may have left (swept only once no client tracks).
    const before = await info(port, 'stats');
    const keys0 = Number(before.get('tracking_total_keys'));
    const items0 = Number(before.get('tracking_total_items'));
    for (const t of trackers) {
      await t.call('HELLO', '3');
      assert.equal(await t.call('CLIENT', 'TRACKING', 'ON'), 'OK');
      assert.equal(await t.call('GET', 'shared:k'), null);
      // Reading it again adds nothing.
      assert.equal(await t.call('GET', 'shared:k'), null);
    }
    const st = await info(port, 'stats');
    assert.equal(Number(st.get('tracking_total_keys')), keys0 + 1);
    assert.equal(Number(st.get('tracking_total_items')), items0 + trackers.length);
    assert.equal(await w.call('SET', 'shared:k', 'v'), 'OK');
    for (const t of trackers) assert.deepEqual(await framesUntilMarker(t, []), ['>["invalidate", ["shared:k"]]']);
    assert.equal(Number((await info(port, 'stats')).get('tracking_total_items')), items0);
  } finally {
    for (const c of conns) c.close();
  }
});
