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
const LLONG_LIMIT = 2 ** 63;

/**
 * A timeout in seconds (Redis getTimeoutFromObjectOrReply): a long double, times 1000, truncated
 * to whole milliseconds. 0 (also any value under a millisecond) waits forever. As in Redis on
 * x86-64, a value past the long long range (inf, 1e20) converts to a negative number. Returns the
 * absolute deadline (Date.now() milliseconds, 0 = forever) or an error reply.
 */
export function parseTimeout(b: Buffer, nowMs: number): { deadlineMs: number } | { error: string } {
  const f = parseLongDouble(b);
  if (f === null || f.kind === 'nan') return { error: ERR_TIMEOUT_NOT_FLOAT };
  // The string passed strtold's rules; as a double it is close enough for milliseconds.
  const ms = f.kind === 'inf' ? (f.neg ? -Infinity : Infinity) : Number(b.toString('latin1').trim()) * 1000;
  if (!(ms < LLONG_LIMIT) || !(ms > -LLONG_LIMIT)) return { error: ERR_TIMEOUT_NEGATIVE };
  const t = Math.trunc(ms);
  if (t < 0) return { error: ERR_TIMEOUT_NEGATIVE };
  if (t === 0) return { deadlineMs: 0 };
  if (t > LLONG_LIMIT - nowMs) return { error: ERR_TIMEOUT_RANGE };
  return { deadlineMs: nowMs + t };
}

/**
 * Pop now if a key allows it (or reply WRONGTYPE); else, inside MULTI or where replies cannot be
 * deferred, reply the timeout's null at once (Redis: a transaction never blocks); else wait.
 */
export function popOrBlock(ctx: CommandContext, argv: readonly Buffer[], keys: readonly Key[], deadlineMs: number, attempt: BlockedAttempt): void {
  if (attempt(ctx, null)) return;
  const blocking = ctx.server.blocking;
  const spec = ctx.server.commands.get(ctx.client.lastCommand);
  if (ctx.inTransaction === true || ctx.defer === undefined || blocking === undefined || spec === undefined) return ctx.out.nullArray();
  const err = blocking.block(ctx, spec, argv, keys, deadlineMs, attempt);
  if (err !== null) ctx.out.error(err);
}
