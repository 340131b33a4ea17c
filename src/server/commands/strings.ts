// The string commands (Redis t_string.c) with Redis 7.0 semantics and error strings.
// Handlers read through ctx.store and mutate only through ctx.write with absolute,
// idempotent ops; a command that changes nothing never writes. Never reads the wall clock
// directly (ctx.store.now() is the one clock, injectable in tests). A key of another type is
// WRONGTYPE wherever Redis reads it as a string (the string reads miss on it; wrongType tells
// a collection from a missing key); SET, MSET and their kin overwrite any type.

import type { CommandContext, CommandModule } from '../command-types.js';
import type { ReplicatedStore, ValueSink } from '../../storage/api.js';
import type { ReplyWriter } from '../../protocol/reply.js';
import { keyFromBytes, NO_EXPIRY, type ExpireAtMs, type Key, type Op } from '../../storage/types.js';
import {
  ERR_DECR_OVERFLOW,
  ERR_FLOAT_NAN_INF,
  ERR_INCR_OVERFLOW,
  ERR_NOT_FLOAT,
  ERR_NOT_INTEGER,
  ERR_OFFSET_RANGE,
  ERR_STRING_TOO_LONG,
  ERR_SYNTAX,
  ERR_WRONGTYPE,
  INT64_MAX,
  INT64_MIN,
  STRING_BYTES_MAX,
  errArity,
  errInvalidExpire,
  isWord,
  parseInt64,
  parseSmallInt,
  SMALL_INT_BYTES_MAX,
} from './args.js';
import { addLongDouble, formatLongDoubleHuman, parseLongDouble } from './float80.js';
import { wrongType } from './keytype.js';
import { specIn, WF, WDF, RF } from './spec.js';
import { hasWord, key, range } from './key-specs.js';
import { NOTIFY } from '../keyspace-events.js';

/** After a string read missed: true (with the WRONGTYPE reply written) when `key` holds another type. */
function refuseNonString(ctx: CommandContext, key: Key): boolean {
  if (!wrongType(ctx.store, key, 'string')) return false;
  ctx.out.error(ERR_WRONGTYPE);
  return true;
}

/** The expiry a key keeps when its value is replaced in place (INCR, APPEND, SETRANGE). */
export function keptExpiry(store: ReplicatedStore, key: Key): ExpireAtMs {
  return store.getExpireAt(key) ?? NO_EXPIRY;
}

// ---------------------------------------------------------------- SET / GETEX option parsing

const F_NX = 1;
const F_XX = 2;
const F_GET = 4;
const F_KEEPTTL = 8;
const F_PERSIST = 16;
const F_EX = 32;
const F_PX = 64;
const F_EXAT = 128;
const F_PXAT = 256;
const F_ANY_EXPIRE = F_EX | F_PX | F_EXAT | F_PXAT;

interface ExtendedArgs {
  flags: number;
  /** The argument after EX/PX/EXAT/PXAT, not yet validated. */
  expire: Buffer | null;
}

/**
 * Redis parseExtendedStringArgumentsOrReply, condition for condition: a word is accepted only
 * when it does not conflict with the flags seen so far; repeating the same expiry word
 * overrides the earlier value (as Redis does). Returns null on a syntax error.
 */
function parseExtendedArgs(argv: readonly Buffer[], start: number, forSet: boolean): ExtendedArgs | null {
  let flags = 0;
  let expire: Buffer | null = null;
  for (let j = start; j < argv.length; j++) {
    const opt = argv[j] as Buffer;
    const hasNext = j < argv.length - 1;
    const time = hasNext ? timeWord(opt) : 0;
    if (forSet && isWord(opt, 'nx') && (flags & F_XX) === 0) flags |= F_NX;
    else if (forSet && isWord(opt, 'xx') && (flags & F_NX) === 0) flags |= F_XX;
    else if (forSet && isWord(opt, 'get')) flags |= F_GET;
    else if (forSet && isWord(opt, 'keepttl') && (flags & (F_PERSIST | F_ANY_EXPIRE)) === 0) flags |= F_KEEPTTL;
    else if (!forSet && isWord(opt, 'persist') && (flags & (F_ANY_EXPIRE | F_KEEPTTL)) === 0) flags |= F_PERSIST;
    else if (time !== 0 && (flags & (F_KEEPTTL | F_PERSIST | (F_ANY_EXPIRE & ~time))) === 0) {
      // Only a *different* expiry word conflicts: "EX 1 EX 2" is accepted and the last wins.
      flags |= time;
      expire = argv[j + 1] as Buffer;
      j++;
    } else {
      return null;
    }
  }
  return { flags, expire };
}

