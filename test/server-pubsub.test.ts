// Pub/sub and keyspace notifications (server/pubsub.ts, server/commands/pubsub.ts,
// server/keyspace-events.ts): a seeded sequence of (un)subscriptions, publishes and
// introspection runs against kv-server and a real redis-server, in RESP2 and RESP3, with a
// subscriber and a publisher connection on each, and every frame each connection receives must
// agree; the notification stream of a seeded command sequence under KEA must agree; a subscriber
// that stops reading is closed at its pubsub output limit while the publisher and other clients
// go on; ioredis and node-redis subscribe through kv-server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { serverPairPerFile, startKvServer, stopAndClean } from './helpers/procs.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';
import { showReply, cmd } from './helpers/resp.js';
import { framesUntilMarker, RawConn } from './helpers/server-conn.js';
import { waitFor } from './helpers/wait.js';

const STEPS = 300;
const NOTIFY_COMMANDS = 400;

const servers = serverPairPerFile();

const CHANNELS = ['a', 'b', 'news.1', 'news.2', 'x\x00y', ''];
const PATTERNS = ['news.*', '*', 'n?ws.[12]', '[ab]', 'x*', '\\*'];

interface Step {
  readonly on: 'sub' | 'pub';
  readonly argv: string[];
  /** Replies whose order is a hash table's in Redis (dict iteration): compared as multisets. */
  readonly unordered: boolean;
}

function subset(r: Rng, xs: readonly string[]): string[] {
  const n = 1 + r.int(3);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.pick(xs));
  return out;
}

function randomStep(r: Rng): Step {
  switch (r.int(14)) {
    case 0: case 1: return { on: 'sub', argv: ['SUBSCRIBE', ...subset(r, CHANNELS)], unordered: false };
    case 2: return { on: 'sub', argv: ['UNSUBSCRIBE', ...(r.int(3) === 0 ? [] : subset(r, CHANNELS))], unordered: true };
    case 3: return { on: 'sub', argv: ['PSUBSCRIBE', ...subset(r, PATTERNS)], unordered: false };
    case 4: return { on: 'sub', argv: ['PUNSUBSCRIBE', ...(r.int(3) === 0 ? [] : subset(r, PATTERNS))], unordered: false };
    case 5: return { on: 'sub', argv: ['SSUBSCRIBE', ...subset(r, CHANNELS)], unordered: false };
    case 6: return { on: 'sub', argv: ['SUNSUBSCRIBE', ...(r.int(3) === 0 ? [] : subset(r, CHANNELS))], unordered: true };
    case 7: case 8: case 9: return { on: 'pub', argv: ['PUBLISH', r.pick(CHANNELS), `m${r.int(100)}`], unordered: true };
    case 10: return { on: 'pub', argv: ['SPUBLISH', r.pick(CHANNELS), `s${r.int(100)}`], unordered: false };
    case 11: {
      const sub = r.pick(['NUMSUB', 'SHARDNUMSUB', 'NUMPAT', 'CHANNELS', 'SHARDCHANNELS']);
      const args = sub === 'NUMPAT' ? [] : sub.endsWith('CHANNELS') ? (r.int(2) === 0 ? [] : [r.pick(PATTERNS)]) : subset(r, CHANNELS);
      return { on: 'pub', argv: ['PUBSUB', sub, ...args], unordered: true };
    }
    case 12: return { on: 'sub', argv: r.pick([['GET', 'k'], ['PING'], ['PING', 'hello'], ['ECHO', 'e'], ['EXISTS', 'nokey'], ['PUBLISH', 'a', 'self']]), unordered: true };
    default: return { on: 'sub', argv: ['PUBSUB', 'NUMPAT'], unordered: false };
  }
}

