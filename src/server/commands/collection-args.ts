// What the set and sorted-set commands share: Redis 7.0's error strings for numkeys / count /
// LIMIT arguments, the SSCAN/ZSCAN argument rules and reply, the primary's random source, and
// the order Redis replies a computed set in. Pure helpers; never touches the store.

import type { CommandContext } from '../command-types.js';
import type { ReplyWriter } from '../../protocol/reply.js';
import { globMatch } from '../../storage/glob.js';
import { isInt64Text, SET_INTSET_ENTRIES_MAX } from '../../storage/set-object.js';
import { keyFromBytes, type Key } from '../../storage/types.js';
import { ERR_INVALID_CURSOR, ERR_NOT_INTEGER, ERR_SYNTAX, isWord, parseInt64, parseIntClamped, parseScanCursor } from './args.js';

export const ERR_NUMKEYS_POSITIVE = 'ERR numkeys should be greater than 0';
export const ERR_NUMKEYS_TOO_MANY = "ERR Number of keys can't be greater than number of args";
export const ERR_LIMIT_NEGATIVE = "ERR LIMIT can't be negative";
export const ERR_NOT_POSITIVE = 'ERR value is out of range, must be positive';
export const ERR_OUT_OF_RANGE = 'ERR value is out of range';
export const ERR_COUNT_POSITIVE = 'ERR count should be greater than 0';

/** LMPOP / BLMPOP / ZMPOP / BZMPOP after the timeout: the keys, which end to pop from, and how many. */
export interface MpopArgs {
  readonly keys: Key[];
  /** The first of the two end words was given (LEFT, or MIN). */
  readonly first: boolean;
  readonly count: number;
}

/**
 * `numkeys key [key ...] <end> [COUNT count]` from `argv[at]`, with `ends` the two words naming
 * the end (['left', 'right'] or ['min', 'max']): Redis 7.0's checks in its order; an error reply
 * text when they fail.
 */
export function parseMpopArgs(argv: readonly Buffer[], at: number, ends: readonly [string, string]): MpopArgs | string {
  const numkeys = parseInt64(argv[at] as Buffer);
  if (numkeys === null || numkeys < 1n) return ERR_NUMKEYS_POSITIVE;
  if (numkeys >= BigInt(argv.length - at - 1)) return ERR_SYNTAX;
  const endAt = at + 1 + Number(numkeys);
  const end = argv[endAt] as Buffer;
  const first = isWord(end, ends[0]);
  if (!first && !isWord(end, ends[1])) return ERR_SYNTAX;
  let count = -1;
  for (let j = endAt + 1; j < argv.length; j++) {
    if (count !== -1 || !isWord(argv[j] as Buffer, 'count') || j + 1 >= argv.length) return ERR_SYNTAX;
    const n = parseIntClamped(argv[++j] as Buffer);
    if (n === null || n < 1) return ERR_COUNT_POSITIVE;
    count = n;
  }
  const keys: Key[] = [];
  for (let i = at + 1; i < endAt; i++) keys.push(keyFromBytes(argv[i] as Buffer));
  return { keys, first, count: count === -1 ? 1 : count };
}

/** Redis getRangeLongFromObjectOrReply's message without a custom one. */
export function errOutOfRange(min: string, max: string): string {
  return `ERR value is out of range, value must between ${min} and ${max}`;
}

/** "at least 1 input key is needed for 'zunion' command". */
export function errNeedsKey(command: string): string {
  return `ERR at least 1 input key is needed for '${command}' command`;
}

/**
 * The most elements a random pick with a negative count (HRANDFIELD, ZRANDMEMBER, SRANDMEMBER)
 * may reply: Redis has no bound and would build the reply in one go until the client is killed,
 * which here would hold the event loop; one reply of this many is already tens of MiB.
 */
export const RANDOM_REPLY_ELEMENTS_MAX = 10_000_000;

/** SSCAN/ZSCAN's default COUNT (Redis: 10). */
const SCAN_COUNT_DEFAULT = 10;

/** The primary's random choice in [0, n): SPOP / SRANDMEMBER / ZRANDMEMBER log only the result. */
export function randomIndex(n: number): number {
  return Math.floor(Math.random() * n);
}

/**
 * A computed set in the order Redis replies it: Redis builds the result as an intset while every
 * member is an integer and there are few enough, which iterates in ascending numeric order.
 */
export function orderLikeRedisSet(members: Key[]): Key[] {
  if (members.length > SET_INTSET_ENTRIES_MAX || !members.every(isInt64Text)) return members;
  return members.sort((a, b) => {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

export interface ScanOptions {
  readonly count: number;
  matches(member: Key): boolean;
}

/**
 * SSCAN/ZSCAN key cursor [MATCH pattern] [COUNT count]. Redis checks the cursor before the key
 * and the options after it (a missing key answers an empty scan whatever the options), so the
 * options are parsed on demand; both reply the error themselves and return null.
 */
export function parseScanArgs(ctx: CommandContext, argv: readonly Buffer[]): { cursor: number; options(): ScanOptions | null } | null {
  const c = parseScanCursor(argv[2] as Buffer);
  if (c === null) {
    ctx.out.error(ERR_INVALID_CURSOR);
    return null;
  }
  const cursor = Number(c) > Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : Number(c);
  const options = (): ScanOptions | null => {
    let count = SCAN_COUNT_DEFAULT;
    let pattern: Key | null = null;
    for (let i = 3; i < argv.length; i += 2) {
      const opt = argv[i] as Buffer;
      const val = argv[i + 1];
      if (val !== undefined && isWord(opt, 'count')) {
        const n = parseInt64(val);
        if (n === null) return fail(ERR_NOT_INTEGER);
        if (n < 1n) return fail(ERR_SYNTAX);
        count = n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
      } else if (val !== undefined && isWord(opt, 'match')) {
        pattern = val.length === 1 && val[0] === 0x2a ? null : keyFromBytes(val);
      } else {
        return fail(ERR_SYNTAX);
      }
    }
    const p = pattern;
    return { count, matches: p === null ? () => true : (m) => globMatch(p, m) };
  };
  const fail = (msg: string): null => {
    ctx.out.error(msg);
    return null;
  };
  return { cursor, options };
}

/** [next-cursor, [items...]], arrays in both protocols, as Redis. */
export function replyScan(out: ReplyWriter, next: number, items: readonly Buffer[]): void {
  out.array(2);
  out.bulk(String(next));
  out.array(items.length);
  for (const b of items) out.bulk(b);
}
