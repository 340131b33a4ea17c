// The maxmemory policies (storage/eviction.ts over the keyspace's access words, storage/access.ts)
// and the store's eviction run: each policy picks the right kind of key (LRU keeps recently read
// keys, LFU frequently read ones, volatile-ttl the nearest expiry, volatile-* never a key without
// a TTL), statistically on seeded data with a hand-moved clock; the LFU counter grows
// logarithmically and decays by the minute; the store logs one `del` entry per eviction and
// ships it like an expiry delete, and only when it may write.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Keyspace } from '../src/storage/keyspace.js';
import { AccessTracker, LFU_INIT_VAL, LRU_CLOCK_MAX } from '../src/storage/access.js';
import { Evictor, MAXMEMORY_POLICIES, objectAccessInfo, type MaxmemoryPolicy } from '../src/storage/eviction.js';
import { openReplicatedStore } from '../src/storage/store.js';
import type { Op, Position } from '../src/storage/types.js';
import { rng, testSeed } from './helpers/rng.js';
import { tempDirsRemovedAfter } from './helpers/procs.js';

const T0 = 1_900_000_000_000;
const KEYS = 4000;
const newDir = tempDirsRemovedAfter('kvts-evict-');

interface Setup {
  ks: Keyspace;
  evictor: Evictor;
  /** Move the clock (the keyspace's access words read it through tick). */
  at(ms: number): void;
  /** Evict `n` keys under the policy (as the store does: pick, then delete); returns them. */
  evict(n: number): string[];
}

function setup(policy: MaxmemoryPolicy, seed: number): Setup {
  const r = rng(seed);
  const ks = new Keyspace();
  ks.access.random = r.next;
  const evictor = new Evictor(r.next);
  evictor.policy = policy;
  ks.access.setLfu(policy.endsWith('-lfu'), ks.slotCount);
  let now = T0;
  ks.access.tick(now);
  return {
    ks,
    evictor,
    at(ms) {
      now = ms;
      ks.access.tick(ms);
    },
    evict(n) {
      const out: string[] = [];
      for (let i = 0; i < n; i++) {
        const k = evictor.pick(ks, now);
        if (k === undefined) break;
        assert.ok(ks.remove(k), `picked ${k}, which is not there`);
        out.push(k);
      }
      return out;
    },
  };
}

const key = (i: number): string => `key:${i}`;
const value = Buffer.alloc(32, 0x61);

test('allkeys-lru evicts keys not read recently and keeps the recently read ones', () => {
  const s = setup('allkeys-lru', testSeed(11));
  for (let i = 0; i < KEYS; i++) s.ks.put(key(i), value, 0);
  // A tenth of the keys is read 100 s later; the rest stays as written.
  s.at(T0 + 100_000);
  for (let i = 0; i < KEYS; i += 10) assert.ok(s.ks.getStored(key(i), T0 + 100_000) !== undefined);
  s.at(T0 + 200_000);
  const evicted = new Set(s.evict(KEYS / 2));
  assert.equal(evicted.size, KEYS / 2);
  let hotGone = 0;
  for (let i = 0; i < KEYS; i += 10) if (evicted.has(key(i))) hotGone++;
  // Random choice would take half of them; the approximated LRU takes almost none.
  assert.ok(hotGone <= (KEYS / 10) * 0.02, `${hotGone} of ${KEYS / 10} recently read keys were evicted`);
  s.ks.verify();
});