/** The frames of one step on one server: the acting connection's, then the other's. */
async function runStep(conns: { sub: RawConn; pub: RawConn }, step: Step): Promise<string[]> {
  const acting = conns[step.on];
  const other = step.on === 'sub' ? conns.pub : conns.sub;
  const a = await framesUntilMarker(acting, [step.argv]);
  const b = await framesUntilMarker(other, []);
  // Redis walks a hash table here (patterns matching one channel, UNSUBSCRIBE with no argument):
  // the frames are compared as a multiset, with the running counts masked but the final one kept.
  const norm = (fs: string[]): string[] => {
    if (!step.unordered) return fs;
    const last = /:(\d+)\]$/.exec(fs[fs.length - 1] ?? '')?.[1] ?? '';
    return [...fs.map((f) => f.replace(/, :\d+\]$/, ', :#]')).sort(), `final count ${last}`];
  };
  return [...norm(a), '|', ...norm(b)];
}

/** PUBSUB CHANNELS replies a hash table's order: sort its elements. */
function sortFlatArray(frames: string[], step: Step): string[] {
  if (step.argv[0] !== 'PUBSUB' || !step.argv[1]?.endsWith('CHANNELS')) return frames;
  return frames.map((f) => (f.startsWith('[') ? `[${f.slice(1, -1).split(', ').filter((x) => x !== '').sort().join(', ')}]` : f));
}

async function openPair(port: number, proto: 2 | 3): Promise<{ sub: RawConn; pub: RawConn }> {
  const sub = await RawConn.open(port);
  const pub = await RawConn.open(port);
  if (proto === 3) {
    await sub.request('HELLO', '3');
    await pub.request('HELLO', '3');
  }
  return { sub, pub };
}

for (const proto of [2, 3] as const) {
  test(`pub/sub frames match redis-server (RESP${proto}, seeded)`, async () => {
    const seed = testSeed(proto === 2 ? 7001 : 7003);
    const k = await openPair(servers.kvPort(), proto);
    const rd = await openPair(servers.redisPort(), proto);
    try {
      const r = rng(seed);
      for (let i = 0; i < STEPS; i++) {
        const step = randomStep(r);
        const [mine, theirs] = await Promise.all([runStep(k, step), runStep(rd, step)]);
        assert.deepEqual(sortFlatArray(mine, step), sortFlatArray(theirs, step), `seed ${seed} step ${i}: ${step.on} ${JSON.stringify(step.argv)}`);
      }
    } finally {
      for (const c of [k.sub, k.pub, rd.sub, rd.pub]) c.close();
    }
  });
}

test('subscribed-mode frames match redis-server exactly (one channel, one pattern: a deterministic order)', async () => {
  for (const proto of [2, 3] as const) {
    const frames: string[][] = [];
    for (const port of [servers.kvPort(), servers.redisPort()]) {
      const c = await openPair(port, proto);
      const got = [
        ...(await framesUntilMarker(c.sub, [['UNSUBSCRIBE']])),
        ...(await framesUntilMarker(c.sub, [['SUBSCRIBE', 'ch']])),
        ...(await framesUntilMarker(c.sub, [['PSUBSCRIBE', 'c*']])),
        ...(await framesUntilMarker(c.pub, [['PUBLISH', 'ch', 'hello']])),
        ...(await framesUntilMarker(c.sub, [['GET', 'x']])),
        ...(await framesUntilMarker(c.sub, [['PING']])),
        ...(await framesUntilMarker(c.sub, [['UNSUBSCRIBE']])),
        ...(await framesUntilMarker(c.sub, [['PUNSUBSCRIBE']])),
        ...(await framesUntilMarker(c.sub, [['GET', 'x']])),
      ];
      frames.push(got);
      c.sub.close();
      c.pub.close();
    }
    assert.deepEqual(frames[0], frames[1], `RESP${proto}`);
    assert.ok((frames[0] as string[]).some((f) => f.includes('"pmessage"')), 'the pattern message arrived');
  }
});

test('CLIENT LIST and INFO count subscriptions', async () => {
  const sub = await RawConn.open(servers.kvPort());
  const pub = await RawConn.open(servers.kvPort());
  try {
    await framesUntilMarker(sub, [['SUBSCRIBE', 'c1', 'c2']]);
    await framesUntilMarker(sub, [['PSUBSCRIBE', 'p*']]);
    await framesUntilMarker(sub, [['SSUBSCRIBE', 's1']]);
    const list = String(await pub.call('CLIENT', 'LIST'));
    assert.match(list, / flags=P db=0 sub=2 psub=1 ssub=1 /);
    const info = String(await pub.call('INFO', 'stats'));
    assert.match(info, /pubsub_channels:2\r\n/);
    assert.match(info, /pubsub_patterns:1\r\n/);
    sub.close();
    await waitFor('subscriptions gone with the connection', async () => /pubsub_channels:0\r\n/.test(String(await pub.call('INFO', 'stats'))));
    assert.equal(await pub.call('PUBLISH', 'c1', 'x'), 0);
  } finally {
    sub.close();
    pub.close();
  }
});

