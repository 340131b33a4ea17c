// The stream commands (Redis t_stream.c) with Redis 7.0 semantics, error strings and replies in
// RESP2 and RESP3. Handlers read through ctx.store.getStream (never mutating what it returns) and
// change a stream only through ctx.write, with one 'xstream' op of the command's effects
// (storage/stream-effects.ts): ids, trims and times resolved here, on the primary.

import type { CommandContext, CommandModule } from '../command-types.js';
import type { ReplyWriter } from '../../protocol/reply.js';
import { keyFromBytes, type Key, type Op } from '../../storage/types.js';
import { entryFields, entryFor, entryId, entryPairs, StreamObject, type TrimArgs } from '../../storage/stream-object.js';
import { encodeEffects, type StreamEffect } from '../../storage/stream-effects.js';
import { ERR_INVALID_STREAM_ID, formatId, ID_MAX, ID_MIN, idDecr, idIncr, nextStreamId, parseStreamId, UINT64_MAX_BIG, type StreamId } from '../../storage/stream-id.js';
import { ERR_NOT_INTEGER, ERR_SYNTAX, ERR_WRONGTYPE, errArity, isWord, parseInt64 } from './args.js';
import { wrongType } from './keytype.js';
import { popOrBlock } from './blocking-args.js';
import { specIn, WDF, W, WF, R, RF } from './spec.js';
import { key, range } from './key-specs.js';

const ERR_MAXLEN_NEGATIVE = 'ERR The MAXLEN argument must be >= 0.';
const ERR_LIMIT_NEGATIVE = 'ERR The LIMIT argument must be >= 0.';
const ERR_TRIM_BOTH = 'ERR syntax error, MAXLEN and MINID options at the same time are not compatible';
const ERR_LIMIT_NO_STRATEGY = 'ERR syntax error, LIMIT cannot be used without specifying a trimming strategy';
const ERR_XTRIM_NO_STRATEGY = 'ERR syntax error, XTRIM must be called with a trimming strategy';
const ERR_LIMIT_NO_APPROX = 'ERR syntax error, LIMIT cannot be used without the special ~ option';
const ERR_XADD_ZERO = 'ERR The ID specified in XADD must be greater than 0-0';
const ERR_XADD_EXHAUSTED = 'ERR The stream has exhausted the last possible ID, unable to add more items';
const ERR_XADD_SMALLER = 'ERR The ID specified in XADD is equal or smaller than the target stream top item';
const ERR_START_INTERVAL = 'ERR invalid start ID for the interval';
const ERR_END_INTERVAL = 'ERR invalid end ID for the interval';
const ERR_TIMEOUT_NOT_INTEGER = 'ERR timeout is not an integer or out of range';
const ERR_TIMEOUT_NEGATIVE = 'ERR timeout is negative';
const ERR_TIMEOUT_RANGE = 'ERR timeout is out of range';
const ERR_XREAD_UNBALANCED = "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.";
const ERR_XSETID_SMALLER = 'ERR The ID specified in XSETID is smaller than the target stream top item';
const ERR_XSETID_MAXDEL = 'ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id';
const ERR_XSETID_ENTRIES = 'ERR The entries_added specified in XSETID is smaller than the target stream length';
/** Redis's bounds on an approximate trim's default LIMIT (a hundred nodes' entries). */
const APPROX_TRIM_LIMIT_FALLBACK = 10_000;
const APPROX_TRIM_LIMIT_MAX = 1_000_000;
/** Redis XREAD_BLOCKED_DEFAULT_COUNT: what a blocked XREAD without COUNT is served at most. */
const XREAD_BLOCKED_COUNT_DEFAULT = 1000;
const LLONG_MAX = (1n << 63n) - 1n;

// ---------------------------------------------------------------- shared

function keyArg(argv: readonly Buffer[], i: number): Key {
  return keyFromBytes(argv[i] as Buffer);
}

/** The stream at `key`, undefined when missing; null (WRONGTYPE written) when the key holds another type. */
export function streamArg(ctx: CommandContext, key: Key): StreamObject | undefined | null {
  const s = ctx.store.getStream(key);
  if (s !== undefined || !wrongType(ctx.store, key, 'stream')) return s;
  ctx.out.error(ERR_WRONGTYPE);
  return null;
}

