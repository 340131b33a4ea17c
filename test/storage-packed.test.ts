// The packed form of small collections (packed-list.ts) and the hash and set objects built on it
// (hash-object.ts, set-object.ts): entries of any bytes and lengths across the varint and
// 64-byte boundaries, and seeded random ops against a Map / Set model with thresholds crossed
// while growing and shrinking (the encoding converts upward only, contents never change).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entryAt, find, headerBytes, lengthAt, nextAt, splice } from '../src/storage/packed-list.js';
import { HashObject, HASH_BARE_BYTES_MAX, hashCellBytes } from '../src/storage/hash-object.js';
import { Keyspace } from '../src/storage/keyspace.js';
import { encodeCollection } from '../src/storage/object-codec.js';
import { SNAPSHOT_CHUNK_BYTES_MAX, SNAPSHOT_CHUNK_MEMBERS_MAX } from '../src/storage/snapshot-walk.js';
import type { SlotObjects } from '../src/storage/slot-chunks.js';
import { compareInt64Text, isInt64Text, SetObject, SET_PACKED_ENTRIES_MAX } from '../src/storage/set-object.js';
import { defaultEncodingLimits, TYPE_HASH, type EncodingLimits, type KvCollection } from '../src/storage/collection.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';

const LENGTHS = [0, 1, 2, 63, 64, 65, 127, 128, 129, 255, 16383, 16384, 70000];

function anyBytes(r: Rng, n: number): string {
  return r.bytes(n).latin1Slice(0, n);
}

test('packed list: entries of any bytes and lengths across varint boundaries read back, are found, and splice in and out', () => {
  const r = rng(testSeed(101));
  const items = LENGTHS.map((n) => anyBytes(r, n));
  let p = '';
  for (const it of items) p = splice(p, p.length, p.length, [it]);
  const seen: string[] = [];
  for (let pos = 0; pos < p.length; pos = nextAt(p, pos)) {
    assert.equal(lengthAt(p, pos), (items[seen.length] as string).length);
    seen.push(entryAt(p, pos));
  }
  assert.deepEqual(seen, items);
  assert.equal(p.length, items.reduce((n, it) => n + headerBytes(it.length) + it.length, 0));
  for (const it of items) assert.equal(entryAt(p, find(p, it, 1)), it);
  assert.equal(find(p, 'absent', 1), -1);
  // stride 2 looks at every other entry only
  assert.equal(find(p, items[1] as string, 2), -1);
  assert.equal(entryAt(p, find(p, items[2] as string, 2)), items[2]);
  // remove the middle entry, then put a different one in its place
  const at = find(p, items[6] as string, 1);
  const q = splice(p, at, nextAt(p, at), ['x', '']);
  const back: string[] = [];
  for (let pos = 0; pos < q.length; pos = nextAt(q, pos)) back.push(entryAt(q, pos));
  assert.deepEqual(back, [...items.slice(0, 6), 'x', '', ...items.slice(7)]);
  assert.equal(headerBytes(127), 1);
  assert.equal(headerBytes(128), 2);
  assert.equal(headerBytes(16384), 3);
});

test('compareInt64Text orders canonical int64 texts as numbers', () => {
  const r = rng(testSeed(102));
  const xs = ['0', '1', '-1', '9', '10', '-10', '9223372036854775807', '-9223372036854775808', '9223372036854775806'];
  for (let i = 0; i < 300; i++) xs.push(String((r.int(2) === 0 ? -1 : 1) * Math.floor(r.next() * 10 ** r.int(16))));
  for (const x of xs) assert.ok(isInt64Text(x), x);
  for (const a of xs) {
    for (const b of xs.slice(0, 40)) {
      const want = BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0;
      assert.equal(Math.sign(compareInt64Text(a, b)), want, `${a} vs ${b}`);
    }
  }
});

function smallLimits(): EncodingLimits {
  return { ...defaultEncodingLimits(), hashListpackEntries: 8, hashListpackValueBytes: 16, setIntsetEntries: 12 };
}

function checkHash(h: HashObject, model: Map<string, string>, listpack: boolean, ctx: string): void {
  assert.equal(h.size, model.size, ctx);
  assert.equal(h.encoding, listpack ? 'listpack' : 'hashtable', ctx);
  const got = [...h.entries()].map(([f, v]) => [f, v.latin1Slice(0, v.length)] as const);
  const want = [...model.entries()];
  // a listpack keeps insertion order (HGETALL as Redis); a hashtable any order
  if (listpack) assert.deepEqual(got, want, ctx);
  else assert.deepEqual(new Map(got), model, ctx);
  assert.deepEqual([...h.keys()].sort(), [...model.keys()].sort(), ctx);
  if (listpack) {
    const content = want.reduce((n, [f, v]) => n + f.length + v.length, 0);
    assert.ok(h.bytes >= content && h.bytes <= content + 4 * model.size + 128, `${ctx}: bytes ${h.bytes} for ${content}`);
  }
}

