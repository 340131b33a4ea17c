// The Redis Cluster protocol of a kv-ts cluster (src/replication/cluster/redis-cluster.ts): its
// member list and cluster state from a core status, then with real processes: the CLUSTER replies, -MOVED / -CLUSTERDOWN on cluster connections (the
// cluster-enabled setting, READONLY/READWRITE), the default -READONLY redirect kept for plain
// connections, COUNTKEYSINSLOT/GETKEYSINSLOT over a keyspace larger than one turn's walk, and
// unchanged cluster clients (ioredis Cluster, plain and scaleReads 'slave'; node-redis
// createCluster, plain and useReplicas; redis-cli -c) through a SIGKILL of the primary and a FAILOVER TO.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { Cluster as IoCluster } from 'ioredis';
import { createCluster } from 'redis';
import { clusterMembers, clusterStateOk } from '../src/replication/cluster/redis-cluster.js';
import { keySlot } from '../src/replication/cluster/slots.js';
import type { CoreStatus } from '../src/replication/core/types.js';
import { replyText } from './helpers/call.js';
import { Cluster } from './helpers/cluster.js';
import { KV_SERVER_JS, startRedisClusterNode, stopAndClean, tempDir } from './helpers/procs.js';
import { RawConn } from './helpers/server-conn.js';
import { waitFor } from './helpers/wait.js';
import type { Resp } from './helpers/resp.js';

const run = promisify(execFile);

/** How long clients may take to find the new primary after a failure (elections take under a second). */
const REDISCOVERY_MS = 30_000;
/** One client call inside a wait: a call stuck on a dead node must not hold the wait past its deadline. */
const CALL_MS = 2_000;
/** Keys written for the slot walk: more storage slots than one event-loop turn examines. */
const WALK_KEYS = 120_000;

let cluster: Cluster | undefined;
const conns: RawConn[] = [];
const closers: Array<() => Promise<unknown>> = [];

before(async () => {
  cluster = await Cluster.start({ nodes: 3, proxies: false, args: ['--cluster-enabled', 'yes'] });
});
after(async () => {
  for (const c of conns) c.close();
  for (const close of closers) await close().catch(() => undefined);
  await cluster?.stop();
});

function cl(): Cluster {
  if (cluster === undefined) throw new Error('cluster not started');
  return cluster;
}

async function open(id: string, protocol: 2 | 3 = 2): Promise<RawConn> {
  const c = await RawConn.open(cl().node(id).clientPort);
  conns.push(c);
  if (protocol === 3) await c.request('HELLO', '3');
  return c;
}

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });
}

function text(r: Resp): string {
  if (r.t === 'bulk' && r.b !== null) return r.b.toString('utf8');
  if (r.t === 'verbatim') return r.b.toString('utf8').slice(4);
  if (r.t === 'simple' || r.t === 'error') return r.s;
  throw new Error(`not text: ${JSON.stringify(r)}`);
}

function arr(r: Resp | undefined): Resp[] {
  if (r === undefined || (r.t !== 'array' && r.t !== 'map') || r.a === null) throw new Error(`not an array: ${JSON.stringify(r)}`);
  return r.a;
}

function int(r: Resp | undefined): number {
  if (r?.t !== 'int') throw new Error(`not an integer: ${JSON.stringify(r)}`);
  return Number(r.n);
}

function infoMap(s: string): Map<string, string> {
  return new Map(s.split('\r\n').filter((l) => l !== '').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]));
}

async function replicaOf(primary: string): Promise<string> {
  const r = cl().nodes.find((n) => n.id !== primary && n.state === 'running');
  if (r === undefined) throw new Error('no replica');
  return r.id;
}

