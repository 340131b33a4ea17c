// The set commands (Redis t_set.c) with Redis 7.0 semantics, replies and error strings.
// Handlers read through ctx.store (typeOf / getSet) and mutate only through ctx.write with
// absolute ops (sadd / srem / del), one entry per command; random choices (SPOP, SRANDMEMBER)
// are made here, on the primary, and only their result is logged. Never mutates a SetObject.

import type { CommandContext, CommandModule } from '../command-types.js';
import type { ReplyWriter } from '../../protocol/reply.js';
import type { ReplicatedStore } from '../../storage/api.js';
import type { SetObject } from '../../storage/set-object.js';
import { keyFromBytes, keyToBytes, type Key, type Op } from '../../storage/types.js';
import { ERR_NOT_INTEGER, ERR_SYNTAX, ERR_WRONGTYPE, isWord, parseInt64, parseIntClamped } from './args.js';
import { diffMembers, interMembers, unionMembers, type MemberSource } from './set-algebra.js';
import {
  ERR_LIMIT_NEGATIVE,
  ERR_NOT_POSITIVE,
  ERR_NUMKEYS_POSITIVE,
  ERR_NUMKEYS_TOO_MANY,
  ERR_OUT_OF_RANGE,
  RANDOM_REPLY_ELEMENTS_MAX,
  errOutOfRange,
  orderLikeRedisSet,
  parseScanArgs,
  randomIndex,
  replyScan,
} from './collection-args.js';
import { wrongType } from './keytype.js';
import { saddOps, sremOps, sremPresentOps } from '../../storage/collection-ops.js';
import { specIn, WF, WD, WDF, R, RF } from './spec.js';
import { key, range, keynum } from './key-specs.js';

/** The members of `key`, or null after replying WRONGTYPE; an empty array-like view when missing. */
function readSet(ctx: CommandContext, key: Key): SetObject | undefined | null {
  if (!wrongType(ctx.store, key, 'set')) return ctx.store.getSet(key);
  ctx.out.error(ERR_WRONGTYPE);
  return null;
}

function replyMembers(out: ReplyWriter, members: readonly Key[], asSet: boolean): void {
  if (asSet) out.set(members.length);
  else out.array(members.length);
  for (const m of members) out.bulkLatin1(m);
}

function saddCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const key = keyFromBytes(argv[1] as Buffer);
  const set = readSet(ctx, key);
  if (set === null) return;
  const { ops, added } = saddOps(key, set, argv.slice(2).map(keyFromBytes));
  if (ops.length > 0) ctx.write(ops);
  ctx.out.integer(added);
}

function sremCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const key = keyFromBytes(argv[1] as Buffer);
  const set = readSet(ctx, key);
  if (set === null) return;
  const { ops, removed } = sremOps(key, set, argv.slice(2).map(keyFromBytes));
  if (ops.length > 0) ctx.write(ops);
  ctx.out.integer(removed);
}

function sismemberCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const set = readSet(ctx, keyFromBytes(argv[1] as Buffer));
  if (set === null) return;
  ctx.out.integer(set?.has(keyFromBytes(argv[2] as Buffer)) ? 1 : 0);
}

function smismemberCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const set = readSet(ctx, keyFromBytes(argv[1] as Buffer));
  if (set === null) return;
  ctx.out.array(argv.length - 2);
  for (let i = 2; i < argv.length; i++) ctx.out.integer(set?.has(keyFromBytes(argv[i] as Buffer)) ? 1 : 0);
}

function scardCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const set = readSet(ctx, keyFromBytes(argv[1] as Buffer));
  if (set === null) return;
  ctx.out.integer(set?.size ?? 0);
}

/** `count` distinct random members (all of them when count >= size). */
function distinctRandom(set: SetObject, count: number): Key[] {
  if (count >= set.size) return [...set.members()];
  if (count * 3 > set.size) {
    // Many of them: a partial shuffle of all members.
    const all = [...set.members()];
    for (let i = 0; i < count; i++) {
      const j = i + randomIndex(all.length - i);
      [all[i], all[j]] = [all[j] as Key, all[i] as Key];
    }
    return all.slice(0, count);
  }
  const picked = new Set<Key>();
  while (picked.size < count) picked.add(set.randomMember(randomIndex) as Key);
  return [...picked];
}

function spopCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  if (argv.length > 3) return out.error(ERR_SYNTAX);
  const key = keyFromBytes(argv[1] as Buffer);
  if (argv.length === 2) {
    const set = readSet(ctx, key);
    if (set === null) return;
    if (!set) return out.nullBulk();
    const m = set.randomMember(randomIndex) as Key;
    ctx.write(sremPresentOps(key, set, [m]));
    return out.bulkLatin1(m);
  }
  const n = parseInt64(argv[2] as Buffer);
  if (n === null || n < 0n) return out.error(ERR_NOT_POSITIVE);
  const set = readSet(ctx, key);
  if (set === null) return;
  if (!set || n === 0n) return out.set(0);
  const popped = distinctRandom(set, n > BigInt(set.size) ? set.size : Number(n));
  ctx.write(sremPresentOps(key, set, popped));
  replyMembers(out, popped, true);
}

