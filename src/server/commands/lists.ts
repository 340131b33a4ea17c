// The list commands (Redis t_list.c, blocking forms included) with Redis 7.0 semantics, error
// strings and replies in RESP2 and RESP3. Handlers read through ctx.store.getList (never mutating
// what it returns) and change a list only through ctx.write, with the ops collection-ops.ts builds:
// one entry per command, a 'del' when a command empties the list.

import type { CommandContext, CommandModule } from '../command-types.js';
import type { ListObject } from '../../storage/list-object.js';
import { keyFromBytes, type Key, type Op } from '../../storage/types.js';
import { linsertOps, listIndex, lmoveOps, lremOps, lsetOps, ltrimOps, popOps, pushOps } from '../../storage/collection-ops.js';
import { ERR_NO_SUCH_KEY, ERR_NOT_INTEGER, ERR_SYNTAX, ERR_WRONGTYPE, INT64_MIN, errArity, isWord, parseInt64, parseIntClamped } from './args.js';
import { wrongType } from './keytype.js';
import { ERR_NOT_POSITIVE, parseMpopArgs } from './collection-args.js';
import { parseTimeout, popOrBlock } from './blocking-args.js';
import { specIn, W, WF, WD, WDF, R, RF } from './spec.js';
import { key, range, keynum } from './key-specs.js';
import { NOTIFY } from '../keyspace-events.js';

const ERR_INDEX_RANGE = 'ERR index out of range';
const ERR_RANK_ZERO = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
const ERR_COUNT_NEGATIVE = "ERR COUNT can't be negative";
const ERR_MAXLEN_NEGATIVE = "ERR MAXLEN can't be negative";

/**
 * The list at `key`, undefined when missing; null (with the WRONGTYPE reply written) when the
 * key holds another type.
 */
function listArg(ctx: CommandContext, key: Key): ListObject | undefined | null {
  const l = ctx.store.getList(key);
  if (l !== undefined || !wrongType(ctx.store, key, 'list')) return l;
  ctx.out.error(ERR_WRONGTYPE);
  return null;
}

function keyArg(argv: readonly Buffer[], i: number): Key {
  return keyFromBytes(argv[i] as Buffer);
}

/** LEFT / RIGHT (Redis getListPositionFromObjectOrReply): true for LEFT, null when neither. */
/** LMPOP's end words: LEFT pops from the head. */
const LIST_ENDS = ['left', 'right'] as const;

function whereArg(b: Buffer): boolean | null {
  return isWord(b, 'left') ? true : isWord(b, 'right') ? false : null;
}

/**
 * Log a write that may make a list non-empty (every push goes through here). Clients blocked on
 * the pushed keys are served after the command, from the store's touch listener (blocking.ts).
 */
function writePush(ctx: CommandContext, ops: readonly Op[]): void {
  ctx.write(ops);
}

/** For a blocked client: the list at `key`, undefined when missing, empty or of another type (it keeps waiting). */
function servableList(ctx: CommandContext, key: Key): ListObject | undefined {
  return ctx.store.getList(key);
}

function replyElements(ctx: CommandContext, values: readonly Key[]): void {
  ctx.out.array(values.length);
  for (const v of values) ctx.out.bulkLatin1(v);
}

// ---------------------------------------------------------------- writes

/** LPUSH / RPUSH, and with `exists` LPUSHX / RPUSHX (only onto an existing list). */
function pushGeneric(ctx: CommandContext, argv: readonly Buffer[], head: boolean, exists: boolean): void {
  const key = keyArg(argv, 1);
  const l = listArg(ctx, key);
  if (l === null) return;
  if (exists && l === undefined) return ctx.out.integer(0);
  const { ops, length } = pushOps(key, l, head, argv.slice(2));
  writePush(ctx, ops);
  ctx.out.integer(length);
}

/** LPOP / RPOP key [count] (Redis popGenericCommand). */
function popGeneric(ctx: CommandContext, argv: readonly Buffer[], head: boolean): void {
  if (argv.length > 3) return ctx.out.error(errArity(head ? 'lpop' : 'rpop'));
  const hasCount = argv.length === 3;
  let count = 1;
  if (hasCount) {
    const n = parseIntClamped(argv[2] as Buffer);
    if (n === null || n < 0) return ctx.out.error(ERR_NOT_POSITIVE);
    count = n;
  }
  const key = keyArg(argv, 1);
  const l = listArg(ctx, key);
  if (l === null) return;
  if (l === undefined) return hasCount ? ctx.out.nullArray() : ctx.out.nullBulk();
  if (hasCount && count === 0) return ctx.out.array(0);
  const { ops, values } = popOps(key, l, head, count);
  ctx.write(ops);
  if (hasCount) replyElements(ctx, values);
  else ctx.out.bulkLatin1(values[0] as Key);
}

function lsetCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const key = keyArg(argv, 1);
  const l = listArg(ctx, key);
  if (l === null) return;
  if (l === undefined) return ctx.out.error(ERR_NO_SUCH_KEY);
  const index = parseIntClamped(argv[2] as Buffer);
  if (index === null) return ctx.out.error(ERR_NOT_INTEGER);
  const r = lsetOps(key, l, index, argv[3] as Buffer);
  if ('error' in r) return ctx.out.error(ERR_INDEX_RANGE);
  ctx.write(r.ops);
  ctx.out.ok();
}

/** LINSERT key BEFORE|AFTER pivot element. */
function linsertCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const where = argv[2] as Buffer;
  const after = isWord(where, 'after') ? true : isWord(where, 'before') ? false : null;
  if (after === null) return ctx.out.error(ERR_SYNTAX);
  const key = keyArg(argv, 1);
  const l = listArg(ctx, key);
  if (l === null) return;
  if (l === undefined) return ctx.out.integer(0);
  const { ops, length } = linsertOps(key, l, after, keyArg(argv, 3), argv[4] as Buffer);
  if (ops.length > 0) ctx.write(ops);
  ctx.out.integer(length);
}

function lremCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const count = parseIntClamped(argv[2] as Buffer);
  if (count === null) return ctx.out.error(ERR_NOT_INTEGER);
  const key = keyArg(argv, 1);
  const l = listArg(ctx, key);
  if (l === null) return;
  const { ops, removed } = lremOps(key, l, count, argv[3] as Buffer);
  if (ops.length > 0) ctx.write(ops);
  ctx.out.integer(removed);
}

function ltrimCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const start = parseIntClamped(argv[2] as Buffer);
  const stop = parseIntClamped(argv[3] as Buffer);
  if (start === null || stop === null) return ctx.out.error(ERR_NOT_INTEGER);
  const key = keyArg(argv, 1);
  const l = listArg(ctx, key);
  if (l === null) return;
  const ops = ltrimOps(key, l, start, stop);
  if (ops.length > 0) ctx.write(ops);
  // Redis announces LTRIM on an existing list even when every element stays.
  else if (l !== undefined) ctx.announce?.(NOTIFY.list, 'ltrim', key);
  ctx.out.ok();
}

/**
 * LMOVE / RPOPLPUSH and their blocking forms: Redis checks the source, then (only when it has an
 * element) the destination's type. False, with nothing written, when the source is empty; when
 * serving a blocked client (`serving`) a source of another type also means nothing to do, while
 * a destination of another type answers WRONGTYPE (Redis 7.0).
 */
function tryMove(ctx: CommandContext, src: Key, dst: Key, fromHead: boolean, toHead: boolean, serving: boolean): boolean {
  const sl = serving ? servableList(ctx, src) : listArg(ctx, src);
  if (sl === null) return true;
  if (sl === undefined) return false;
  const dl = listArg(ctx, dst);
  if (dl === null) return true;
  const { ops, value } = lmoveOps(src, sl, dst, dl, fromHead, toHead);
  writePush(ctx, ops);
  ctx.out.bulkLatin1(value);
  return true;
}

function moveGeneric(ctx: CommandContext, src: Key, dst: Key, fromHead: boolean, toHead: boolean): void {
  if (!tryMove(ctx, src, dst, fromHead, toHead, false)) ctx.out.nullBulk();
}

function lmoveCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const from = whereArg(argv[3] as Buffer);
  const to = whereArg(argv[4] as Buffer);
  if (from === null || to === null) return ctx.out.error(ERR_SYNTAX);
  moveGeneric(ctx, keyArg(argv, 1), keyArg(argv, 2), from, to);
}

function rpoplpushCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  moveGeneric(ctx, keyArg(argv, 1), keyArg(argv, 2), false, true);
}

/**
 * Pop from the first non-empty list of `keys` (only `only` when serving a blocked client);
 * `reply` writes what went. False, with nothing written, when there was nothing to pop.
 */
