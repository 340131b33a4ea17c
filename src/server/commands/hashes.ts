// The hash commands (Redis t_hash.c) with Redis 7.0 semantics, error strings and replies in
// RESP2 and RESP3. Handlers read through ctx.store.getHash (never mutating what it returns) and
// change a hash only through ctx.write: one 'hset' op per field written, one 'hdel' per field
// removed, or one 'del' when a command empties the hash (collection-ops.ts, which builds these writes' ops).

import type { CommandContext, CommandModule } from '../command-types.js';
import type { ReplyWriter } from '../../protocol/reply.js';
import type { HashObject } from '../../storage/hash-object.js';
import { keyFromBytes, keyToBytes, type Key } from '../../storage/types.js';
import { ERR_FLOAT_NAN_INF, ERR_INCR_OVERFLOW, ERR_NOT_FLOAT, ERR_NOT_INTEGER, ERR_SYNTAX, ERR_WRONGTYPE, INT64_MAX, errArity, parseInt64, isWord } from './args.js';
import { addLongDouble, formatLongDoubleHuman, parseLongDouble } from './float80.js';
import { wrongType } from './keytype.js';
import { hdelOps, hincrbyOps, hsetOps } from '../../storage/collection-ops.js';
import { ERR_OUT_OF_RANGE, parseScanArgs, RANDOM_REPLY_ELEMENTS_MAX, randomIndex, replyScan } from './collection-args.js';
import { specIn, WF, WDF, R, RF } from './spec.js';
import { key } from './key-specs.js';

const ERR_HASH_NOT_INTEGER = 'ERR hash value is not an integer';
const ERR_HASH_NOT_FLOAT = 'ERR hash value is not a float';
const ERR_INCR_NAN_INF = 'ERR value is NaN or Infinity';
/** Redis LONG_MAX: HRANDFIELD's count range is [-LONG_MAX, LONG_MAX]. */
const LONG_MAX = INT64_MAX;
/** HRANDFIELD ... WITHVALUES: |count| up to LONG_MAX / 2 (the reply length doubles). */
const WITHVALUES_COUNT_MAX = LONG_MAX / 2n;

/**
 * The hash at argv[1] for a command, undefined when missing; null (with the WRONGTYPE reply
 * written) when the key holds another type.
 */
function hashArg(ctx: CommandContext, key: Key): HashObject | undefined | null {
  const h = ctx.store.getHash(key);
  if (h !== undefined || !wrongType(ctx.store, key, 'hash')) return h;
  ctx.out.error(ERR_WRONGTYPE);
  return null;
}

function field(argv: readonly Buffer[], i: number): Key {
  return keyFromBytes(argv[i] as Buffer);
}

// ---------------------------------------------------------------- writes

/** HSET / HMSET key field value [field value ...] (collection-ops.ts hsetOps). */
function hsetGeneric(ctx: CommandContext, argv: readonly Buffer[], name: string): void {
  if (argv.length % 2 === 1) return ctx.out.error(errArity(name));
  const key = field(argv, 1);
  const h = hashArg(ctx, key);
  if (h === null) return;
  const pairs: Array<readonly [Key, Buffer]> = [];
  for (let i = 2; i < argv.length; i += 2) pairs.push([field(argv, i), argv[i + 1] as Buffer]);
  const { ops, added } = hsetOps(key, h, pairs);
  ctx.write(ops);
  if (name === 'hmset') ctx.out.ok();
  else ctx.out.integer(added);
}

function hsetnxCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const key = field(argv, 1);
  const h = hashArg(ctx, key);
  if (h === null) return;
  const f = field(argv, 2);
  if (h?.has(f) === true) return ctx.out.integer(0);
  ctx.write([{ t: 'hset', key, field: f, value: argv[3] as Buffer }]);
  ctx.out.integer(1);
}

function hdelCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const key = field(argv, 1);
  const h = hashArg(ctx, key);
  if (h === null) return;
  const { ops, removed } = hdelOps(key, h, argv.slice(2).map(keyFromBytes));
  if (ops.length > 0) ctx.write(ops);
  ctx.out.integer(removed);
}

/** Redis hincrbyCommand: the increment is parsed first, then the key's type, then the field's value. */
function hincrbyCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const incr = parseInt64(argv[3] as Buffer);
  if (incr === null) return ctx.out.error(ERR_NOT_INTEGER);
  const key = field(argv, 1);
  const h = hashArg(ctx, key);
  if (h === null) return;
  const r = hincrbyOps(key, h, field(argv, 2), incr);
  if ('error' in r) return ctx.out.error(r.error === 'overflow' ? ERR_INCR_OVERFLOW : ERR_HASH_NOT_INTEGER);
  ctx.write(r.ops);
  ctx.out.integer(r.value);
}