/** A replica's status: n2 is primary, n3 a replica whose link is down, n4 a learner (not a peer of ours). */
function replicaStatus(overrides: Partial<CoreStatus> = {}): CoreStatus {
  const member = (i: number, voter: boolean): [string, { address: string; voter: boolean; autoPromote: boolean }] => [`n${i}`, { address: `10.0.0.${i}:700${i}`, voter, autoPromote: false }];
  return {
    nodeId: 'n1', mode: 'cluster', role: 'replica', epoch: 4, primaryId: 'n2', primaryAddress: '10.0.0.2:7002', sync: 'streaming',
    lastPos: { epoch: 4, seq: 30 }, commitSeq: 30, durableSeq: 30, acceptsWrites: false, logFailed: false,
    peers: [
      { id: 'n3', address: '10.0.0.3:7003', role: 'unknown', matchSeq: 0, lagOps: 0, lagMs: 0, link: 'down', sync: 'unknown', lastHeardMs: 400 },
      { id: 'n2', address: '10.0.0.2:7002', role: 'primary', matchSeq: 0, lagOps: 0, lagMs: 0, link: 'up', sync: 'unknown', lastHeardMs: 990 },
    ],
    fullResyncs: 0, partialResyncs: 0, discardedEntries: 0, discardedRanges: [], backlogBytes: 0, backlogBytesMax: 1024, backlogFirstSeq: 0,
    membership: { config: { members: new Map([member(1, true), member(2, true), member(3, true), member(4, false)]) }, seq: 0, committed: true, self: 'voter' },
    ...overrides,
  };
}

test('clusterMembers: the primary first, then the others by id, learners of the configuration included', () => {
  const m = clusterMembers(replicaStatus(), '10.0.0.1:7001', 1000, 1_700_000_000_000);
  assert.deepEqual(m.map((x) => [x.id, x.host, x.port, x.self, x.primary, x.reachable, x.voter]), [
    ['n2', '10.0.0.2', 7002, false, true, true, true],
    ['n1', '10.0.0.1', 7001, true, false, true, true],
    ['n3', '10.0.0.3', 7003, false, false, false, true],
    ['n4', '10.0.0.4', 7004, false, false, false, false],
  ]);
  // Last heard: wall-clock time now minus how long ago (host clock) the member was heard.
  assert.deepEqual(m.map((x) => x.lastHeardUnixMs), [1_700_000_000_000 - 10, 1_700_000_000_000, 1_700_000_000_000 - 600, 0]);
  // A departing member the primary still streams to may have no address: host '' and port 0.
  const st = replicaStatus();
  const departing = clusterMembers({ ...st, peers: [...st.peers, { ...(st.peers[0] as CoreStatus['peers'][number]), id: 'n5', address: '', link: 'up' }] }, '10.0.0.1:7001', 1000, 0);
  assert.deepEqual(departing.filter((x) => x.id === 'n5').map((x) => [x.host, x.port, x.reachable]), [['', 0, true]]);
});

test('clusterStateOk: a replica needs a live link to a known primary; a primary needs its majority', () => {
  assert.equal(clusterStateOk(replicaStatus()), true);
  const linkDown = replicaStatus();
  assert.equal(clusterStateOk({ ...linkDown, peers: linkDown.peers.map((p) => ({ ...p, link: 'down' as const })) }), false);
  assert.equal(clusterStateOk(replicaStatus({ primaryId: null, primaryAddress: null })), false);
  assert.equal(clusterStateOk(replicaStatus({ role: 'primary', primaryId: 'n1', acceptsWrites: true })), true);
  assert.equal(clusterStateOk(replicaStatus({ role: 'primary', primaryId: 'n1', acceptsWrites: false })), false);
});

