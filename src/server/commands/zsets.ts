// The sorted-set commands (Redis t_zset.c, blocking forms included) with Redis 7.0 semantics,
// replies (scores as %.17g doubles; RESP3 [member, score] pairs) and error strings. Handlers
// read through ctx.store (typeOf / getZSet / getSet) and mutate only through ctx.write with
// absolute ops (zadd with the resulting score, zrem, del), one entry per command; ZRANDMEMBER's
// random choice is made here. Never mutates a SortedSet.

import type { CommandContext, CommandModule } from '../command-types.js';
import type { ReplyWriter } from '../../protocol/reply.js';
import type { ReplicatedStore } from '../../storage/api.js';
import type { SetObject } from '../../storage/set-object.js';
import type { SortedSet, ZEntry } from '../../storage/zset.js';
import type { EncodingLimits } from '../../storage/collection.js';
import { keyFromBytes, keyToBytes, type Key, type Op } from '../../storage/types.js';
import { ERR_NOT_FLOAT, ERR_NOT_INTEGER, ERR_SYNTAX, ERR_WRONGTYPE, INT64_MAX, isWord, parseInt64 } from './args.js';
import { combineZSets, interCardZSets, type ScoreSource } from './set-algebra.js';
import {
  ERR_LEX_RANGE,
  ERR_SCORE_NAN,
  ERR_SCORE_RANGE,
  parseLexRange,
  parseScore,
  parseScoreRange,
  parseZRangeArgs,
  parseZSetOpOptions,
  scanScoreText,
  type ZRangeArgs,
  type ZRangeMode,
} from './zset-args.js';
import {
  ERR_LIMIT_NEGATIVE,
  ERR_NOT_POSITIVE,
  parseMpopArgs,
  ERR_OUT_OF_RANGE,
  RANDOM_REPLY_ELEMENTS_MAX,
  errNeedsKey,
  errOutOfRange,
  parseScanArgs,
  randomIndex,
  replyScan,
} from './collection-args.js';
import { wrongType } from './keytype.js';
import { parseTimeout, popOrBlock } from './blocking-args.js';
import { keptScore, zaddOps, zremOps, zremPresentOps } from '../../storage/collection-ops.js';
import { specIn, W, WF, WD, WDF, R, RF } from './spec.js';
import { key, range, keynum } from './key-specs.js';

/** The sorted set at `key`, undefined when missing, or null after replying WRONGTYPE. */
export function readZSet(ctx: CommandContext, key: Key): SortedSet | undefined | null {
  if (!wrongType(ctx.store, key, 'zset')) return ctx.store.getZSet(key);
  ctx.out.error(ERR_WRONGTYPE);
  return null;
}

/** Whether Redis would hold `entries` as a listpack (it converts a stored result down when it fits). */
function fitsListpack(entries: readonly ZEntry[], limits: Readonly<EncodingLimits>): boolean {
  return entries.length <= limits.zsetListpackEntries && entries.every((e) => e[0].length <= limits.zsetListpackValueBytes);
}

/**
 * How Redis builds a stored result, which decides the scores it keeps (keptScore): 'whole'
 * (ZUNIONSTORE & co build a skiplist, then convert it to a listpack when it fits); 'sized'
 * (ZRANGESTORE by rank: a listpack when the known count fits, members added in reply order);
 * 'growing' (ZRANGESTORE BYSCORE/BYLEX: a listpack converted once it outgrows
 * zset-max-listpack-entries). Added one by one, a listpack converts at the first member longer
 * than zset-max-listpack-value.
 */
export type StoredAs = 'whole' | 'sized' | 'growing';

/** Replace `dst` with `entries` in one entry (an empty result just deletes it). */
export function storeOps(store: ReplicatedStore, dst: Key, entries: readonly ZEntry[], built: StoredAs): Op[] {
  const ops: Op[] = [];
  if (store.typeOf(dst) !== 'none') ops.push({ t: 'del', key: dst });
  const limits = store.encodingLimits;
  let listpack = built === 'whole' ? fitsListpack(entries, limits) : built === 'growing' || entries.length <= limits.zsetListpackEntries;
  for (let i = 0; i < entries.length; i++) {
    const [member, score] = entries[i] as ZEntry;
    if (member.length > limits.zsetListpackValueBytes || i >= limits.zsetListpackEntries) listpack = false;
    ops.push({ t: 'zadd', key: dst, member, score: keptScore(score, listpack) });
  }
  return ops;
}

