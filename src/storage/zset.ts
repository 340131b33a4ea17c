// SortedSet: the value of a zset key — member (Key, latin1 bytes) -> score (never NaN), ordered
// by score, ties by member bytes (memcmp, as Redis). Owns its two representations (sorted
// parallel arrays while small, an order-statistic B+tree plus a member index once large) and the range
// searches the commands need. Never logs, never touches the keyspace: the store mutates it in
// `apply`, commands only read it.

import { DenseTable } from './dense-table.js';
import type { Key } from './types.js';

export type ZEntry = readonly [member: Key, score: number];

/** Redis 7.0 defaults: zset-max-listpack-entries / zset-max-listpack-value. */
export const ZSET_LISTPACK_ENTRIES_MAX = 128;
export const ZSET_LISTPACK_VALUE_BYTES_MAX = 64;
/** Rough heap cost of one element in each representation (for MEMORY USAGE / liveBytes). */
const SMALL_ENTRY_OVERHEAD_BYTES = 32;
const LARGE_ENTRY_OVERHEAD_BYTES = 90;
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

class Leaf {
  members: Key[] = [];
  scores: number[] = [];
  prev: Leaf | null = null;
  next: Leaf | null = null;
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
 * probes). Leaves form a doubly linked list for range walks in both directions.
 */
class OrderTree {
  private root: Leaf | Inner = new Leaf();
  length = 0;

