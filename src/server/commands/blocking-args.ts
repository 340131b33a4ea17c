// What every blocking command (BLPOP, BLMOVE, BZPOPMIN...) shares: Redis 7.0's timeout argument
// and the sequence try-now / reply-nothing-inside-MULTI / wait. Owns those texts; it never pops
// (each command's attempt does) and keeps no waiter (server/blocking.ts does).

import type { BlockedAttempt, CommandContext } from '../command-types.js';
import type { Key } from '../../storage/types.js';
import { parseLongDouble } from './float80.js';

const ERR_TIMEOUT_NOT_FLOAT = 'ERR timeout is not a float or out of range';
const ERR_TIMEOUT_NEGATIVE = 'ERR timeout is negative';
const ERR_TIMEOUT_RANGE = 'ERR timeout is out of range';
/** C's long long range: Redis converts the milliseconds to one. */
const LLONG_LIMIT = 1n << 63n;
/** The x87 long double's significand. */
const SIGNIFICAND_BITS = 64;

/**
 * A timeout in seconds (Redis getTimeoutFromObjectOrReply): a long double, times 1000 in long
 * double arithmetic, rounded up to whole milliseconds (so a tiny positive timeout is 1 ms, and a
 * tiny negative one rounds to 0). 0 waits forever. As in Redis on x86-64, a value past the long
 * long range (inf, 1e20) converts to a negative number. Returns the absolute deadline (Date.now()
 * milliseconds, 0 = forever) or an error reply.
 */
export function parseTimeout(b: Buffer, nowMs: number): { deadlineMs: number } | { error: string } {
  const f = parseLongDouble(b);
  if (f === null || f.kind === 'nan') return { error: ERR_TIMEOUT_NOT_FLOAT };
  if (f.kind === 'inf') return { error: ERR_TIMEOUT_NEGATIVE };
  const t = ceilMillis(f.mant, f.exp, f.neg);
  if (t < 0n || t >= LLONG_LIMIT) return { error: ERR_TIMEOUT_NEGATIVE };
  if (t === 0n) return { deadlineMs: 0 };
  if (t > LLONG_LIMIT - BigInt(nowMs)) return { error: ERR_TIMEOUT_RANGE };
  return { deadlineMs: nowMs + Number(t) };
}

/** ceill(x * 1000.0L) for x = ±mant * 2^exp: the product rounded to a 64-bit significand (half to even), then up. */
function ceilMillis(mant: bigint, exp: number, neg: boolean): bigint {
  let m = mant * 1000n;
  let e = exp;
  const bits = m.toString(2).length;
  if (bits > SIGNIFICAND_BITS) {
    const cut = BigInt(bits - SIGNIFICAND_BITS);
    const rest = m & ((1n << cut) - 1n);
    const half = 1n << (cut - 1n);
    m >>= cut;
    e += Number(cut);
    if (rest > half || (rest === half && (m & 1n) === 1n)) m += 1n;
  }
  // Now the value is exactly ±m * 2^e; ceil toward +inf.
  if (e >= 0) return (neg ? -m : m) << BigInt(e);
  const shift = BigInt(-e);
  const whole = m >> shift;
  const frac = (m & ((1n << shift) - 1n)) !== 0n;
  return neg ? -whole : frac ? whole + 1n : whole;
}

/**
 * Pop now if a key allows it (or reply WRONGTYPE); else, inside MULTI or where replies cannot be
 * deferred, reply the non-blocking form's null at once (Redis: a transaction never blocks); else
 * wait (a timeout answers a null array for every form, as Redis 7.0).
 */
export function popOrBlock(ctx: CommandContext, argv: readonly Buffer[], keys: readonly Key[], deadlineMs: number, attempt: BlockedAttempt, nullBulk = false): void {
  const now = attempt(ctx, null);
  if (typeof now === 'string') return ctx.out.error(now);
  if (now) return;
  const blocking = ctx.server.blocking;
  const spec = ctx.server.commands.get(ctx.client.lastCommand);
  if (ctx.inTransaction === true || ctx.defer === undefined || blocking === undefined || spec === undefined) {
    // What the non-blocking form answers: BLMOVE / BRPOPLPUSH a null bulk, the others a null array.
    return nullBulk ? ctx.out.nullBulk() : ctx.out.nullArray();
  }
  const err = blocking.block(ctx, spec, argv, keys, deadlineMs, attempt);
  if (err !== null) ctx.out.error(err);
}