/** Members, or (member, score) flat in RESP2 and as pairs in RESP3, as Redis's ZRANGE replies. */
function replyEntries(out: ReplyWriter, entries: readonly ZEntry[], withScores: boolean): void {
  if (!withScores) {
    out.array(entries.length);
    for (const [m] of entries) out.bulkLatin1(m);
    return;
  }
  const pairs = out.protocol === 3;
  out.array(pairs ? entries.length : entries.length * 2);
  for (const [m, s] of entries) {
    if (pairs) out.array(2);
    out.bulkLatin1(m);
    out.double(s);
  }
}

/** replyEntries for a rank range, written as the set is walked (ZRANGE's common form). */
function replyRank(out: ReplyWriter, z: SortedSet, start: number, stop: number, rev: boolean, withScores: boolean): void {
  const count = z.rankCount(start, stop);
  if (!withScores) {
    out.array(count);
    z.writeMembersByRank(out, count, start, rev);
    return;
  }
  const pairs = out.protocol === 3;
  out.array(pairs ? count : count * 2);
  z.visitRank(count, start, rev, (m, s) => {
    if (pairs) out.array(2);
    out.bulkLatin1(m);
    out.double(s);
  });
}

// ---------------------------------------------------------------- ZADD / ZINCRBY / ZREM

/** ZADD and ZINCRBY (which is ZADD INCR, options loop included, as in Redis). */
function zaddGeneric(ctx: CommandContext, argv: readonly Buffer[], incr: boolean): void {
  const { out } = ctx;
  const f = { nx: false, xx: false, gt: false, lt: false, ch: false, incr };
  let i = 2;
  for (; i < argv.length; i++) {
    const a = argv[i] as Buffer;
    const word = (['nx', 'xx', 'gt', 'lt', 'ch', 'incr'] as const).find((w) => isWord(a, w));
    if (word === undefined) break;
    f[word] = true;
  }
  const elements = argv.length - i;
  if (elements === 0 || elements % 2 !== 0) return out.error(ERR_SYNTAX);
  if (f.nx && f.xx) return out.error('ERR XX and NX options at the same time are not compatible');
  if ((f.gt && f.nx) || (f.lt && f.nx) || (f.gt && f.lt)) return out.error('ERR GT, LT, and/or NX options at the same time are not compatible');
  if (f.incr && elements > 2) return out.error('ERR INCR option supports a single increment-element pair');
  const scores: number[] = [];
  for (let j = i; j < argv.length; j += 2) {
    const s = parseScore(argv[j] as Buffer);
    if (s === null) return out.error(ERR_NOT_FLOAT);
    scores.push(s);
  }
  const key = keyFromBytes(argv[1] as Buffer);
  const z = readZSet(ctx, key);
  if (z === null) return;
  const pairs: Array<readonly [Key, number]> = scores.map((score, p) => [keyFromBytes(argv[i + 2 * p + 1] as Buffer), score]);
  const r = zaddOps(key, z, f, pairs, ctx.store.encodingLimits);
  if ('error' in r) return out.error(ERR_SCORE_NAN);
  if (r.ops.length > 0) ctx.write(r.ops);
  const { added, updated, processed, last } = r;
  if (f.incr) return processed > 0 ? out.double(last) : out.nullBulk();
  out.integer(f.ch ? added + updated : added);
}

function zremCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const key = keyFromBytes(argv[1] as Buffer);
  const z = readZSet(ctx, key);
  if (z === null) return;
  const { ops, removed } = zremOps(key, z, argv.slice(2).map(keyFromBytes));
  if (ops.length > 0) ctx.write(ops);
  ctx.out.integer(removed);
}

// ---------------------------------------------------------------- point reads

function zcardCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const z = readZSet(ctx, keyFromBytes(argv[1] as Buffer));
  if (z === null) return;
  ctx.out.integer(z?.size ?? 0);
}

function zscoreCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const z = readZSet(ctx, keyFromBytes(argv[1] as Buffer));
  if (z === null) return;
  const s = z?.score(keyFromBytes(argv[2] as Buffer));
  if (s === undefined) ctx.out.nullBulk();
  else ctx.out.double(s);
}