function tryPop(ctx: CommandContext, keys: readonly Key[], only: Key | null, head: boolean, count: number, reply: (key: Key, values: readonly Key[]) => void): boolean {
  for (const key of only === null ? keys : [only]) {
    const l = only === null ? listArg(ctx, key) : servableList(ctx, key);
    if (l === null) return true;
    if (l === undefined) continue;
    const { ops, values } = popOps(key, l, head, count);
    ctx.write(ops);
    reply(key, values);
    return true;
  }
  return false;
}

/** LMPOP / BLMPOP's reply: [key, [elements]]. */
function replyKeyElements(ctx: CommandContext, key: Key, values: readonly Key[]): void {
  ctx.out.array(2);
  ctx.out.bulkLatin1(key);
  replyElements(ctx, values);
}

/** LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: pop from the first non-empty list. */
function lmpopCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const a = parseMpopArgs(argv, 1, LIST_ENDS);
  if (typeof a === 'string') return ctx.out.error(a);
  if (!tryPop(ctx, a.keys, null, a.first, a.count, (k, v) => replyKeyElements(ctx, k, v))) ctx.out.nullArray();
}

// ---------------------------------------------------------------- blocking forms

/** The timeout argument; null once its error is written. */
function timeoutArg(ctx: CommandContext, b: Buffer): number | null {
  const t = parseTimeout(b, Date.now());
  if ('error' in t) return (ctx.out.error(t.error), null);
  return t.deadlineMs;
}

/** BLPOP / BRPOP key [key ...] timeout: [key, element]. */
function bpopGeneric(ctx: CommandContext, argv: readonly Buffer[], head: boolean): void {
  const deadline = timeoutArg(ctx, argv[argv.length - 1] as Buffer);
  if (deadline === null) return;
  const keys: Key[] = [];
  for (let i = 1; i < argv.length - 1; i++) keys.push(keyArg(argv, i));
  const reply = (key: Key, values: readonly Key[]): void => {
    ctx.out.array(2);
    ctx.out.bulkLatin1(key);
    ctx.out.bulkLatin1(values[0] as Key);
  };
  popOrBlock(ctx, argv, keys, deadline, (c, only) => tryPop(c, keys, only, head, 1, reply));
}

/** BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout, BRPOPLPUSH source destination timeout. */
function bmoveGeneric(ctx: CommandContext, argv: readonly Buffer[], fromHead: boolean, toHead: boolean): void {
  const deadline = timeoutArg(ctx, argv[argv.length - 1] as Buffer);
  if (deadline === null) return;
  const src = keyArg(argv, 1);
  const dst = keyArg(argv, 2);
  popOrBlock(ctx, argv, [src], deadline, (c, only) => tryMove(c, src, dst, fromHead, toHead, only !== null), true);
}

function blmoveCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const from = whereArg(argv[3] as Buffer);
  const to = whereArg(argv[4] as Buffer);
  if (from === null || to === null) return ctx.out.error(ERR_SYNTAX);
  bmoveGeneric(ctx, argv, from, to);
}

/** BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]. */
function blmpopCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  // Redis parses the keys and options first, then the timeout.
  const a = parseMpopArgs(argv, 2, LIST_ENDS);
  if (typeof a === 'string') return ctx.out.error(a);
  const deadline = timeoutArg(ctx, argv[1] as Buffer);
  if (deadline === null) return;
  popOrBlock(ctx, argv, a.keys, deadline, (c, only) => tryPop(c, a.keys, only, a.first, a.count, (k, v) => replyKeyElements(c, k, v)));
}

// ---------------------------------------------------------------- reads

function llenCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const l = listArg(ctx, keyArg(argv, 1));
  if (l === null) return;
  ctx.out.integer(l?.size ?? 0);
}

function lindexCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const l = listArg(ctx, keyArg(argv, 1));
  if (l === null) return;
  if (l === undefined) return ctx.out.nullBulk();
  const index = parseIntClamped(argv[2] as Buffer);
  if (index === null) return ctx.out.error(ERR_NOT_INTEGER);
  const i = listIndex(l, index);
  if (i < 0) return ctx.out.nullBulk();
  ctx.out.bulkLatin1(l.at(i) as Key);
}