test('CLUSTER SLOTS / SHARDS / NODES / INFO / MYID / KEYSLOT / HELP describe one shard served by the primary', async () => {
  await cl().whileStable(async (primary) => {
    const replica = await replicaOf(primary);
    const c = await open(replica);
    const p = cl().node(primary);
    assert.equal(text(await c.request('CLUSTER', 'MYID')), replica);
    assert.equal(int(await c.request('CLUSTER', 'KEYSLOT', 'foo')), 12182);
    assert.equal(int(await c.request('CLUSTER', 'KEYSLOT', '{foo}bar')), 12182);

    // SLOTS: 0-16383, the primary first, then both replicas; each node [ip, port, id, {}].
    // Replicas are listed once this node's links to them are up.
    const r = await waitFor('every member linked', async () => {
      const range = arr(await c.request('CLUSTER', 'SLOTS'))[0];
      return range !== undefined && arr(range).length === 5 ? arr(range) : null;
    });
    assert.deepEqual([int(r[0]), int(r[1])], [0, 16383]);
    const nodes = r.slice(2).map((n) => arr(n));
    assert.deepEqual(nodes.map((n) => [text(n[0] as Resp), int(n[1]), text(n[2] as Resp), arr(n[3]).length]), [
      ['127.0.0.1', p.port, primary, 0],
      ...cl().nodes.filter((n) => n.id !== primary).map((n) => ['127.0.0.1', n.port, n.id, 0]),
    ]);
    // RESP3: the networking metadata is a map.
    const c3 = await open(replica, 3);
    const slots3 = arr(arr(await c3.request('CLUSTER', 'SLOTS'))[0]);
    assert.equal(slots3[2]?.t === 'array' ? slots3[2].a?.[3]?.t : null, 'map');

    // SHARDS: one shard, its slots and three nodes, the primary "master".
    const [shard] = arr(await c3.request('CLUSTER', 'SHARDS'));
    assert.equal(shard?.t, 'map');
    const s = arr(shard);
    assert.equal(text(s[0] as Resp), 'slots');
    assert.deepEqual(arr(s[1]).map(int), [0, 16383]);
    const shardNodes = arr(s[3]).map((n) => {
      const kv = arr(n);
      const m = new Map<string, Resp>();
      for (let i = 0; i < kv.length; i += 2) m.set(text(kv[i] as Resp), kv[i + 1] as Resp);
      return m;
    });
    assert.deepEqual(shardNodes.map((m) => [text(m.get('id') as Resp), text(m.get('role') as Resp), int(m.get('port')), text(m.get('health') as Resp)]), [
      [primary, 'master', p.port, 'online'],
      ...cl().nodes.filter((n) => n.id !== primary).map((n) => [n.id, 'replica', n.port, 'online']),
    ]);

    // NODES: Redis's line format, from the replica's point of view.
    const lines = text(await c.request('CLUSTER', 'NODES')).trimEnd().split('\n').map((l) => l.split(' '));
    assert.equal(lines.length, 3);
    const primaryLine = lines.find((l) => l[0] === primary) as string[];
    assert.equal(primaryLine[1], `127.0.0.1:${p.port}@${p.port}`);
    assert.equal(primaryLine[2], 'master');
    assert.equal(primaryLine[3], '-');
    assert.equal(primaryLine[7], 'connected');
    assert.equal(primaryLine[8], '0-16383');
    const selfLine = lines.find((l) => l[0] === replica) as string[];
    assert.deepEqual([selfLine[2], selfLine[3], selfLine.length], ['myself,slave', primary, 8]);

    // INFO: the replication epoch is the cluster's epoch.
    const info = infoMap(text(await c.request('CLUSTER', 'INFO')));
    const epoch = (await cl().replicationInfo(replica))?.get('kv_epoch');
    assert.deepEqual(
      [info.get('cluster_state'), info.get('cluster_slots_assigned'), info.get('cluster_known_nodes'), info.get('cluster_size'), info.get('cluster_current_epoch'), info.get('cluster_my_epoch')],
      ['ok', '16384', '3', '1', epoch, epoch],
    );
    assert.ok(arr(await c.request('CLUSTER', 'HELP')).length > 5);
    assert.match(text(await c.request('CLUSTER', 'NOSUCH')), /^ERR unknown subcommand 'NOSUCH'. Try CLUSTER HELP./);
    assert.match(text(await c.request('CLUSTER', 'KEYSLOT')), /wrong number of arguments for 'cluster\|keyslot'/);
    assert.deepEqual(arr(await c.request('CONFIG', 'GET', 'cluster-enabled')).map(text), ['cluster-enabled', 'yes']);
    assert.match(text(await c.request('CONFIG', 'SET', 'cluster-enabled', 'no')), /immutable/);
  });
});

/** A reply's shape: types and nesting, map keys spelled out, other values left out. */
function shape(r: Resp): unknown {
  switch (r.t) {
    case 'array':
    case 'set':
    case 'push':
      return { [r.t]: (r.a ?? []).map(shape) };
    case 'map': {
      const a = r.a ?? [];
      const m: Record<string, unknown> = {};
      for (let i = 0; i < a.length; i += 2) m[text(a[i] as Resp)] = shape(a[i + 1] as Resp);
      return { map: m };
    }
    default:
      return r.t;
  }
}