/**
 * One reply per member argument (from argv[2]) of the sorted set at argv[1]: `reply` with the
 * member's score, or a null bulk when it is absent (ZMSCORE, GEOHASH).
 */
export function replyPerMember(ctx: CommandContext, argv: readonly Buffer[], reply: (score: number) => void): void {
  const z = readZSet(ctx, keyFromBytes(argv[1] as Buffer));
  if (z === null) return;
  ctx.out.array(argv.length - 2);
  for (let i = 2; i < argv.length; i++) {
    const s = z?.score(keyFromBytes(argv[i] as Buffer));
    if (s === undefined) ctx.out.nullBulk();
    else reply(s);
  }
}

function zmscoreCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  replyPerMember(ctx, argv, (s) => ctx.out.double(s));
}

function zrankGeneric(ctx: CommandContext, argv: readonly Buffer[], rev: boolean): void {
  const z = readZSet(ctx, keyFromBytes(argv[1] as Buffer));
  if (z === null) return;
  const r = z?.rank(keyFromBytes(argv[2] as Buffer), rev);
  if (r === undefined) ctx.out.nullBulk();
  else ctx.out.integer(r);
}

function zcountCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const range = parseScoreRange(argv[2] as Buffer, argv[3] as Buffer);
  if (range === null) return ctx.out.error(ERR_SCORE_RANGE);
  const z = readZSet(ctx, keyFromBytes(argv[1] as Buffer));
  if (z === null) return;
  ctx.out.integer(z?.countByScore(range) ?? 0);
}

function zlexcountCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const range = parseLexRange(argv[2] as Buffer, argv[3] as Buffer);
  if (range === null) return ctx.out.error(ERR_LEX_RANGE);
  const z = readZSet(ctx, keyFromBytes(argv[1] as Buffer));
  if (z === null) return;
  ctx.out.integer(z?.countByLex(range) ?? 0);
}

// ---------------------------------------------------------------- ZRANGE family

function runRange(z: SortedSet, a: ZRangeArgs): ZEntry[] {
  const q = a.query;
  if (q.by === 'rank') return z.rangeByRank(q.start, q.stop, a.rev);
  const window = { rev: a.rev, offset: a.offset, limit: a.limit };
  return q.by === 'score' ? z.rangeByScore(q.range, window) : z.rangeByLex(q.range, window);
}

/** ZRANGE and its older forms; `keyAt` is the source key's index, ZRANGESTORE's destination is argv[1]. */
function zrangeGeneric(mode: ZRangeMode) {
  return (ctx: CommandContext, argv: readonly Buffer[]): void => {
    const keyAt = mode.store ? 2 : 1;
    const a = parseZRangeArgs(argv, keyAt + 1, mode);
    if (typeof a === 'string') return ctx.out.error(a);
    const z = readZSet(ctx, keyFromBytes(argv[keyAt] as Buffer));
    if (z === null) return;
    const q = a.query;
    if (!mode.store && z !== undefined && q.by === 'rank') return replyRank(ctx.out, z, q.start, q.stop, a.rev, a.withScores);
    const entries = z ? runRange(z, a) : [];
    if (!mode.store) return replyEntries(ctx.out, entries, a.withScores);
    const ops = storeOps(ctx.store, keyFromBytes(argv[1] as Buffer), entries, a.query.by === 'rank' ? 'sized' : 'growing');
    if (ops.length > 0) ctx.write(ops);
    ctx.out.integer(entries.length);
  };
}

function zremrangeGeneric(by: 'rank' | 'score' | 'lex') {
  return (ctx: CommandContext, argv: readonly Buffer[]): void => {
    const { out } = ctx;
    const lo = argv[2] as Buffer;
    const hi = argv[3] as Buffer;
    let pick: (z: SortedSet) => ZEntry[];
    if (by === 'rank') {
      const start = parseInt64(lo);
      const stop = parseInt64(hi);
      if (start === null || stop === null) return out.error(ERR_NOT_INTEGER);
      pick = (z) => z.rangeByRank(clampIndex(start), clampIndex(stop));
    } else if (by === 'score') {
      const range = parseScoreRange(lo, hi);
      if (range === null) return out.error(ERR_SCORE_RANGE);
      pick = (z) => z.rangeByScore(range);
    } else {
      const range = parseLexRange(lo, hi);
      if (range === null) return out.error(ERR_LEX_RANGE);
      pick = (z) => z.rangeByLex(range);
    }
    const key = keyFromBytes(argv[1] as Buffer);
    const z = readZSet(ctx, key);
    if (z === null) return;
    const gone = z ? pick(z) : [];
    if (z && gone.length > 0) ctx.write(zremPresentOps(key, z, gone.map((e) => e[0])));
    out.integer(gone.length);
  };
}