test('a subscriber that stops reading is closed at its pubsub output limit; the publisher and others go on', async () => {
  const admin = await RawConn.open(servers.kvPort());
  const sub = await RawConn.open(servers.kvPort());
  const pub = await RawConn.open(servers.kvPort());
  const other = await RawConn.open(servers.kvPort());
  const limitBytes = 256 * 1024;
  try {
    assert.equal(await admin.call('CONFIG', 'SET', 'client-output-buffer-limit', `pubsub ${limitBytes} 0 0`), 'OK');
    await admin.call('CONFIG', 'RESETSTAT');
    await framesUntilMarker(sub, [['SUBSCRIBE', 'flood']]);
    sub.socket.pause();
    const payload = 'x'.repeat(64 * 1024);
    const rounds = 400; // 25 MiB in all: far past the limit and the socket buffers
    const frames: Buffer[] = [];
    for (let i = 0; i < rounds; i++) frames.push(cmd('PUBLISH', 'flood', payload));
    pub.send(Buffer.concat(frames));
    let receivers = 0;
    for (let i = 0; i < rounds; i++) receivers += Number(await pub.read());
    assert.ok(receivers < rounds, `the subscriber was dropped before the last publish (${receivers} of ${rounds} delivered)`);
    assert.equal(await other.call('PING'), 'PONG');
    const info = String(await admin.call('INFO', 'stats'));
    assert.match(info, /client_output_buffer_limit_disconnections:1\r\n/);
    assert.match(info, /pubsub_channels:0\r\n/);
    // Nobody holds a backlog: every client's pending output is within a reply of the limit.
    const list = String(await admin.call('CLIENT', 'LIST'));
    for (const m of list.matchAll(/omem=(\d+)/g)) assert.ok(Number(m[1]) <= limitBytes, list);
  } finally {
    await admin.call('CONFIG', 'SET', 'client-output-buffer-limit', 'pubsub 32mb 8mb 60');
    for (const c of [admin, sub, pub, other]) c.close();
  }
});

test('ioredis and node-redis subscribe and receive through kv-server', async () => {
  const port = servers.kvPort();
  const ioSub = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
  const ioPub = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
  const nrSub = createClient({ socket: { host: '127.0.0.1', port, reconnectStrategy: false } });
  try {
    await ioSub.connect();
    await ioPub.connect();
    await nrSub.connect();
    const ioGot: string[] = [];
    const nrGot: string[] = [];
    ioSub.on('message', (ch: string, msg: string) => ioGot.push(`${ch}:${msg}`));
    ioSub.on('pmessage', (p: string, ch: string, msg: string) => ioGot.push(`${p}|${ch}:${msg}`));
    await ioSub.subscribe('news');
    await ioSub.psubscribe('ne*');
    await nrSub.subscribe('news', (msg, ch) => nrGot.push(`${ch}:${msg}`));
    assert.equal(await ioPub.publish('news', 'one'), 3);
    assert.equal(await ioPub.publish('news', 'two'), 3);
    await waitFor('messages delivered', () => ioGot.length === 4 && nrGot.length === 2);
    assert.deepEqual(ioGot, ['news:one', 'ne*|news:one', 'news:two', 'ne*|news:two']);
    assert.deepEqual(nrGot, ['news:one', 'news:two']);
    await nrSub.unsubscribe('news');
    assert.equal(await ioPub.publish('news', 'three'), 2);
  } finally {
    ioSub.disconnect();
    ioPub.disconnect();
    if (nrSub.isOpen) await nrSub.disconnect();
  }
});

// ---- keyspace notifications

const NKEYS = ['s1', 's2', 'h1', 'st1', 'st2', 'z1', 'z2', 'n1'];

