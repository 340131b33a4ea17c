// SORT and SORT_RO (Redis sort.c, 7.0) over lists, sets and sorted sets: BY (a constant pattern
// means no sort; `key->field` reads a hash field), LIMIT, GET (repeatable, `#`), ASC/DESC, ALPHA
// and STORE, with Redis's ordering rules, errors and replies in RESP2 and RESP3. Owns the option
// parsing, the pattern lookups and the order; it never mutates what the store returns and writes
// only SORT ... STORE's destination, through ctx.write, as one entry (the old value's delete, then
// one rpush of the result; only the delete when the result is empty).

import type { CommandContext, CommandModule } from '../command-types.js';
import type { ReplicatedStore } from '../../storage/api.js';
import { keyFromBytes, keyToBytes, type Key, type Op } from '../../storage/types.js';
import { ERR_NOT_INTEGER, ERR_SYNTAX, ERR_WRONGTYPE, cString, isCSpace, isWord, parseIntClamped } from './args.js';
import { strtodWhole } from './zset-args.js';
import { specIn } from './spec.js';
import { key } from './key-specs.js';

const ERR_SCORE_CONVERSION = "ERR One or more scores can't be converted into double";
/** The smallest normal double: glibc's strtod reports ERANGE for a decimal that lands below it. */
const DBL_NORMAL_MIN = 2.2250738585072014e-308;

interface SortOptions {
  desc: boolean;
  alpha: boolean;
  limitStart: number;
  limitCount: number;
  /** The BY pattern, null when none. */
  by: Buffer | null;
  readonly gets: Buffer[];
  store: Key | null;
}

/**
 * Redis's option loop: words in any order, later ones win; a LIMIT that is not two integers
 * answers ERR_NOT_INTEGER, anything else unknown (STORE included, for SORT_RO) ERR_SYNTAX. Null,
 * with the error written, on the first bad option.
 */
function parseSortOptions(ctx: CommandContext, argv: readonly Buffer[], readonly: boolean): SortOptions | null {
  const o: SortOptions = { desc: false, alpha: false, limitStart: 0, limitCount: -1, by: null, gets: [], store: null };
  for (let j = 2; j < argv.length; j++) {
    const word = argv[j] as Buffer;
    const left = argv.length - j - 1;
    if (isWord(word, 'asc')) o.desc = false;
    else if (isWord(word, 'desc')) o.desc = true;
    else if (isWord(word, 'alpha')) o.alpha = true;
    else if (isWord(word, 'limit') && left >= 2) {
      const start = parseIntClamped(argv[j + 1] as Buffer);
      const count = start === null ? null : parseIntClamped(argv[j + 2] as Buffer);
      if (start === null || count === null) {
        ctx.out.error(ERR_NOT_INTEGER);
        return null;
      }
      o.limitStart = start;
      o.limitCount = count;
      j += 2;
    } else if (!readonly && isWord(word, 'store') && left >= 1) o.store = keyFromBytes(argv[++j] as Buffer);
    else if (isWord(word, 'by') && left >= 1) o.by = argv[++j] as Buffer;
    else if (isWord(word, 'get') && left >= 1) o.gets.push(argv[++j] as Buffer);
    else {
      ctx.out.error(ERR_SYNTAX);
      return null;
    }
  }
  return o;
}

/**
 * Redis lookupKeyByPattern: `#` is the element itself; else the first `*` (a pattern without one
 * reads nothing) is replaced by the element, and a non-empty `->field` after it reads that field
 * of a hash instead of a string. The pattern is searched as a C string (up to a NUL byte), the
 * pieces are copied whole. Null when the key is missing or of another type, or the field missing.
 */
function lookupByPattern(store: ReplicatedStore, pattern: Buffer, element: Key): Buffer | null {
  if (pattern[0] === 0x23 && (pattern.length === 1 || pattern[1] === 0)) return keyToBytes(element);
  const nul = pattern.indexOf(0);
  const cLen = nul === -1 ? pattern.length : nul;
  const star = pattern.subarray(0, cLen).indexOf(0x2a);
  if (star === -1) return null;
  const arrow = pattern.subarray(0, cLen).indexOf('->', star + 1);
  const hasField = arrow !== -1 && arrow + 2 < cLen;
  const keyBytes = Buffer.concat([pattern.subarray(0, star), keyToBytes(element), pattern.subarray(star + 1, hasField ? arrow : pattern.length)]);
  const key = keyFromBytes(keyBytes);
  if (hasField) {
    const h = store.getHash(key);
    return h?.get(keyFromBytes(pattern.subarray(arrow + 2))) ?? null;
  }
  return store.getValue(key) ?? null;
}

