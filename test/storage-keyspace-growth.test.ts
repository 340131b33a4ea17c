// Keyspace growth (keyspace.ts, slot-chunks.ts): the hash table grows by migrating a bounded
// number of old-table positions per probe and per sweep, and the slot-indexed arrays grow by
// whole chunks. Seeded random operations run against a Map model while migrations are in
// progress; SCAN keeps its guarantee across a growth; the work per operation is bounded (checked
// on the keyspace's work counter, never on wall time).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Keyspace, MIGRATE_POSITIONS_PER_OP, MIGRATE_POSITIONS_PER_SWEEP_MAX } from '../src/storage/keyspace.js';
import { TYPE_SET, TYPE_STRING } from '../src/storage/collection.js';
import type { SetObject } from '../src/storage/set-object.js';
import { resizeChunks, SLOT_CHUNK_SLOTS, SlotWords } from '../src/storage/slot-chunks.js';
import { rng, testSeed } from './helpers/rng.js';

interface ModelEntry {
  readonly kind: 'string' | 'set';
  value: string; // the string, or the set's members joined in insertion order (compared sorted)
  expireAtMs: number;
}

/** A clock that advances 1 ms per read: each sweep spends its time budget after one chunk of work. */
function steppingClock(): () => number {
  let t = 0;
  return () => t++;
}

function modelLive(e: ModelEntry | undefined, now: number): e is ModelEntry {
  return e !== undefined && (e.expireAtMs === 0 || e.expireAtMs > now);
}

function readBack(ks: Keyspace, key: string, now: number): string | undefined {
  const t = ks.typeOf(key, now);
  if (t === -1) return undefined;
  if (t === TYPE_STRING) return `s:${ks.getStored(key, now)?.toString('latin1') ?? '?'}`;
  assert.equal(t, TYPE_SET);
  const set = ks.collectionOf(key, TYPE_SET, now) as SetObject;
  return `z:${[...set.members()].sort().join(',')}`;
}

function modelRead(e: ModelEntry): string {
  return e.kind === 'string' ? `s:${e.value}` : `z:${e.value.split(',').sort().join(',')}`;
}

test('random inserts, overwrites, deletes, lookups, expiries and sweeps agree with a Map model while the table migrates', () => {
  const r = rng(testSeed(0x9e0_41));
  const ks = new Keyspace();
  const model = new Map<string, ModelEntry>();
  let now = 1_000;
  let opsMigrating = 0;
  let growths = 0;
  const STEPS = 160_000;
  for (let step = 0; step < STEPS; step++) {
    const wasMigrating = ks.migrating;
    // Keys drawn from a range that widens over the run: mostly new keys early, more hits later.
    const key = `k${r.int(16 + 3 * step)}`;
    const roll = r.next();
    if (roll < 0.55) {
      const v = 'v'.repeat(r.int(3)) + String(r.int(100));
      const expireAtMs = r.next() < 0.1 ? now + 1 + r.int(500) : 0;
      ks.put(key, Buffer.from(v, 'latin1'), expireAtMs);
      model.set(key, { kind: 'string', value: v, expireAtMs });
    } else if (roll < 0.62) {
      const m = String(r.int(5));
      const e = model.get(key);
      // An element op on a key of another type replaces it (log replay's rule), expiry cleared.
      if (modelLive(e, now) && e.kind === 'set') {
        if (!e.value.split(',').includes(m)) e.value += `,${m}`;
      } else model.set(key, { kind: 'set', value: m, expireAtMs: 0 });
      ks.typeOf(key, now); // the command's lookup drops an expired key first
      ks.applyOp({ t: 'sadd', key, member: m });
    } else if (roll < 0.75) {
      const had = modelLive(model.get(key), now);
      ks.typeOf(key, now); // expires it lazily if due, as a command would before deleting
      assert.equal(ks.remove(key), had, `remove ${key} at step ${step}`);
      model.delete(key);
    } else if (roll < 0.998) {
      const e = model.get(key);
      assert.equal(readBack(ks, key, now), modelLive(e, now) ? modelRead(e) : undefined, `read ${key} at step ${step} (seed ${r.seed})`);
      if (e !== undefined && !modelLive(e, now)) model.delete(key);
    } else {
      now += r.int(50);
      ks.sweep(now, steppingClock());
    }
    if (ks.migrating) opsMigrating++;
    if (!wasMigrating && ks.migrating) growths++;
    if (step % 4000 === 0 || (ks.migrating && r.next() < 0.0005) || process.env['KV_VERIFY_ALL'] !== undefined) {
      assert.doesNotThrow(() => ks.verify(), `verify after step ${step} (${roll.toFixed(3)} on ${key}, seed ${r.seed})`);
    }
  }
  ks.verify();
  for (const [k, e] of model) if (!modelLive(e, now)) model.delete(k);
  const live = new Set(ks.keys(now));
  assert.deepEqual([...live].sort(), [...model.keys()].sort());
  assert.ok(growths >= 4, `the table grew ${growths} times`);
  assert.ok(opsMigrating > STEPS / 20, `only ${opsMigrating} operations ran during a migration`);
  assert.equal(ks.migrationsForced, 0, 'a migration had to be finished in one go');
  assert.ok(ks.slotCount > SLOT_CHUNK_SLOTS, `the slot arrays span several chunks (${ks.slotCount} slots)`);
});