for (const [name, limits] of [['Redis defaults', defaultEncodingLimits()], ['small limits', smallLimits()]] as const) {
  test(`hash object equals a Map model under seeded random ops (${name}), converting upward only`, () => {
    const seed = testSeed(103);
    for (let run = 0; run < 40; run++) {
      const r = rng(seed + run);
      const h = new HashObject(limits);
      const model = new Map<string, string>();
      let listpack = true;
      const fields = Array.from({ length: 4 + r.int(200) }, (_, i) => (r.int(10) === 0 ? anyBytes(r, r.int(70)) : `f${i}`));
      for (let step = 0; step < 400; step++) {
        const f = r.pick(fields);
        const ctx = `seed ${r.seed} step ${step}`;
        const op = r.int(10);
        if (op < 6) {
          const v = anyBytes(r, r.pick([0, 1, 10, 63, 64, 65, r.int(20)]));
          const isNew = !model.has(f);
          assert.equal(h.set(f, Buffer.from(v, 'latin1')), isNew, ctx);
          model.set(f, v);
          if (f.length > limits.hashListpackValueBytes || v.length > limits.hashListpackValueBytes || model.size > limits.hashListpackEntries) listpack = false;
        } else if (op < 8) {
          assert.equal(h.delete(f), model.delete(f), ctx);
        } else {
          const v = model.get(f);
          assert.equal(h.has(f), v !== undefined, ctx);
          assert.equal(h.get(f)?.toString('latin1'), v, ctx);
          assert.equal(h.valueLength(f), v === undefined ? -1 : v.length, ctx);
        }
        if (step % 20 === 0 || step === 399) checkHash(h, model, listpack, ctx);
      }
      if (model.size > 0) for (let i = 0; i < 20; i++) assert.ok(model.has(h.randomField((n) => r.int(n)) as string));
    }
  });

  test(`keyspace hashes (bare packed strings while small) equal a HashObject given the same ops (${name})`, () => {
    const seed = testSeed(105);
    for (let run = 0; run < 20; run++) {
      const r = rng(seed + run);
      const ks = new Keyspace(limits);
      const models = new Map<string, HashObject>();
      const fields = Array.from({ length: 4 + r.int(250) }, (_, i) => (r.int(10) === 0 ? anyBytes(r, r.int(70)) : `f${i}`));
      // Odd runs keep values short and mostly add, so hashes convert by their number of fields instead.
      const sizes = run % 2 === 0 ? [0, 1, 10, 63, 64, 65, r.int(30)] : [0, 1, 5, r.int(8)];
      const sets = run % 2 === 0 ? 7 : 9;
      for (let step = 0; step < 800; step++) {
        const key = `h${r.int(2)}`;
        const model = models.get(key) ?? new HashObject(limits);
        models.set(key, model);
        const f = r.pick(fields);
        if (r.int(10) < sets) {
          const v = r.bytes(r.pick(sizes));
          model.set(f, v);
          ks.applyOp({ t: 'hset', key, field: f, value: v });
        } else {
          model.delete(f);
          ks.applyOp({ t: 'hdel', key, field: f });
        }
        const ctx = `seed ${r.seed} step ${step} ${key}`;
        const h = ks.collectionOf(key, TYPE_HASH, 0);
        if (!(h instanceof HashObject)) {
          assert.equal(model.size, 0, ctx); // an hdel on a missing key creates nothing
          continue;
        }
        assert.equal(h.encoding, model.encoding, ctx);
        assert.equal(h.size, model.size, ctx);
        if (step % 25 !== 0 && step !== 799) continue;
        assert.deepEqual([...h.entries()], [...model.entries()], ctx);
        ks.verify();
      }
    }
  });

  test(`set object equals a Set model under seeded random ops (${name}): intsets in numeric order, converting upward only`, () => {
    const seed = testSeed(104);
    for (let run = 0; run < 40; run++) {
      const r = rng(seed + run);
      const s = new SetObject(limits);
      const model = new Set<string>();
      let intset = true;
      const ints = Array.from({ length: 1 + r.int(700) }, () => String(r.int(2000) - 1000));
      const strs = Array.from({ length: 1 + r.int(200) }, () => (r.int(4) === 0 ? anyBytes(r, r.pick([0, 1, 63, 64, 65, 100])) : `m${r.int(1000)}`));
      const intsOnly = r.int(2) === 0;
      for (let step = 0; step < 900; step++) {
        const m = intsOnly || r.int(50) > 0 ? r.pick(ints) : r.pick(strs);
        const ctx = `seed ${r.seed} step ${step}`;
        if (r.int(10) < 7) {
          const isNew = !model.has(m);
          if (isNew && intset && (!isInt64Text(m) || model.size >= limits.setIntsetEntries)) intset = false;
          assert.equal(s.add(m), isNew, ctx);
          model.add(m);
        } else {
          assert.equal(s.delete(m), model.delete(m), ctx);
        }
        assert.equal(s.has(m), model.has(m), ctx);
        if (step % 30 === 0 || step === 899) {
          assert.equal(s.size, model.size, ctx);
          assert.equal(s.encoding, intset ? 'intset' : 'hashtable', ctx);
          const got = [...s.members()];
          if (intset) assert.deepEqual(got, [...model].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)), ctx);
          else assert.deepEqual(new Set(got), model, ctx);
          assert.equal(got.length, model.size, ctx);
        }
      }
      if (model.size > 0) for (let i = 0; i < 20; i++) assert.ok(model.has(s.randomMember((n) => r.int(n)) as string));
    }
  });
}

