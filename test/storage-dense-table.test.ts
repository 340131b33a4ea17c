// DenseTable (storage/dense-table.ts): the member index of large hashes and sets, against a Map
// model through several index resizes and compactions, with the work per operation bounded
// (counted in slots moved, not timed), and PagedArray, which holds its members.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DenseTable, RESIZE_SLOTS_PER_OP, type TableCursor } from '../src/storage/dense-table.js';
import { PagedArray } from '../src/storage/paged-array.js';
import type { Key } from '../src/storage/types.js';
import { rng, testSeed, type Rng } from './helpers/rng.js';

/** The owner's parallel values (as a hash's), kept right by `moved` and `truncate` alone. */
class Owner {
  readonly table = new DenseTable();
  readonly vals: Array<Key | undefined> = [];
  /** Model: member -> position, updated on insert and by `moved`. */
  readonly model = new Map<Key, number>();
  compactions = 0;
  resizes = 0;
  opsWhileResizing = 0;
  /** The most slots index maintenance moved within one add, remove or lookup that did not compact. */
  workPerOpMax = 0;

  private measure<T>(op: () => T): T {
    const before = this.table.slotsRehashed;
    const slots = this.table.indexSlots;
    const compactionsBefore = this.compactions;
    if (this.table.resizing) this.opsWhileResizing++;
    const r = op();
    if (this.table.indexSlots > slots) this.resizes++;
    if (this.compactions === compactionsBefore) this.workPerOpMax = Math.max(this.workPerOpMax, this.table.slotsRehashed - before);
    return r;
  }

  /** As a collection adds: a lookup first (SADD's has()), then the insert, then a lookup again (the remembered answer must not outlive it). */
  add(m: Key): void {
    this.lookup(m);
    const pos = this.measure(() => this.table.add(m));
    assert.equal(this.table.memberAt(pos), m);
    this.vals[pos] = `v:${m}`;
    this.model.set(m, pos);
    this.lookup(m);
  }

  remove(m: Key): void {
    this.lookup(m);
    this.removeOnly(m);
    this.lookup(m);
  }

  private removeOnly(m: Key): void {
    const expected = this.model.get(m) ?? -1;
    const pos = this.measure(() =>
      this.table.remove(
        m,
        (from, to) => {
          const moving = this.vals[from];
          assert.ok(moving !== undefined, `moved from a free position ${from}`);
          this.vals[to] = moving;
          this.model.set(moving.slice(2), to);
        },
        (n) => {
          this.vals.length = n;
          this.compactions++;
        },
      ),
    );
    assert.equal(pos, expected, `remove(${m})`);
    if (pos >= 0) {
      this.model.delete(m);
      if (pos < this.vals.length && this.table.memberAt(pos) === undefined) this.vals[pos] = undefined;
    }
  }

  lookup(m: Key): void {
    const pos = this.measure(() => this.table.positionOf(m));
    assert.equal(pos, this.model.get(m) ?? -1, `positionOf(${m})`);
  }

  checkAll(): void {
    assert.equal(this.table.size, this.model.size);
    for (const [m, pos] of this.model) {
      assert.equal(this.table.positionOf(m), pos, `positionOf(${m})`);
      assert.equal(this.table.memberAt(pos), m);
      assert.equal(this.vals[pos], `v:${m}`, `value at ${pos}`);
    }
    assert.deepEqual(new Set(this.table.keys()), new Set(this.model.keys()));
  }
}

/** Grow to about `target` members with some removals and absent lookups mixed in; then shrink to `floor`. */
function phase(o: Owner, R: Rng, target: number, floor: number, next: { n: number }): void {
  while (o.model.size < target) {
    const r = R.int(10);
    if (r < 7) o.add(`m${next.n++}`);
    else if (r < 8 && o.model.size > 0) o.remove(`m${R.int(next.n)}`);
    else o.lookup(`m${R.int(next.n + 100)}`);
  }
  while (o.model.size > floor) {
    const r = R.int(10);
    if (r < 6) o.remove(o.table.memberAt(o.table.randomPosition(R.int)) as Key);
    else if (r < 7) o.remove(`m${R.int(next.n)}`);
    else if (r < 8) o.add(`m${next.n++}`);
    else o.lookup(`m${R.int(next.n + 100)}`);
  }
}