function timeWord(opt: Buffer): number {
  if (isWord(opt, 'ex')) return F_EX;
  if (isWord(opt, 'px')) return F_PX;
  if (isWord(opt, 'exat')) return F_EXAT;
  if (isWord(opt, 'pxat')) return F_PXAT;
  return 0;
}

/**
 * Redis getExpireMillisecondsOrReply: the absolute expiry in ms, or an error string.
 * Non-positive values and int64 overflow (seconds * 1000, or relative + now) are errors.
 */
function expireAtFromArg(arg: Buffer, flags: number, now: number, command: string): number | string {
  const v = parseInt64(arg);
  if (v === null) return ERR_NOT_INTEGER;
  const seconds = (flags & (F_EX | F_EXAT)) !== 0;
  if (v <= 0n || (seconds && v > INT64_MAX / 1000n)) return errInvalidExpire(command);
  let ms = seconds ? v * 1000n : v;
  if ((flags & (F_EX | F_PX)) !== 0) ms += BigInt(now);
  if (ms > INT64_MAX) return errInvalidExpire(command);
  // Absolute times beyond 2^53 ms (year 287396) lose precision as a JS number; see the report.
  return Number(ms);
}

/** What SET-like commands reply when they write (`ok`) or when NX/XX stops them (`abort`). */
const enum SetReply {
  /** SET, PUT, SETEX, PSETEX: +OK / null bulk. */
  OkOrNull,
  /** SETNX: :1 / :0. */
  OneOrZero,
}

/** SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL] (also SETNX/SETEX/PSETEX/PUT). */
function setGeneric(
  ctx: CommandContext,
  command: string,
  keyArg: Buffer,
  valueArg: Buffer,
  flags: number,
  expireArg: Buffer | null,
  replies: SetReply,
): void {
  const { store, out } = ctx;
  let expireAt: number = NO_EXPIRY;
  if (expireArg !== null) {
    const r = expireAtFromArg(expireArg, flags, store.now(), command);
    if (typeof r === 'string') return out.error(r);
    expireAt = r;
  }
  const key = keyFromBytes(keyArg);
  // Only NX/XX/GET look at the old value; a plain SET (the hot path) does not read at all.
  if ((flags & (F_NX | F_XX | F_GET)) !== 0) {
    const old = store.getStored(key);
    // A collection counts as found for NX/XX; GET refuses it (and nothing is set).
    const found = old !== undefined || store.has(key);
    if ((flags & F_GET) !== 0) {
      if (old === undefined && found) return out.error(ERR_WRONGTYPE);
      if (old === undefined) out.nullBulk();
      else out.bulk(old);
    }
    if (((flags & F_NX) !== 0 && found) || ((flags & F_XX) !== 0 && !found)) {
      if ((flags & F_GET) === 0) {
        if (replies === SetReply.OkOrNull) out.nullBulk();
        else out.integer(0);
      }
      return;
    }
  }
  if ((flags & F_KEEPTTL) !== 0) expireAt = keptExpiry(store, key);
  // An absolute expiry in the past is stored as given, as Redis 7.0 does: the key is then
  // logically expired (GET misses) but counted by DBSIZE until it is swept.
  // valueArg may be a view of the read buffer; that is fine here: the store copies what it keeps
  // (log encoding, keyspace) and the replication hook copies what it retains (host.onLocalWrite).
  ctx.write([{ t: 'set', key, value: valueArg, expireAtMs: expireAt }]);
  if ((flags & F_GET) === 0) {
    if (replies === SetReply.OkOrNull) out.ok();
    else out.integer(1);
  }
}

function setCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  // No options (the common case): skip the option parser's allocation.
  const parsed = argv.length === 3 ? NO_OPTIONS : parseExtendedArgs(argv, 3, true);
  if (parsed === null) return ctx.out.error(ERR_SYNTAX);
  setGeneric(ctx, 'set', argv[1] as Buffer, argv[2] as Buffer, parsed.flags, parsed.expire, SetReply.OkOrNull);
}