/** Log one stream command's effects as one entry (nothing when there are none). */
export function writeEffects(ctx: CommandContext, key: Key, fx: readonly StreamEffect[]): void {
  if (fx.length === 0) return;
  const ops: Op[] = [{ t: 'xstream', key, body: encodeEffects(fx) }];
  ctx.write(ops);
}

export function replyId(out: ReplyWriter, id: StreamId): void {
  out.bulk(formatId(id));
}

/** One entry: [id, [field, value, ...]]. */
export function replyEntry(out: ReplyWriter, e: string): void {
  out.array(2);
  replyId(out, entryId(e));
  out.array(2 * entryPairs(e));
  entryFields(e, (off, len) => out.bulkLatin1(e, off, len));
}

/** Entries of `s` from `start` to `end` (up to `count`, 0: all): the reply array. */
function replyRange(out: ReplyWriter, s: StreamObject, start: StreamId, end: StreamId, rev: boolean, count: number): void {
  const got: string[] = [];
  for (const e of s.range(start, end, rev)) {
    got.push(e);
    if (count > 0 && got.length >= count) break;
  }
  out.array(got.length);
  for (const e of got) replyEntry(out, e);
}

/** A strict id argument (no '-' / '+'), or null with the error written. */
export function strictIdArg(ctx: CommandContext, b: Buffer, missingSeq = 0n): StreamId | null {
  const p = parseStreamId(b, missingSeq, true);
  if (p === null) return (ctx.out.error(ERR_INVALID_STREAM_ID), null);
  return p.id;
}

// ---------------------------------------------------------------- XADD / XTRIM arguments

interface AddTrimArgs {
  trim: TrimArgs | null;
  noMkStream: boolean;
  /** XADD: where the id is (argv.length when absent). */
  idPos: number;
  /** XADD: the explicit id, null for '*'. */
  id: { id: StreamId; seqGiven: boolean } | null;
}

/** Redis streamParseAddOrTrimArgsOrReply: the options, or the error reply. */
function parseAddTrim(argv: readonly Buffer[], xadd: boolean, nodeEntries: number): AddTrimArgs | string {
  let strategy: 'maxlen' | 'minid' | null = null;
  let approx = false;
  let maxlen = 0;
  let minid = ID_MIN;
  let limit = 0n;
  let limitGiven = false;
  let noMkStream = false;
  let id: AddTrimArgs['id'] = null;
  let i = 2;
  for (; i < argv.length; i++) {
    const more = argv.length - 1 - i;
    const opt = argv[i] as Buffer;
    if (xadd && opt.length === 1 && opt[0] === 0x2a) break;
    if ((isWord(opt, 'maxlen') || isWord(opt, 'minid')) && more > 0) {
      if (strategy !== null) return ERR_TRIM_BOTH;
      const isMax = isWord(opt, 'maxlen');
      approx = false;
      const next = argv[i + 1] as Buffer;
      if (more >= 2 && next.length === 1 && (next[0] === 0x7e || next[0] === 0x3d)) {
        approx = next[0] === 0x7e;
        i++;
      }
      const arg = argv[i + 1] as Buffer;
      if (isMax) {
        const n = parseInt64(arg);
        if (n === null) return ERR_NOT_INTEGER;
        if (n < 0n) return ERR_MAXLEN_NEGATIVE;
        maxlen = Number(n);
      } else {
        const p = parseStreamId(arg, 0n, true);
        if (p === null) return ERR_INVALID_STREAM_ID;
        minid = p.id;
      }
      i++;
      strategy = isMax ? 'maxlen' : 'minid';
    } else if (isWord(opt, 'limit') && more > 0) {
      const n = parseInt64(argv[i + 1] as Buffer);
      if (n === null) return ERR_NOT_INTEGER;
      if (n < 0n) return ERR_LIMIT_NEGATIVE;
      limit = n;
      limitGiven = true;
      i++;
    } else if (xadd && isWord(opt, 'nomkstream')) {
      noMkStream = true;
    } else if (xadd) {
      const p = parseStreamId(opt, 0n, true, true);
      if (p === null) return ERR_INVALID_STREAM_ID;
      id = p;
      break;
    } else return ERR_SYNTAX;
  }
  if (limit !== 0n && strategy === null) return ERR_LIMIT_NO_STRATEGY;
  if (!xadd && strategy === null) return ERR_XTRIM_NO_STRATEGY;
  if (limitGiven && !approx) return ERR_LIMIT_NO_APPROX;
  const approxDefault = 100 * nodeEntries <= 0 ? APPROX_TRIM_LIMIT_FALLBACK : Math.min(100 * nodeEntries, APPROX_TRIM_LIMIT_MAX);
  const lim = limitGiven ? Number(limit > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : limit) : approx ? approxDefault : 0;
  return { trim: strategy === null ? null : { strategy, maxlen, minid, approx, limit: lim }, noMkStream, idPos: i, id };
}

