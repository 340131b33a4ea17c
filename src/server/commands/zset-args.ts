// Argument parsing of the sorted-set commands, as Redis 7.0 parses them: scores (strtod with
// Redis's checks), score and lex range bounds, the ZRANGE family's options and the
// WEIGHTS/AGGREGATE/WITHSCORES tail of ZUNION/ZINTER/ZDIFF. Pure functions of their input;
// never touches the store or a reply writer (errors are returned as Redis's message text).

import type { LexBound, LexRange, ScoreRange } from '../../storage/zset.js';
import { keyFromBytes } from '../../storage/types.js';
import { formatDouble } from '../../protocol/encoder.js';
import { ERR_NOT_INTEGER, ERR_SYNTAX, cString, isCSpace, isWord, parseIntClamped } from './args.js';

export const ERR_SCORE_RANGE = 'ERR min or max is not a float';
export const ERR_LEX_RANGE = 'ERR min or max not valid string range item';
export const ERR_SCORE_NAN = 'ERR resulting score is not a number (NaN)';
export const ERR_WEIGHT = 'ERR weight value is not a float';
export const ERR_LIMIT_NEEDS_BY = 'ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX';
export const ERR_WITHSCORES_BYLEX = 'ERR syntax error, WITHSCORES not supported in combination with BYLEX';

const INF_RE = /^[+-]?(inf|infinity)$/i;
const NAN_RE = /^[+-]?nan(\([0-9a-z_]*\))?$/i;
const DEC_RE = /^[+-]?([0-9]*)(?:\.([0-9]*))?(?:[eE][+-]?[0-9]+)?$/;
const HEX_RE = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?[0-9]+))?$/;
/** Hex exponents beyond this are overflow or underflow for any mantissa a command can carry. */
const HEX_EXP_CLAMP = 100_000;

interface Strtod {
  readonly value: number;
  /** glibc's ERANGE: the value overflowed to ±HUGE_VAL or underflowed all the way to 0. */
  readonly erange: boolean;
}

/**
 * glibc strtod (double, "C" locale) of a whole string without leading space: null when some
 * character would be left unconsumed (or nothing converts). NaN comes back as NaN.
 */
export function strtodWhole(s: string): Strtod | null {
  if (INF_RE.test(s)) return { value: s.startsWith('-') ? -Infinity : Infinity, erange: false };
  if (NAN_RE.test(s)) return { value: NaN, erange: false };
  const hex = HEX_RE.exec(s);
  if (hex !== null) {
    const int = hex[2] ?? '';
    const frac = hex[3] ?? '';
    if (int.length + frac.length === 0) return null;
    const mant = BigInt('0x' + int + frac);
    const exp = Math.max(-HEX_EXP_CLAMP, Math.min(HEX_EXP_CLAMP, Number(hex[4] ?? '0'))) - 4 * frac.length;
    const mag = mant === 0n ? 0 : Number(mant) * 2 ** exp;
    // Number(mant) * 2^exp can round twice only in the subnormal range; such scores are not a use case.
    const value = hex[1] === '-' ? -mag : mag;
    return { value, erange: mant !== 0n && (mag === 0 || mag === Infinity) };
  }
  const dec = DEC_RE.exec(s);
  if (dec === null || (dec[1] ?? '').length + (dec[2] ?? '').length === 0) return null;
  // A validated decimal: JS number parsing is correctly rounded, as glibc's strtod.
  const value = Number(s);
  const nonzeroDigits = /[1-9]/.test((dec[1] ?? '') + (dec[2] ?? ''));
  return { value, erange: !Number.isFinite(value) || (value === 0 && nonzeroDigits) };
}

/**
 * Redis getDoubleFromObject: the whole argument must be a number strtod reads, with no
 * leading space, no NaN, and no overflow or underflow to zero ("inf" itself is fine).
 * Null means "ERR value is not a valid float".
 */
export function parseScore(b: Buffer): number | null {
  if (b.length === 0 || isCSpace(b[0]) || b.indexOf(0) !== -1) return null;
  const r = strtodWhole(b.latin1Slice(0, b.length));
  if (r === null || Number.isNaN(r.value) || r.erange) return null;
  return r.value;
}