/** Redis hincrbyfloatCommand: 80-bit long double arithmetic and printing, as INCRBYFLOAT. */
function hincrbyfloatCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const incr = parseLongDouble(argv[3] as Buffer);
  if (incr === null) return ctx.out.error(ERR_NOT_FLOAT);
  if (incr.kind !== 'finite') return ctx.out.error(ERR_INCR_NAN_INF);
  const key = field(argv, 1);
  const h = hashArg(ctx, key);
  if (h === null) return;
  const f = field(argv, 2);
  const cur = h?.get(f);
  const value = parseLongDouble(cur ?? Buffer.from('0'));
  if (value === null) return ctx.out.error(ERR_HASH_NOT_FLOAT);
  const sum = addLongDouble(value, incr);
  if (sum.kind !== 'finite') return ctx.out.error(ERR_FLOAT_NAN_INF);
  const text = Buffer.from(formatLongDoubleHuman(sum), 'latin1');
  ctx.write([{ t: 'hset', key, field: f, value: text }]);
  ctx.out.bulk(text);
}

// ---------------------------------------------------------------- reads

function hgetCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const h = hashArg(ctx, field(argv, 1));
  if (h === null) return;
  const v = h?.get(field(argv, 2));
  if (v === undefined) ctx.out.nullBulk();
  else ctx.out.bulk(v);
}

function hmgetCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const h = hashArg(ctx, field(argv, 1));
  if (h === null) return;
  ctx.out.array(argv.length - 2);
  for (let i = 2; i < argv.length; i++) {
    const v = h?.get(field(argv, i));
    if (v === undefined) ctx.out.nullBulk();
    else ctx.out.bulk(v);
  }
}

/** HGETALL (a map in RESP3), HKEYS, HVALS: in the hash's order (a listpack's is insertion order, as Redis's). */
function hgetallGeneric(ctx: CommandContext, argv: readonly Buffer[], keys: boolean, values: boolean): void {
  const h = hashArg(ctx, field(argv, 1));
  if (h === null) return;
  const n = h?.size ?? 0;
  if (keys && values) ctx.out.map(n);
  else ctx.out.array(n);
  if (h !== undefined) h.writeEntries(ctx.out, keys, values);
}

function hexistsCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const h = hashArg(ctx, field(argv, 1));
  if (h !== null) ctx.out.integer(h?.has(field(argv, 2)) === true ? 1 : 0);
}

function hlenCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const h = hashArg(ctx, field(argv, 1));
  if (h !== null) ctx.out.integer(h?.size ?? 0);
}

function hstrlenCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const h = hashArg(ctx, field(argv, 1));
  if (h !== null) ctx.out.integer(Math.max(0, h?.valueLength(field(argv, 2)) ?? 0));
}

// ---------------------------------------------------------------- HRANDFIELD, HSCAN

/** One field (and its value) of HRANDFIELD's reply: a pair array in RESP3 with values, flat otherwise. */
function replyField(out: ReplyWriter, h: HashObject, f: Key, withValues: boolean): void {
  if (withValues && out.protocol === 3) out.array(2);
  out.bulkLatin1(f);
  if (withValues) out.bulk(h.get(f) as Buffer);
}

/** HRANDFIELD key [count [WITHVALUES]]: Redis hrandfieldCommand's argument checks, cases and reply shapes. */
function hrandfieldCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  const key = field(argv, 1);
  if (argv.length === 2) {
    const h = hashArg(ctx, key);
    if (h === null) return;
    if (h === undefined || h.size === 0) return out.nullBulk();
    return out.bulkLatin1(h.randomField(randomIndex) as Key);
  }
  const l = parseInt64(argv[2] as Buffer);
  if (l === null) return out.error(ERR_NOT_INTEGER);
  if (l < -LONG_MAX) return out.error(`ERR value is out of range, value must between ${-LONG_MAX} and ${LONG_MAX}`);
  if (argv.length > 4 || (argv.length === 4 && !isWord(argv[3] as Buffer, 'withvalues'))) return out.error(ERR_SYNTAX);
  const withValues = argv.length === 4;
  if (withValues && (l < -WITHVALUES_COUNT_MAX || l > WITHVALUES_COUNT_MAX)) return out.error(ERR_OUT_OF_RANGE);
  const h = hashArg(ctx, key);
  if (h === null) return;
  if (h === undefined || l === 0n || h.size === 0) return out.array(0);
  const flat = withValues && out.protocol === 2;
  if (-l > BigInt(RANDOM_REPLY_ELEMENTS_MAX)) return out.error(ERR_OUT_OF_RANGE);
  if (l < 0n || l === 1n) {
    // With repetitions (a negative count), or a single field: |count| independent picks.
    const count = Number(l < 0n ? -l : l);
    out.array(flat ? count * 2 : count);
    for (let i = 0; i < count; i++) replyField(out, h, h.randomField(randomIndex) as Key, withValues);
    return;
  }
  const fields = distinctRandomFields(h, l >= BigInt(h.size) ? h.size : Number(l));
  out.array(flat ? fields.length * 2 : fields.length);
  for (const f of fields) replyField(out, h, f, withValues);
}

/**
 * `count` distinct fields: the whole hash in its order when count >= size (as Redis); else, as
 * Redis's two strategies, drop random fields from the whole hash (count close to size) or pick
 * random ones until there are `count`.
 */