/** An int64 index as a JS number: beyond ±2^53 every index means "past the end" alike. */
function clampIndex(v: bigint): number {
  const lim = BigInt(Number.MAX_SAFE_INTEGER);
  return Number(v > lim ? lim : v < -lim ? -lim : v);
}

// ---------------------------------------------------------------- ZPOPMIN / ZPOPMAX / ZMPOP

/** Pop up to `count` from one end of `key` (known to be a non-empty zset): logs, returns what went. */
function popEntries(ctx: CommandContext, key: Key, z: SortedSet, count: number, max: boolean): ZEntry[] {
  const taken = z.rangeByRank(0, Math.min(count, z.size) - 1, max);
  ctx.write(zremPresentOps(key, z, taken.map((e) => e[0])));
  return taken;
}

function zpopGeneric(max: boolean) {
  return (ctx: CommandContext, argv: readonly Buffer[]): void => {
    const { out } = ctx;
    if (argv.length > 3) return out.error(ERR_SYNTAX);
    let count = 1;
    const hasCount = argv.length === 3;
    if (hasCount) {
      const n = parseInt64(argv[2] as Buffer);
      if (n === null || n < 0n) return out.error(ERR_NOT_POSITIVE);
      count = clampIndex(n);
    }
    const key = keyFromBytes(argv[1] as Buffer);
    const z = readZSet(ctx, key);
    if (z === null) return;
    if (!z || count === 0) return out.array(0);
    const taken = popEntries(ctx, key, z, count, max);
    // RESP3 nests [member, score] pairs only when a count was given, as Redis 7.0.
    if (hasCount || out.protocol === 2) return replyEntries(out, taken, true);
    out.array(taken.length * 2);
    for (const [m, s] of taken) {
      out.bulkLatin1(m);
      out.double(s);
    }
  };
}

/** ZMPOP's end words: MIN pops the lowest scores. */
const ZSET_ENDS = ['min', 'max'] as const;

/**
 * Pop from the first non-empty sorted set of `keys` (only `only` when serving a blocked client,
 * where another type is skipped); `reply` writes what went. False, with nothing written, when
 * there was nothing to pop.
 */
function tryZpop(ctx: CommandContext, keys: readonly Key[], only: Key | null, count: number, max: boolean, reply: (key: Key, taken: readonly ZEntry[]) => void): boolean {
  for (const key of only === null ? keys : [only]) {
    const z = only === null ? readZSet(ctx, key) : wrongType(ctx.store, key, 'zset') ? undefined : ctx.store.getZSet(key);
    if (z === null) return true;
    if (!z) continue;
    reply(key, popEntries(ctx, key, z, count, max));
    return true;
  }
  return false;
}

/** ZMPOP / BZMPOP's reply: [key, [[member, score] ...]]. */
function replyKeyEntries(out: ReplyWriter, key: Key, taken: readonly ZEntry[]): void {
  out.array(2);
  out.bulkLatin1(key);
  out.array(taken.length);
  for (const [m, s] of taken) {
    out.array(2);
    out.bulkLatin1(m);
    out.double(s);
  }
}

function zmpopCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const a = parseMpopArgs(argv, 1, ZSET_ENDS);
  if (typeof a === 'string') return ctx.out.error(a);
  if (!tryZpop(ctx, a.keys, null, a.count, !a.first, (k, t) => replyKeyEntries(ctx.out, k, t))) ctx.out.nullArray();
}

/** The timeout argument (blocking-args.ts); null once its error is written. */
function timeoutArg(ctx: CommandContext, b: Buffer): number | null {
  const t = parseTimeout(b, Date.now());
  return 'error' in t ? fail(ctx, t.error) : t.deadlineMs;
}