test('CLUSTER SLOTS / SHARDS / NODES / INFO have the shapes of a redis-server serving all slots, in RESP2 and RESP3', async () => {
  const redis = await startRedisClusterNode();
  closers.push(() => stopAndClean(redis));
  const r = await RawConn.open(redis.port);
  conns.push(r);
  assert.equal(text(await r.request('CLUSTER', 'ADDSLOTSRANGE', '0', '16383')), 'OK');
  await waitFor('redis-server serves its slots', async () => text(await r.request('CLUSTER', 'INFO')).includes('cluster_state:ok'));
  await cl().whileStable(async (primary) => {
    const k = await open(primary);
    for (const protocol of [2, 3]) {
      if (protocol === 3) for (const c of [k, r]) await c.request('HELLO', '3');
      // SLOTS: redis-server has one node per range, kv-ts three: compare the range and each node.
      const [kvRange, redisRange] = [arr(arr(await k.request('CLUSTER', 'SLOTS'))[0]), arr(arr(await r.request('CLUSTER', 'SLOTS'))[0])];
      assert.deepEqual(kvRange.slice(0, 3).map(shape), redisRange.map(shape), `RESP${protocol}`);
      for (const node of kvRange.slice(3)) assert.deepEqual(shape(node), shape(redisRange[2] as Resp));
      const [kvShard, redisShard] = [arr(await k.request('CLUSTER', 'SHARDS'))[0] as Resp, arr(await r.request('CLUSTER', 'SHARDS'))[0] as Resp];
      const firstNodeOnly = (s: Resp): unknown => {
        const v = shape(s) as { map?: { nodes: { array: unknown[] } } } | { array: unknown[] };
        if ('map' in v && v.map !== undefined) return { ...v.map, nodes: v.map.nodes.array[0] };
        const a = (v as { array: unknown[] }).array;
        return [...a.slice(0, 3), (a[3] as { array: unknown[] }).array[0]];
      };
      assert.deepEqual(firstNodeOnly(kvShard), firstNodeOnly(redisShard), `RESP${protocol}`);
      const [kvInfo, redisInfo] = [await k.request('CLUSTER', 'INFO'), await r.request('CLUSTER', 'INFO')];
      assert.equal(kvInfo.t, redisInfo.t);
      const redisFields = [...infoMap(text(redisInfo)).keys()];
      for (const f of infoMap(text(kvInfo)).keys()) assert.ok(redisFields.includes(f), f);
      const [kvNodes, redisNodes] = [await k.request('CLUSTER', 'NODES'), await r.request('CLUSTER', 'NODES')];
      assert.equal(kvNodes.t, redisNodes.t);
      const own = text(kvNodes).split('\n').find((l) => l.includes('myself')) as string;
      assert.equal(own.split(' ').length, (text(redisNodes).split('\n')[0] as string).split(' ').length);
    }
  });
});

test('a replica answers keyed commands with -MOVED <slot> <primary>; READONLY serves reads there, READWRITE and RESET undo it', async () => {
  await cl().whileStable(async (primary) => {
    const replica = await replicaOf(primary);
    const addr = `127.0.0.1:${cl().node(primary).port}`;
    const c = await open(replica);
    const slot = keySlot(Buffer.from('moved-key'));
    assert.equal(text(await c.request('SET', 'moved-key', 'v')), `MOVED ${slot} ${addr}`);
    assert.equal(text(await c.request('GET', 'moved-key')), `MOVED ${slot} ${addr}`);
    // Keyless commands run where they are sent.
    assert.equal(text(await c.request('PING')), 'PONG');
    assert.equal(text(await c.request('ASKING')), 'OK');
    assert.equal(text(await c.request('READONLY')), 'OK');
    assert.match(text(await c.request('CLIENT', 'INFO')), / flags=r /);
    const p = await open(primary);
    assert.equal(text(await p.request('SET', 'moved-key', 'v')), 'OK');
    await waitFor('read served by the replica', async () => (await c.request('GET', 'moved-key')).t === 'bulk' && text(await c.request('GET', 'moved-key')) === 'v');
    assert.equal(text(await c.request('DEL', 'moved-key')), `MOVED ${slot} ${addr}`);
    assert.equal(text(await c.request('READWRITE')), 'OK');
    assert.equal(text(await c.request('GET', 'moved-key')), `MOVED ${slot} ${addr}`);
    assert.equal(text(await c.request('READONLY')), 'OK');
    assert.equal(text(await c.request('RESET')), 'RESET');
    assert.equal(text(await c.request('GET', 'moved-key')), `MOVED ${slot} ${addr}`);
  });
});

