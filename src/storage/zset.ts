// SortedSet: the value of a zset key — member (Key, latin1 bytes) -> score (never NaN), ordered
// by score, ties by member bytes (memcmp, as Redis). Owns its two representations (sorted
// parallel arrays while small, a skiplist with spans plus a Map once large) and the range
// searches the commands need. Never logs, never touches the keyspace: the store mutates it in
// `apply`, commands only read it.

import type { Key } from './types.js';

export type ZEntry = readonly [member: Key, score: number];

/** Redis 7.0 defaults: zset-max-listpack-entries / zset-max-listpack-value. */
export const ZSET_LISTPACK_ENTRIES_MAX = 128;
export const ZSET_LISTPACK_VALUE_BYTES_MAX = 64;
/** Redis ZSKIPLIST_MAXLEVEL and ZSKIPLIST_P: 2^64 elements' worth of levels, 1 in 4 promoted. */
const SKIPLIST_LEVEL_MAX = 32;
const SKIPLIST_P = 0.25;
/** Rough heap cost of one element in each representation (for MEMORY USAGE / liveBytes). */
const SMALL_ENTRY_OVERHEAD_BYTES = 24;
const NODE_OVERHEAD_BYTES = 120;
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

class ZNode {
  backward: ZNode | null = null;
  readonly next: Array<ZNode | null>;
  readonly span: number[];
  constructor(
    readonly member: Key,
    public score: number,
    level: number,
  ) {
    this.next = new Array<ZNode | null>(level).fill(null);
    this.span = new Array<number>(level).fill(0);
  }
}

/** Order of (score, member): JS string comparison of latin1 strings is memcmp of the bytes. */
function before(score: number, member: Key, s: number, m: Key): boolean {
  return score < s || (score === s && member < m);
}

function randomLevel(): number {
  let level = 1;
  while (level < SKIPLIST_LEVEL_MAX && Math.random() < SKIPLIST_P) level++;
  return level;
}

/** Redis's skiplist (zslInsert/zslDelete/zslGetRank...): O(log n) insert, delete, rank and seek. */
class SkipList {
  private readonly header = new ZNode('', 0, SKIPLIST_LEVEL_MAX);
  tail: ZNode | null = null;
  length = 0;
  private level = 1;

  get first(): ZNode | null {
    return this.header.next[0] ?? null;
  }

  insert(member: Key, score: number): ZNode {
    const update = new Array<ZNode>(SKIPLIST_LEVEL_MAX);
    const rank = new Array<number>(SKIPLIST_LEVEL_MAX).fill(0);
    let x = this.header;
    for (let i = this.level - 1; i >= 0; i--) {
      rank[i] = i === this.level - 1 ? 0 : (rank[i + 1] as number);
      for (let n = x.next[i]; n && before(n.score, n.member, score, member); n = x.next[i]) {
        rank[i] = (rank[i] as number) + (x.span[i] as number);
        x = n;
      }
      update[i] = x;
    }
    const level = randomLevel();
    if (level > this.level) {
      for (let i = this.level; i < level; i++) {
        rank[i] = 0;
        update[i] = this.header;
        this.header.span[i] = this.length;
      }
      this.level = level;
    }
    const node = new ZNode(member, score, level);
    const r0 = rank[0] as number;
    for (let i = 0; i < level; i++) {
      const u = update[i] as ZNode;
      node.next[i] = u.next[i] ?? null;
      u.next[i] = node;
      node.span[i] = (u.span[i] as number) - (r0 - (rank[i] as number));
      u.span[i] = r0 - (rank[i] as number) + 1;
    }
    for (let i = level; i < this.level; i++) (update[i] as ZNode).span[i] = ((update[i] as ZNode).span[i] as number) + 1;
    node.backward = update[0] === this.header ? null : (update[0] as ZNode);
    const after = node.next[0];
    if (after) after.backward = node;
    else this.tail = node;
    this.length++;
    return node;
  }

  delete(member: Key, score: number): boolean {
    const update = new Array<ZNode>(SKIPLIST_LEVEL_MAX);
    let x = this.header;
    for (let i = this.level - 1; i >= 0; i--) {
      for (let n = x.next[i]; n && before(n.score, n.member, score, member); n = x.next[i]) x = n;
      update[i] = x;
    }
    const node = x.next[0];
    if (!node || node.score !== score || node.member !== member) return false;
    for (let i = 0; i < this.level; i++) {
      const u = update[i] as ZNode;
      if (u.next[i] === node) {
        u.span[i] = (u.span[i] as number) + (node.span[i] as number) - 1;
        u.next[i] = node.next[i] ?? null;
      } else {
        u.span[i] = (u.span[i] as number) - 1;
      }
    }
    const after = node.next[0];
    if (after) after.backward = node.backward;
    else this.tail = node.backward;
    while (this.level > 1 && this.header.next[this.level - 1] === null) this.level--;
    this.length--;
    return true;
  }