test('allkeys-lfu keeps frequently read keys over keys read once, and its counter is logarithmic', () => {
  const s = setup('allkeys-lfu', testSeed(12));
  for (let i = 0; i < KEYS; i++) s.ks.put(key(i), value, 0);
  // Every key is read once, a tenth 200 times; the most recently read are cold ones (LRU would keep them).
  for (let i = 0; i < KEYS; i += 10) for (let n = 0; n < 200; n++) s.ks.getStored(key(i), T0);
  for (let i = 0; i < KEYS; i++) s.ks.getStored(key(i), T0);
  const hot = s.ks.peekSlot(key(0), T0);
  const cold = s.ks.peekSlot(key(1), T0);
  const hotFreq = objectAccessInfo(s.ks.access, hot, 'freq');
  const coldFreq = objectAccessInfo(s.ks.access, cold, 'freq');
  assert.ok('value' in hotFreq && 'value' in coldFreq);
  // 200 hits with log factor 10 raise the counter by a few steps, never by 200.
  assert.ok(hotFreq.value > LFU_INIT_VAL + 2 && hotFreq.value < LFU_INIT_VAL + 20, `hot counter ${hotFreq.value}`);
  assert.ok(coldFreq.value <= LFU_INIT_VAL + 1, `cold counter ${coldFreq.value}`);
  const evicted = new Set(s.evict(KEYS / 2));
  let hotGone = 0;
  for (let i = 0; i < KEYS; i += 10) if (evicted.has(key(i))) hotGone++;
  assert.ok(hotGone <= (KEYS / 10) * 0.02, `${hotGone} of ${KEYS / 10} frequently read keys were evicted`);
});

test('the LFU counter decays by one per minute without access, and OBJECT FREQ/IDLETIME refuse the other mode', () => {
  const a = new AccessTracker(8);
  a.random = () => 0; // every hit counts
  a.setLfu(true, 8);
  a.tick(T0);
  a.born(0);
  for (let i = 0; i < 10; i++) a.touch(0);
  const before = a.decayed(0);
  assert.ok(before > LFU_INIT_VAL, `${before}`);
  a.tick(T0 + 3 * 60_000);
  assert.equal(a.decayed(0), before - 3);
  a.tick(T0 + 1000 * 60_000);
  assert.equal(a.decayed(0), 0, 'decays to 0, never below');
  assert.match((objectAccessInfo(a, 0, 'idletime') as { error: string }).error, /^ERR An LFU maxmemory policy is selected, idle time not tracked/);
  a.setLfu(false, 8);
  assert.match((objectAccessInfo(a, 0, 'freq') as { error: string }).error, /^ERR An LFU maxmemory policy is not selected, access frequency not tracked/);
});

test('LRU idle time has seconds resolution and survives one wrap of the 24-bit clock', () => {
  const a = new AccessTracker(4);
  a.tick(T0);
  a.born(1);
  a.tick(T0 + 42_500);
  assert.deepEqual(objectAccessInfo(a, 1, 'idletime'), { value: 42 });
  // Clock just before the wrap, access, then 10 s later (after the wrap).
  const wrapMs = (Math.floor(T0 / 1000 / (LRU_CLOCK_MAX + 1)) + 1) * (LRU_CLOCK_MAX + 1) * 1000;
  a.tick(wrapMs - 5000);
  a.touch(2);
  a.tick(wrapMs + 5000);
  assert.ok(Math.abs(a.idleMs(2) - 10_000) <= 1000, `idle across the wrap: ${a.idleMs(2)}`);
});

test('volatile-ttl evicts the nearest expiries first', () => {
  const s = setup('volatile-ttl', testSeed(13));
  const r = rng(testSeed(13) + 1);
  const ttl = new Map<string, number>();
  for (let i = 0; i < KEYS; i++) {
    const at = T0 + 1000 + r.int(1_000_000);
    ttl.set(key(i), at);
    s.ks.put(key(i), value, at);
  }
  const evicted = s.evict(KEYS / 10);
  const sorted = [...ttl.values()].sort((x, y) => x - y);
  const nearestQuarter = sorted[KEYS / 4] as number;
  const near = evicted.filter((k) => (ttl.get(k) as number) <= nearestQuarter).length;
  assert.ok(near >= evicted.length * 0.95, `${near} of ${evicted.length} evicted keys were among the nearest quarter of expiries`);
});

for (const policy of ['volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl'] as const) {
  test(`${policy} never evicts a key without a TTL, and has nothing to evict once the TTL keys are gone`, () => {
    const s = setup(policy, testSeed(14));
    for (let i = 0; i < KEYS; i++) s.ks.put(key(i), value, i % 8 === 0 ? T0 + 60_000 + i : 0);
    const evicted = s.evict(KEYS);
    assert.equal(evicted.length, KEYS / 8, 'exactly the keys with a TTL');
    for (const k of evicted) assert.equal(Number(k.slice(4)) % 8, 0, `${k} has no TTL`);
    assert.equal(s.evictor.pick(s.ks, T0), undefined);
    assert.equal(s.ks.size, KEYS - KEYS / 8);
    s.ks.verify();
  });
}