const NO_OPTIONS: ExtendedArgs = Object.freeze({ flags: 0, expire: null });

function getCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const out = ctx.out;
  if (isValueSink(out)) {
    // The hot path: the key is probed by its bytes and the value copied from the keyspace straight
    // into the output, with no key string and no value view (docs/perf-notes.md, 'Keyspace and slabs').
    if (!ctx.store.readValueInto(argv[1] as Buffer, out) && !refuseNonString(ctx, keyFromBytes(argv[1] as Buffer))) out.nullBulk();
    return;
  }
  // Writers without bulkRange (the cluster's reply recorder): getStored is a view, bulk copies it.
  const key = keyFromBytes(argv[1] as Buffer);
  const v = ctx.store.getStored(key);
  if (v !== undefined) out.bulk(v);
  else if (!refuseNonString(ctx, key)) out.nullBulk();
}

function isValueSink(out: ReplyWriter): out is ReplyWriter & ValueSink {
  return out.bulkRange !== undefined;
}

function getexCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { store, out } = ctx;
  const parsed = parseExtendedArgs(argv, 2, false);
  if (parsed === null) return out.error(ERR_SYNTAX);
  const key = keyFromBytes(argv[1] as Buffer);
  const v = store.getValue(key);
  if (v === undefined) return refuseNonString(ctx, key) ? undefined : out.nullBulk();
  let expireAt = 0;
  if (parsed.expire !== null) {
    const r = expireAtFromArg(parsed.expire, parsed.flags, store.now(), 'getex');
    if (typeof r === 'string') return out.error(r);
    expireAt = r;
  }
  out.bulk(v);
  if ((parsed.flags & (F_EXAT | F_PXAT)) !== 0 && expireAt <= store.now()) {
    ctx.write([{ t: 'del', key }]);
  } else if (parsed.expire !== null) {
    if (expireAt !== store.getExpireAt(key)) ctx.write([{ t: 'expire', key, expireAtMs: expireAt }]);
  } else if ((parsed.flags & F_PERSIST) !== 0 && keptExpiry(store, key) !== NO_EXPIRY) {
    ctx.write([{ t: 'expire', key, expireAtMs: NO_EXPIRY }]);
  }
}

function getdelCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const key = keyFromBytes(argv[1] as Buffer);
  const v = ctx.store.getValue(key);
  if (v === undefined) return refuseNonString(ctx, key) ? undefined : ctx.out.nullBulk();
  ctx.out.bulk(v);
  ctx.write([{ t: 'del', key }]);
}

function getsetCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const key = keyFromBytes(argv[1] as Buffer);
  const old = ctx.store.getValue(key);
  if (old === undefined && refuseNonString(ctx, key)) return;
  if (old === undefined) ctx.out.nullBulk();
  else ctx.out.bulk(old);
  // Like SET without KEEPTTL: the new value has no expiry.
  ctx.write([{ t: 'set', key, value: Buffer.from(argv[2] as Buffer), expireAtMs: NO_EXPIRY }]);
}

function mgetCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  ctx.out.array(argv.length - 1);
  for (let i = 1; i < argv.length; i++) {
    const v = ctx.store.getStored(keyFromBytes(argv[i] as Buffer));
    if (v === undefined) ctx.out.nullBulk();
    else ctx.out.bulk(v);
  }
}

function msetOps(argv: readonly Buffer[]): Op[] {
  const ops: Op[] = [];
  for (let i = 1; i < argv.length; i += 2) {
    ops.push({ t: 'set', key: keyFromBytes(argv[i] as Buffer), value: Buffer.from(argv[i + 1] as Buffer), expireAtMs: NO_EXPIRY });
  }
  return ops;
}

function msetCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  if (argv.length % 2 === 0) return ctx.out.error(errArity('mset'));
  ctx.write(msetOps(argv));
  ctx.out.ok();
}

function msetnxCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  if (argv.length % 2 === 0) return ctx.out.error(errArity('msetnx'));
  for (let i = 1; i < argv.length; i += 2) {
    if (ctx.store.has(keyFromBytes(argv[i] as Buffer))) return ctx.out.integer(0);
  }
  ctx.write(msetOps(argv));
  ctx.out.integer(1);
}

// ---------------------------------------------------------------- counters