function notifyCommand(r: Rng): string[] {
  const k = r.pick(NKEYS);
  const k2 = r.pick(NKEYS);
  const v = String(r.int(5));
  const m = `m${r.int(4)}`;
  const rows: string[][] = [
    ['SET', k, v], ['SET', k, v, 'EX', '100'], ['SETNX', k, v], ['MSET', k, v, k2, v], ['GETDEL', k], ['GETEX', k, 'EX', '50'], ['GETEX', k, 'PERSIST'],
    ['INCR', 'n1'], ['INCRBY', 'n1', '3'], ['DECR', 'n1'], ['INCRBYFLOAT', 'n1', '1.5'], ['APPEND', k, 'x'], ['SETRANGE', k, '2', 'ab'], ['SETBIT', k, '5', '1'],
    ['DEL', k, k2], ['UNLINK', k], ['EXPIRE', k, '100'], ['PEXPIRE', k, '100000'], ['PERSIST', k], ['EXPIRE', k, '-1'], ['RENAME', k, k2], ['RENAMENX', k, k2], ['COPY', k, k2],
    ['HSET', k, m, v], ['HSETNX', k, m, v], ['HDEL', k, m], ['HINCRBY', k, m, '2'], ['HINCRBYFLOAT', k, 'f', '0.5'],
    ['SADD', k, m], ['SREM', k, m], ['SMOVE', k, k2, m], ['SPOP', k], ['SINTERSTORE', k, k2, 's1'], ['SUNIONSTORE', k, k2, 's2'], ['SDIFFSTORE', k, k2, 's1'],
    ['ZADD', k, v, m], ['ZADD', k, 'INCR', v, m], ['ZINCRBY', k, '1', m], ['ZREM', k, m], ['ZREMRANGEBYSCORE', k, '0', '2'], ['ZREMRANGEBYRANK', k, '0', '0'], ['ZPOPMIN', k], ['ZPOPMAX', k],
    ['ZUNIONSTORE', k, '2', k2, 'z1'], ['ZINTERSTORE', k, '2', k2, 'z2'], ['ZRANGESTORE', k, k2, '0', '-1'], ['ZMPOP', '2', k, k2, r.pick(['MIN', 'MAX'])],
    ['LPUSH', k, m, v], ['RPUSH', k, m], ['LPUSHX', k, m], ['RPUSHX', k, v], ['LPOP', k], ['RPOP', k, '2'], ['LSET', k, '0', v], ['LINSERT', k, 'BEFORE', m, v],
    ['LREM', k, '0', m], ['LTRIM', k, '0', '1'], ['LMOVE', k, k2, r.pick(['LEFT', 'RIGHT']), r.pick(['LEFT', 'RIGHT'])], ['RPOPLPUSH', k, k2],
    ['LMPOP', '2', k, k2, r.pick(['LEFT', 'RIGHT']), 'COUNT', '2'], ['BLPOP', k, '0.01'], ['BRPOP', k, k2, '0.01'], ['BZPOPMIN', k, '0.01'], ['BLMOVE', k, k2, 'RIGHT', 'LEFT', '0.01'],
    ['SORT', k, 'ALPHA', 'STORE', k2], ['SORT', k, 'BY', 'nosort', 'STORE', k2],
    ['GEOADD', k, v, v, m], ['GEORADIUS', k2, '1', '1', '500', 'km', 'STORE', k], ['GEORADIUSBYMEMBER', k2, m, '300', 'km', 'STOREDIST', k],
    ['GEOSEARCHSTORE', k, k2, 'FROMLONLAT', v, '2', 'BYBOX', '400', '400', 'km'],
  ];
  return r.pick(rows);
}