/** BZPOPMIN / BZPOPMAX key [key ...] timeout: [key, member, score]. */
function bzpopGeneric(max: boolean) {
  return (ctx: CommandContext, argv: readonly Buffer[]): void => {
    const deadline = timeoutArg(ctx, argv[argv.length - 1] as Buffer);
    if (deadline === null) return;
    const keys: Key[] = [];
    for (let i = 1; i < argv.length - 1; i++) keys.push(keyFromBytes(argv[i] as Buffer));
    popOrBlock(ctx, argv, keys, deadline, (c, only) =>
      tryZpop(c, keys, only, 1, max, (key, taken) => {
        const [m, s] = taken[0] as ZEntry;
        c.out.array(3);
        c.out.bulkLatin1(key);
        c.out.bulkLatin1(m);
        c.out.double(s);
      }),
    );
  };
}

/** BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]. */
function bzmpopCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  // Redis parses the keys and options first, then the timeout.
  const a = parseMpopArgs(argv, 2, ZSET_ENDS);
  if (typeof a === 'string') return ctx.out.error(a);
  const deadline = timeoutArg(ctx, argv[1] as Buffer);
  if (deadline === null) return;
  popOrBlock(ctx, argv, a.keys, deadline, (c, only) => tryZpop(c, a.keys, only, a.count, !a.first, (k, t) => replyKeyEntries(c.out, k, t)));
}

// ---------------------------------------------------------------- ZRANDMEMBER

function zrandmemberCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  const key = keyFromBytes(argv[1] as Buffer);
  if (argv.length === 2) {
    const z = readZSet(ctx, key);
    if (z === null) return;
    if (!z) return out.nullBulk();
    return out.bulkLatin1((z.at(randomIndex(z.size)) as ZEntry)[0]);
  }
  const n = parseInt64(argv[2] as Buffer);
  if (n === null) return out.error(ERR_NOT_INTEGER);
  if (n < -INT64_MAX) return out.error(errOutOfRange(`-${INT64_MAX}`, `${INT64_MAX}`));
  if (argv.length > 4 || (argv.length === 4 && !isWord(argv[3] as Buffer, 'withscores'))) return out.error(ERR_SYNTAX);
  const withScores = argv.length === 4;
  if (withScores && (n < -INT64_MAX / 2n || n > INT64_MAX / 2n)) return out.error(ERR_OUT_OF_RANGE);
  const z = readZSet(ctx, key);
  if (z === null) return;
  if (!z || n === 0n) return out.array(0);
  if (n > 0n) return replyEntries(out, distinctRandom(z, n > BigInt(z.size) ? z.size : Number(n)), withScores);
  if (-n > BigInt(RANDOM_REPLY_ELEMENTS_MAX)) return out.error(ERR_OUT_OF_RANGE);
  const picks: ZEntry[] = [];
  for (let i = 0; i < -Number(n); i++) picks.push(z.at(randomIndex(z.size)) as ZEntry);
  replyEntries(out, picks, withScores);
}

/** `count` (< size, or all) distinct random elements. */
function distinctRandom(z: SortedSet, count: number): ZEntry[] {
  if (count >= z.size) return [...z.entries()];
  const ranks = new Set<number>();
  if (count * 3 > z.size) {
    const all = [...z.entries()];
    for (let i = 0; i < count; i++) {
      const j = i + randomIndex(all.length - i);
      [all[i], all[j]] = [all[j] as ZEntry, all[i] as ZEntry];
    }
    return all.slice(0, count);
  }
  while (ranks.size < count) ranks.add(randomIndex(z.size));
  return [...ranks].map((r) => z.at(r) as ZEntry);
}

// ---------------------------------------------------------------- ZUNION / ZINTER / ZDIFF

/** A set as a sorted-set input: every member scores 1. */
function setAsScores(s: SetObject): ScoreSource {
  return {
    size: s.size,
    score: (m) => (s.has(m) ? 1 : undefined),
    *entries() {
      for (const m of s.members()) yield [m, 1] as const;
    },
  };
}