/** LRANGE key start stop (Redis's index rules). */
function lrangeCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  let start = parseIntClamped(argv[2] as Buffer);
  let stop = parseIntClamped(argv[3] as Buffer);
  if (start === null || stop === null) return ctx.out.error(ERR_NOT_INTEGER);
  const l = listArg(ctx, keyArg(argv, 1));
  if (l === null) return;
  if (l === undefined) return ctx.out.array(0);
  const len = l.size;
  if (start < 0) start += len;
  if (stop < 0) stop += len;
  if (start < 0) start = 0;
  if (start > stop || start >= len) return ctx.out.array(0);
  if (stop >= len) stop = len - 1;
  ctx.out.array(stop - start + 1);
  l.writeRange(start, stop, ctx.out);
}

/** LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]. */
function lposCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  let rank = 1;
  let count = -1;
  let maxlen = 0;
  for (let j = 3; j < argv.length; j++) {
    const opt = argv[j] as Buffer;
    const more = j + 1 < argv.length;
    if (isWord(opt, 'rank') && more) {
      const n = parseInt64(argv[++j] as Buffer);
      if (n === null) return out.error(ERR_NOT_INTEGER);
      if (n === 0n) return out.error(ERR_RANK_ZERO);
      // Redis 7.0 negates a negative rank in C: LONG_MIN stays negative, so from the tail every match counts (as -1).
      rank = n === INT64_MIN ? -1 : (parseIntClamped(argv[j] as Buffer) as number);
    } else if (isWord(opt, 'count') && more) {
      const n = parseIntClamped(argv[++j] as Buffer);
      if (n === null || n < 0) return out.error(ERR_COUNT_NEGATIVE);
      count = n;
    } else if (isWord(opt, 'maxlen') && more) {
      const n = parseIntClamped(argv[++j] as Buffer);
      if (n === null || n < 0) return out.error(ERR_MAXLEN_NEGATIVE);
      maxlen = n;
    } else {
      return out.error(ERR_SYNTAX);
    }
  }
  const l = listArg(ctx, keyArg(argv, 1));
  if (l === null) return;
  if (l === undefined) return count !== -1 ? out.array(0) : out.nullBulk();
  const fromTail = rank < 0;
  const skip = Math.abs(rank) - 1;
  const want = keyArg(argv, 2);
  const found: number[] = [];
  let matches = 0;
  let scanned = 0;
  for (const v of fromTail ? l.valuesReverse() : l.values()) {
    if (maxlen !== 0 && scanned >= maxlen) break;
    if (v === want && ++matches > skip) {
      found.push(fromTail ? l.size - 1 - scanned : scanned);
      if (count === -1 || (count !== 0 && found.length >= count)) break;
    }
    scanned++;
  }
  if (count === -1) return found.length > 0 ? out.integer(found[0] as number) : out.nullBulk();
  out.array(found.length);
  for (const i of found) out.integer(i);
}

// ---------------------------------------------------------------- the table

const spec = specIn('list');

/** Redis's flags for the blocking forms. */
const WB = ['write', 'noscript', 'blocking'] as const;
const WDB = ['write', 'denyoom', 'noscript', 'blocking'] as const;