/** SRANDMEMBER's count bound (Redis: -LONG_MAX..LONG_MAX). */
const INT64_MAX_TEXT = '9223372036854775807';

function srandmemberCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  if (argv.length > 3) return out.error(ERR_SYNTAX);
  const key = keyFromBytes(argv[1] as Buffer);
  if (argv.length === 2) {
    const set = readSet(ctx, key);
    if (set === null) return;
    if (!set) return out.nullBulk();
    return out.bulkLatin1(set.randomMember(randomIndex) as Key);
  }
  const n = parseInt64(argv[2] as Buffer);
  if (n === null) return out.error(ERR_NOT_INTEGER);
  if (n < -BigInt(INT64_MAX_TEXT)) return out.error(errOutOfRange(`-${INT64_MAX_TEXT}`, INT64_MAX_TEXT));
  const set = readSet(ctx, key);
  if (set === null) return;
  if (!set || n === 0n) return out.array(0);
  if (n > 0n) return replyMembers(out, distinctRandom(set, n > BigInt(set.size) ? set.size : Number(n)), false);
  if (-n > BigInt(RANDOM_REPLY_ELEMENTS_MAX)) return out.error(ERR_OUT_OF_RANGE);
  const count = Number(n);
  const picks: Key[] = [];
  for (let i = 0; i < -count; i++) picks.push(set.randomMember(randomIndex) as Key);
  replyMembers(out, picks, false);
}

function smoveCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out, store } = ctx;
  const src = keyFromBytes(argv[1] as Buffer);
  const dst = keyFromBytes(argv[2] as Buffer);
  const member = keyFromBytes(argv[3] as Buffer);
  if (store.typeOf(src) === 'none') return out.integer(0);
  if (wrongType(store, src, 'set') || wrongType(store, dst, 'set')) return out.error(ERR_WRONGTYPE);
  const from = store.getSet(src) as SetObject;
  if (src === dst) return out.integer(from.has(member) ? 1 : 0);
  if (!from.has(member)) return out.integer(0);
  const ops = sremPresentOps(src, from, [member]);
  if (!store.getSet(dst)?.has(member)) ops.push({ t: 'sadd', key: dst, member });
  ctx.write(ops);
  out.integer(1);
}

/**
 * The input sets of an algebra command (argv[from..to)), or null after replying WRONGTYPE:
 * every key is checked, missing ones included as undefined, before anything is computed.
 */
function readInputs(ctx: CommandContext, argv: readonly Buffer[], from: number, to: number): Array<SetObject | undefined> | null {
  const sets: Array<SetObject | undefined> = [];
  for (let i = from; i < to; i++) {
    const s = readSet(ctx, keyFromBytes(argv[i] as Buffer));
    if (s === null) return null;
    sets.push(s);
  }
  return sets;
}

type Algebra = (sets: readonly (MemberSource | undefined)[]) => Key[];

function algebraCommand(op: Algebra) {
  return (ctx: CommandContext, argv: readonly Buffer[]): void => {
    const sets = readInputs(ctx, argv, 1, argv.length);
    if (sets === null) return;
    replyMembers(ctx.out, orderLikeRedisSet(op(sets)), true);
  };
}

/** Replace `dst` with `members` in one entry (an empty result just deletes it). */
export function storeSetOps(store: ReplicatedStore, dst: Key, members: readonly Key[]): Op[] {
  const ops: Op[] = [];
  if (store.typeOf(dst) !== 'none') ops.push({ t: 'del', key: dst });
  for (const member of members) ops.push({ t: 'sadd', key: dst, member });
  return ops;
}

function algebraStoreCommand(op: Algebra) {
  return (ctx: CommandContext, argv: readonly Buffer[]): void => {
    const dst = keyFromBytes(argv[1] as Buffer);
    const sets = readInputs(ctx, argv, 2, argv.length);
    if (sets === null) return;
    const result = op(sets);
    const ops = storeSetOps(ctx.store, dst, result);
    if (ops.length > 0) ctx.write(ops);
    ctx.out.integer(result.length);
  };
}

/** SINTERCARD numkeys key [key ...] [LIMIT limit]. */
function sintercardCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  const numkeys = parseInt64(argv[1] as Buffer);
  if (numkeys === null || numkeys < 1n) return out.error(ERR_NUMKEYS_POSITIVE);
  if (numkeys > BigInt(argv.length - 2)) return out.error(ERR_NUMKEYS_TOO_MANY);
  const end = 2 + Number(numkeys);
  let limit = 0;
  for (let j = end; j < argv.length; j++) {
    if (isWord(argv[j] as Buffer, 'limit') && j + 1 < argv.length) {
      const l = parseIntClamped(argv[++j] as Buffer);
      if (l === null || l < 0) return out.error(ERR_LIMIT_NEGATIVE);
      limit = l;
    } else {
      return out.error(ERR_SYNTAX);
    }
  }
  const sets = readInputs(ctx, argv, 2, end);
  if (sets === null) return;
  out.integer(interMembers(sets, limit).length);
}

function sscanCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const args = parseScanArgs(ctx, argv);
  if (args === null) return;
  const set = readSet(ctx, keyFromBytes(argv[1] as Buffer));
  if (set === null) return;
  if (!set) return replyScan(ctx.out, 0, []);
  const opts = args.options();
  if (opts === null) return;
  const found: Buffer[] = [];
  const next = set.scan(args.cursor, opts.count, (m) => {
    if (opts.matches(m)) found.push(keyToBytes(m));
  });
  replyScan(ctx.out, next, found);
}

const spec = specIn('set');


export const setCommands: CommandModule = [
  spec({ name: 'sadd', keySpecs: [key('RW insert', 1)], arity: -3, flags: WDF, summary: 'Add members to a set', syntax: 'key member [member ...]', handler: saddCommand }),
  spec({ name: 'srem', keySpecs: [key('RW delete', 1)], arity: -3, flags: WF, summary: 'Remove members from a set', syntax: 'key member [member ...]', handler: sremCommand }),
  spec({ name: 'sismember', keySpecs: [key('RO', 1)], arity: 3, flags: RF, summary: 'Whether a member is in a set', syntax: 'key member', handler: sismemberCommand }),
  spec({ name: 'smismember', keySpecs: [key('RO access', 1)], arity: -3, flags: RF, summary: 'Whether each member is in a set', syntax: 'key member [member ...]', handler: smismemberCommand }),
  spec({ name: 'smembers', keySpecs: [key('RO access', 1)], arity: 2, flags: R, summary: 'All members of a set', syntax: 'key', handler: algebraCommand(interMembers) }),
  spec({ name: 'scard', keySpecs: [key('RO', 1)], arity: 2, flags: RF, summary: 'Number of members of a set', syntax: 'key', handler: scardCommand }),
  spec({ name: 'spop', keySpecs: [key('RW access delete', 1)], arity: -2, flags: WF, summary: 'Remove and return random members of a set', syntax: 'key [count]', handler: spopCommand }),
  spec({ name: 'srandmember', keySpecs: [key('RO access', 1)], arity: -2, flags: R, summary: 'Random members of a set (a negative count may repeat)', syntax: 'key [count]', handler: srandmemberCommand }),
  spec({ name: 'smove', keySpecs: [key('RW access delete', 1), key('RW insert', 2)], arity: 4, flags: WF, summary: 'Move a member from one set to another', syntax: 'source destination member', handler: smoveCommand }),
  spec({ name: 'sinter', keySpecs: [key('RO access', 1, range(-1))], arity: -2, flags: R, summary: 'Intersection of sets', syntax: 'key [key ...]', handler: algebraCommand(interMembers) }),
  spec({ name: 'sintercard', keySpecs: [key('RO access', 1, keynum())], arity: -3, flags: R, summary: 'Size of the intersection of sets', syntax: 'numkeys key [key ...] [LIMIT limit]', handler: sintercardCommand }),
  spec({ name: 'sinterstore', keySpecs: [key('RW update', 1), key('RO access', 2, range(-1))], arity: -3, flags: WD, summary: 'Store the intersection of sets', syntax: 'destination key [key ...]', handler: algebraStoreCommand(interMembers) }),
  spec({ name: 'sunion', keySpecs: [key('RO access', 1, range(-1))], arity: -2, flags: R, summary: 'Union of sets', syntax: 'key [key ...]', handler: algebraCommand(unionMembers) }),
  spec({ name: 'sunionstore', keySpecs: [key('OW update', 1), key('RO access', 2, range(-1))], arity: -3, flags: WD, summary: 'Store the union of sets', syntax: 'destination key [key ...]', handler: algebraStoreCommand(unionMembers) }),
  spec({ name: 'sdiff', keySpecs: [key('RO access', 1, range(-1))], arity: -2, flags: R, summary: 'Members of the first set in none of the others', syntax: 'key [key ...]', handler: algebraCommand(diffMembers) }),
  spec({ name: 'sdiffstore', keySpecs: [key('OW update', 1), key('RO access', 2, range(-1))], arity: -3, flags: WD, summary: 'Store the difference of sets', syntax: 'destination key [key ...]', handler: algebraStoreCommand(diffMembers) }),
  spec({ name: 'sscan', keySpecs: [key('RO access', 1)], arity: -3, flags: R, summary: 'Incrementally iterate the members of a set', syntax: 'key cursor [MATCH pattern] [COUNT count]', handler: sscanCommand }),
];