function distinctRandomFields(h: HashObject, count: number): Key[] {
  if (count >= h.size) return [...h.keys()];
  if (count * 3 > h.size) {
    const all = [...h.keys()];
    const dropped = new Set<number>();
    while (all.length - dropped.size > count) dropped.add(randomIndex(all.length));
    return all.filter((_, i) => !dropped.has(i));
  }
  const picked = new Set<Key>();
  while (picked.size < count) picked.add(h.randomField(randomIndex) as Key);
  return [...picked];
}

/** HSCAN key cursor [MATCH pattern] [COUNT count]: a listpack answers whole (cursor 0), as Redis. */
function hscanCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const args = parseScanArgs(ctx, argv);
  if (args === null) return;
  const h = hashArg(ctx, field(argv, 1));
  if (h === null) return;
  // A missing key answers an empty scan before the options are even parsed, as Redis.
  if (h === undefined) return replyScan(ctx.out, 0, []);
  const opts = args.options();
  if (opts === null) return;
  const items: Buffer[] = [];
  const next = h.scan(args.cursor, opts.count, (f, v) => {
    if (opts.matches(f)) items.push(keyToBytes(f), v);
  });
  replyScan(ctx.out, next, items);
}

// ---------------------------------------------------------------- the table

const spec = specIn('hash');

export const hashCommands: CommandModule = [
  spec({ name: 'hset', keySpecs: [key('RW update', 1)], arity: -4, flags: WDF, summary: 'Set fields of a hash; replies the number of new fields', syntax: 'key field value [field value ...]', handler: (ctx, argv) => hsetGeneric(ctx, argv, 'hset') }),
  spec({ name: 'hmset', keySpecs: [key('RW update', 1)], arity: -4, flags: WDF, summary: 'Set fields of a hash (old form of HSET)', syntax: 'key field value [field value ...]', handler: (ctx, argv) => hsetGeneric(ctx, argv, 'hmset') }),
  spec({ name: 'hsetnx', keySpecs: [key('RW insert', 1)], arity: 4, flags: WDF, summary: 'Set a field of a hash only if it does not exist', syntax: 'key field value', handler: hsetnxCommand }),
  spec({ name: 'hget', keySpecs: [key('RO access', 1)], arity: 3, flags: RF, summary: 'Get the value of a hash field', syntax: 'key field', handler: hgetCommand }),
  spec({ name: 'hmget', keySpecs: [key('RO access', 1)], arity: -3, flags: RF, summary: 'Get the values of hash fields', syntax: 'key field [field ...]', handler: hmgetCommand }),
  spec({ name: 'hgetall', keySpecs: [key('RO access', 1)], arity: 2, flags: R, summary: 'Get every field and value of a hash', syntax: 'key', handler: (ctx, argv) => hgetallGeneric(ctx, argv, true, true) }),
  spec({ name: 'hkeys', keySpecs: [key('RO access', 1)], arity: 2, flags: R, summary: 'Get every field of a hash', syntax: 'key', handler: (ctx, argv) => hgetallGeneric(ctx, argv, true, false) }),
  spec({ name: 'hvals', keySpecs: [key('RO access', 1)], arity: 2, flags: R, summary: 'Get every value of a hash', syntax: 'key', handler: (ctx, argv) => hgetallGeneric(ctx, argv, false, true) }),
  spec({ name: 'hdel', keySpecs: [key('RW delete', 1)], arity: -3, flags: WF, summary: 'Delete fields of a hash', syntax: 'key field [field ...]', handler: hdelCommand }),
  spec({ name: 'hexists', keySpecs: [key('RO', 1)], arity: 3, flags: RF, summary: 'Whether a hash field exists', syntax: 'key field', handler: hexistsCommand }),
  spec({ name: 'hlen', keySpecs: [key('RO', 1)], arity: 2, flags: RF, summary: 'Number of fields of a hash', syntax: 'key', handler: hlenCommand }),
  spec({ name: 'hstrlen', keySpecs: [key('RO', 1)], arity: 3, flags: RF, summary: 'Length of the value of a hash field', syntax: 'key field', handler: hstrlenCommand }),
  spec({ name: 'hincrby', keySpecs: [key('RW access update', 1)], arity: 4, flags: WDF, summary: 'Increment the integer value of a hash field', syntax: 'key field increment', handler: hincrbyCommand }),
  spec({ name: 'hincrbyfloat', keySpecs: [key('RW access update', 1)], arity: 4, flags: WDF, summary: 'Increment the float value of a hash field', syntax: 'key field increment', handler: hincrbyfloatCommand }),
  spec({ name: 'hrandfield', keySpecs: [key('RO access', 1)], arity: -2, flags: R, summary: 'Random fields of a hash', syntax: 'key [count [WITHVALUES]]', handler: hrandfieldCommand }),
  spec({ name: 'hscan', keySpecs: [key('RO access', 1)], arity: -3, flags: R, summary: 'Incrementally iterate the fields and values of a hash', syntax: 'key cursor [MATCH pattern] [COUNT count]', handler: hscanCommand }),
];
