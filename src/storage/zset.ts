// SortedSet: the value of a zset key — member (Key, latin1 bytes) -> score (never NaN), ordered
// by score, ties by member bytes (memcmp, as Redis). Owns its two representations (sorted
// parallel arrays while small; once past zset-max-listpack-entries / -value, an element table
// (zset-elements.ts) plus an order-statistic B+tree of element ids) and the range searches the
// commands need. Never logs, never touches the keyspace: the store mutates it in `apply`,
// commands only read it.

import { REDIS_ENCODING_LIMITS, type EncodingLimits, type MemberSink } from './collection.js';
import { ElementTable } from './zset-elements.js';
import type { Key } from './types.js';

export type ZEntry = readonly [member: Key, score: number];

/** Rough cost of one element beyond its member bytes in each representation (for MEMORY USAGE / liveBytes). */
const SMALL_ENTRY_OVERHEAD_BYTES = 32;
/** Score, hash, arena offset and length byte, its index slot and leaf slot at their usual fill. */
const LARGE_ENTRY_OVERHEAD_BYTES = 36;
const SET_OVERHEAD_BYTES = 64;

/** A score interval: `min`/`max` may be ±Infinity; `minEx`/`maxEx` make a bound exclusive ('('). */
export interface ScoreRange {
  readonly min: number;
  readonly minEx: boolean;
  readonly max: number;
  readonly maxEx: boolean;
}

/** A lex bound: '-' (below everything), '+' (above everything), '[v' or '(v'. */
export type LexBound =
  | { readonly kind: 'min' }
  | { readonly kind: 'max' }
  | { readonly kind: 'value'; readonly value: Key; readonly exclusive: boolean };

export interface LexRange {
  readonly min: LexBound;
  readonly max: LexBound;
}

/** offset >= 0 elements skipped; limit < 0 means no limit. */
export interface RangeWindow {
  readonly rev?: boolean;
  readonly offset?: number;
  readonly limit?: number;
}

/** Order of (score, member): JS string comparison of latin1 strings is memcmp of the bytes. */
function before(score: number, member: Key, s: number, m: Key): boolean {
  return score < s || (score === s && member < m);
}

/** Leaves and inner nodes hold up to this many entries / children before they split. */
const LEAF_ENTRIES_MAX = 64;
const INNER_CHILDREN_MAX = 64;
/** A leaf this empty is merged into its right sibling when both fit in one leaf. */
const LEAF_ENTRIES_MERGE_BELOW = LEAF_ENTRIES_MAX / 4;
/** A leaf's block in the pool: one slot more than it keeps, for the entry that makes it split. */
const LEAF_BLOCK_IDS = LEAF_ENTRIES_MAX + 1;
/** Blocks of a new pool. */
const POOL_BLOCKS_MIN = 4;

/** A run of element ids in (score, member) order: pool[base .. base + n) of its tree. */
class Leaf {
  n = 0;
  prev: Leaf | null = null;
  next: Leaf | null = null;
  constructor(public base: number) {}
}

/**
 * children[i] holds the keys k with sep[i] <= k < sep[i + 1] (sep[0] is unused); counts[i] is
 * its number of elements. A separator may outlive the element it was copied from: it stays a
 * valid bound, so deletions never rewrite separators.
 */
class Inner {
  children: Array<Leaf | Inner> = [];
  counts: number[] = [];
  sepScores: number[] = [];
  sepMembers: Key[] = [];
}

/**
 * The large form's order: an order-statistic B+tree over (score, member) with element counts in
 * the inner nodes, so rank, select and range seeks are O(log n) with contiguous leaves (a
 * pointer skiplist in JS costs several dependent loads per step, a leaf a few binary-search
 * probes). Leaves hold element ids (the ElementTable has their members and scores), all in one
 * Int32Array pool of fixed-size blocks: a typed array per leaf would cost more than its ids.
 * Leaves form a doubly linked list for range walks in both directions.
 */
class OrderTree {
  private pool = new Int32Array(LEAF_BLOCK_IDS * POOL_BLOCKS_MIN);
  /** Blocks handed out (the pool's high-water mark) and the freed ones below it. */
  private blocks = 0;
  private freeBlocks: number[] = [];
  private root: Leaf | Inner;
  length = 0;