test('SCAN returns every key present for the whole walk while the table grows under it', () => {
  const r = rng(testSeed(0x5ca_41));
  const ks = new Keyspace();
  const stable: string[] = [];
  for (let i = 0; i < 3000; i++) {
    stable.push(`stable:${i}`);
    ks.put(`stable:${i}`, Buffer.from('v'), 0);
  }
  // Start the walk right as a growth starts, so its first pages run during the migration.
  let churn = 0;
  const churned: string[] = [];
  while (!ks.migrating) {
    churned.push(`churn:${churn}`);
    ks.put(`churn:${churn++}`, Buffer.from('w'), 0);
  }
  const seen = new Set<string>();
  let cursor = 0;
  let sawMigration = false;
  do {
    sawMigration ||= ks.migrating;
    const page = ks.scan(cursor, 20 + r.int(40), 0);
    for (const k of page.keys) seen.add(k);
    cursor = page.next;
    // Between pages: inserts (fewer than a page walks, so the walk ends) and deletes of keys that
    // are not in the stable set; each probe moves part of the old table.
    for (let j = 0; j < 10; j++) {
      const k = `churn:${churn++}`;
      ks.put(k, Buffer.from('w'), 0);
      churned.push(k);
      if (r.next() < 0.3) ks.remove(churned[r.int(churned.length)] as string);
    }
  } while (cursor !== 0);
  ks.verify();
  assert.ok(sawMigration, 'the scan overlapped a table migration');
  const missing = stable.filter((k) => !seen.has(k));
  assert.deepEqual(missing, [], `keys present throughout but not returned (seed ${r.seed})`);
});

test('growth work per operation is bounded: MIGRATE_POSITIONS_PER_OP per lookup or write, MIGRATE_POSITIONS_PER_SWEEP_MAX per sweep', () => {
  const ks = new Keyspace();
  const KEYS = 300_000;
  let maxPerOp = 0;
  let migratingOps = 0;
  for (let i = 0; i < KEYS; i++) {
    const before = ks.migrationWork;
    ks.put(`key:${i}`, Buffer.from('x'), 0);
    maxPerOp = Math.max(maxPerOp, ks.migrationWork - before);
    if (ks.migrating) {
      migratingOps++;
      const b = ks.migrationWork;
      assert.equal(ks.has(`key:${i >>> 1}`, 0), true);
      maxPerOp = Math.max(maxPerOp, ks.migrationWork - b);
    }
  }
  assert.ok(migratingOps > 1000, `${migratingOps} writes ran during a migration`);
  // Every table the fill passed through was drained: the total work is at least the sum of the
  // old tables' sizes, spread over operations that each did at most the bound.
  assert.ok(ks.migrationWork > KEYS, `migration work ${ks.migrationWork}`);
  assert.ok(maxPerOp <= MIGRATE_POSITIONS_PER_OP, `one operation moved ${maxPerOp} positions`);
  assert.equal(ks.migrationsForced, 0);
  // An idle store finishes a migration through its sweeps, each bounded.
  while (!ks.migrating) ks.put(`more:${ks.size}`, Buffer.from('x'), 0);
  let sweeps = 0;
  while (ks.migrating) {
    const before = ks.migrationWork;
    ks.sweep(0, () => 0); // a clock that never moves: the position bound alone stops it
    assert.ok(ks.migrationWork - before <= MIGRATE_POSITIONS_PER_SWEEP_MAX);
    sweeps++;
  }
  assert.ok(sweeps >= 1);
  ks.verify();
});