test('redis-cli -c against a replica follows MOVED', async () => {
  await cl().whileStable(async (primary) => {
    const port = cl().node(await replicaOf(primary)).clientPort;
    const set = await run('redis-cli', ['-c', '-p', String(port), 'SET', 'cli-key', 'via-moved']);
    assert.equal(set.stdout.trim(), 'OK');
    const get = await run('redis-cli', ['-c', '-p', String(port), 'GET', 'cli-key']);
    assert.equal(get.stdout.trim(), 'via-moved');
  });
});

test('COUNTKEYSINSLOT / GETKEYSINSLOT walk a keyspace larger than one turn (deferred), refused inside MULTI', async () => {
  // The keys go to whichever node is primary when each batch is sent: a loaded machine may
  // starve heartbeats into an election meanwhile (MSET is idempotent, so a batch is sent again).
  const want = new Map<number, number>();
  const batch: string[] = [];
  for (let i = 0; i < WALK_KEYS; i++) {
    const k = `walk:${i}`;
    want.set(keySlot(Buffer.from(k)), (want.get(keySlot(Buffer.from(k))) ?? 0) + 1);
    batch.push(k, '1');
    if (batch.length === 2000 || i === WALK_KEYS - 1) {
      await waitFor('a batch written on the primary', async () => {
        const r = await cl().call(await cl().waitForPrimary(), ['MSET', ...batch], 10_000);
        return r.ok && replyText(r.reply) === 'OK';
      }, { timeoutMs: 30_000 });
      batch.length = 0;
    }
  }
  await cl().whileStable(async (primary) => {
    const c = await open(primary);
    const slot = keySlot(Buffer.from('walk:7'));
    // Other keys of earlier tests may share the slot: count those with the same prefix separately.
    const keys = arr(await c.request('CLUSTER', 'GETKEYSINSLOT', String(slot), '100000')).map(text);
    assert.ok(keys.every((k) => keySlot(Buffer.from(k)) === slot));
    assert.equal(keys.filter((k) => k.startsWith('walk:')).length, want.get(slot));
    assert.equal(int(await c.request('CLUSTER', 'COUNTKEYSINSLOT', String(slot))), keys.length);
    assert.equal(arr(await c.request('CLUSTER', 'GETKEYSINSLOT', String(slot), '2')).length, 2);
    assert.equal(arr(await c.request('CLUSTER', 'GETKEYSINSLOT', String(slot), '0')).length, 0);
    assert.equal(text(await c.request('CLUSTER', 'COUNTKEYSINSLOT', '16384')), 'ERR Invalid slot');
    assert.equal(text(await c.request('CLUSTER', 'GETKEYSINSLOT', '1', '-1')), 'ERR Invalid slot or number of keys');
    assert.equal(text(await c.request('CLUSTER', 'COUNTKEYSINSLOT', 'x')), 'ERR value is not an integer or out of range');
    assert.equal(text(await c.request('MULTI')), 'OK');
    assert.equal(text(await c.request('CLUSTER', 'COUNTKEYSINSLOT', String(slot))), 'QUEUED');
    const [r] = arr(await c.request('EXEC'));
    assert.match(text(r as Resp), /too large .* inside MULTI/);
    assert.equal(text(await c.request('FLUSHALL')), 'OK');
  });
});