/** One bound of zslParseRange: strtod up to the first NUL, leading space allowed, "" is 0, NaN refused. */
function parseScoreBound(b: Buffer): { value: number; exclusive: boolean } | null {
  let s = cString(b);
  const exclusive = s.startsWith('(');
  if (exclusive) s = s.slice(1);
  if (s.length === 0) return { value: 0, exclusive };
  let i = 0;
  while (i < s.length && isCSpace(s.charCodeAt(i))) i++;
  // strtod that converts nothing leaves its end pointer at the start, on the space.
  if (i === s.length) return null;
  const r = strtodWhole(s.slice(i));
  if (r === null || Number.isNaN(r.value)) return null;
  return { value: r.value, exclusive };
}

/** Redis zslParseRange; null means ERR_SCORE_RANGE. */
export function parseScoreRange(min: Buffer, max: Buffer): ScoreRange | null {
  const lo = parseScoreBound(min);
  const hi = parseScoreBound(max);
  if (lo === null || hi === null) return null;
  return { min: lo.value, minEx: lo.exclusive, max: hi.value, maxEx: hi.exclusive };
}

function parseLexBound(b: Buffer): LexBound | null {
  const c = b[0];
  // '+' and '-' are tested as C strings: "+\0junk" is '+'.
  if (c === 0x2b || c === 0x2d) {
    if (b.length > 1 && b[1] !== 0) return null;
    return { kind: c === 0x2b ? 'max' : 'min' };
  }
  if (c === 0x28 || c === 0x5b) return { kind: 'value', value: keyFromBytes(b.subarray(1)), exclusive: c === 0x28 };
  return null;
}

/** Redis zslParseLexRange; null means ERR_LEX_RANGE. */
export function parseLexRange(min: Buffer, max: Buffer): LexRange | null {
  const lo = parseLexBound(min);
  const hi = parseLexBound(max);
  return lo === null || hi === null ? null : { min: lo, max: hi };
}

/**
 * Redis d2string, ZSCAN's score text (the other replies use %.17g doubles): integral values
 * within ±2^62 as integers ("100000000000000000", not "1e+17"; -0 as "-0"), else %.17g.
 */
export function scanScoreText(s: number): string {
  if (Object.is(s, -0)) return '-0'; // d2string prints a negative zero's sign (a skiplist keeps it)
  if (Number.isInteger(s) && Math.abs(s) <= 2 ** 62) return BigInt(s).toString();
  return formatDouble(s);
}

/** ZINCRBY / ZADD INCR: the sum, or null when it is NaN (inf + -inf). */
export function addScores(a: number, b: number): number | null {
  const r = a + b;
  return Number.isNaN(r) ? null : r;
}

// ---------------------------------------------------------------- ZRANGE family

export type ZRangeQuery =
  | { readonly by: 'rank'; readonly start: number; readonly stop: number }
  | { readonly by: 'score'; readonly range: ScoreRange }
  | { readonly by: 'lex'; readonly range: LexRange };

export interface ZRangeArgs {
  readonly query: ZRangeQuery;
  readonly rev: boolean;
  readonly withScores: boolean;
  readonly offset: number;
  /** -1 = no limit (also what Redis takes a negative limit to mean). */
  readonly limit: number;
}

/** How a command of the family fixes what ZRANGE leaves to its options. */
export interface ZRangeMode {
  readonly by: 'auto' | 'rank' | 'score' | 'lex';
  readonly dir: 'auto' | 'forward' | 'reverse';
  /** ZRANGESTORE: no WITHSCORES. */
  readonly store: boolean;
}

/**
 * Redis zrangeGenericCommand's parsing, in its order (each of REV, BYSCORE/BYLEX at most once): the options after <key> <min> <max>
 * (argv[first], argv[first + 1] are min and max), the conflicts, then the range itself
 * (swapped for a reverse score/lex range, which is given as max min). Returns the error
 * text on failure.
 */