/** The inputs argv[from..from+n) (zsets, or sets scoring 1), or null after replying WRONGTYPE. */
function readScoreSources(ctx: CommandContext, argv: readonly Buffer[], from: number, n: number): Array<ScoreSource | undefined> | null {
  const out: Array<ScoreSource | undefined> = [];
  for (let i = from; i < from + n; i++) {
    const key = keyFromBytes(argv[i] as Buffer);
    const t = ctx.store.typeOf(key);
    if (t === 'zset') out.push(ctx.store.getZSet(key));
    else if (t === 'set') out.push(setAsScores(ctx.store.getSet(key) as SetObject));
    else if (t === 'none') out.push(undefined);
    else return fail(ctx, ERR_WRONGTYPE);
  }
  return out;
}

/** numkeys of ZUNION & co: an int64 >= 1 that leaves room for that many keys. */
function parseNumkeys(ctx: CommandContext, argv: readonly Buffer[], at: number, name: string): number | null {
  const n = parseInt64(argv[at] as Buffer);
  if (n === null) return fail(ctx, ERR_NOT_INTEGER);
  if (n < 1n) return fail(ctx, errNeedsKey(name));
  if (n > BigInt(argv.length - at - 1)) return fail(ctx, ERR_SYNTAX);
  return Number(n);
}

function fail(ctx: CommandContext, msg: string): null {
  ctx.out.error(msg);
  return null;
}

function zsetOpGeneric(op: 'union' | 'inter' | 'diff', name: string, store: boolean) {
  return (ctx: CommandContext, argv: readonly Buffer[]): void => {
    const at = store ? 2 : 1;
    const n = parseNumkeys(ctx, argv, at, name);
    if (n === null) return;
    const sources = readScoreSources(ctx, argv, at + 1, n);
    if (sources === null) return;
    const opts = parseZSetOpOptions(argv, at + 1 + n, n, op, store);
    if (typeof opts === 'string') return ctx.out.error(opts);
    const result = combineZSets(op, sources, opts.weights, opts.aggregate);
    if (!store) return replyEntries(ctx.out, result, opts.withScores);
    const ops = storeOps(ctx.store, keyFromBytes(argv[1] as Buffer), result, 'whole');
    if (ops.length > 0) ctx.write(ops);
    ctx.out.integer(result.length);
  };
}

function zintercardCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const n = parseNumkeys(ctx, argv, 1, 'zintercard');
  if (n === null) return;
  const sources = readScoreSources(ctx, argv, 2, n);
  if (sources === null) return;
  let limit = 0;
  for (let j = 2 + n; j < argv.length; j += 2) {
    if (!isWord(argv[j] as Buffer, 'limit') || j + 1 >= argv.length) return ctx.out.error(ERR_SYNTAX);
    const l = parseInt64(argv[j + 1] as Buffer);
    if (l === null || l < 0n) return ctx.out.error(ERR_LIMIT_NEGATIVE);
    limit = clampIndex(l);
  }
  ctx.out.integer(interCardZSets(sources, limit));
}

// ---------------------------------------------------------------- ZSCAN

function zscanCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const args = parseScanArgs(ctx, argv);
  if (args === null) return;
  const z = readZSet(ctx, keyFromBytes(argv[1] as Buffer));
  if (z === null) return;
  if (!z) return replyScan(ctx.out, 0, []);
  const opts = args.options();
  if (opts === null) return;
  const found: Buffer[] = [];
  const next = z.scan(args.cursor, opts.count, (m, s) => {
    if (opts.matches(m)) found.push(keyToBytes(m), Buffer.from(scanScoreText(s), 'latin1'));
  });
  replyScan(ctx.out, next, found);
}

// ---------------------------------------------------------------- table

const spec = specIn('sorted-set');

const RANGE_TAIL = '[BYSCORE|BYLEX] [REV] [LIMIT offset count]';