  /** 0-based rank of an element known to be present. */
  rankOf(member: Key, score: number): number {
    let x = this.header;
    let rank = 0;
    for (let i = this.level - 1; i >= 0; i--) {
      for (let n = x.next[i]; n && (n.score < score || (n.score === score && n.member <= member)); n = x.next[i]) {
        rank += x.span[i] as number;
        x = n;
      }
      if (x !== this.header && x.member === member) return rank - 1;
    }
    throw new Error('SkipList.rankOf: member not in the list');
  }

  /** The node at 0-based `rank` (caller checks 0 <= rank < length). */
  at(rank: number): ZNode {
    const target = rank + 1;
    let x = this.header;
    let traversed = 0;
    for (let i = this.level - 1; i >= 0; i--) {
      for (let n = x.next[i]; n && traversed + (x.span[i] as number) <= target; n = x.next[i]) {
        traversed += x.span[i] as number;
        x = n;
      }
      if (traversed === target) return x;
    }
    throw new Error(`SkipList.at: rank ${rank} out of range (length ${this.length})`);
  }

  /**
   * How many leading elements satisfy `pred`, found by descent (exact when `pred` holds for a
   * prefix of the order, which every score search and every lex search over equal scores is).
   */
  prefixCount(pred: (member: Key, score: number) => boolean): number {
    let x = this.header;
    let rank = 0;
    for (let i = this.level - 1; i >= 0; i--) {
      for (let n = x.next[i]; n && pred(n.member, n.score); n = x.next[i]) {
        rank += x.span[i] as number;
        x = n;
      }
    }
    return rank;
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
  // Large form (Redis's skiplist + dict), once the listpack limits are passed; never goes back.
  private big: { readonly list: SkipList; readonly dict: Map<Key, ZNode> } | null = null;
  private memberBytes = 0;

  get size(): number {
    return this.big ? this.big.list.length : this.members.length;
  }

  get encoding(): 'listpack' | 'skiplist' {
    return this.big ? 'skiplist' : 'listpack';
  }

  get bytes(): number {
    const perEntry = this.big ? NODE_OVERHEAD_BYTES : SMALL_ENTRY_OVERHEAD_BYTES;
    return SET_OVERHEAD_BYTES + this.memberBytes + perEntry * this.size;
  }

  score(member: Key): number | undefined {
    if (this.big) return this.big.dict.get(member)?.score;
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
    // Redis 7.0's listpack stores a score as text and reads "-0" back as the integer 0.
    if (score === 0) score = 0;
    const i = this.members.indexOf(member);
    if (i !== -1) {
      if (this.scores[i] === score) return false;
      this.members.splice(i, 1);
      this.scores.splice(i, 1);
    }
    const at = this.smallInsertionPoint(member, score);
    this.members.splice(at, 0, member);
    this.scores.splice(at, 0, score);
    if (i === -1) this.memberBytes += member.length;
    return i === -1;
  }

  delete(member: Key): boolean {
    if (this.big) {
      const node = this.big.dict.get(member);
      if (!node) return false;
      this.big.dict.delete(member);
      this.big.list.delete(member, node.score);
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
      const node = this.big.dict.get(member);
      if (!node) return undefined;
      r = this.big.list.rankOf(member, node.score);
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
      const n = this.big.list.at(rank);
      return [n.member, n.score];
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

  private setBig(member: Key, score: number): boolean {
    const big = this.big as { readonly list: SkipList; readonly dict: Map<Key, ZNode> };
    const node = big.dict.get(member);
    if (node) {
      if (node.score === score) return false;
      const prev = node.backward;
      const next = node.next[0];
      // Redis zslUpdateScore: a score change that keeps the node's place is done in place.
      if ((prev === null || before(prev.score, prev.member, score, member)) && (!next || before(score, member, next.score, next.member))) {
        node.score = score;
        return false;
      }
      big.list.delete(member, node.score);
      big.dict.set(member, big.list.insert(member, score));
      return false;
    }
    big.dict.set(member, big.list.insert(member, score));
    this.memberBytes += member.length;
    return true;
  }

  private convertToSkiplist(): void {
    const list = new SkipList();
    const dict = new Map<Key, ZNode>();
    for (let i = 0; i < this.members.length; i++) {
      const m = this.members[i] as Key;
      dict.set(m, list.insert(m, this.scores[i] as number));
    }
    this.big = { list, dict };
    this.members = [];
    this.scores = [];
  }

  private smallInsertionPoint(member: Key, score: number): number {
    let lo = 0;
    let hi = this.members.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(this.scores[mid] as number, this.members[mid] as Key, score, member)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Elements from ascending rank `from`, walking up (or down when `rev`). */
  private *walk(from: number, rev: boolean): IterableIterator<ZEntry> {
    if (from < 0 || from >= this.size) return;
    if (this.big) {
      for (let n: ZNode | null = this.big.list.at(from); n; n = rev ? n.backward : n.next[0] ?? null) yield [n.member, n.score];
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
      r = this.big.list.prefixCount((m, s) => !b.gteMin(m, s));
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
      r = this.big.list.prefixCount((m, s) => b.lteMax(m, s)) - 1;
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