export function parseZRangeArgs(argv: readonly Buffer[], first: number, mode: ZRangeMode): ZRangeArgs | string {
  let by = mode.by;
  let dir = mode.dir;
  let withScores = false;
  let offset = 0;
  let limit = -1;
  for (let j = first + 2; j < argv.length; j++) {
    const a = argv[j] as Buffer;
    const left = argv.length - j - 1;
    if (!mode.store && isWord(a, 'withscores')) {
      withScores = true;
    } else if (isWord(a, 'limit') && left >= 2) {
      const o = parseIntClamped(argv[j + 1] as Buffer);
      const l = parseIntClamped(argv[j + 2] as Buffer);
      if (o === null || l === null) return ERR_NOT_INTEGER;
      offset = o;
      limit = l;
      j += 2;
    } else if (dir === 'auto' && isWord(a, 'rev')) {
      dir = 'reverse';
    } else if (by === 'auto' && isWord(a, 'bylex')) {
      by = 'lex';
    } else if (by === 'auto' && isWord(a, 'byscore')) {
      by = 'score';
    } else {
      return ERR_SYNTAX;
    }
  }
  const rev = dir === 'reverse';
  if (by === 'auto') by = 'rank';
  if (limit !== -1 && by === 'rank') return ERR_LIMIT_NEEDS_BY;
  if (withScores && by === 'lex') return ERR_WITHSCORES_BYLEX;
  const swap = rev && by !== 'rank';
  const lo = argv[swap ? first + 1 : first] as Buffer;
  const hi = argv[swap ? first : first + 1] as Buffer;
  let query: ZRangeQuery;
  if (by === 'rank') {
    const start = parseIntClamped(lo);
    const stop = parseIntClamped(hi);
    if (start === null || stop === null) return ERR_NOT_INTEGER;
    query = { by, start, stop };
  } else if (by === 'score') {
    const range = parseScoreRange(lo, hi);
    if (range === null) return ERR_SCORE_RANGE;
    query = { by, range };
  } else {
    const range = parseLexRange(lo, hi);
    if (range === null) return ERR_LEX_RANGE;
    query = { by, range };
  }
  return { query, rev, withScores, offset, limit };
}

// ---------------------------------------------------------------- ZUNION / ZINTER / ZDIFF options

export type Aggregate = 'sum' | 'min' | 'max';

export interface ZSetOpOptions {
  readonly weights: readonly number[];
  readonly aggregate: Aggregate;
  readonly withScores: boolean;
}

/**
 * The options after the input keys of ZUNION/ZINTER/ZDIFF[STORE] (argv[from..]), in Redis's
 * order and conditions: WEIGHTS needs one weight per key, neither WEIGHTS nor AGGREGATE is
 * taken by ZDIFF, WITHSCORES only without a destination. Returns the error text on failure.
 */
export function parseZSetOpOptions(argv: readonly Buffer[], from: number, keys: number, op: 'union' | 'inter' | 'diff', store: boolean): ZSetOpOptions | string {
  const weights = new Array<number>(keys).fill(1);
  let aggregate: Aggregate = 'sum';
  let withScores = false;
  let j = from;
  while (j < argv.length) {
    const remaining = argv.length - j;
    const a = argv[j] as Buffer;
    if (op !== 'diff' && remaining >= keys + 1 && isWord(a, 'weights')) {
      j++;
      for (let i = 0; i < keys; i++, j++) {
        const w = parseScore(argv[j] as Buffer);
        if (w === null) return ERR_WEIGHT;
        weights[i] = w;
      }
    } else if (op !== 'diff' && remaining >= 2 && isWord(a, 'aggregate')) {
      const w = argv[j + 1] as Buffer;
      if (isWord(w, 'sum')) aggregate = 'sum';
      else if (isWord(w, 'min')) aggregate = 'min';
      else if (isWord(w, 'max')) aggregate = 'max';
      else return ERR_SYNTAX;
      j += 2;
    } else if (!store && isWord(a, 'withscores')) {
      withScores = true;
      j++;
    } else {
      return ERR_SYNTAX;
    }
  }
  return { weights, aggregate, withScores };
}