export const listCommands: CommandModule = [
  spec({ name: 'lpush', keySpecs: [key('RW insert', 1)], arity: -3, flags: WDF, summary: 'Prepend elements to a list; replies its length', syntax: 'key element [element ...]', handler: (ctx, argv) => pushGeneric(ctx, argv, true, false) }),
  spec({ name: 'rpush', keySpecs: [key('RW insert', 1)], arity: -3, flags: WDF, summary: 'Append elements to a list; replies its length', syntax: 'key element [element ...]', handler: (ctx, argv) => pushGeneric(ctx, argv, false, false) }),
  spec({ name: 'lpushx', keySpecs: [key('RW insert', 1)], arity: -3, flags: WDF, summary: 'Prepend elements to a list only if it exists', syntax: 'key element [element ...]', handler: (ctx, argv) => pushGeneric(ctx, argv, true, true) }),
  spec({ name: 'rpushx', keySpecs: [key('RW insert', 1)], arity: -3, flags: WDF, summary: 'Append elements to a list only if it exists', syntax: 'key element [element ...]', handler: (ctx, argv) => pushGeneric(ctx, argv, false, true) }),
  spec({ name: 'lpop', keySpecs: [key('RW access delete', 1)], arity: -2, flags: WF, summary: 'Remove and return the first elements of a list', syntax: 'key [count]', handler: (ctx, argv) => popGeneric(ctx, argv, true) }),
  spec({ name: 'rpop', keySpecs: [key('RW access delete', 1)], arity: -2, flags: WF, summary: 'Remove and return the last elements of a list', syntax: 'key [count]', handler: (ctx, argv) => popGeneric(ctx, argv, false) }),
  spec({ name: 'llen', keySpecs: [key('RO', 1)], arity: 2, flags: RF, summary: 'Length of a list', syntax: 'key', handler: llenCommand }),
  spec({ name: 'lindex', keySpecs: [key('RO access', 1)], arity: 3, flags: R, summary: 'An element of a list by index', syntax: 'key index', handler: lindexCommand }),
  spec({ name: 'lset', keySpecs: [key('RW update', 1)], arity: 4, flags: WD, summary: 'Set an element of a list by index', syntax: 'key index element', handler: lsetCommand }),
  spec({ name: 'linsert', keySpecs: [key('RW insert', 1)], arity: 5, flags: WD, summary: 'Insert an element before or after another in a list', syntax: 'key BEFORE|AFTER pivot element', handler: linsertCommand }),
  spec({ name: 'lrange', keySpecs: [key('RO access', 1)], arity: 4, flags: R, summary: 'A range of elements of a list', syntax: 'key start stop', handler: lrangeCommand }),
  spec({ name: 'lrem', keySpecs: [key('RW delete', 1)], arity: 4, flags: W, summary: 'Remove elements equal to a value from a list', syntax: 'key count element', handler: lremCommand }),
  spec({ name: 'ltrim', keySpecs: [key('RW delete', 1)], arity: 4, flags: W, summary: 'Keep only a range of elements of a list', syntax: 'key start stop', handler: ltrimCommand }),
  spec({ name: 'lpos', keySpecs: [key('RO access', 1)], arity: -3, flags: R, summary: 'Indexes of elements equal to a value in a list', syntax: 'key element [RANK rank] [COUNT num-matches] [MAXLEN len]', handler: lposCommand }),
  spec({ name: 'lmove', keySpecs: [key('RW access delete', 1), key('RW insert', 2)], arity: 5, flags: WD, summary: 'Pop an element from a list and push it onto another', syntax: 'source destination LEFT|RIGHT LEFT|RIGHT', handler: lmoveCommand }),
  spec({ name: 'rpoplpush', keySpecs: [key('RW access delete', 1), key('RW insert', 2)], arity: 3, flags: WD, summary: 'Pop the last element of a list and push it onto the head of another', syntax: 'source destination', handler: rpoplpushCommand }),
  spec({ name: 'lmpop', keySpecs: [key('RW access delete', 1, keynum())], arity: -4, flags: W, summary: 'Pop elements from the first non-empty list', syntax: 'numkeys key [key ...] LEFT|RIGHT [COUNT count]', handler: lmpopCommand }),
  spec({ name: 'blpop', keySpecs: [key('RW access delete', 1, range(-2))], arity: -3, flags: WB, summary: 'Pop the first element of the first non-empty list, or wait for one', syntax: 'key [key ...] timeout', handler: (ctx, argv) => bpopGeneric(ctx, argv, true) }),
  spec({ name: 'brpop', keySpecs: [key('RW access delete', 1, range(-2))], arity: -3, flags: WB, summary: 'Pop the last element of the first non-empty list, or wait for one', syntax: 'key [key ...] timeout', handler: (ctx, argv) => bpopGeneric(ctx, argv, false) }),
  spec({ name: 'blmove', keySpecs: [key('RW access delete', 1), key('RW insert', 2)], arity: 6, flags: WDB, summary: 'LMOVE, or wait for the source to have an element', syntax: 'source destination LEFT|RIGHT LEFT|RIGHT timeout', handler: blmoveCommand }),
  spec({ name: 'brpoplpush', keySpecs: [key('RW access delete', 1), key('RW insert', 2)], arity: 4, flags: WDB, summary: 'RPOPLPUSH, or wait for the source to have an element', syntax: 'source destination timeout', handler: (ctx, argv) => bmoveGeneric(ctx, argv, false, true) }),
  spec({ name: 'blmpop', keySpecs: [key('RW access delete', 2, keynum())], arity: -5, flags: ['write', 'blocking'], summary: 'LMPOP, or wait for one of the lists to have elements', syntax: 'timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]', handler: blmpopCommand }),
];