  constructor(private readonly els: ElementTable) {
    this.root = this.newLeaf();
  }

  /** The element id at offset `at` of `leaf`. */
  idAt(leaf: Leaf, at: number): number {
    return this.pool[leaf.base + at] as number;
  }

  insert(id: number): void {
    const score = this.els.score(id);
    const member = this.els.member(id);
    const path: Inner[] = [];
    const idx: number[] = [];
    let n = this.root;
    while (n instanceof Inner) {
      const i = childFor(n, score, member);
      n.counts[i] = (n.counts[i] as number) + 1;
      path.push(n);
      idx.push(i);
      n = n.children[i] as Leaf | Inner;
    }
    const leaf = n;
    const at = this.lowerBound(leaf, score, member);
    this.pool.copyWithin(leaf.base + at + 1, leaf.base + at, leaf.base + leaf.n);
    this.pool[leaf.base + at] = id;
    leaf.n++;
    this.length++;
    if (leaf.n <= LEAF_ENTRIES_MAX) return;
    // An insert at either end of the whole order splits off just that entry, so ascending (or
    // descending) loads leave full leaves behind instead of half-full ones.
    const cut = at === leaf.n - 1 && leaf.next === null ? leaf.n - 1 : at === 0 && leaf.prev === null ? 1 : leaf.n >> 1;
    const right = this.newLeaf();
    this.pool.copyWithin(right.base, leaf.base + cut, leaf.base + leaf.n);
    right.n = leaf.n - cut;
    leaf.n = cut;
    right.next = leaf.next;
    right.prev = leaf;
    if (leaf.next) leaf.next.prev = right;
    leaf.next = right;
    const first = this.idAt(right, 0);
    this.addChild(path, idx, path.length - 1, leaf, right, this.els.score(first), this.els.member(first), leaf.n, right.n);
  }

  /** Puts `right` after `left` in path[depth] (a new root when depth < 0), splitting upwards. */
  private addChild(path: Inner[], idx: number[], depth: number, left: Leaf | Inner, right: Leaf | Inner, sepScore: number, sepMember: Key, leftCount: number, rightCount: number): void {
    if (depth < 0) {
      const r = new Inner();
      r.children = [left, right];
      r.counts = [leftCount, rightCount];
      r.sepScores = [-Infinity, sepScore];
      r.sepMembers = ['', sepMember];
      this.root = r;
      return;
    }
    const p = path[depth] as Inner;
    const i = idx[depth] as number;
    p.counts[i] = leftCount;
    p.children.splice(i + 1, 0, right);
    p.counts.splice(i + 1, 0, rightCount);
    p.sepScores.splice(i + 1, 0, sepScore);
    p.sepMembers.splice(i + 1, 0, sepMember);
    if (p.children.length <= INNER_CHILDREN_MAX) return;
    const q = new Inner();
    const half = p.children.length >> 1;
    q.children = p.children.splice(half);
    q.counts = p.counts.splice(half);
    q.sepScores = p.sepScores.splice(half);
    q.sepMembers = p.sepMembers.splice(half);
    this.addChild(path, idx, depth - 1, p, q, q.sepScores[0] as number, q.sepMembers[0] as Key, sum(p.counts), sum(q.counts));
  }

  /** Removes element `id` (its score and member still in the table); false when it is not in the tree. */
  delete(id: number): boolean {
    const score = this.els.score(id);
    const member = this.els.member(id);
    const path: Inner[] = [];
    const idx: number[] = [];
    let n = this.root;
    while (n instanceof Inner) {
      const i = childFor(n, score, member);
      path.push(n);
      idx.push(i);
      n = n.children[i] as Leaf | Inner;
    }
    const leaf = n;
    const at = this.lowerBound(leaf, score, member);
    if (at >= leaf.n || this.idAt(leaf, at) !== id) return false;
    for (let d = 0; d < path.length; d++) (path[d] as Inner).counts[idx[d] as number]! -= 1;
    this.pool.copyWithin(leaf.base + at, leaf.base + at + 1, leaf.base + leaf.n);
    leaf.n--;
    this.length--;
    this.rebalance(leaf, path, idx);
    return true;
  }