/**
 * A sort weight as Redis reads it: strtod of the value up to its first NUL, leading space allowed,
 * "" is 0; anything left over, NaN, overflow or underflow is null (the conversion error).
 */
function sortWeight(b: Buffer): number | null {
  const s = cString(b);
  if (s.length === 0) return 0;
  let i = 0;
  while (i < s.length && isCSpace(s.charCodeAt(i))) i++;
  if (i === s.length) return null;
  const r = strtodWhole(s.slice(i));
  if (r === null || Number.isNaN(r.value) || r.erange) return null;
  const mag = Math.abs(r.value);
  if (mag !== 0 && mag < DBL_NORMAL_MIN && !/^[+-]?0[xX]/.test(s.slice(i))) return null;
  return r.value;
}

/** strcmp: bytes up to the first NUL (the "C" collation redis-server runs with). */
function compareCStrings(a: string, b: string): number {
  const na = a.indexOf('\0');
  const nb = b.indexOf('\0');
  return compareBinary(na === -1 ? a : a.slice(0, na), nb === -1 ? b : b.slice(0, nb));
}

/** memcmp, then the shorter first (Redis compareStringObjects); latin1 strings compare as their bytes. */
function compareBinary(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface SortItem {
  readonly element: Key;
  score: number;
  /** ALPHA with BY: the weight's bytes (latin1), null when missing. */
  weight: string | null;
}

/** Redis sortCompare: numbers, ties by the elements' bytes; ALPHA by bytes (collated unless storing). */
function comparator(o: SortOptions): (x: SortItem, y: SortItem) => number {
  const sign = o.desc ? -1 : 1;
  const strings = o.store !== null ? compareBinary : compareCStrings;
  if (!o.alpha) return (x, y) => sign * (x.score > y.score ? 1 : x.score < y.score ? -1 : compareBinary(x.element, y.element));
  if (o.by === null) return (x, y) => sign * strings(x.element, y.element);
  return (x, y) => {
    if (x.weight === null || y.weight === null) return sign * (x.weight === y.weight ? 0 : x.weight === null ? -1 : 1);
    return sign * strings(x.weight, y.weight);
  };
}

/** The window Redis's LIMIT selects of `n` elements: [start, end] inclusive, empty when end < start. */
function limitWindow(n: number, limitStart: number, limitCount: number): { start: number; end: number } {
  let start = Math.min(Math.max(limitStart, 0), n);
  const count = Math.min(Math.max(limitCount, -1), n);
  let end = count < 0 ? n - 1 : start + count - 1;
  if (start >= n) {
    start = n - 1;
    end = n - 2;
  }
  if (end >= n) end = n - 1;
  return { start, end };
}

/**
 * The elements to output, in order, or null after a weight failed to convert. Without sorting
 * (a BY pattern with no `*`) a list or sorted set keeps its own order, reversed by DESC, and a set
 * its iteration order; Redis sorts a set anyway (ALPHA, no BY) when storing or for a script, so
 * that the stored list (or the script's effects) does not depend on the set's layout.
 */
function sortedElements(ctx: CommandContext, key: Key, o: SortOptions): Key[] | null {
  const { store } = ctx;
  const list = store.getList(key);
  const set = list === undefined ? store.getSet(key) : undefined;
  const zset = list === undefined && set === undefined ? store.getZSet(key) : undefined;
  let dontSort = o.by !== null && !cString(o.by).includes('*');
  if (dontSort && set !== undefined && (o.store !== null || ctx.inScript === true)) {
    dontSort = false;
    o.alpha = true;
    o.by = null;
  }
  const n = list?.size ?? set?.size ?? zset?.size ?? 0;
  const { start, end } = limitWindow(n, o.limitStart, o.limitCount);
  if (dontSort && list !== undefined) {
    if (end < start) return [];
    const from = o.desc ? n - 1 - end : start;
    const picked = [...list.range(from, from + end - start)];
    return o.desc ? picked.reverse() : picked;
  }
  if (dontSort && zset !== undefined) return zset.rangeByRank(start, end, o.desc).map(([m]) => m);
  const all = list !== undefined ? [...list.values()] : set !== undefined ? [...set.members()] : zset !== undefined ? zset.rangeByRank(0, -1).map(([m]) => m) : [];
  if (!dontSort) {
    const items: SortItem[] = all.map((element) => ({ element, score: 0, weight: null }));
    let failed = false;
    for (const item of items) {
      const v = o.by === null ? keyToBytes(item.element) : lookupByPattern(store, o.by, item.element);
      if (v === null) continue;
      if (o.alpha) {
        if (o.by !== null) item.weight = keyFromBytes(v);
        continue;
      }
      const w = sortWeight(v);
      if (w === null) failed = true;
      else item.score = w;
    }
    if (failed) return null;
    items.sort(comparator(o));
    return items.slice(start, end + 1).map((i) => i.element);
  }
  return end < start ? [] : all.slice(start, end + 1);
}

function sortGeneric(ctx: CommandContext, argv: readonly Buffer[], readonly: boolean): void {
  const o = parseSortOptions(ctx, argv, readonly);
  if (o === null) return;
  const key = keyFromBytes(argv[1] as Buffer);
  const type = ctx.store.typeOf(key);
  if (type !== 'none' && type !== 'list' && type !== 'set' && type !== 'zset') return ctx.out.error(ERR_WRONGTYPE);
  const elements = sortedElements(ctx, key, o);
  if (elements === null) return ctx.out.error(ERR_SCORE_CONVERSION);
  if (o.store !== null) return storeResult(ctx, o.store, resultValues(ctx.store, elements, o.gets));
  ctx.out.array(o.gets.length === 0 ? elements.length : elements.length * o.gets.length);
  for (const element of elements) {
    if (o.gets.length === 0) ctx.out.bulkLatin1(element);
    for (const pattern of o.gets) {
      const v = lookupByPattern(ctx.store, pattern, element);
      if (v === null) ctx.out.nullBulk();
      else ctx.out.bulk(v);
    }
  }
}

/** What STORE writes: the elements, or each GET's value in turn (a missing one as ""). */
function resultValues(store: ReplicatedStore, elements: readonly Key[], gets: readonly Buffer[]): Buffer[] {
  if (gets.length === 0) return elements.map(keyToBytes);
  const out: Buffer[] = [];
  for (const element of elements) for (const pattern of gets) out.push(lookupByPattern(store, pattern, element) ?? Buffer.alloc(0));
  return out;
}

/** Replace `dst` with a list of `values` in one entry; an empty result deletes it. */
function storeResult(ctx: CommandContext, dst: Key, values: Buffer[]): void {
  const ops: Op[] = [];
  if (ctx.store.typeOf(dst) !== 'none') ops.push({ t: 'del', key: dst });
  if (values.length > 0) ops.push({ t: 'rpush', key: dst, values });
  if (ops.length > 0) ctx.write(ops);
  ctx.out.integer(values.length);
}

const spec = specIn('generic');

/** The sorted key, then Redis's two 'unknown' specs: the keys BY/GET patterns name, and STORE's destination. */
const SORTED_KEY = key('RO access', 1);
const BY_GET_KEYS = key('RO access', 'unknown', undefined, {
  notes: "For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort",
  locate: () => [],
});
const STORE_KEY = key('OW update', 'unknown', undefined, {
  notes: "For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array",
  locate: storeKeyAt,
});

/** Where STORE's destination is (the last STORE wins), skipping option arguments as Redis's sortGetKeys does. */
function storeKeyAt(argv: readonly Buffer[]): readonly number[] {
  let at = -1;
  for (let i = 2; i < argv.length; i++) {
    const b = argv[i] as Buffer;
    if (isWord(b, 'limit')) i += 2;
    else if (isWord(b, 'get') || isWord(b, 'by')) i += 1;
    else if (isWord(b, 'store') && i + 1 < argv.length) at = i + 1; // the key is looked at as an option name too, as Redis does
  }
  return at < 0 ? [] : [at];
}

export const sortCommands: CommandModule = Object.freeze([
  spec({ name: 'sort', keySpecs: [SORTED_KEY, BY_GET_KEYS, STORE_KEY], acl: ['@set', '@sortedset', '@list', '@dangerous'], arity: -2, flags: ['write', 'denyoom'], summary: 'Sort the elements of a list, set or sorted set, or store them sorted', syntax: 'key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA] [STORE destination]', handler: (ctx, argv) => sortGeneric(ctx, argv, false) }),
  spec({ name: 'sort_ro', keySpecs: [SORTED_KEY, BY_GET_KEYS], acl: ['@set', '@sortedset', '@list', '@dangerous'], arity: -2, flags: ['readonly'], summary: 'Sort the elements of a list, set or sorted set (read-only SORT)', syntax: 'key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC|DESC] [ALPHA]', handler: (ctx, argv) => sortGeneric(ctx, argv, true) }),
]);