/** INCR/DECR/INCRBY/DECRBY with an increment within this add in doubles (exactly) when the value is short too. */
const SMALL_INCR_MAX = 10n ** BigInt(SMALL_INT_BYTES_MAX - 1);

/** Redis incrDecrCommand: int64 arithmetic with Redis's overflow check; keeps the TTL. */

function incrDecr(ctx: CommandContext, keyArg: Buffer, incr: bigint): void {
  const { store, out } = ctx;
  const key = keyFromBytes(keyArg);
  const cur = store.getValue(key);
  if (cur === undefined && refuseNonString(ctx, key)) return;
  // A value below 10^15 and an increment below 10^14 in magnitude: the sum is an exact double,
  // far inside int64, made without a BigInt.
  const small = cur === undefined ? 0 : cur.length <= SMALL_INT_BYTES_MAX ? parseSmallInt(cur) : undefined;
  if (small === null) return out.error(ERR_NOT_INTEGER);
  if (small !== undefined && incr < SMALL_INCR_MAX && incr > -SMALL_INCR_MAX) {
    const sum = small + Number(incr);
    ctx.write([{ t: 'set', key, value: Buffer.from(String(sum), 'latin1'), expireAtMs: keptExpiry(store, key) }]);
    return out.integer(sum);
  }
  const old = cur === undefined ? 0n : parseInt64(cur);
  if (old === null) return out.error(ERR_NOT_INTEGER);
  const next = old + incr;
  if (next > INT64_MAX || next < INT64_MIN) return out.error(ERR_INCR_OVERFLOW);
  ctx.write([{ t: 'set', key, value: Buffer.from(next.toString(), 'latin1'), expireAtMs: keptExpiry(store, key) }]);
  out.integer(next);
}

function incrbyArg(ctx: CommandContext, arg: Buffer): bigint | null {
  const v = parseInt64(arg);
  if (v === null) ctx.out.error(ERR_NOT_INTEGER);
  return v;
}

function incrbyfloatCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { store, out } = ctx;
  const key = keyFromBytes(argv[1] as Buffer);
  const cur = store.getValue(key);
  if (cur === undefined && refuseNonString(ctx, key)) return;
  const value = cur === undefined ? parseLongDouble(Buffer.from('0')) : parseLongDouble(cur);
  const incr = parseLongDouble(argv[2] as Buffer);
  if (value === null || incr === null) return out.error(ERR_NOT_FLOAT);
  const sum = addLongDouble(value, incr);
  if (sum.kind !== 'finite') return out.error(ERR_FLOAT_NAN_INF);
  const text = Buffer.from(formatLongDoubleHuman(sum), 'latin1');
  ctx.write([{ t: 'set', key, value: text, expireAtMs: keptExpiry(store, key) }]);
  out.bulk(text);
}

// ---------------------------------------------------------------- byte ranges

function appendCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { store, out } = ctx;
  const key = keyFromBytes(argv[1] as Buffer);
  const tail = argv[2] as Buffer;
  const cur = store.getValue(key);
  if (cur === undefined && refuseNonString(ctx, key)) return;
  if (cur === undefined) {
    // Redis creates the key even for an empty append.
    ctx.write([{ t: 'set', key, value: Buffer.from(tail), expireAtMs: NO_EXPIRY }]);
    return out.integer(tail.length);
  }
  if (tail.length === 0) return out.integer(cur.length);
  if (cur.length + tail.length > STRING_BYTES_MAX) return out.error(ERR_STRING_TOO_LONG);
  const value = Buffer.concat([cur, tail]);
  ctx.write([{ t: 'set', key, value, expireAtMs: keptExpiry(store, key) }]);
  out.integer(value.length);
}

function strlenCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const key = keyFromBytes(argv[1] as Buffer);
  const v = ctx.store.getStored(key);
  if (v === undefined && refuseNonString(ctx, key)) return;
  ctx.out.integer(v?.length ?? 0);
}