  /** After a deletion from `leaf`: drop it when empty, or merge it with its right sibling when both fit. */
  private rebalance(leaf: Leaf, path: Inner[], idx: number[]): void {
    const depth = path.length - 1;
    if (depth < 0) return;
    const p = path[depth] as Inner;
    const i = idx[depth] as number;
    const sib = p.children[i + 1];
    if (leaf.n > 0 && !(leaf.n < LEAF_ENTRIES_MERGE_BELOW && sib instanceof Leaf && leaf.n + sib.n <= LEAF_ENTRIES_MAX)) return;
    let gone: Leaf = leaf;
    let at = i;
    if (leaf.n > 0 && sib instanceof Leaf) {
      // Merge the sibling into this leaf; the sibling's slot (and separator) goes away.
      this.pool.copyWithin(leaf.base + leaf.n, sib.base, sib.base + sib.n);
      leaf.n += sib.n;
      p.counts[i] = leaf.n;
      gone = sib;
      at = i + 1;
    }
    if (gone.prev) gone.prev.next = gone.next;
    if (gone.next) gone.next.prev = gone.prev;
    this.freeBlocks.push(gone.base);
    this.removeChild(path, idx, depth, at);
  }

  private removeChild(path: Inner[], idx: number[], depth: number, at: number): void {
    const p = path[depth] as Inner;
    p.children.splice(at, 1);
    p.counts.splice(at, 1);
    p.sepScores.splice(at, 1);
    p.sepMembers.splice(at, 1);
    if (p.children.length === 0 && depth > 0) return this.removeChild(path, idx, depth - 1, idx[depth - 1] as number);
    if (p.children.length === 0) this.root = this.newLeaf();
    while (this.root instanceof Inner && this.root.children.length === 1) this.root = this.root.children[0] as Leaf | Inner;
  }

  /** 0-based rank of element `id`, known to be in the tree. */
  rankOf(id: number): number {
    const score = this.els.score(id);
    const member = this.els.member(id);
    let rank = 0;
    let n = this.root;
    while (n instanceof Inner) {
      const i = childFor(n, score, member);
      for (let k = 0; k < i; k++) rank += n.counts[k] as number;
      n = n.children[i] as Leaf | Inner;
    }
    const at = this.lowerBound(n, score, member);
    if (at >= n.n || this.idAt(n, at) !== id) throw new Error('OrderTree.rankOf: element not in the tree');
    return rank + at;
  }

  /** The leaf and offset of 0-based `rank` (caller checks 0 <= rank < length). */
  locate(rank: number): { leaf: Leaf; at: number } {
    let n = this.root;
    let r = rank;
    while (n instanceof Inner) {
      let i = 0;
      while (r >= (n.counts[i] as number)) r -= n.counts[i++] as number;
      n = n.children[i] as Leaf | Inner;
    }
    return { leaf: n, at: r };
  }

  /**
   * How many leading elements satisfy `pred`, found by descent (exact when `pred` holds for a
   * prefix of the key order, which every score search and every lex search over equal scores is;
   * otherwise, as Redis's skiplist, an answer that depends on the structure).
   */
  prefixCount(pred: (member: Key, score: number) => boolean): number {
    let rank = 0;
    let n = this.root;
    while (n instanceof Inner) {
      let lo = 1;
      let hi = n.children.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (pred(n.sepMembers[mid] as Key, n.sepScores[mid] as number)) lo = mid + 1;
        else hi = mid;
      }
      for (let k = 0; k < lo - 1; k++) rank += n.counts[k] as number;
      n = n.children[lo - 1] as Leaf | Inner;
    }
    let k = 0;
    while (k < n.n && pred(this.els.member(this.idAt(n, k)), this.els.score(this.idAt(n, k)))) k++;
    return rank + k;
  }

  /** After the table renumbered its ids (`remap`: old -> new): rewrite the leaves into a pool that fits them. */
  renumber(remap: Int32Array): void {
    let first = this.root;
    while (first instanceof Inner) first = first.children[0] as Leaf | Inner;
    let leaves = 0;
    for (let l: Leaf | null = first; l; l = l.next) leaves++;
    const pool = new Int32Array(LEAF_BLOCK_IDS * Math.max(POOL_BLOCKS_MIN, leaves + (leaves >> 2)));
    let b = 0;
    for (let l: Leaf | null = first; l; l = l.next, b++) {
      const base = b * LEAF_BLOCK_IDS;
      for (let k = 0; k < l.n; k++) pool[base + k] = remap[this.pool[l.base + k] as number] as number;
      l.base = base;
    }
    this.pool = pool;
    this.blocks = b;
    this.freeBlocks = [];
  }

  private newLeaf(): Leaf {
    const free = this.freeBlocks.pop();
    if (free !== undefined) return new Leaf(free);
    const base = this.blocks++ * LEAF_BLOCK_IDS;
    if (base + LEAF_BLOCK_IDS > this.pool.length) {
      const grown = new Int32Array(this.pool.length + LEAF_BLOCK_IDS * ((this.blocks >> 1) + POOL_BLOCKS_MIN));
      grown.set(this.pool);
      this.pool = grown;
    }
    return new Leaf(base);
  }

  /** The first offset of `leaf` not before (score, member). */
  private lowerBound(leaf: Leaf, score: number, member: Key): number {
    let lo = 0;
    let hi = leaf.n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const id = this.pool[leaf.base + mid] as number;
      const s = this.els.score(id);
      if (s < score || (s === score && this.els.memberBefore(id, member))) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}