/** The trim effect of a plan, or none when it changes nothing. */
function trimEffects(s: StreamObject | undefined, a: TrimArgs, extra: string | null): StreamEffect[] {
  // XADD creating the stream may trim its own entry (MAXLEN 0): plan over an empty stream.
  const plan = (s ?? new StreamObject()).planTrim(a, extra);
  if (plan.nodes === 0 && plan.upTo === null) return [];
  return [{ k: 'trim', nodes: plan.nodes, upTo: plan.upTo, deleted: plan.deleted }];
}

/** XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]. */
function xaddCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  const a = parseAddTrim(argv, true, ctx.store.encodingLimits.streamNodeEntries);
  if (typeof a === 'string') return out.error(a);
  const fieldPos = a.idPos + 1;
  if (argv.length - fieldPos < 2 || (argv.length - fieldPos) % 2 === 1) return out.error(errArity('xadd'));
  if (a.id !== null && a.id.seqGiven && a.id.id === ID_MIN) return out.error(ERR_XADD_ZERO);
  const key = keyArg(argv, 1);
  const s = streamArg(ctx, key);
  if (s === null) return;
  if (s === undefined && a.noMkStream) return out.nullBulk();
  const last = s?.lastId ?? ID_MIN;
  if (last === ID_MAX) return out.error(ERR_XADD_EXHAUSTED);
  const id = nextStreamId(last, a.id, Date.now());
  if (id === null) return out.error(ERR_XADD_SMALLER);
  const pairs: Key[] = [];
  for (let i = fieldPos; i < argv.length; i++) pairs.push(keyArg(argv, i));
  const entry = entryFor(s, id, pairs, ctx.store.encodingLimits);
  const fx: StreamEffect[] = [{ k: 'add', entry }];
  if (a.trim !== null) fx.push(...trimEffects(s, a.trim, entry));
  writeEffects(ctx, key, fx);
  replyId(out, id);
}

/** XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]. */
function xtrimCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const a = parseAddTrim(argv, false, ctx.store.encodingLimits.streamNodeEntries);
  if (typeof a === 'string') return ctx.out.error(a);
  const key = keyArg(argv, 1);
  const s = streamArg(ctx, key);
  if (s === null) return;
  if (s === undefined || a.trim === null) return ctx.out.integer(0);
  const fx = trimEffects(s, a.trim, null);
  writeEffects(ctx, key, fx);
  const t = fx[0];
  ctx.out.integer(t !== undefined && t.k === 'trim' ? t.deleted : 0);
}

// ---------------------------------------------------------------- XDEL / XLEN / XSETID

