// What the set and sorted-set commands share: Redis 7.0's error strings for numkeys / count /
// LIMIT arguments, the SSCAN/ZSCAN argument rules and reply, the primary's random source, and
// the order Redis replies a computed set in. Pure helpers; never touches the store.

import type { CommandContext } from '../command-types.js';
import type { ReplyWriter } from '../../protocol/reply.js';
import { globMatch } from '../../storage/glob.js';
import { isInt64Text, SET_INTSET_ENTRIES_MAX } from '../../storage/set-object.js';
import { keyFromBytes, type Key } from '../../storage/types.js';
import { ERR_INVALID_CURSOR, ERR_NOT_INTEGER, ERR_SYNTAX, isWord, parseInt64, parseScanCursor } from './args.js';

export const ERR_NUMKEYS_POSITIVE = 'ERR numkeys should be greater than 0';
export const ERR_NUMKEYS_TOO_MANY = "ERR Number of keys can't be greater than number of args";
export const ERR_LIMIT_NEGATIVE = "ERR LIMIT can't be negative";
export const ERR_NOT_POSITIVE = 'ERR value is out of range, must be positive';
export const ERR_OUT_OF_RANGE = 'ERR value is out of range';

/** Redis getRangeLongFromObjectOrReply's message without a custom one. */
export function errOutOfRange(min: string, max: string): string {
  return `ERR value is out of range, value must between ${min} and ${max}`;
}

/** "at least 1 input key is needed for 'zunion' command". */
export function errNeedsKey(command: string): string {
  return `ERR at least 1 input key is needed for '${command}' command`;
}

/**
 * The most elements SRANDMEMBER / ZRANDMEMBER with a negative count may reply (Redis has no
 * bound and would grow the client's output until it is killed; this many is tens of MiB).
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