/** The child of `n` whose range holds (score, member): the last i >= 1 with sep[i] <= key, else 0. */
function childFor(n: Inner, score: number, member: Key): number {
  let lo = 1;
  let hi = n.children.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(score, member, n.sepScores[mid] as number, n.sepMembers[mid] as Key)) hi = mid;
    else lo = mid + 1;
  }
  return lo - 1;
}

/** The first index of the small form's sorted parallel arrays (`scores`, `members`) not before (score, member). */
function lowerBound(scores: readonly number[], members: readonly Key[], score: number, member: Key): number {
  let lo = 0;
  let hi = members.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(scores[mid] as number, members[mid] as Key, score, member)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function compareLex(member: Key, bound: LexBound): number {
  if (bound.kind === 'min') return 1;
  if (bound.kind === 'max') return -1;
  return member < bound.value ? -1 : member > bound.value ? 1 : 0;
}

function lexGteMin(member: Key, r: LexRange): boolean {
  const c = compareLex(member, r.min);
  return r.min.kind === 'value' && !r.min.exclusive ? c >= 0 : c > 0;
}

function lexLteMax(member: Key, r: LexRange): boolean {
  const c = compareLex(member, r.max);
  return r.max.kind === 'value' && !r.max.exclusive ? c <= 0 : c < 0;
}

/** Redis zslIsInLexRange's first test: a range that can hold nothing ('-' and '+' count as exclusive). */
export function lexRangeEmpty(r: LexRange): boolean {
  const { min, max } = r;
  let c: number;
  if (min.kind === max.kind && min.kind !== 'value') c = 0;
  else if (min.kind === 'min' || max.kind === 'max') c = -1;
  else if (min.kind === 'max' || max.kind === 'min') c = 1;
  else if (min.kind === 'value' && max.kind === 'value') c = min.value < max.value ? -1 : min.value > max.value ? 1 : 0;
  else c = 0;
  const minEx = min.kind !== 'value' || min.exclusive;
  const maxEx = max.kind !== 'value' || max.exclusive;
  return c > 0 || (c === 0 && (minEx || maxEx));
}

export function scoreRangeEmpty(r: ScoreRange): boolean {
  return r.min > r.max || (r.min === r.max && (r.minEx || r.maxEx));
}

function scoreGteMin(score: number, r: ScoreRange): boolean {
  return r.minEx ? score > r.min : score >= r.min;
}

function scoreLteMax(score: number, r: ScoreRange): boolean {
  return r.maxEx ? score < r.max : score <= r.max;
}

/** A range test split in its two halves, so one search serves scores and lex alike. */
interface Bounds {
  readonly empty: boolean;
  gteMin(member: Key, score: number): boolean;
  lteMax(member: Key, score: number): boolean;
}

function scoreBounds(r: ScoreRange): Bounds {
  return { empty: scoreRangeEmpty(r), gteMin: (_m, s) => scoreGteMin(s, r), lteMax: (_m, s) => scoreLteMax(s, r) };
}

function lexBounds(r: LexRange): Bounds {
  return { empty: lexRangeEmpty(r), gteMin: (m) => lexGteMin(m, r), lteMax: (m) => lexLteMax(m, r) };
}

/** The large form: the elements by id, and their ids in (score, member) order. */
class Large {
  readonly els = new ElementTable();
  readonly tree = new OrderTree(this.els);

  entry(id: number): ZEntry {
    return [this.els.member(id), this.els.score(id)];
  }
}

export class SortedSet {
  // Small form (Redis's listpack): parallel arrays in (score, member) order; `big` is null.
  private members: Key[] = [];
  private scores: number[] = [];
  // Large form (OBJECT ENCODING says 'skiplist', as Redis), once the listpack limits are passed; never goes back.
  private big: Large | null = null;
  private memberBytes = 0;

  /** `limits`: the live zset-max-listpack-* settings (the store's, which CONFIG SET changes). */
  constructor(private readonly limits: Readonly<EncodingLimits> = REDIS_ENCODING_LIMITS) {}

  get size(): number {
    return this.big ? this.big.tree.length : this.members.length;
  }

  get encoding(): 'listpack' | 'skiplist' {
    return this.big ? 'skiplist' : 'listpack';
  }

  get bytes(): number {
    const perEntry = this.big ? LARGE_ENTRY_OVERHEAD_BYTES : SMALL_ENTRY_OVERHEAD_BYTES;
    return SET_OVERHEAD_BYTES + this.memberBytes + perEntry * this.size;
  }

  score(member: Key): number | undefined {
    if (this.big) {
      const id = this.big.els.find(member);
      return id < 0 ? undefined : this.big.els.score(id);
    }
    const i = this.members.indexOf(member);
    return i === -1 ? undefined : this.scores[i];
  }

  has(member: Key): boolean {
    return this.score(member) !== undefined;
  }

  /**
   * While true, only the entry count converts a small set (Redis's loader keeps a listpack payload
   * whose members pass zset-max-listpack-value: it checks only the length). Loaders only.
   */
  loadingListpack = false;

  /** Adds or moves `member` to `score`. True when the member is new. */
  set(member: Key, score: number): boolean {
    if (Number.isNaN(score)) throw new Error('SortedSet.set: NaN score');
    if (this.big) return this.setBig(this.big, member, score);
    const i = this.members.indexOf(member);
    // As Redis's zsetAdd, only a new member converts: an update stays in place even after the
    // limits were lowered (an encoding converts only upward, and only as the set grows).
    if (i === -1 && (this.members.length >= this.limits.zsetListpackEntries || (member.length > this.limits.zsetListpackValueBytes && !this.loadingListpack))) {
      return this.setBig(this.convertToSkiplist(), member, score);
    }
    if (i !== -1) {
      if (this.scores[i] === score) return false;
      this.members.splice(i, 1);
      this.scores.splice(i, 1);
    }
    const at = lowerBound(this.scores, this.members, score, member);
    this.members.splice(at, 0, member);
    this.scores.splice(at, 0, score);
    if (i === -1) this.memberBytes += member.length;
    return i === -1;
  }

  delete(member: Key): boolean {
    if (this.big) {
      const { els, tree } = this.big;
      const id = els.find(member);
      if (id < 0) return false;
      if (!tree.delete(id)) throw new Error('SortedSet.delete: an indexed member is not in the tree');
      els.remove(id);
      if (els.sparse) tree.renumber(els.compact());
    } else {
      const i = this.members.indexOf(member);
      if (i === -1) return false;
      this.members.splice(i, 1);
      this.scores.splice(i, 1);
    }
    this.memberBytes -= member.length;
    return true;
  }

  /** Ascending by (score, member). */
  *entries(): IterableIterator<ZEntry> {
    yield* this.walk(0, false);
  }

  /** 0-based rank of `member` (from the highest score when `rev`), undefined when absent. */
  rank(member: Key, rev = false): number | undefined {
    let r: number;
    if (this.big) {
      const id = this.big.els.find(member);
      if (id < 0) return undefined;
      r = this.big.tree.rankOf(id);
    } else {
      r = this.members.indexOf(member);
      if (r === -1) return undefined;
    }
    return rev ? this.size - 1 - r : r;
  }

  /** The element at 0-based `rank` in ascending order, undefined when out of range. */
  at(rank: number): ZEntry | undefined {
    if (!Number.isInteger(rank) || rank < 0 || rank >= this.size) return undefined;
    if (this.big) {
      const { leaf, at } = this.big.tree.locate(rank);
      return this.big.entry(this.big.tree.idAt(leaf, at));
    }
    return [this.members[rank] as Key, this.scores[rank] as number];
  }

  /**
   * ZRANGE by index: `start`/`stop` inclusive, negative counts from the end (as Redis), `rev`
   * indexes from the highest score. Out-of-range bounds are clamped; an empty window gives [].
   */
  rangeByRank(start: number, stop: number, rev = false): ZEntry[] {
    const out: ZEntry[] = [];
    this.visitRank(this.rankCount(start, stop), start, rev, (m, s) => {
      out.push([m, s]);
    });
    return out;
  }

  /** How many elements rangeByRank(start, stop) has (ZRANGE writes the count before the elements). */
  rankCount(start: number, stop: number): number {
    const n = this.size;
    if (start < 0) start = n + start;
    if (stop < 0) stop = n + stop;
    if (start < 0) start = 0;
    if (start > stop || start >= n) return 0;
    if (stop >= n) stop = n - 1;
    return stop - start + 1;
  }

  /** rangeByRank's members (no scores), in its order, written to `sink`: ZRANGE's reply path. */
  writeMembersByRank(sink: MemberSink, count: number, start: number, rev: boolean): void {
    if (count === 0) return;
    if (!this.big) {
      const n = this.size;
      if (start < 0) start = Math.max(0, n + start);
      const step = rev ? -1 : 1;
      const members = this.members;
      for (let i = rev ? n - 1 - start : start, left = count; left > 0; i += step, left--) {
        const m = members[i] as Key;
        sink.bulkLatin1(m, 0, m.length);
      }
      return;
    }
    this.visitRank(count, start, rev, (m) => sink.bulkLatin1(m, 0, m.length));
  }

  /**
   * rangeByRank's elements, in its order, to `visit` (`count` from rankCount): ZRANGE's reply
   * path, with no entry array per element.
   */
  visitRank(count: number, start: number, rev: boolean, visit: (member: Key, score: number) => void): void {
    if (count === 0) return;
    const n = this.size;
    if (start < 0) start = Math.max(0, n + start);
    const from = rev ? n - 1 - start : start;
    if (!this.big) {
      // The listpack form is two arrays: index them (no generator per call).
      const step = rev ? -1 : 1;
      for (let i = from, left = count; left > 0; i += step, left--) visit(this.members[i] as Key, this.scores[i] as number);
      return;
    }
    let left = count;
    for (const [m, s] of this.walk(from, rev)) {
      visit(m, s);
      if (--left === 0) return;
    }
  }

  rangeByScore(range: ScoreRange, window: RangeWindow = {}): ZEntry[] {
    return this.rangeBy(scoreBounds(range), window);
  }

  /** Meaningful when all scores are equal (as in Redis, whose results we reproduce otherwise too for small sets). */
  rangeByLex(range: LexRange, window: RangeWindow = {}): ZEntry[] {
    return this.rangeBy(lexBounds(range), window);
  }

  countByScore(range: ScoreRange): number {
    return this.countIn(scoreBounds(range));
  }

  countByLex(range: LexRange): number {
    return this.countIn(lexBounds(range));
  }

  /**
   * One ZSCAN step from `cursor`, examining about `count` elements; returns the next cursor (0 =
   * done). The listpack form returns everything at once, as Redis does; the large form walks
   * member positions, so an element present for the whole walk is returned at least once.
   */
  scan(cursor: number, count: number, emit: (member: Key, score: number) => void): number {
    const big = this.big;
    if (big) return big.els.scan(cursor, count, (id) => emit(big.els.member(id), big.els.score(id)));
    for (let i = 0; i < this.members.length; i++) emit(this.members[i] as Key, this.scores[i] as number);
    return 0;
  }

  private setBig(big: Large, member: Key, score: number): boolean {
    const { els, tree } = big;
    const id = els.find(member);
    if (id >= 0) {
      if (els.score(id) === score) return false;
      // Out of the order under the old score, back in under the new one.
      tree.delete(id);
      els.setScore(id, score);
      tree.insert(id);
      return false;
    }
    tree.insert(els.add(member, score));
    this.memberBytes += member.length;
    return true;
  }

  /** Switch to the skiplist form now (a copy of a skiplist-encoded zset stays one, as in Redis: object-codec.ts). */
  toSkiplist(): void {
    if (!this.big) this.convertToSkiplist();
  }

  private convertToSkiplist(): Large {
    const big = new Large();
    for (let i = 0; i < this.members.length; i++) big.tree.insert(big.els.add(this.members[i] as Key, this.scores[i] as number));
    this.big = big;
    this.members = [];
    this.scores = [];
    return big;
  }

  /** Elements from ascending rank `from`, walking up (or down when `rev`). */
  private *walk(from: number, rev: boolean): IterableIterator<ZEntry> {
    if (from < 0 || from >= this.size) return;
    const big = this.big;
    if (big) {
      let { leaf, at } = big.tree.locate(from);
      for (let l: Leaf | null = leaf; l; l = rev ? l.prev : l.next) {
        if (l !== leaf) at = rev ? l.n - 1 : 0;
        for (let i = at; rev ? i >= 0 : i < l.n; i += rev ? -1 : 1) yield big.entry(big.tree.idAt(l, i));
      }
      return;
    }
    // Snapshot the arrays: a caller never mutates while walking, but the walk must not see a half-moved element.
    const members = this.members;
    const scores = this.scores;
    for (let i = from; rev ? i >= 0 : i < members.length; i += rev ? -1 : 1) yield [members[i] as Key, scores[i] as number];
  }

  /** Redis zzlIsInRange / zslIsInRange: the range is non-empty and overlaps [first, last]. */
  private overlaps(b: Bounds): boolean {
    if (b.empty || this.size === 0) return false;
    const first = this.at(0) as ZEntry;
    const last = this.at(this.size - 1) as ZEntry;
    return b.gteMin(last[0], last[1]) && b.lteMax(first[0], first[1]);
  }

  /** Ascending rank of the first element >= min (Redis's *FirstIn*Range), or -1. */
  private firstIn(b: Bounds): number {
    if (!this.overlaps(b)) return -1;
    let r: number;
    if (this.big) {
      r = this.big.tree.prefixCount((m, s) => !b.gteMin(m, s));
    } else {
      r = 0;
      while (r < this.members.length && !b.gteMin(this.members[r] as Key, this.scores[r] as number)) r++;
    }
    const e = this.at(r);
    return e && b.lteMax(e[0], e[1]) ? r : -1;
  }

  /** Ascending rank of the last element <= max (Redis's *LastIn*Range), or -1. */
  private lastIn(b: Bounds): number {
    if (!this.overlaps(b)) return -1;
    let r: number;
    if (this.big) {
      r = this.big.tree.prefixCount((m, s) => b.lteMax(m, s)) - 1;
    } else {
      r = this.members.length - 1;
      while (r >= 0 && !b.lteMax(this.members[r] as Key, this.scores[r] as number)) r--;
    }
    const e = this.at(r);
    return e && b.gteMin(e[0], e[1]) ? r : -1;
  }

  private rangeBy(b: Bounds, window: RangeWindow): ZEntry[] {
    const rev = window.rev === true;
    const offset = window.offset ?? 0;
    const limit = window.limit ?? -1;
    const out: ZEntry[] = [];
    if (offset < 0 || limit === 0) return out;
    const start = rev ? this.lastIn(b) : this.firstIn(b);
    if (start === -1) return out;
    const from = rev ? start - offset : start + offset;
    for (const [m, s] of this.walk(from, rev)) {
      if (rev ? !b.gteMin(m, s) : !b.lteMax(m, s)) break;
      out.push([m, s]);
      if (out.length === limit) break;
    }
    return out;
  }

  private countIn(b: Bounds): number {
    const first = this.firstIn(b);
    if (first === -1) return 0;
    if (this.big) {
      const last = this.lastIn(b);
      return last === -1 ? 0 : last - first + 1;
    }
    let n = 0;
    for (let i = first; i < this.members.length && b.lteMax(this.members[i] as Key, this.scores[i] as number); i++) n++;
    return n;
  }
}