/** Write through `set` until it succeeds (a fresh key each attempt) and read it back through `get`. */
async function writesAgain(what: string, set: (k: string, v: string) => Promise<unknown>, get: (k: string) => Promise<string | null>): Promise<void> {
  let n = 0;
  await waitFor(
    `${what} writes and reads again`,
    async () => {
      const k = `${what}:${++n}`;
      await within(set(k, 'v'), CALL_MS);
      return (await within(get(k), CALL_MS)) === 'v';
    },
    { timeoutMs: REDISCOVERY_MS, intervalMs: 100 },
  );
}

test('ioredis Cluster (plain and scaleReads slave), node-redis createCluster (plain and useReplicas) ride through a SIGKILL of the primary and a FAILOVER TO', async () => {
  const seed = { host: '127.0.0.1', port: cl().nodes[0]?.clientPort as number };
  // node-redis takes the slot map of its first CLUSTER SLOTS as it is (empty during an election).
  await waitFor('cluster_state:ok on the seed', async () => {
    const r = await cl().call(cl().nodes[0]?.id as string, ['CLUSTER', 'INFO']);
    return r.ok && replyText(r.reply)?.includes('cluster_state:ok') === true;
  }, { timeoutMs: 15_000 });
  const ioOpts = { retryDelayOnFailover: 50, retryDelayOnClusterDown: 50, retryDelayOnTryAgain: 50, slotsRefreshTimeout: 1000, redisOptions: { connectTimeout: 1000, maxRetriesPerRequest: 2 } };
  const io = new IoCluster([seed], ioOpts);
  const ioSlave = new IoCluster([seed], { ...ioOpts, scaleReads: 'slave' });
  for (const c of [io, ioSlave]) {
    c.on('error', () => undefined);
    closers.push(async () => c.disconnect());
  }
  const nr = createCluster({ rootNodes: [{ url: `redis://127.0.0.1:${seed.port}` }], defaults: { socket: { connectTimeout: 1000, reconnectStrategy: () => 100 } } });
  const nrReplicas = createCluster({ rootNodes: [{ url: `redis://127.0.0.1:${seed.port}` }], useReplicas: true, defaults: { socket: { connectTimeout: 1000, reconnectStrategy: () => 100 } } });
  for (const c of [nr, nrReplicas]) {
    c.on('error', () => undefined);
    closers.push(async () => c.disconnect());
    await c.connect();
  }
  const clients: Array<[string, (k: string, v: string) => Promise<unknown>, (k: string) => Promise<string | null>]> = [
    ['ioredis', (k, v) => io.set(k, v), (k) => io.get(k)],
    // A replica may not have applied the write yet: the wait tries again.
    ['ioredis-slave', (k, v) => ioSlave.set(k, v), (k) => ioSlave.get(k)],
    ['node-redis', (k, v) => nr.set(k, v), (k) => nr.get(k)],
    ['node-redis-replicas', (k, v) => nrReplicas.set(k, v), (k) => nrReplicas.get(k)],
  ];
  const everyClientWrites = async (phase: string, names?: readonly string[]): Promise<void> => {
    for (const [name, set, get] of clients) if (names === undefined || names.includes(name)) await writesAgain(`${phase}:${name}`, set, get);
  };
  await cl().waitForPrimary();
  await everyClientWrites('start');

  const first = await cl().waitForPrimary();
  await cl().kill(first);
  await cl().waitForPrimary(15_000, [first]);
  // ioredis refreshes its slots when a node's connection closes. node-redis 4 rediscovers only
  // on -MOVED / -ASK (as against Redis itself): it recovers once the old primary's address
  // answers again, as a replica redirecting with -MOVED.
  await everyClientWrites('killed', ['ioredis', 'ioredis-slave']);
  // The dead member stays listed: fail? and disconnected in NODES, health failed in SHARDS.
  const now = await cl().waitForPrimary();
  const nodes = await waitFor('the dead member marked', async () => {
    const r = await cl().call(now, ['CLUSTER', 'NODES']);
    const line = (r.ok ? replyText(r.reply) ?? '' : '').split('\n').find((l) => l.startsWith(`${first} `));
    return line?.includes(' slave,fail? ') === true && line.includes(' disconnected') ? line : null;
  });
  assert.ok(!nodes.endsWith('0-16383'));
  // CLUSTER SLOTS leaves it out (so scaleReads clients do not read there) until it is back.
  const slotIds = async (): Promise<string[]> => {
    const c = await open(now);
    return arr(arr(await c.request('CLUSTER', 'SLOTS'))[0]).slice(2).map((n) => text(arr(n)[2] as Resp));
  };
  assert.ok(!(await slotIds()).includes(first));
  await cl().restart(first);
  await everyClientWrites('restarted', ['node-redis', 'node-redis-replicas']);
  await waitFor('the restarted member listed again', async () => (await slotIds()).includes(first));

  const current = await cl().waitForPrimary();
  const target = cl().nodes.find((n) => n.id !== current && n.id !== first)?.id ?? first;
  await waitFor('FAILOVER TO accepted', async () => {
    const r = await cl().call(current, ['FAILOVER', 'TO', target], 10_000);
    return r.ok && r.reply.type === 'simple';
  }, { timeoutMs: 20_000, intervalMs: 200 });
  await everyClientWrites('failover');
  assert.equal(await cl().waitForPrimary(), target);
});