export const zsetCommands: CommandModule = [
  spec({ name: 'zadd', keySpecs: [key('RW update', 1)], arity: -4, flags: WDF, summary: 'Add members to a sorted set, or update their scores', syntax: 'key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]', handler: (ctx, argv) => zaddGeneric(ctx, argv, false) }),
  spec({ name: 'zincrby', keySpecs: [key('RW access update', 1)], arity: 4, flags: WDF, summary: "Increment a member's score", syntax: 'key increment member', handler: (ctx, argv) => zaddGeneric(ctx, argv, true) }),
  spec({ name: 'zrem', keySpecs: [key('RW delete', 1)], arity: -3, flags: WF, summary: 'Remove members from a sorted set', syntax: 'key member [member ...]', handler: zremCommand }),
  spec({ name: 'zcard', keySpecs: [key('RO', 1)], arity: 2, flags: RF, summary: 'Number of members of a sorted set', syntax: 'key', handler: zcardCommand }),
  spec({ name: 'zscore', keySpecs: [key('RO access', 1)], arity: 3, flags: RF, summary: "A member's score", syntax: 'key member', handler: zscoreCommand }),
  spec({ name: 'zmscore', keySpecs: [key('RO access', 1)], arity: -3, flags: RF, summary: 'The scores of several members', syntax: 'key member [member ...]', handler: zmscoreCommand }),
  spec({ name: 'zrank', keySpecs: [key('RO access', 1)], arity: 3, flags: RF, summary: "A member's rank, lowest score first", syntax: 'key member', handler: (ctx, argv) => zrankGeneric(ctx, argv, false) }),
  spec({ name: 'zrevrank', keySpecs: [key('RO access', 1)], arity: 3, flags: RF, summary: "A member's rank, highest score first", syntax: 'key member', handler: (ctx, argv) => zrankGeneric(ctx, argv, true) }),
  spec({ name: 'zcount', keySpecs: [key('RO access', 1)], arity: 4, flags: RF, summary: 'Number of members within a score range', syntax: 'key min max', handler: zcountCommand }),
  spec({ name: 'zlexcount', keySpecs: [key('RO access', 1)], arity: 4, flags: RF, summary: 'Number of members within a lexicographical range', syntax: 'key min max', handler: zlexcountCommand }),
  spec({ name: 'zrange', keySpecs: [key('RO access', 1)], arity: -4, flags: R, summary: 'Members by rank, score or lexicographical range', syntax: `key start stop ${RANGE_TAIL} [WITHSCORES]`, handler: zrangeGeneric({ by: 'auto', dir: 'auto', store: false }) }),
  spec({ name: 'zrangestore', keySpecs: [key('OW update', 1), key('RO access', 2)], arity: -5, flags: WD, summary: 'Store a range of a sorted set', syntax: `dst src min max ${RANGE_TAIL}`, handler: zrangeGeneric({ by: 'auto', dir: 'auto', store: true }) }),
  spec({ name: 'zrangebyscore', keySpecs: [key('RO access', 1)], arity: -4, flags: R, summary: 'Members within a score range', syntax: 'key min max [WITHSCORES] [LIMIT offset count]', handler: zrangeGeneric({ by: 'score', dir: 'forward', store: false }) }),
  spec({ name: 'zrevrangebyscore', keySpecs: [key('RO access', 1)], arity: -4, flags: R, summary: 'Members within a score range, highest first', syntax: 'key max min [WITHSCORES] [LIMIT offset count]', handler: zrangeGeneric({ by: 'score', dir: 'reverse', store: false }) }),
  spec({ name: 'zrangebylex', keySpecs: [key('RO access', 1)], arity: -4, flags: R, summary: 'Members within a lexicographical range', syntax: 'key min max [LIMIT offset count]', handler: zrangeGeneric({ by: 'lex', dir: 'forward', store: false }) }),
  spec({ name: 'zrevrangebylex', keySpecs: [key('RO access', 1)], arity: -4, flags: R, summary: 'Members within a lexicographical range, highest first', syntax: 'key max min [LIMIT offset count]', handler: zrangeGeneric({ by: 'lex', dir: 'reverse', store: false }) }),
  spec({ name: 'zrevrange', keySpecs: [key('RO access', 1)], arity: -4, flags: R, summary: 'Members by rank, highest score first', syntax: 'key start stop [WITHSCORES]', handler: zrangeGeneric({ by: 'rank', dir: 'reverse', store: false }) }),
  spec({ name: 'zremrangebyrank', keySpecs: [key('RW delete', 1)], arity: 4, flags: W, summary: 'Remove members within a rank range', syntax: 'key start stop', handler: zremrangeGeneric('rank') }),
  spec({ name: 'zremrangebyscore', keySpecs: [key('RW delete', 1)], arity: 4, flags: W, summary: 'Remove members within a score range', syntax: 'key min max', handler: zremrangeGeneric('score') }),
  spec({ name: 'zremrangebylex', keySpecs: [key('RW delete', 1)], arity: 4, flags: W, summary: 'Remove members within a lexicographical range', syntax: 'key min max', handler: zremrangeGeneric('lex') }),
  spec({ name: 'zpopmin', keySpecs: [key('RW access delete', 1)], arity: -2, flags: WF, summary: 'Remove and return the lowest-scored members', syntax: 'key [count]', handler: zpopGeneric(false) }),
  spec({ name: 'zpopmax', keySpecs: [key('RW access delete', 1)], arity: -2, flags: WF, summary: 'Remove and return the highest-scored members', syntax: 'key [count]', handler: zpopGeneric(true) }),
  spec({ name: 'zmpop', keySpecs: [key('RW access delete', 1, keynum())], arity: -4, flags: W, summary: 'Pop members from the first non-empty sorted set', syntax: 'numkeys key [key ...] MIN|MAX [COUNT count]', handler: zmpopCommand }),
  spec({ name: 'bzpopmin', keySpecs: [key('RW access delete', 1, range(-2))], arity: -3, flags: ['write', 'noscript', 'fast', 'blocking'], summary: 'ZPOPMIN of the first non-empty sorted set, or wait for one', syntax: 'key [key ...] timeout', handler: bzpopGeneric(false) }),
  spec({ name: 'bzpopmax', keySpecs: [key('RW access delete', 1, range(-2))], arity: -3, flags: ['write', 'noscript', 'fast', 'blocking'], summary: 'ZPOPMAX of the first non-empty sorted set, or wait for one', syntax: 'key [key ...] timeout', handler: bzpopGeneric(true) }),
  spec({ name: 'bzmpop', keySpecs: [key('RW access delete', 2, keynum())], arity: -5, flags: ['write', 'blocking'], summary: 'ZMPOP, or wait for one of the sorted sets to have members', syntax: 'timeout numkeys key [key ...] MIN|MAX [COUNT count]', handler: bzmpopCommand }),
  spec({ name: 'zrandmember', keySpecs: [key('RO access', 1)], arity: -2, flags: R, summary: 'Random members of a sorted set (a negative count may repeat)', syntax: 'key [count [WITHSCORES]]', handler: zrandmemberCommand }),
  spec({ name: 'zunion', keySpecs: [key('RO access', 1, keynum())], arity: -3, flags: R, summary: 'Union of sorted sets', syntax: 'numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]', handler: zsetOpGeneric('union', 'zunion', false) }),
  spec({ name: 'zinter', keySpecs: [key('RO access', 1, keynum())], arity: -3, flags: R, summary: 'Intersection of sorted sets', syntax: 'numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]', handler: zsetOpGeneric('inter', 'zinter', false) }),
  spec({ name: 'zdiff', keySpecs: [key('RO access', 1, keynum())], arity: -3, flags: R, summary: 'Members of the first sorted set in none of the others', syntax: 'numkeys key [key ...] [WITHSCORES]', handler: zsetOpGeneric('diff', 'zdiff', false) }),
  spec({ name: 'zunionstore', keySpecs: [key('OW update', 1), key('RO access', 2, keynum())], arity: -4, flags: WD, summary: 'Store the union of sorted sets', syntax: 'destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]', handler: zsetOpGeneric('union', 'zunionstore', true) }),
  spec({ name: 'zinterstore', keySpecs: [key('OW update', 1), key('RO access', 2, keynum())], arity: -4, flags: WD, summary: 'Store the intersection of sorted sets', syntax: 'destination numkeys key [key ...] [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX]', handler: zsetOpGeneric('inter', 'zinterstore', true) }),
  spec({ name: 'zdiffstore', keySpecs: [key('OW update', 1), key('RO access', 2, keynum())], arity: -4, flags: WD, summary: 'Store the difference of sorted sets', syntax: 'destination numkeys key [key ...]', handler: zsetOpGeneric('diff', 'zdiffstore', true) }),
  spec({ name: 'zintercard', keySpecs: [key('RO access', 1, keynum())], arity: -3, flags: R, summary: 'Size of the intersection of sorted sets', syntax: 'numkeys key [key ...] [LIMIT limit]', handler: zintercardCommand }),
  spec({ name: 'zscan', keySpecs: [key('RO access', 1)], arity: -3, flags: R, summary: 'Incrementally iterate the members and scores of a sorted set', syntax: 'key cursor [MATCH pattern] [COUNT count]', handler: zscanCommand }),
];