test('random adds, removes and lookups match a Map model across resizes and compactions, with bounded index work per operation', () => {
  for (const seed of [1, 2, 3]) {
    const R = rng(testSeed(seed));
    const o = new Owner();
    const next = { n: 0 };
    for (const [target, floor] of [
      [3000, 2500],
      [20_000, 3000],
      [9000, 400],
      [40_000, 39_000],
    ] as const) {
      phase(o, R, target, floor, next);
      o.checkAll();
    }
    assert.ok(o.resizes >= 8, `seed ${seed}: ${o.resizes} resizes`);
    assert.ok(o.compactions >= 2, `seed ${seed}: ${o.compactions} compactions`);
    assert.ok(o.opsWhileResizing > 1000, `seed ${seed}: ${o.opsWhileResizing} operations during a resize`);
    assert.ok(o.workPerOpMax <= RESIZE_SLOTS_PER_OP, `seed ${seed}: an operation moved ${o.workPerOpMax} slots`);
  }
});

test('positions stay put across index resizes, and a tracked walk through resizes and a compaction sees every kept member once', () => {
  for (const seed of [11, 12, 13]) {
    const R = rng(testSeed(seed));
    const t = new DenseTable();
    const first = new Map<Key, number>();
    for (let i = 0; i < 1000; i++) first.set(`m${i}`, t.add(`m${i}`));
    const c: TableCursor = { pos: 0 };
    t.track(c);
    const seen: Key[] = [];
    const walk = (n: number): void => {
      for (let k = 0; k < n && c.pos < t.positions; k++, c.pos++) {
        const m = t.memberAt(c.pos);
        if (m !== undefined) seen.push(m);
      }
    };
    walk(R.int(500));
    // Grow through several resizes, walking in between: no position moves.
    let resizing = 0;
    for (let i = 1000; i < 30_000; i++) {
      t.add(`m${i}`);
      if (t.resizing) resizing++;
      if (i % 1000 === 0) walk(R.int(200));
    }
    assert.ok(resizing > 0, 'adds ran during resizes');
    for (const [m, pos] of first) assert.equal(t.positionOf(m), pos, `${m} kept its position`);
    // Remove most members on both sides of the cursor: the table compacts.
    const kept = new Set<Key>();
    const noop = (): void => undefined;
    let compacted = false;
    for (let i = 0; i < 30_000; i++) {
      if (R.int(10) < 9) t.remove(`m${i}`, noop, () => (compacted = true));
      else kept.add(`m${i}`);
    }
    assert.ok(compacted, 'the table compacted');
    walk(Infinity);
    t.untrack(c);
    const seenSet = new Set(seen);
    for (const m of kept) assert.ok(seenSet.has(m), `seed ${seed}: kept member ${m} never walked`);
    assert.equal(seenSet.size, seen.length, `seed ${seed}: a member walked twice`);
  }
});

test('random positions are in use and cover the members', () => {
  const R = rng(testSeed(21));
  const t = new DenseTable();
  for (let i = 0; i < 5000; i++) t.add(`m${i}`);
  const noop = (): void => undefined;
  for (let i = 0; i < 5000; i += 2) t.remove(`m${i}`, noop, noop);
  const hit = new Set<Key>();
  for (let k = 0; k < 40_000; k++) {
    const m = t.memberAt(t.randomPosition(R.int));
    assert.ok(m !== undefined);
    hit.add(m);
  }
  assert.equal(hit.size, t.size);
});

test('PagedArray: appends across pages, holes read as undefined, truncate frees the tail, a set past the end throws', () => {
  const a = new PagedArray<number>();
  for (let i = 0; i < 10_000; i++) a.set(i, i * 2);
  assert.equal(a.length, 10_000);
  assert.equal(a.get(9_999), 19_998);
  a.set(5000, undefined);
  assert.equal(a.get(5000), undefined);
  a.truncate(4097);
  assert.equal(a.length, 4097);
  assert.equal(a.get(4096), 8192);
  assert.equal(a.get(4097), undefined);
  a.set(4097, 7);
  assert.equal(a.get(4097), 7);
  assert.throws(() => a.set(4099, 1), RangeError);
  a.truncate(0);
  assert.equal(a.length, 0);
  assert.equal(a.get(0), undefined);
});