/** XDEL key id [id ...]. */
function xdelCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const key = keyArg(argv, 1);
  const s = streamArg(ctx, key);
  if (s === null) return;
  if (s === undefined) return ctx.out.integer(0);
  const ids: StreamId[] = [];
  for (let j = 2; j < argv.length; j++) {
    const id = strictIdArg(ctx, argv[j] as Buffer);
    if (id === null) return;
    ids.push(id);
  }
  const gone = new Set<StreamId>();
  let maxDeleted = s.maxDeletedId;
  for (const id of ids) {
    if (gone.has(id) || s.get(id) === undefined) continue;
    gone.add(id);
    if (id > maxDeleted) maxDeleted = id;
  }
  const fx: StreamEffect[] = [...gone].map((id) => ({ k: 'del', id }));
  if (gone.size > 0) fx.push({ k: 'meta', lastId: s.lastId, entriesAdded: s.entriesAdded, maxDeletedId: maxDeleted });
  writeEffects(ctx, key, fx);
  ctx.out.integer(gone.size);
}

function xlenCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const s = streamArg(ctx, keyArg(argv, 1));
  if (s !== null) ctx.out.integer(s?.size ?? 0);
}

/** XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]. */
function xsetidCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  const id = strictIdArg(ctx, argv[2] as Buffer);
  if (id === null) return;
  let entriesAdded = -1n;
  let maxDel = ID_MIN;
  for (let i = 3; i < argv.length; ) {
    const more = argv.length - 1 - i;
    const opt = argv[i] as Buffer;
    if (isWord(opt, 'entriesadded') && more > 0) {
      const n = parseInt64(argv[i + 1] as Buffer);
      if (n === null) return out.error(ERR_NOT_INTEGER);
      if (n < 0n) return out.error('ERR entries_added must be positive');
      entriesAdded = n;
    } else if (isWord(opt, 'maxdeletedid') && more > 0) {
      const m = strictIdArg(ctx, argv[i + 1] as Buffer);
      if (m === null) return;
      if (id < m) return out.error(ERR_XSETID_MAXDEL);
      maxDel = m;
    } else return out.error(ERR_SYNTAX);
    i += 2;
  }
  const key = keyArg(argv, 1);
  const s = ctx.store.getStream(key);
  if (s === undefined) return out.error(wrongType(ctx.store, key, 'stream') ? ERR_WRONGTYPE : 'ERR no such key');
  if (s.size > 0) {
    if (id < s.lastValidId) return out.error(ERR_XSETID_SMALLER);
    if (entriesAdded !== -1n && BigInt(s.size) > entriesAdded) return out.error(ERR_XSETID_ENTRIES);
  }
  writeEffects(ctx, key, [
    { k: 'meta', lastId: id, entriesAdded: entriesAdded === -1n ? s.entriesAdded : Number(entriesAdded), maxDeletedId: maxDel === ID_MIN ? s.maxDeletedId : maxDel },
    { k: 'event', name: 'xsetid' },
  ]);
  out.ok();
}

// ---------------------------------------------------------------- XRANGE / XREVRANGE

/** Redis streamParseIntervalIDOrReply: an id, '(' for exclusive (then strict); null when invalid. */
function intervalId(b: Buffer, missingSeq: bigint): { id: StreamId; exclusive: boolean } | null {
  const exclusive = b.length > 1 && b[0] === 0x28;
  const p = exclusive ? parseStreamId(b.subarray(1), missingSeq, true) : parseStreamId(b, missingSeq, false);
  return p === null ? null : { id: p.id, exclusive };
}

function xrangeGeneric(ctx: CommandContext, argv: readonly Buffer[], rev: boolean): void {
  const { out } = ctx;
  const startArg = intervalId(argv[rev ? 3 : 2] as Buffer, 0n);
  if (startArg === null) return out.error(ERR_INVALID_STREAM_ID);
  let start: StreamId | null = startArg.id;
  if (startArg.exclusive && (start = idIncr(start)) === null) return out.error(ERR_START_INTERVAL);
  const endArg = intervalId(argv[rev ? 2 : 3] as Buffer, UINT64_MAX_BIG);
  if (endArg === null) return out.error(ERR_INVALID_STREAM_ID);
  let end: StreamId | null = endArg.id;
  if (endArg.exclusive && (end = idDecr(end)) === null) return out.error(ERR_END_INTERVAL);
  let count = -1;
  for (let j = 4; j < argv.length; j++) {
    if (isWord(argv[j] as Buffer, 'count') && j + 1 < argv.length) {
      const n = parseInt64(argv[++j] as Buffer);
      if (n === null) return out.error(ERR_NOT_INTEGER);
      count = n < 0n ? 0 : Number(n > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : n);
    } else return out.error(ERR_SYNTAX);
  }
  const s = streamArg(ctx, keyArg(argv, 1));
  if (s === null) return;
  if (s === undefined) return out.array(0);
  if (count === 0) return out.nullArray();
  replyRange(out, s, start, end, rev, count === -1 ? 0 : count);
}