test('slot chunks: growing past chunk 0 adds chunks and keeps the old ones (no copy); shrinking drops whole chunks; values survive', () => {
  let chunks = resizeChunks<Uint32Array>([], 1024, 2, (n) => new Uint32Array(n));
  assert.equal(chunks.length, 1);
  assert.equal(chunks[0]?.length, 2048);
  chunks[0]![5] = 7;
  chunks = resizeChunks(chunks, SLOT_CHUNK_SLOTS, 2, (n) => new Uint32Array(n));
  assert.equal(chunks[0]?.length, 2 * SLOT_CHUNK_SLOTS);
  assert.equal(chunks[0]![5], 7, 'chunk 0 grows by copy');
  chunks = resizeChunks(chunks, SLOT_CHUNK_SLOTS + 1, 2, (n) => new Uint32Array(n));
  const [c0, c1] = chunks;
  chunks = resizeChunks(chunks, 5 * SLOT_CHUNK_SLOTS, 2, (n) => new Uint32Array(n));
  assert.equal(chunks.length, 5);
  assert.ok(chunks[0] === c0 && chunks[1] === c1, 'existing chunks are kept, not copied');
  chunks = resizeChunks(chunks, 2 * SLOT_CHUNK_SLOTS, 2, (n) => new Uint32Array(n));
  assert.equal(chunks.length, 2);
  assert.ok(chunks[0] === c0);
  chunks = resizeChunks(chunks, 100, 2, (n) => new Uint32Array(n));
  assert.equal(chunks[0]?.length, 200);
  assert.equal(chunks[0]![5], 7);

  const w = new SlotWords(10);
  w.resize(3 * SLOT_CHUNK_SLOTS);
  w.set(SLOT_CHUNK_SLOTS - 1, 1);
  w.set(SLOT_CHUNK_SLOTS, 2);
  w.set(3 * SLOT_CHUNK_SLOTS - 1, 3);
  assert.deepEqual([w.get(SLOT_CHUNK_SLOTS - 1), w.get(SLOT_CHUNK_SLOTS), w.get(3 * SLOT_CHUNK_SLOTS - 1)], [1, 2, 3]);
  w.fill(9, SLOT_CHUNK_SLOTS + 1);
  assert.deepEqual([w.get(0), w.get(SLOT_CHUNK_SLOTS), w.get(SLOT_CHUNK_SLOTS + 1)], [9, 9, 0]);
});

test('reserve and trim around chunk boundaries keep every key, type and collection; FLUSHALL during a growth drops both tables', () => {
  const ks = new Keyspace();
  ks.reserve(4 * SLOT_CHUNK_SLOTS);
  const n = SLOT_CHUNK_SLOTS + 500;
  for (let i = 0; i < n; i++) {
    if (i % 1000 === 0) ks.applyOp({ t: 'sadd', key: `set:${i}`, member: 'm' });
    else ks.put(`s:${i}`, Buffer.from(String(i)), 0);
  }
  ks.trim();
  ks.verify();
  for (let i = 0; i < n; i++) {
    if (i % 1000 === 0) assert.equal(ks.typeOf(`set:${i}`, 0), TYPE_SET);
    else assert.equal(ks.getStored(`s:${i}`, 0)?.toString(), String(i));
  }
  // FLUSHALL in the middle of a growth drops both tables.
  while (!ks.migrating) ks.put(`more:${ks.size}`, Buffer.from('x'), 0);
  ks.applyOp({ t: 'flushall' });
  ks.verify();
  assert.equal(ks.size, 0);
  assert.equal(ks.migrating, false);
  ks.put('after', Buffer.from('v'), 0);
  assert.equal(ks.getStored('after', 0)?.toString(), 'v');
  ks.verify();
});