  insert(member: Key, score: number): void {
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
    const at = lowerBound(n.scores, n.members, score, member);
    n.members.splice(at, 0, member);
    n.scores.splice(at, 0, score);
    this.length++;
    if (n.members.length > LEAF_ENTRIES_MAX) {
      const right = new Leaf();
      const half = n.members.length >> 1;
      right.members = n.members.splice(half);
      right.scores = n.scores.splice(half);
      right.next = n.next;
      right.prev = n;
      if (n.next) n.next.prev = right;
      n.next = right;
      this.addChild(path, idx, path.length - 1, n, right, right.scores[0] as number, right.members[0] as Key, n.members.length, right.members.length);
    }
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

  /** Removes the element (score, member); false when absent. */
  delete(member: Key, score: number): boolean {
    const path: Inner[] = [];
    const idx: number[] = [];
    let n = this.root;
    while (n instanceof Inner) {
      const i = childFor(n, score, member);
      path.push(n);
      idx.push(i);
      n = n.children[i] as Leaf | Inner;
    }
    const at = lowerBound(n.scores, n.members, score, member);
    if (n.members[at] !== member || n.scores[at] !== score) return false;
    for (let d = 0; d < path.length; d++) (path[d] as Inner).counts[idx[d] as number]! -= 1;
    n.members.splice(at, 1);
    n.scores.splice(at, 1);
    this.length--;
    this.rebalance(n, path, idx);
    return true;
  }

  /** After a deletion from `leaf`: drop it when empty, or merge it with its right sibling when both fit. */
  private rebalance(leaf: Leaf, path: Inner[], idx: number[]): void {
    const depth = path.length - 1;
    if (depth < 0) return;
    const p = path[depth] as Inner;
    const i = idx[depth] as number;
    const sib = p.children[i + 1];
    if (leaf.members.length > 0 && !(leaf.members.length < LEAF_ENTRIES_MERGE_BELOW && sib instanceof Leaf && leaf.members.length + sib.members.length <= LEAF_ENTRIES_MAX)) return;
    let gone: Leaf = leaf;
    let at = i;
    if (leaf.members.length > 0 && sib instanceof Leaf) {
      // Merge the sibling into this leaf; the sibling's slot (and separator) goes away.
      leaf.members.push(...sib.members);
      leaf.scores.push(...sib.scores);
      p.counts[i] = leaf.members.length;
      gone = sib;
      at = i + 1;
    }
    if (gone.prev) gone.prev.next = gone.next;
    if (gone.next) gone.next.prev = gone.prev;
    this.removeChild(path, idx, depth, at);
  }

  private removeChild(path: Inner[], idx: number[], depth: number, at: number): void {
    const p = path[depth] as Inner;
    p.children.splice(at, 1);
    p.counts.splice(at, 1);
    p.sepScores.splice(at, 1);
    p.sepMembers.splice(at, 1);
    if (p.children.length === 0 && depth > 0) return this.removeChild(path, idx, depth - 1, idx[depth - 1] as number);
    if (p.children.length === 0) this.root = new Leaf();
    while (this.root instanceof Inner && this.root.children.length === 1) this.root = this.root.children[0] as Leaf | Inner;
  }

  /** 0-based rank of an element known to be present. */
  rankOf(member: Key, score: number): number {
    let rank = 0;
    let n = this.root;
    while (n instanceof Inner) {
      const i = childFor(n, score, member);
      for (let k = 0; k < i; k++) rank += n.counts[k] as number;
      n = n.children[i] as Leaf | Inner;
    }
    const at = lowerBound(n.scores, n.members, score, member);
    if (n.members[at] !== member) throw new Error('OrderTree.rankOf: member not in the tree');
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
    while (k < n.members.length && pred(n.members[k] as Key, n.scores[k] as number)) k++;
    return rank + k;
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

/**
 * The first index of the sorted parallel arrays (`scores`, `members`) not before (score, member):
 * the search both a tree leaf and the small form use.
 */
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

/** The large form's member index: member -> score, with positions as ZSCAN cursors (DenseTable). */
class MemberIndex {
  private readonly table = new DenseTable();
  private readonly scores: number[] = [];

  get(member: Key): number | undefined {
    const pos = this.table.positionOf(member);
    return pos < 0 ? undefined : this.scores[pos];
  }

  set(member: Key, score: number): void {
    const pos = this.table.positionOf(member);
    this.scores[pos < 0 ? this.table.add(member) : pos] = score;
  }

  delete(member: Key): void {
    this.table.remove(
      member,
      (from, to) => {
        this.scores[to] = this.scores[from] as number;
      },
      (positions) => {
        this.scores.length = positions;
      },
    );
  }

  scan(cursor: number, count: number, emit: (member: Key, score: number) => void): number {
    return this.table.scan(cursor, count, (pos) => emit(this.table.memberAt(pos) as Key, this.scores[pos] as number));
  }
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

export class SortedSet {
  // Small form (Redis's listpack): parallel arrays in (score, member) order; `big` is null.
  private members: Key[] = [];
  private scores: number[] = [];
  // Large form (OBJECT ENCODING says 'skiplist', as Redis), once the listpack limits are passed; never goes back.
  private big: { readonly tree: OrderTree; readonly dict: MemberIndex } | null = null;
  private memberBytes = 0;

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
    if (this.big) return this.big.dict.get(member);
    const i = this.members.indexOf(member);
    return i === -1 ? undefined : this.scores[i];
  }

  has(member: Key): boolean {
    return this.score(member) !== undefined;
  }

  /** Adds or moves `member` to `score`. True when the member is new. */
  set(member: Key, score: number): boolean {
    if (Number.isNaN(score)) throw new Error('SortedSet.set: NaN score');
    if (!this.big && (member.length > ZSET_LISTPACK_VALUE_BYTES_MAX || (this.members.length >= ZSET_LISTPACK_ENTRIES_MAX && !this.members.includes(member)))) {
      this.convertToSkiplist();
    }
    if (this.big) return this.setBig(member, score);
    const i = this.members.indexOf(member);
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
      const score = this.big.dict.get(member);
      if (score === undefined) return false;
      this.big.dict.delete(member);
      this.big.tree.delete(member, score);
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
      const score = this.big.dict.get(member);
      if (score === undefined) return undefined;
      r = this.big.tree.rankOf(member, score);
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
      return [leaf.members[at] as Key, leaf.scores[at] as number];
    }
    return [this.members[rank] as Key, this.scores[rank] as number];
  }

  /**
   * ZRANGE by index: `start`/`stop` inclusive, negative counts from the end (as Redis), `rev`
   * indexes from the highest score. Out-of-range bounds are clamped; an empty window gives [].
   */
  rangeByRank(start: number, stop: number, rev = false): ZEntry[] {
    const n = this.size;
    if (start < 0) start = n + start;
    if (stop < 0) stop = n + stop;
    if (start < 0) start = 0;
    if (start > stop || start >= n) return [];
    if (stop >= n) stop = n - 1;
    const out: ZEntry[] = [];
    const from = rev ? n - 1 - start : start;
    for (const e of this.walk(from, rev)) {
      out.push(e);
      if (out.length === stop - start + 1) break;
    }
    return out;
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
    if (this.big) return this.big.dict.scan(cursor, count, emit);
    for (let i = 0; i < this.members.length; i++) emit(this.members[i] as Key, this.scores[i] as number);
    return 0;
  }

  private setBig(member: Key, score: number): boolean {
    const big = this.big as { readonly tree: OrderTree; readonly dict: MemberIndex };
    const cur = big.dict.get(member);
    if (cur === score) return false;
    if (cur !== undefined) big.tree.delete(member, cur);
    big.tree.insert(member, score);
    big.dict.set(member, score);
    if (cur !== undefined) return false;
    this.memberBytes += member.length;
    return true;
  }

  /** Switch to the skiplist form now (a copy of a skiplist-encoded zset stays one, as in Redis: object-codec.ts). */
  toSkiplist(): void {
    if (!this.big) this.convertToSkiplist();
  }

  private convertToSkiplist(): void {
    const tree = new OrderTree();
    const dict = new MemberIndex();
    for (let i = 0; i < this.members.length; i++) {
      const m = this.members[i] as Key;
      tree.insert(m, this.scores[i] as number);
      dict.set(m, this.scores[i] as number);
    }
    this.big = { tree, dict };
    this.members = [];
    this.scores = [];
  }

  /** Elements from ascending rank `from`, walking up (or down when `rev`). */
  private *walk(from: number, rev: boolean): IterableIterator<ZEntry> {
    if (from < 0 || from >= this.size) return;
    if (this.big) {
      let { leaf, at } = this.big.tree.locate(from);
      for (let l: Leaf | null = leaf; l; l = rev ? l.prev : l.next) {
        const ms = l.members;
        const ss = l.scores;
        if (l !== leaf) at = rev ? ms.length - 1 : 0;
        for (let i = at; rev ? i >= 0 : i < ms.length; i += rev ? -1 : 1) yield [ms[i] as Key, ss[i] as number];
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