/** Redis getrangeCommand, in bigint so indexes near ±2^63 compare exactly as in C. */
function getrangeCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { store, out } = ctx;
  let start = parseInt64(argv[2] as Buffer);
  if (start === null) return out.error(ERR_NOT_INTEGER);
  let end = parseInt64(argv[3] as Buffer);
  if (end === null) return out.error(ERR_NOT_INTEGER);
  const key = keyFromBytes(argv[1] as Buffer);
  const v = store.getValue(key);
  if (v === undefined) return refuseNonString(ctx, key) ? undefined : out.bulk(EMPTY);
  const len = BigInt(v.length);
  if (start < 0n && end < 0n && start > end) return out.bulk(EMPTY);
  if (start < 0n) start += len;
  if (end < 0n) end += len;
  if (start < 0n) start = 0n;
  if (end < 0n) end = 0n;
  if (end >= len) end = len - 1n;
  if (start > end || len === 0n) return out.bulk(EMPTY);
  out.bulk(v.subarray(Number(start), Number(end) + 1));
}

const EMPTY = Buffer.alloc(0);

function setrangeCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { store, out } = ctx;
  const offset = parseInt64(argv[2] as Buffer);
  if (offset === null) return out.error(ERR_NOT_INTEGER);
  if (offset < 0n) return out.error(ERR_OFFSET_RANGE);
  const key = keyFromBytes(argv[1] as Buffer);
  const patch = argv[3] as Buffer;
  const cur = store.getValue(key);
  if (cur === undefined && refuseNonString(ctx, key)) return;
  if (patch.length === 0) return out.integer(cur?.length ?? 0);
  // Checked in bigint: Redis's C sum can wrap for offsets near 2^63 (we reject those instead).
  if (offset + BigInt(patch.length) > BigInt(STRING_BYTES_MAX)) return out.error(ERR_STRING_TOO_LONG);
  const off = Number(offset);
  const oldLen = cur?.length ?? 0;
  const value = Buffer.alloc(Math.max(oldLen, off + patch.length));
  if (cur !== undefined) cur.copy(value, 0);
  patch.copy(value, off);
  if (cur === undefined || !value.equals(cur)) {
    ctx.write([{ t: 'set', key, value, expireAtMs: cur === undefined ? NO_EXPIRY : keptExpiry(store, key) }]);
  } else ctx.announce?.(NOTIFY.string, 'setrange', key); // Redis announces it even when the bytes were there
  out.integer(value.length);
}

// ---------------------------------------------------------------- the table

const spec = specIn('string');

/** denyoom: Redis's flag for commands that may grow memory (refused with -OOM over maxmemory). */
const W = ['write', 'denyoom'] as const;