test('cluster-enabled no (the default): plain connections keep -READONLY ... primary=, a READONLY connection gets -MOVED', async () => {
  const plain = await Cluster.start({ nodes: 3, proxies: false });
  closers.push(() => plain.stop());
  const primary = await plain.waitForPrimary();
  const replica = plain.nodes.find((n) => n.id !== primary) as (typeof plain.nodes)[number];
  const c = await RawConn.open(replica.clientPort);
  conns.push(c);
  const addr = `127.0.0.1:${plain.node(primary).port}`;
  assert.deepEqual(arr(await c.request('CONFIG', 'GET', 'cluster-enabled')).map(text), ['cluster-enabled', 'no']);
  // The replica learns who the primary is from its first heartbeat.
  await waitFor('the replica redirects to the primary', async () => text(await c.request('SET', 'k', 'v')) === `READONLY You can't write against a read only replica. primary=${addr}`);
  assert.equal(text(await c.request('READONLY')), 'OK');
  assert.equal(text(await c.request('SET', 'k', 'v')), `MOVED ${keySlot(Buffer.from('k'))} ${addr}`);
  // Reads stay on the replica (the staleness bounds still apply).
  await waitFor('a read served by the replica', async () => (await c.request('GET', 'k')).t === 'bulk');
  // A script may write: the primary runs it; EVAL_RO is a read.
  assert.equal(text(await c.request('EVAL', 'return 1', '1', 'k')), `MOVED ${keySlot(Buffer.from('k'))} ${addr}`);
  assert.equal(int(await c.request('EVAL_RO', 'return 1', '1', 'k')), 1);
  // A learner (MEMBER ADD ... LEARNER; no process behind it here) is a replica that never fails over.
  const added = await plain.call(primary, ['MEMBER', 'ADD', 'n9', '127.0.0.1:1', 'LEARNER'], 10_000);
  assert.equal(added.ok && replyText(added.reply), 'OK');
  await waitFor('the learner in CLUSTER NODES', async () => {
    const line = text(await c.request('CLUSTER', 'NODES')).split('\n').find((l) => l.startsWith('n9 '));
    return line?.startsWith(`n9 127.0.0.1:1@1 slave,fail?,nofailover ${primary} `) === true;
  });
  // No primary it can hear (a majority is gone): -CLUSTERDOWN, cluster_state:fail.
  for (const n of plain.nodes) if (n.id !== replica.id) await plain.kill(n.id);
  await waitFor('CLUSTERDOWN', async () => text(await c.request('GET', 'k')) === 'CLUSTERDOWN The cluster is down');
  const info = infoMap(text(await c.request('CLUSTER', 'INFO')));
  assert.deepEqual([info.get('cluster_state'), info.get('cluster_slots_ok')], ['fail', '0']);
  // Without cluster mode there is no cluster to speak of.
  const dir = tempDir('kvts-no-cluster-');
  try {
    await assert.rejects(run(process.execPath, [KV_SERVER_JS, '--port', '0', '--dir', dir, '--cluster-enabled', 'yes']), /--cluster-enabled yes needs cluster mode/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