// ---------------------------------------------------------------- XREAD

/** Redis getTimeoutFromObjectOrReply in milliseconds: the absolute deadline (0 = forever) or an error. */
export function blockArg(b: Buffer, nowMs: number): number | string {
  const t = parseInt64(b);
  if (t === null) return ERR_TIMEOUT_NOT_INTEGER;
  if (t < 0n) return ERR_TIMEOUT_NEGATIVE;
  if (t === 0n) return 0;
  if (t > LLONG_MAX - BigInt(nowMs)) return ERR_TIMEOUT_RANGE;
  return nowMs + Number(t);
}

/** XREAD / XREADGROUP's options up to STREAMS. */
export interface ReadArgs {
  /** Absolute deadline; -1 without BLOCK, 0 forever. */
  deadlineMs: number;
  count: number;
  keys: Key[];
  /** The id arguments, as given. */
  idArgs: Buffer[];
  group: { name: Key; consumer: Key } | null;
  noAck: boolean;
}

/** Redis xreadCommand's option loop (`group`: XREADGROUP). */
export function parseReadArgs(ctx: CommandContext, argv: readonly Buffer[], group: boolean): ReadArgs | string {
  const r: ReadArgs = { deadlineMs: -1, count: 0, keys: [], idArgs: [], group: null, noAck: false };
  let streamsAt = 0;
  const name = group ? 'XREADGROUP' : 'XREAD';
  for (let i = 1; i < argv.length; i++) {
    const more = argv.length - 1 - i;
    const o = argv[i] as Buffer;
    if (isWord(o, 'block') && more > 0) {
      if (ctx.inScript === true) return `ERR ${(argv[0] as Buffer).toString('latin1')} command is not allowed with BLOCK option from scripts`;
      const t = blockArg(argv[++i] as Buffer, Date.now());
      if (typeof t === 'string') return t;
      r.deadlineMs = t;
    } else if (isWord(o, 'count') && more > 0) {
      const n = parseInt64(argv[++i] as Buffer);
      if (n === null) return ERR_NOT_INTEGER;
      r.count = n < 0n ? 0 : Number(n > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : n);
    } else if (isWord(o, 'streams') && more > 0) {
      streamsAt = i + 1;
      const n = argv.length - streamsAt;
      if (n % 2 !== 0) return ERR_XREAD_UNBALANCED;
      for (let k = 0; k < n / 2; k++) {
        r.keys.push(keyArg(argv, streamsAt + k));
        r.idArgs.push(argv[streamsAt + n / 2 + k] as Buffer);
      }
      break;
    } else if (isWord(o, 'group') && more >= 2) {
      if (!group) return 'ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.';
      r.group = { name: keyArg(argv, i + 1), consumer: keyArg(argv, i + 2) };
      i += 2;
    } else if (isWord(o, 'noack')) {
      if (!group) return 'ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.';
      r.noAck = true;
    } else return ERR_SYNTAX;
  }
  if (streamsAt === 0) return ERR_SYNTAX;
  if (group && r.group === null) return `ERR Missing GROUP option for ${name}`;
  return r;
}

/** The reply's outer container: RESP2 an array of [key, entries], RESP3 a map. */
export function replyStreamsHeader(out: ReplyWriter, n: number): void {
  if (out.protocol === 3) out.map(n);
  else out.array(n);
}

export function replyStreamKey(out: ReplyWriter, key: Key): void {
  if (out.protocol === 2) out.array(2);
  out.bulkLatin1(key);
}

/** XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]. */
function xreadCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  const r = parseReadArgs(ctx, argv, false);
  if (typeof r === 'string') return out.error(r);
  const after: StreamId[] = [];
  for (let i = 0; i < r.keys.length; i++) {
    const s = streamArg(ctx, r.keys[i] as Key);
    if (s === null) return;
    const b = r.idArgs[i] as Buffer;
    if (b.length === 1 && b[0] === 0x24) {
      after.push(s?.lastId ?? ID_MIN);
      continue;
    }
    if (b.length === 1 && b[0] === 0x3e) return out.error('ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.');
    const id = strictIdArg(ctx, b);
    if (id === null) return;
    after.push(id);
  }
  const serve = (c: CommandContext, only: Key | null, count: number): boolean => {
    const ready: Array<{ key: Key; s: StreamObject; from: StreamId }> = [];
    for (let i = 0; i < r.keys.length; i++) {
      const key = r.keys[i] as Key;
      if (only !== null && key !== only) continue;
      const s = c.store.getStream(key);
      if (s === undefined) continue;
      const gt = after[i] as StreamId;
      // Now: something to read (the last live id is past the one given); when served after a
      // wait: the stream's last id moved past it, as Redis checks.
      const has = only === null ? s.size > 0 && s.lastValidId > gt : s.lastId > gt;
      const from = idIncr(gt);
      if (has && from !== null) ready.push({ key, s, from });
    }
    if (ready.length === 0) return false;
    replyStreamsHeader(c.out, ready.length);
    for (const { key, s, from } of ready) {
      replyStreamKey(c.out, key);
      replyRange(c.out, s, from, ID_MAX, false, count);
    }
    return true;
  };
  if (serve(ctx, null, r.count)) return;
  if (r.deadlineMs === -1) return out.nullArray();
  const count = r.count === 0 ? XREAD_BLOCKED_COUNT_DEFAULT : r.count;
  popOrBlock(ctx, argv, r.keys, r.deadlineMs, (c, only) => (only === null ? false : serve(c, only, count)));
}

// ---------------------------------------------------------------- the table

const spec = specIn('stream');

export const streamCommands: CommandModule = [
  spec({ name: 'xadd', keySpecs: [key('RW update', 1, undefined, { notes: 'UPDATE instead of INSERT because of the optional trimming feature' })], arity: -5, flags: WDF, summary: 'Append an entry to a stream; replies its id', syntax: 'key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value ...]', handler: xaddCommand }),
  spec({ name: 'xtrim', keySpecs: [key('RW delete', 1)], arity: -4, flags: W, summary: 'Trim a stream to a length or a minimum id', syntax: 'key MAXLEN|MINID [=|~] threshold [LIMIT count]', handler: xtrimCommand }),
  spec({ name: 'xdel', keySpecs: [key('RW delete', 1)], arity: -3, flags: WF, summary: 'Delete entries of a stream by id', syntax: 'key id [id ...]', handler: xdelCommand }),
  spec({ name: 'xlen', keySpecs: [key('RO', 1)], arity: 2, flags: RF, summary: 'Number of entries in a stream', syntax: 'key', handler: xlenCommand }),
  spec({ name: 'xrange', keySpecs: [key('RO access', 1)], arity: -4, flags: R, summary: 'Entries of a stream between two ids', syntax: 'key start end [COUNT count]', handler: (ctx, argv) => xrangeGeneric(ctx, argv, false) }),
  spec({ name: 'xrevrange', keySpecs: [key('RO access', 1)], arity: -4, flags: R, summary: 'Entries of a stream between two ids, last first', syntax: 'key end start [COUNT count]', handler: (ctx, argv) => xrangeGeneric(ctx, argv, true) }),
  spec({ name: 'xsetid', keySpecs: [key('RW update', 1)], arity: -3, flags: WDF, summary: "Set a stream's last id and counters", syntax: 'key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]', handler: xsetidCommand }),
  spec({ name: 'xread', keySpecs: [key('RO access', { keyword: 'STREAMS', startfrom: 1 }, range(-1, 1, 2))], arity: -4, flags: ['readonly', 'blocking'], summary: 'Read entries of streams after given ids, or wait for them', syntax: '[COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]', handler: xreadCommand }),
];