export const stringCommands: CommandModule = [
  spec({ name: 'get', keySpecs: [key('RO access', 1)], arity: 2, flags: RF, summary: 'Get the value of a key', syntax: 'key', handler: getCommand }),
  spec({
    name: 'set', keySpecs: [key('RW access update variable_flags', 1, range(), {
      notes: 'RW and ACCESS due to the optional `GET` argument',
      // GET reads the old value; without it SET overwrites whatever was there.
      resolve: (argv) => (hasWord(argv, 3, ['get']) ? 'RW access update' : 'OW update'),
    })], arity: -3, flags: W, summary: 'Set the string value of a key, with optional conditions and expiry',
    syntax: 'key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]',
    handler: setCommand,
  }),
  spec({
    name: 'put', arity: 3, flags: W, summary: 'Set the string value of a key (kv-go name for SET)', syntax: 'key value',
    handler: (ctx, argv) => setGeneric(ctx, 'put', argv[1] as Buffer, argv[2] as Buffer, 0, null, SetReply.OkOrNull),
  }),
  spec({
    name: 'setnx', keySpecs: [key('OW insert', 1)], arity: 3, flags: WDF, summary: 'Set a key only if it does not exist', syntax: 'key value',
    handler: (ctx, argv) => setGeneric(ctx, 'setnx', argv[1] as Buffer, argv[2] as Buffer, F_NX, null, SetReply.OneOrZero),
  }),
  spec({
    name: 'setex', keySpecs: [key('OW update', 1)], arity: 4, flags: W, summary: 'Set a key with an expiry in seconds', syntax: 'key seconds value',
    handler: (ctx, argv) => setGeneric(ctx, 'setex', argv[1] as Buffer, argv[3] as Buffer, F_EX, argv[2] as Buffer, SetReply.OkOrNull),
  }),
  spec({
    name: 'psetex', keySpecs: [key('OW update', 1)], arity: 4, flags: W, summary: 'Set a key with an expiry in milliseconds', syntax: 'key milliseconds value',
    handler: (ctx, argv) => setGeneric(ctx, 'psetex', argv[1] as Buffer, argv[3] as Buffer, F_PX, argv[2] as Buffer, SetReply.OkOrNull),
  }),
  spec({ name: 'getset', keySpecs: [key('RW access update', 1)], arity: 3, flags: WDF, summary: 'Set a key and return its old value', syntax: 'key value', handler: getsetCommand }),
  spec({ name: 'getdel', keySpecs: [key('RW access delete', 1)], arity: 2, flags: WF, summary: 'Get the value of a key and delete it', syntax: 'key', handler: getdelCommand }),
  spec({
    name: 'getex', keySpecs: [key('RW access update', 1, range(), { notes: 'RW and UPDATE because it changes the TTL' })], arity: -2, flags: WF, summary: 'Get the value of a key and optionally set or clear its expiry',
    syntax: 'key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]', handler: getexCommand,
  }),
  spec({ name: 'mget', keySpecs: [key('RO access', 1, range(-1))], arity: -2, flags: RF, summary: 'Get the values of several keys', syntax: 'key [key ...]', handler: mgetCommand }),
  spec({ name: 'mset', keySpecs: [key('OW update', 1, range(-1, 2))], arity: -3, flags: W, summary: 'Set several keys atomically', syntax: 'key value [key value ...]', handler: msetCommand }),
  spec({
    name: 'msetnx', keySpecs: [key('OW insert', 1, range(-1, 2))], arity: -3, flags: W, summary: 'Set several keys atomically, only if none exists',
    syntax: 'key value [key value ...]', handler: msetnxCommand,
  }),
  spec({ name: 'incr', keySpecs: [key('RW access update', 1)], arity: 2, flags: WDF, summary: 'Increment the integer value of a key by one', syntax: 'key', handler: (ctx, argv) => incrDecr(ctx, argv[1] as Buffer, 1n) }),
  spec({ name: 'decr', keySpecs: [key('RW access update', 1)], arity: 2, flags: WDF, summary: 'Decrement the integer value of a key by one', syntax: 'key', handler: (ctx, argv) => incrDecr(ctx, argv[1] as Buffer, -1n) }),
  spec({
    name: 'incrby', keySpecs: [key('RW access update', 1)], arity: 3, flags: WDF, summary: 'Increment the integer value of a key', syntax: 'key increment',
    handler: (ctx, argv) => {
      const by = incrbyArg(ctx, argv[2] as Buffer);
      if (by !== null) incrDecr(ctx, argv[1] as Buffer, by);
    },
  }),
  spec({
    name: 'decrby', keySpecs: [key('RW access update', 1)], arity: 3, flags: WDF, summary: 'Decrement the integer value of a key', syntax: 'key decrement',
    handler: (ctx, argv) => {
      const by = incrbyArg(ctx, argv[2] as Buffer);
      if (by === null) return;
      // Negating INT64_MIN overflows int64: Redis refuses before looking at the key.
      if (by === INT64_MIN) return ctx.out.error(ERR_DECR_OVERFLOW);
      incrDecr(ctx, argv[1] as Buffer, -by);
    },
  }),
  spec({
    name: 'incrbyfloat', keySpecs: [key('RW access update', 1)], arity: 3, flags: WDF, summary: 'Increment the float value of a key (80-bit long double, as Redis)',
    syntax: 'key increment', handler: incrbyfloatCommand,
  }),
  spec({ name: 'append', keySpecs: [key('RW insert', 1)], arity: 3, flags: WDF, summary: 'Append a value to a key', syntax: 'key value', handler: appendCommand }),
  spec({ name: 'strlen', keySpecs: [key('RO', 1)], arity: 2, flags: RF, summary: 'Get the length of the value of a key', syntax: 'key', handler: strlenCommand }),
  spec({ name: 'getrange', keySpecs: [key('RO access', 1)], arity: 4, flags: ['readonly'], summary: 'Get a substring of the value of a key', syntax: 'key start end', handler: getrangeCommand }),
  spec({ name: 'substr', keySpecs: [key('RO access', 1)], arity: 4, flags: ['readonly'], summary: 'Get a substring of the value of a key (old name of GETRANGE)', syntax: 'key start end', handler: getrangeCommand }),
  spec({ name: 'setrange', keySpecs: [key('RW update', 1)], arity: 4, flags: W, summary: 'Overwrite part of a string at an offset', syntax: 'key offset value', handler: setrangeCommand }),
];
