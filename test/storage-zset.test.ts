// SortedSet (src/storage/zset.ts) against a naive model: a sorted array of [member, score]
// rebuilt after every change. Seeded random operations cross the listpack -> skiplist boundary
// both by size and by member length; every range query is compared after each step. The large
// form is also run at a scale that gives its tree several levels and its element table
// compactions, and its ElementTable (zset-elements.ts) against a Map.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SortedSet, type LexBound, type LexRange, type ScoreRange, type ZEntry } from '../src/storage/zset.js';
import { ElementTable } from '../src/storage/zset-elements.js';
import { defaultEncodingLimits } from '../src/storage/collection.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';

type Model = Map<string, number>;

function sorted(m: Model): ZEntry[] {
  return [...m.entries()].sort((a, b) => (a[1] !== b[1] ? a[1] - b[1] : a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function window<T>(xs: T[], offset: number, limit: number): T[] {
  if (offset < 0) return [];
  return xs.slice(offset, limit < 0 ? undefined : offset + limit);
}

function inScore(s: number, r: ScoreRange): boolean {
  return (r.minEx ? s > r.min : s >= r.min) && (r.maxEx ? s < r.max : s <= r.max);
}

function lexAbove(m: string, b: LexBound, side: 'min' | 'max'): boolean {
  if (b.kind === 'min') return side === 'min';
  if (b.kind === 'max') return side === 'max';
  if (side === 'min') return b.exclusive ? m > b.value : m >= b.value;
  return b.exclusive ? m < b.value : m <= b.value;
}

const SCORES = [-Infinity, -2.5, -1, 0, 1, 1, 2, 3.25, 1e300, Infinity];

function randomMember(r: Rng, longChance: number): string {
  const len = r.next() < longChance ? 65 + r.int(10) : 1 + r.int(3);
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(r.pick([0x00, 0x41, 0x42, 0x61, 0x7f, 0x80, 0xff]));
  return s;
}

function randomScoreRange(r: Rng): ScoreRange {
  return { min: r.pick(SCORES), minEx: r.next() < 0.3, max: r.pick(SCORES), maxEx: r.next() < 0.3 };
}

function randomLexBound(r: Rng): LexBound {
  const k = r.int(6);
  if (k === 0) return { kind: 'min' };
  if (k === 1) return { kind: 'max' };
  return { kind: 'value', value: randomMember(r, 0), exclusive: r.next() < 0.5 };
}

function check(z: SortedSet, m: Model, r: Rng, lexOk: boolean): void {
  const all = sorted(m);
  assert.equal(z.size, all.length);
  assert.deepEqual([...z.entries()], all);
  for (let q = 0; q < 6; q++) {
    const mem = randomMember(r, 0.05);
    const want = all.findIndex((e) => e[0] === mem);
    assert.equal(z.score(mem), m.get(mem));
    assert.equal(z.rank(mem), want === -1 ? undefined : want);
    assert.equal(z.rank(mem, true), want === -1 ? undefined : all.length - 1 - want);
    if (all.length > 0) {
      const k = r.int(all.length);
      assert.deepEqual(z.at(k), all[k]);
      assert.deepEqual(z.rank((all[k] as ZEntry)[0]), k);
    }

    const start = r.int(2 * all.length + 3) - all.length - 1;
    const stop = r.int(2 * all.length + 3) - all.length - 1;
    const rev = r.next() < 0.5;
    const n = all.length;
    const a = start < 0 ? Math.max(0, n + start) : start;
    const b = Math.min(n - 1, stop < 0 ? n + stop : stop);
    const byRank = a > b || a >= n ? [] : (rev ? [...all].reverse() : all).slice(a, b + 1);
    assert.deepEqual(z.rangeByRank(start, stop, rev), byRank, `rank ${start} ${stop} rev=${rev}`);

    const offset = r.next() < 0.7 ? 0 : r.int(5) - 1;
    const limit = r.next() < 0.5 ? -1 : r.int(5);
    const sr = randomScoreRange(r);
    const inRange = all.filter((e) => inScore(e[1], sr));
    assert.equal(z.countByScore(sr), inRange.length);
    assert.deepEqual(z.rangeByScore(sr, { rev, offset, limit }), window(rev ? inRange.reverse() : inRange, offset, limit), `score ${JSON.stringify(sr)}`);

    if (lexOk) {
      const lr: LexRange = { min: randomLexBound(r), max: randomLexBound(r) };
      const lexIn = all.filter((e) => lexAbove(e[0], lr.min, 'min') && lexAbove(e[0], lr.max, 'max'));
      assert.equal(z.countByLex(lr), lexIn.length);
      assert.deepEqual(z.rangeByLex(lr, { rev, offset, limit }), window(rev ? lexIn.reverse() : lexIn, offset, limit), `lex ${JSON.stringify(lr)}`);
    }
  }
}

function run(seed: number, steps: number, equalScores: boolean): void {
  const r = rng(seed);
  const z = new SortedSet();
  const m: Model = new Map();
  let sawSkiplist = false;
  // Grow past the listpack limit, then shrink: the encoding never goes back down.
  for (let step = 0; step < steps; step++) {
    const growing = step < steps * 0.6;
    const mem = randomMember(r, m.size > 100 ? 0.002 : 0);
    const memberish = r.next() < 0.3 && m.size > 0 ? r.pick([...m.keys()]) : mem + String(r.int(200));
    if (r.next() < (growing ? 0.8 : 0.3)) {
      const score = equalScores ? 0 : r.pick(SCORES);
      assert.equal(z.set(memberish, score), !m.has(memberish));
      m.set(memberish, score);
    } else {
      assert.equal(z.delete(memberish), m.delete(memberish));
    }
    if (z.encoding === 'skiplist') sawSkiplist = true;
    else assert.equal(sawSkiplist, false, 'never converts back to listpack');
    if (step % 7 === 0) check(z, m, r, equalScores);
  }
  assert.ok(sawSkiplist, `seed ${seed} reached the skiplist form`);
  check(z, m, r, equalScores);
}

test('SortedSet matches a sorted-array model across both encodings (seeded)', () => {
  const base = testSeed(20261206);
  for (let i = 0; i < 4; i++) run(base + i, 700, false);
});

test('lex ranges match the model when all scores are equal (seeded)', () => {
  const base = testSeed(777);
  for (let i = 0; i < 3; i++) run(base + i, 700, true);
});

test('encoding: listpack up to 128 members of <= 64 bytes, skiplist after', () => {
  const z = new SortedSet();
  for (let i = 0; i < 128; i++) z.set(`m${i}`, i);
  assert.equal(z.encoding, 'listpack');
  z.set('m0', 5);
  assert.equal(z.encoding, 'listpack', 'updating a member does not grow the set');
  z.set('m128', 1);
  assert.equal(z.encoding, 'skiplist');
  for (let i = 0; i < 129; i++) z.delete(`m${i}`);
  assert.equal(z.size, 0);
  assert.equal(z.encoding, 'skiplist');

  const long = new SortedSet();
  long.set('x'.repeat(64), 1);
  assert.equal(long.encoding, 'listpack');
  long.set('y'.repeat(65), 1);
  assert.equal(long.encoding, 'skiplist');
  assert.ok(long.bytes > 129);
});

test('ties order by member bytes (memcmp), and -0 equals 0', () => {
  const z = new SortedSet();
  z.set('\xff', 1);
  z.set('a', 1);
  z.set('\x00', 1);
  z.set('b', 0);
  assert.deepEqual([...z.entries()].map((e) => e[0]), ['b', '\x00', 'a', '\xff']);
  assert.equal(z.set('b', -0), false);
  assert.ok(Object.is(z.score('b'), 0), 'an equal score does not rewrite the stored one');
  assert.throws(() => z.set('n', NaN));
  z.set('negzero', -0);
  assert.ok(Object.is(z.score('negzero'), -0), 'a score is kept exactly as given (commands decide what Redis would store)');
});

test('scan: listpack at once; skiplist returns every member present for the whole walk (seeded, with changes)', () => {
  const small = new SortedSet();
  small.set('a', 1);
  small.set('b', 2);
  const seen: string[] = [];
  assert.equal(small.scan(0, 1, (m) => seen.push(m)), 0);
  assert.deepEqual(seen, ['a', 'b']);

  const r = rng(testSeed(4242));
  for (let round = 0; round < 5; round++) {
    const z = new SortedSet();
    const stable = new Set<string>();
    for (let i = 0; i < 600; i++) {
      z.set(`s${i}`, r.int(50));
      stable.add(`s${i}`);
    }
    for (let i = 0; i < 600; i++) z.set(`t${i}`, r.int(50));
    const found = new Set<string>();
    let cursor = 0;
    let steps = 0;
    do {
      cursor = z.scan(cursor, 1 + r.int(20), (m, s) => {
        assert.equal(z.score(m), s);
        found.add(m);
      });
      // Churn between steps: transient members come and go, stable ones change score (the stable
      // half keeps the table from compacting, the one case where a walk may miss members).
      for (let k = 0; k < 10; k++) {
        const t = `t${r.int(600)}`;
        if (r.int(3) === 0) z.set(t, r.int(50));
        else z.delete(t);
        z.set(`s${r.int(600)}`, r.int(50));
      }
      steps++;
    } while (cursor !== 0 && steps < 10_000);
    assert.equal(cursor, 0, 'the walk ends');
    const missed = [...stable].filter((m) => !found.has(m));
    for (const m of missed) assert.fail(`round ${round}: ${m} was present throughout and not returned`);
  }
});

/** Insert/remove in a sorted array model (binary search), for runs too long to rebuild it each step. */
function modelIndex(all: ZEntry[], e: ZEntry): number {
  let lo = 0;
  let hi = all.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const [m, s] = all[mid] as ZEntry;
    if (s < e[1] || (s === e[1] && m < e[0])) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

test('large form at scale: a deep tree, id compaction and regrowth match a sorted model (seeded)', () => {
  const r = rng(testSeed(31337));
  // Some members around 255 bytes: the element table keeps those past its arena limit as strings.
  const key = (i: number): string => (i % 37 === 0 ? 'k'.repeat(252) + String(i) : `k${i}`);
  const z = new SortedSet();
  const scores = new Map<string, number>();
  const all: ZEntry[] = [];
  const put = (m: string, s: number): void => {
    const cur = scores.get(m);
    assert.equal(z.set(m, s), cur === undefined);
    if (cur !== undefined) all.splice(modelIndex(all, [m, cur]), 1);
    all.splice(modelIndex(all, [m, s]), 0, [m, s]);
    scores.set(m, s);
  };
  const del = (m: string): void => {
    const cur = scores.get(m);
    assert.equal(z.delete(m), cur !== undefined);
    if (cur === undefined) return;
    all.splice(modelIndex(all, [m, cur]), 1);
    scores.delete(m);
  };
  const probe = (): void => {
    assert.equal(z.size, all.length);
    for (let q = 0; q < 20; q++) {
      const m = key(r.int(30_000));
      const want = scores.has(m) ? modelIndex(all, [m, scores.get(m) as number]) : undefined;
      assert.equal(z.score(m), scores.get(m));
      assert.equal(z.rank(m), want);
      if (all.length > 0) {
        const k = r.int(all.length);
        assert.deepEqual(z.at(k), all[k]);
        const len = r.int(70);
        assert.deepEqual(z.rangeByRank(k, k + len - 1), all.slice(k, k + len));
        assert.deepEqual(z.rangeByRank(k, k + len - 1, true), [...all].reverse().slice(k, k + len));
      }
      const lo = r.int(1000) - 500;
      const sr: ScoreRange = { min: lo, minEx: r.next() < 0.5, max: lo + r.int(40), maxEx: r.next() < 0.5 };
      const inRange = all.filter((e) => inScore(e[1], sr));
      assert.equal(z.countByScore(sr), inRange.length);
      assert.deepEqual(z.rangeByScore(sr, { limit: 50 }), inRange.slice(0, 50));
      assert.deepEqual(z.rangeByScore(sr, { rev: true, offset: 2, limit: 30 }), inRange.reverse().slice(2, 32));
    }
  };
  // Phases: random growth, ascending appends (uneven splits), descending prepends, shrink far enough
  // for the ids to compact, regrowth, and score changes that move members across leaves.
  for (let i = 0; i < 12_000; i++) put(key(r.int(30_000)), r.int(1000) - 500);
  probe();
  for (let i = 0; i < 3000; i++) put(`a${i}`, 10_000 + i);
  for (let i = 0; i < 3000; i++) put(`d${i}`, -10_000 - i);
  probe();
  assert.deepEqual([...z.entries()], all);
  for (const m of [...scores.keys()]) if (r.int(20) !== 0) del(m);
  probe();
  assert.deepEqual([...z.entries()], all);
  for (let i = 0; i < 8000; i++) {
    const m = key(r.int(30_000));
    if (r.int(4) === 0) del(m);
    else put(m, r.int(1000) - 500);
  }
  probe();
  assert.deepEqual([...z.entries()], all);
  for (const m of [...scores.keys()]) del(m);
  assert.equal(z.size, 0);
  assert.deepEqual([...z.entries()], []);
  assert.equal(z.encoding, 'skiplist');
  put('last', 1);
  assert.deepEqual([...z.entries()], [['last', 1]]);
});

test('ElementTable: find/add/remove/compact match a Map through growth and heavy deletion (seeded)', () => {
  const r = rng(testSeed(4711));
  const t = new ElementTable();
  const model = new Map<string, number>();
  const ids = new Map<string, number>();
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 5000; i++) {
      const m = `${r.int(40) === 0 ? 'L'.repeat(250 + r.int(10)) : ''}${round}:${r.int(6000)}\x00${String.fromCharCode(r.int(256))}`;
      if (model.has(m)) continue;
      const id = t.add(m, i);
      ids.set(m, id);
      model.set(m, i);
    }
    for (const m of [...model.keys()]) {
      if (r.int(10) < 8) {
        t.remove(ids.get(m) as number);
        ids.delete(m);
        model.delete(m);
      }
    }
    const agree = (): void => {
      assert.equal(t.size, model.size);
      for (const [m, s] of model) {
        const id = t.find(m);
        assert.equal(id, ids.get(m), m);
        assert.equal(t.member(id), m);
        assert.equal(t.score(id), s);
      }
      for (let i = 0; i < 2000; i++) assert.equal(t.find(`${round}:${r.int(6000)}\x00x-absent`), -1);
    };
    agree();
    if (t.sparse) {
      const remap = t.compact();
      for (const [m, id] of ids) ids.set(m, remap[id] as number);
      assert.equal(t.ids, model.size, 'compaction packs the ids');
      agree();
    }
  }
});

test('encoding limits: zset-max-listpack-entries / -value are read live, and convert only a growing set', () => {
  const limits = defaultEncodingLimits();
  limits.zsetListpackEntries = 2;
  limits.zsetListpackValueBytes = 3;
  const z = new SortedSet(limits);
  z.set('a', 1);
  z.set('b', 2);
  assert.equal(z.encoding, 'listpack');
  z.set('c', 3);
  assert.equal(z.encoding, 'skiplist', 'a third member passes entries = 2');

  const w = new SortedSet(limits);
  w.set('abc', 1);
  assert.equal(w.encoding, 'listpack');
  w.set('abcd', 1);
  assert.equal(w.encoding, 'skiplist', 'a 4-byte member passes value = 3');

  const zero = new SortedSet(limits);
  limits.zsetListpackEntries = 0;
  zero.set('a', 1);
  assert.equal(zero.encoding, 'skiplist', 'entries = 0: never a listpack');

  // Lowering a limit leaves a set as it is until it grows; an update never converts.
  limits.zsetListpackEntries = 128;
  limits.zsetListpackValueBytes = 64;
  const live = new SortedSet(limits);
  for (let i = 0; i < 10; i++) live.set(`m${i}`, i);
  limits.zsetListpackEntries = 5;
  limits.zsetListpackValueBytes = 1;
  live.set('m3', 30);
  live.delete('m4');
  assert.equal(live.encoding, 'listpack');
  assert.deepEqual(live.rangeByRank(-1, -1), [['m3', 30]]);
  live.set('new', 0);
  assert.equal(live.encoding, 'skiplist');
  assert.deepEqual([...live.entries()].map((e) => e[0]), ['m0', 'new', 'm1', 'm2', 'm5', 'm6', 'm7', 'm8', 'm9', 'm3']);
});
