// Set algebra of SINTER/SUNION/SDIFF(+CARD/STORE) and ZUNION/ZINTER/ZDIFF(+CARD/STORE): pure
// functions over read-only views of the inputs (a missing key is `undefined`, an empty set).
// Never touches the store: commands read the inputs, call these, then reply or log the result.

import type { Key } from '../../storage/types.js';
import type { ZEntry } from '../../storage/zset.js';
import type { Aggregate } from './zset-args.js';

/** What set algebra reads of a set. */
export interface MemberSource {
  readonly size: number;
  has(member: Key): boolean;
  members(): Iterable<Key>;
}

/** What sorted-set algebra reads of an input: a zset, or a set whose members score 1. */
export interface ScoreSource {
  readonly size: number;
  score(member: Key): number | undefined;
  entries(): Iterable<ZEntry>;
}

const bySizeAscending = <T extends { readonly size: number }>(xs: readonly (T | undefined)[]): (T | undefined)[] =>
  [...xs].sort((a, b) => (a?.size ?? 0) - (b?.size ?? 0));

/**
 * Members in every input, walking the smallest (as Redis), in its iteration order. With
 * `limit` > 0 the walk stops after that many (SINTERCARD LIMIT).
 */
export function interMembers(sets: readonly (MemberSource | undefined)[], limit = 0): Key[] {
  const sorted = bySizeAscending(sets);
  const first = sorted[0];
  const out: Key[] = [];
  if (first === undefined || sorted.some((s) => s === undefined || s.size === 0)) return out;
  const rest = sorted.slice(1) as MemberSource[];
  for (const m of first.members()) {
    if (rest.every((s) => s.has(m))) {
      out.push(m);
      if (out.length === limit) break;
    }
  }
  return out;
}

/** Members in any input, each once, in first-seen order. */
export function unionMembers(sets: readonly (MemberSource | undefined)[]): Key[] {
  const seen = new Set<Key>();
  for (const s of sets) if (s) for (const m of s.members()) seen.add(m);
  return [...seen];
}

/** Members of the first input in none of the others. */
export function diffMembers(sets: readonly (MemberSource | undefined)[]): Key[] {
  const first = sets[0];
  if (first === undefined) return [];
  const rest = sets.slice(1).filter((s): s is MemberSource => s !== undefined);
  const out: Key[] = [];
  for (const m of first.members()) if (!rest.some((s) => s.has(m))) out.push(m);
  return out;
}

/** A weighted score as Redis computes it: inf * 0 is NaN, which Redis turns into 0. */
function weighted(score: number, weight: number): number {
  const v = score * weight;
  return Number.isNaN(v) ? 0 : v;
}

/** Redis zunionInterAggregate: SUM of inf and -inf is 0 rather than NaN. */
function aggregate(target: number, v: number, how: Aggregate): number {
  if (how === 'min') return v < target ? v : target;
  if (how === 'max') return v > target ? v : target;
  const s = target + v;
  return Number.isNaN(s) ? 0 : s;
}

/** Redis's order of a sorted set: by score, ties by member bytes. */
export function sortEntries(scores: Map<Key, number>): ZEntry[] {
  return [...scores.entries()].sort((a, b) => (a[1] !== b[1] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

interface Weighted {
  readonly src: ScoreSource | undefined;
  readonly weight: number;
}

/**
 * ZUNION / ZINTER / ZDIFF of `sources` (weights by position), as (member, score) in sorted-set
 * order. Union and intersection walk the inputs from the smallest, as Redis does, so sums of
 * three or more scores round as they do there; ZDIFF keeps the first input's scores.
 */
export function combineZSets(op: 'union' | 'inter' | 'diff', sources: readonly (ScoreSource | undefined)[], weights: readonly number[], how: Aggregate): ZEntry[] {
  const acc = new Map<Key, number>();
  if (op === 'diff') {
    const first = sources[0];
    if (first === undefined) return [];
    const rest = sources.slice(1).filter((s): s is ScoreSource => s !== undefined);
    for (const [m, s] of first.entries()) if (!rest.some((r) => r.score(m) !== undefined)) acc.set(m, s);
    return sortEntries(acc);
  }
  const inputs: Weighted[] = sources.map((src, i) => ({ src, weight: weights[i] ?? 1 }));
  inputs.sort((a, b) => (a.src?.size ?? 0) - (b.src?.size ?? 0));
  if (op === 'union') {
    for (const { src, weight } of inputs) {
      if (!src) continue;
      for (const [m, s] of src.entries()) {
        const v = weighted(s, weight);
        const cur = acc.get(m);
        acc.set(m, cur === undefined ? v : aggregate(cur, v, how));
      }
    }
    return sortEntries(acc);
  }
  const [head, ...rest] = inputs;
  if (!head?.src || head.src.size === 0) return [];
  outer: for (const [m, s] of head.src.entries()) {
    let score = weighted(s, head.weight);
    for (const { src, weight } of rest) {
      const other = src?.score(m);
      if (other === undefined) continue outer;
      // Unlike the first input's, Redis does not turn these products' NaN (inf * 0) into 0: under
      // SUM the sum becomes NaN and then 0, under MIN/MAX the NaN loses every comparison.
      score = aggregate(score, other * weight, how);
    }
    acc.set(m, score);
  }
  return sortEntries(acc);
}

/** ZINTERCARD: how many members are in every input, stopping at `limit` when > 0. */
export function interCardZSets(sources: readonly (ScoreSource | undefined)[], limit: number): number {
  const sorted = bySizeAscending(sources);
  const first = sorted[0];
  if (first === undefined || sorted.some((s) => s === undefined || s.size === 0)) return 0;
  const rest = sorted.slice(1) as ScoreSource[];
  let n = 0;
  for (const [m] of first.entries()) {
    if (rest.every((s) => s.score(m) !== undefined)) {
      n++;
      if (n === limit) break;
    }
  }
  return n;
}