test('keyspace notifications under KEAn match redis-server (seeded commands, expiry included)', async () => {
  const seed = testSeed(7101);
  const streams: string[][] = [];
  for (const port of [servers.kvPort(), servers.redisPort()]) {
    const c = await RawConn.open(port);
    const sub = await RawConn.open(port);
    try {
      await c.call('FLUSHALL');
      assert.equal(await c.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEAn'), 'OK');
      assert.equal(showReply(await c.request('CONFIG', 'GET', 'notify-keyspace-events')), '["notify-keyspace-events", "AKE"]');
      await framesUntilMarker(sub, [['PSUBSCRIBE', '__key*__:*']]);
      const r = rng(seed);
      const stream: string[] = [];
      for (let i = 0; i < NOTIFY_COMMANDS; i++) {
        // One in six is a transaction of three: EXEC's commands announce themselves, each by its own name.
        const group = r.int(6) === 0 ? [['MULTI'], notifyCommand(r), notifyCommand(r), notifyCommand(r), ['EXEC']] : [notifyCommand(r)];
        for (const argv of group) stream.push(`> ${argv.join(' ')} ${showReply(await c.request(...argv)).startsWith('-') ? 'error' : ''}`);
        stream.push(...(await framesUntilMarker(sub, [])));
      }
      // An expired key: whichever deletes it (a read or the active sweep) emits 'expired' first.
      await c.call('SET', 'gone', 'v', 'PX', '1');
      await waitFor('the key expired', async () => (await c.call('EXISTS', 'gone')) === 0);
      stream.push(...(await framesUntilMarker(sub, [])));
      streams.push(stream);
      await c.call('CONFIG', 'SET', 'notify-keyspace-events', '');
    } finally {
      c.close();
      sub.close();
    }
  }
  assert.deepEqual(streams[0], streams[1], `seed ${seed}`);
  assert.ok((streams[0] as string[]).some((l) => l.includes('"expired"')), 'the expired event is in the stream');
  assert.ok((streams[0] as string[]).filter((l) => l.startsWith('[') || l.startsWith('>')).length > NOTIFY_COMMANDS, 'most commands emitted');
});

test('notify-keyspace-events: class letters, canonical text, refusal', async () => {
  for (const port of [servers.kvPort(), servers.redisPort()]) {
    const c = await RawConn.open(port);
    try {
      const texts: string[] = [];
      for (const v of ['KEA', 'Kg$lshzxetdnmE', 'Elsn', 'AK', 'q', '']) {
        const set = await c.call('CONFIG', 'SET', 'notify-keyspace-events', v);
        const got = (await c.call('CONFIG', 'GET', 'notify-keyspace-events')) as unknown[];
        texts.push(`${typeof set === 'string' ? set : JSON.stringify(set)} ${String(got[1])}`);
      }
      assert.deepEqual(texts.slice(0, 4), ['OK AKE', 'OK AKEm', 'OK lsnE', 'OK AK']);
      assert.match(texts[4] as string, /Invalid event class character\. Use 'Ag\$lshzxeKEtmdn'\./);
      assert.equal(texts[5], 'OK ');
    } finally {
      c.close();
    }
  }
});

test('a replica emits keyspace notifications for the entries it applies (one event per op kind)', async () => {
  const replica = await startKvServer({ args: ['--replica-of', `127.0.0.1:${servers.kvPort()}`] });
  const primary = await RawConn.open(servers.kvPort());
  const sub = await RawConn.open(replica.port);
  try {
    assert.equal(await sub.call('CONFIG', 'SET', 'notify-keyspace-events', 'KEA'), 'OK');
    await framesUntilMarker(sub, [['PSUBSCRIBE', '__keyevent@0__:*']]);
    await primary.call('SET', 'rk', '1');
    await primary.call('HINCRBY', 'rh', 'f', '2');
    await primary.call('SADD', 'rs', 'a', 'b');
    await primary.call('EXPIRE', 'rk', '100');
    await primary.call('DEL', 'rk', 'rs');
    const want = ['set rk', 'hset rh', 'sadd rs', 'expire rk', 'del rk', 'del rs'];
    const got: string[] = [];
    await waitFor('the replica emitted every event', async () => {
      const r = await sub.readResp(5_000);
      if (r.t === 'array' && r.a !== null && r.a.length === 4) {
        const [, , channel, key] = r.a.map((x) => (x.t === 'bulk' && x.b !== null ? x.b.toString('latin1') : ''));
        got.push(`${(channel as string).slice('__keyevent@0__:'.length)} ${key as string}`);
      }
      return got.length >= want.length;
    });
    assert.deepEqual(got, want);
  } finally {
    primary.close();
    sub.close();
    await stopAndClean(replica);
  }
});