test('allkeys-random takes keys from everywhere; noeviction takes none; an empty keyspace gives none', () => {
  const s = setup('allkeys-random', testSeed(15));
  for (let i = 0; i < KEYS; i++) s.ks.put(key(i), value, 0);
  const evicted = s.evict(KEYS / 2).map((k) => Number(k.slice(4)));
  const firstHalf = evicted.filter((i) => i < KEYS / 2).length;
  assert.ok(Math.abs(firstHalf - evicted.length / 2) < evicted.length * 0.1, `${firstHalf} of ${evicted.length} from the first half`);
  assert.equal(s.evict(KEYS).length, KEYS / 2, 'then every remaining key');
  assert.equal(s.evictor.pick(s.ks, T0), undefined);
  const n = setup('noeviction', testSeed(16));
  n.ks.put('k', value, 0);
  assert.equal(n.evictor.pick(n.ks, T0), undefined);
  assert.deepEqual([...MAXMEMORY_POLICIES].sort(), ['allkeys-lfu', 'allkeys-lru', 'allkeys-random', 'noeviction', 'volatile-lfu', 'volatile-lru', 'volatile-random', 'volatile-ttl']);
});

test('a sparse slot range (most keys deleted) still yields every remaining key', () => {
  const s = setup('allkeys-lru', testSeed(17));
  for (let i = 0; i < KEYS; i++) s.ks.put(key(i), value, 0);
  for (let i = 0; i < KEYS; i++) if (i % 500 !== 7) s.ks.remove(key(i));
  assert.equal(s.evict(KEYS).length, KEYS / 500);
  assert.equal(s.ks.size, 0);
});

test('the store logs each eviction as one del entry, ships it through the expiry authority, counts it, and refuses when it may not write', async () => {
  let now = T0;
  const store = await openReplicatedStore({ dir: newDir(), fsync: 'no', now: () => now });
  try {
    const shipped: Array<{ pos: Position; ops: readonly Op[] }> = [];
    let mayDelete = true;
    store.setExpiryAuthority({ mayDelete: () => mayDelete, deleted: (pos, ops) => void shipped.push({ pos, ops }) });
    for (let i = 0; i < 100; i++) store.apply([{ t: 'set', key: key(i), value: Buffer.alloc(100), expireAtMs: 0 }]);
    now += 10_000;
    store.setEvictionPolicy('allkeys-lru', 5); // also moves the access clock (the store's cron does every 100 ms)
    for (let i = 0; i < 10; i++) store.getValue(key(i)); // recently read
    const seq = store.lastPosition.seq;
    const perKey = store.datasetBytes / 100;
    const r = store.evict(perKey * 30, Infinity);
    assert.equal(r.outcome, 'done');
    assert.equal(r.keys, 30);
    assert.equal(store.size, 70);
    assert.equal(store.lastPosition.seq, seq + 30, 'one entry per evicted key');
    assert.equal(shipped.length, 30);
    for (const e of shipped) assert.equal(e.ops.length, 1);
    for (const e of shipped) assert.equal((e.ops[0] as Op).t, 'del');
    for (let i = 0; i < 10; i++) assert.ok(store.has(key(i)), `recently read ${key(i)} was evicted`);
    assert.equal(store.stats().evictedKeys, 30);
    mayDelete = false;
    assert.deepEqual(store.evict(perKey, Infinity), { freedBytes: 0, keys: 0, outcome: 'refused' });
    mayDelete = true;
    store.setEvictionPolicy('volatile-lru', 5);
    assert.equal(store.evict(perKey, Infinity).outcome, 'none', 'no key has a TTL');
    store.setEvictionPolicy('noeviction', 5);
    assert.equal(store.evict(perKey, Infinity).outcome, 'none');
    store.setEvictionPolicy('allkeys-lfu', 5);
    assert.deepEqual(store.objectAccess(key(0), 'freq'), { value: LFU_INIT_VAL }, 'switching to LFU restarts every counter');
    assert.equal(store.objectAccess('missing', 'freq'), undefined);
  } finally {
    await store.close();
  }
});