test('a hashtable-encoded set stays packed up to its entry and member-length limits, and its bytes count its contents', () => {
  const s = new SetObject();
  s.add('a');
  assert.equal(s.encoding, 'hashtable');
  for (let i = 1; i < SET_PACKED_ENTRIES_MAX; i++) s.add(`m${i}`);
  const packedBytes = s.bytes;
  assert.ok(packedBytes < SET_PACKED_ENTRIES_MAX * 8, `packed bytes ${packedBytes}`);
  s.add('one more');
  // past the packed limit every member pays a table entry
  assert.ok(s.bytes > packedBytes * 2, `table bytes ${s.bytes} vs packed ${packedBytes}`);
  const scanned: string[] = [];
  let cursor = 0;
  do cursor = s.scan(cursor, 10, (m) => scanned.push(m));
  while (cursor !== 0);
  assert.equal(new Set(scanned).size, SET_PACKED_ENTRIES_MAX + 1);
});

/** The cell the keyspace holds in the slot of `key` (a bare string or an object). */
function cellOf(ks: Keyspace, key: string): unknown {
  const objects = (ks as unknown as { objects: SlotObjects<KvCollection | string> }).objects;
  return objects.get(ks.peekSlot(key, 0));
}

test('a small hash is held as its bare packed string (no object, no object overhead), up to HASH_BARE_BYTES_MAX, and never goes back', () => {
  const limits = { ...defaultEncodingLimits(), hashListpackEntries: 4000, hashListpackValueBytes: 4000 };
  const ks = new Keyspace(limits);
  ks.applyOp({ t: 'set', key: 's', value: Buffer.alloc(0), expireAtMs: 0 });
  const model = new HashObject(limits);
  for (let f = 0; f < 10; f++) {
    const v = Buffer.from(`v${String(f).padStart(9, '0')}`);
    ks.applyOp({ t: 'hset', key: 'h', field: `f${f}`, value: v });
    model.set(`f${f}`, v);
  }
  const packed = model.toCell();
  assert.equal(typeof packed, 'string');
  assert.equal(cellOf(ks, 'h'), packed, 'the slot holds the packed string itself');
  // The estimate is the string's alone (a key of the same length with an empty value is the rest).
  assert.equal((ks.memoryUsage('h', 0) as number) - (ks.memoryUsage('s', 0) as number), hashCellBytes(packed));
  assert.ok(hashCellBytes(packed) < model.bytes, 'cheaper than an object holding the same string');
  // Past the bound it becomes an object, still a listpack; shrinking keeps the object (a snapshot
  // walk following it by identity never sees it change form).
  const value = Buffer.alloc(100, 0x61);
  let n = 0;
  while (typeof cellOf(ks, 'h') === 'string') ks.applyOp({ t: 'hset', key: 'h', field: `g${n++}`, value });
  assert.ok(n * 105 > HASH_BARE_BYTES_MAX - 200 && n * 105 < HASH_BARE_BYTES_MAX + 200, `converted after ${n} fields`);
  assert.ok(cellOf(ks, 'h') instanceof HashObject);
  assert.equal((ks.collectionOf('h', TYPE_HASH, 0) as HashObject).encoding, 'listpack');
  for (let i = 0; i < n; i++) ks.applyOp({ t: 'hdel', key: 'h', field: `g${i}` });
  assert.ok(cellOf(ks, 'h') instanceof HashObject);
  ks.verify();
});

test('the largest bare hash fits one snapshot chunk (a walk copies it in one step)', () => {
  // Most fields within HASH_BARE_BYTES_MAX: the shortest distinct fields, empty values.
  const h = new HashObject({ ...defaultEncodingLimits(), hashListpackEntries: 100_000 });
  let bytes = 0;
  for (let i = 0; ; i++) {
    const f = i < 256 ? String.fromCharCode(i) : String.fromCharCode(i >> 8, i & 0xff);
    if (bytes + f.length + 2 > HASH_BARE_BYTES_MAX) break;
    h.set(f, Buffer.alloc(0));
    bytes += f.length + 2;
  }
  assert.equal(typeof h.toCell(), 'string');
  assert.ok(h.size <= SNAPSHOT_CHUNK_MEMBERS_MAX, `${h.size} fields`);
  assert.ok(encodeCollection(TYPE_HASH, h).length <= SNAPSHOT_CHUNK_BYTES_MAX);
});
