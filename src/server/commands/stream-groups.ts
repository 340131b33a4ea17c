// The stream consumer-group commands (Redis t_stream.c: XGROUP, XREADGROUP, XACK, XPENDING,
// XCLAIM, XAUTOCLAIM) and XINFO, with Redis 7.0 semantics, errors and replies in RESP2 and RESP3.
// Each write logs one 'xstream' op whose effects carry every delivery, delivery count, consumer and
// last-delivered id it caused, with the primary's clock resolved into them (so replicas and replay
// agree); never mutates what ctx.store returns.

import type { CommandContext, CommandModule } from '../command-types.js';
import type { ReplyWriter } from '../../protocol/reply.js';
import { keyFromBytes, type Key } from '../../storage/types.js';
import { entryId, type StreamGroup, type StreamObject } from '../../storage/stream-object.js';
import type { StreamEffect } from '../../storage/stream-effects.js';
import { ERR_INVALID_STREAM_ID, ID_MAX, ID_MIN, idDecr, idIncr, parseStreamId, UINT64_MAX_BIG, type StreamId } from '../../storage/stream-id.js';
import { ERR_NOT_INTEGER, ERR_SYNTAX, ERR_WRONGTYPE, errUnknownContainerSubcommand, errUnknownSubcommand, isWord, parseInt64 } from './args.js';
import { wrongType } from './keytype.js';
import { popOrBlock } from './blocking-args.js';
import { parseReadArgs, replyEntry, replyId, replyStreamKey, replyStreamsHeader, streamArg, strictIdArg, writeEffects } from './streams.js';
import { specIn, WF, R } from './spec.js';
import { key, range } from './key-specs.js';

/** Redis SCG_INVALID_ENTRIES_READ. */
const ENTRIES_READ_INVALID = -1;
const XREAD_BLOCKED_COUNT_DEFAULT = 1000;
const XAUTOCLAIM_ATTEMPTS_FACTOR = 10;
/** Redis: LONG_MAX / max(sizeof(streamID), attempts factor). */
const XAUTOCLAIM_COUNT_MAX = 576460752303423487n;
const ERR_NOGROUP_BLOCKED = 'NOGROUP the consumer group this client was blocked on no longer exists';
const ERR_UNBLOCKED_DELETED = 'UNBLOCKED the stream key no longer exists';

function keyArg(argv: readonly Buffer[], i: number): Key {
  return keyFromBytes(argv[i] as Buffer);
}

/** Names in Redis's radix-tree order (bytes ascending). */
function sortedNames<T>(m: ReadonlyMap<Key, T>): Array<[Key, T]> {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Redis streamRangeHasTombstones(s, start, +inf). */
function hasTombstonesFrom(s: StreamObject, start: StreamId): boolean {
  if (s.size === 0 || s.maxDeletedId === ID_MIN) return false;
  if (s.firstId > s.maxDeletedId) return false;
  return start <= s.maxDeletedId;
}

/** Redis streamEstimateDistanceFromFirstEverEntry. */
function estimateDistance(s: StreamObject, id: StreamId): number {
  if (s.entriesAdded === 0) return 0;
  if (s.size === 0 && id <= s.lastId) return s.entriesAdded;
  if (id === s.lastId) return s.entriesAdded;
  if (id > s.lastId) return ENTRIES_READ_INVALID;
  const first = s.firstId;
  if (s.maxDeletedId === ID_MIN || s.maxDeletedId < first) {
    if (id < first) return s.entriesAdded - s.size;
    if (id === first) return s.entriesAdded - s.size + 1;
  }
  return ENTRIES_READ_INVALID;
}

/** Redis streamReplyWithCGLag: the lag, or null when it cannot be known. */
function groupLag(s: StreamObject, g: StreamGroup): number | null {
  if (s.entriesAdded === 0) return 0;
  if (g.entriesRead !== ENTRIES_READ_INVALID && !hasTombstonesFrom(s, g.lastId)) return s.entriesAdded - g.entriesRead;
  const read = estimateDistance(s, g.lastId);
  return read === ENTRIES_READ_INVALID ? null : s.entriesAdded - read;
}

function replyNullableInt(out: ReplyWriter, n: number | null): void {
  if (n === null) out.nullBulk();
  else out.integer(n);
}

/** The -NOGROUP reply of XREADGROUP, XPENDING, XCLAIM, XAUTOCLAIM. */
function errNoGroup(key: Key, group: Key, suffix = ''): string {
  return `NOGROUP No such key '${key}' or consumer group '${group}'${suffix}`;
}

/** A count argument clamped to a safe integer. */
function clampCount(n: bigint): number {
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
}

// ---------------------------------------------------------------- XGROUP

const XGROUP_HELP = [
  'XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'CREATE <key> <groupname> <id|$> [option]',
  '    Create a new consumer group. Options are:',
  '    * MKSTREAM',
  '      Create the empty stream if it does not exist.',
  '    * ENTRIESREAD entries_read',
  "      Set the group's entries_read counter (internal use).",
  'CREATECONSUMER <key> <groupname> <consumer>',
  '    Create a new consumer in the specified group.',
  'DELCONSUMER <key> <groupname> <consumer>',
  '    Remove the specified consumer.',
  'DESTROY <key> <groupname>',
  '    Remove the specified group.',
  'SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]',
  '    Set the current group ID and entries_read counter.',
  'HELP',
  '    Prints this help.',
];

function writeHelp(out: ReplyWriter, lines: readonly string[]): void {
  out.array(lines.length);
  for (const l of lines) out.simple(l);
}

function xgroupCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  const sub = argv[1] as Buffer;
  const subs = ['create', 'setid', 'destroy', 'createconsumer', 'delconsumer', 'help'];
  const name = subs.find((n) => isWord(sub, n));
  if (name === undefined) return out.error(errUnknownContainerSubcommand(sub, 'XGROUP'));
  if (name === 'help') return writeHelp(out, XGROUP_HELP);
  let mkstream = false;
  let entriesRead = ENTRIES_READ_INVALID;
  for (let i = 5; i < argv.length; ) {
    const a = argv[i] as Buffer;
    if (name === 'create' && isWord(a, 'mkstream')) {
      mkstream = true;
      i++;
    } else if ((name === 'create' || name === 'setid') && isWord(a, 'entriesread') && i + 1 < argv.length) {
      const n = parseInt64(argv[i + 1] as Buffer);
      if (n === null) return out.error(ERR_NOT_INTEGER);
      if (n < 0n && n !== -1n) return out.error('ERR value for ENTRIESREAD must be positive or -1');
      entriesRead = clampCount(n);
      i += 2;
    } else return out.error(errUnknownSubcommand(sub, 'XGROUP'));
  }
  const key = keyArg(argv, 2);
  const s = streamArg(ctx, key);
  if (s === null) return;
  const groupName = keyArg(argv, 3);
  if (!mkstream) {
    if (s === undefined) return out.error('ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.');
    if (!s.groups.has(groupName) && (name === 'setid' || name === 'createconsumer' || name === 'delconsumer')) {
      return out.error(`NOGROUP No such consumer group '${groupName}' for key name '${key}'`);
    }
  }
  const g = s?.groups.get(groupName);
  const idArg = argv[4] as Buffer | undefined;
  switch (name) {
    case 'create': {
      if (argv.length > 8) return out.error(errUnknownSubcommand(sub, 'XGROUP'));
      let id: StreamId;
      if (idArg !== undefined && idArg.length === 1 && idArg[0] === 0x24) id = s?.lastId ?? ID_MIN;
      else {
        const p = strictIdArg(ctx, idArg as Buffer);
        if (p === null) return;
        id = p;
      }
      if (g !== undefined) return out.error('BUSYGROUP Consumer Group name already exists');
      const fx: StreamEffect[] = [];
      // MKSTREAM: an empty stream (the op creates it), counters at their start.
      if (s === undefined) fx.push({ k: 'meta', lastId: ID_MIN, entriesAdded: 0, maxDeletedId: ID_MIN });
      fx.push({ k: 'group', group: groupName, lastId: id, entriesRead }, { k: 'event', name: 'xgroup-create' });
      writeEffects(ctx, key, fx);
      return out.ok();
    }
    case 'setid': {
      if (argv.length !== 5 && argv.length !== 7) return out.error(errUnknownSubcommand(sub, 'XGROUP'));
      if (s === undefined || g === undefined) return out.error(`NOGROUP No such consumer group '${groupName}' for key name '${key}'`);
      let id: StreamId;
      if (idArg !== undefined && idArg.length === 1 && idArg[0] === 0x24) id = s.lastId;
      else {
        const p = parseStreamId(idArg as Buffer, 0n, false);
        if (p === null) return out.error(ERR_INVALID_STREAM_ID);
        id = p.id;
      }
      writeEffects(ctx, key, [{ k: 'group', group: groupName, lastId: id, entriesRead }, { k: 'event', name: 'xgroup-setid' }]);
      return out.ok();
    }
    case 'destroy': {
      if (argv.length !== 4) return out.error(errUnknownSubcommand(sub, 'XGROUP'));
      if (g === undefined) return out.integer(0);
      writeEffects(ctx, key, [{ k: 'group-del', group: groupName }]);
      return out.integer(1);
    }
    case 'createconsumer': {
      if (argv.length !== 5 || g === undefined) return out.error(errUnknownSubcommand(sub, 'XGROUP'));
      const consumer = keyArg(argv, 4);
      if (g.consumers.has(consumer)) return out.integer(0);
      writeEffects(ctx, key, [{ k: 'consumer', group: groupName, consumer, seenMs: Date.now(), created: true }]);
      return out.integer(1);
    }
    case 'delconsumer': {
      if (argv.length !== 5 || g === undefined) return out.error(errUnknownSubcommand(sub, 'XGROUP'));
      const consumer = keyArg(argv, 4);
      const c = g.consumers.get(consumer);
      if (c === undefined) return out.integer(0);
      // Read before the write: applying it changes the consumer's count.
      const pending = c.pending;
      writeEffects(ctx, key, [{ k: 'consumer-del', group: groupName, consumer }]);
      return out.integer(pending);
    }
  }
}

// ---------------------------------------------------------------- XREADGROUP

/**
 * Deliver new entries (after the group's last id) to `consumer`: the entries to reply and the
 * effects (Redis streamReplyWithRange with a group): the group's last id and entries-read
 * counter advance per entry, each entry gets a pending entry unless NOACK.
 */
function deliverNew(s: StreamObject, groupName: Key, g: StreamGroup, consumer: Key, count: number, noAck: boolean, nowMs: number, fx: StreamEffect[]): string[] {
  const from = idIncr(g.lastId);
  const got: string[] = [];
  if (from === null) return got;
  let lastId = g.lastId;
  let entriesRead = g.entriesRead;
  for (const e of s.range(from, ID_MAX, false)) {
    const id = entryId(e);
    if (id > lastId) {
      if (entriesRead !== ENTRIES_READ_INVALID && !hasTombstonesFrom(s, id)) entriesRead++;
      else if (s.entriesAdded !== 0) entriesRead = estimateDistance(s, id);
      lastId = id;
    }
    got.push(e);
    if (!noAck) fx.push({ k: 'nack', group: groupName, id, consumer, deliveryMs: nowMs, deliveries: 1 });
    if (count > 0 && got.length >= count) break;
  }
  if (got.length > 0) fx.push({ k: 'group', group: groupName, lastId, entriesRead });
  return got;
}

/** The consumer's own pending entries after `after` (Redis streamReplyWithRangeFromConsumerPEL): ids with their entry, or null when deleted. */
function deliverHistory(s: StreamObject, groupName: Key, g: StreamGroup, consumer: Key, after: StreamId, count: number, nowMs: number, fx: StreamEffect[]): Array<[StreamId, string | null]> {
  const out: Array<[StreamId, string | null]> = [];
  const from = idIncr(after);
  if (from === null) return out;
  for (const id of g.pendingFrom(from)) {
    if (count > 0 && out.length >= count) break;
    const n = g.pel.get(id);
    if (n === undefined || n.consumer !== consumer) continue;
    const e = s.get(id) ?? null;
    if (e !== null) fx.push({ k: 'nack', group: groupName, id, consumer, deliveryMs: nowMs, deliveries: n.deliveries + 1 });
    out.push([id, e]);
  }
  return out;
}

function replyHistory(out: ReplyWriter, items: ReadonlyArray<[StreamId, string | null]>): void {
  out.array(items.length);
  for (const [id, e] of items) {
    if (e !== null) replyEntry(out, e);
    else {
      out.array(2);
      replyId(out, id);
      out.nullArray();
    }
  }
}

/** XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]. */
function xreadgroupCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  const r = parseReadArgs(ctx, argv, true);
  if (typeof r === 'string') return out.error(r);
  const grp = r.group as { name: Key; consumer: Key };
  /** Per key: the id given ('>' as null). */
  const ids: Array<StreamId | null> = [];
  for (let i = 0; i < r.keys.length; i++) {
    const key = r.keys[i] as Key;
    const s = streamArg(ctx, key);
    if (s === null) return;
    if (s === undefined || !s.groups.has(grp.name)) return out.error(`${errNoGroup(key, grp.name)} in XREADGROUP with GROUP option`);
    const b = r.idArgs[i] as Buffer;
    if (b.length === 1 && b[0] === 0x24) return out.error('ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.');
    if (b.length === 1 && b[0] === 0x3e) {
      ids.push(null);
      continue;
    }
    const id = strictIdArg(ctx, b);
    if (id === null) return;
    // Redis marks '>' with the largest id, so that id given explicitly reads new entries too.
    ids.push(id === ID_MAX ? null : id);
  }
  const serveNow = (c: CommandContext): boolean => {
    const nowMs = Date.now();
    const replies: Array<() => void> = [];
    for (let i = 0; i < r.keys.length; i++) {
      const key = r.keys[i] as Key;
      const s = c.store.getStream(key) as StreamObject;
      const g = s.groups.get(grp.name) as StreamGroup;
      const given = ids[i] as StreamId | null;
      if (given === null && !(s.size > 0 && s.lastValidId > g.lastId)) continue;
      const fx: StreamEffect[] = [consumerEffect(g, grp, nowMs)];
      if (given === null) {
        const got = deliverNew(s, grp.name, g, grp.consumer, r.count, r.noAck, nowMs, fx);
        replies.push(() => {
          replyStreamKey(c.out, key);
          c.out.array(got.length);
          for (const e of got) replyEntry(c.out, e);
        });
      } else {
        const got = deliverHistory(s, grp.name, g, grp.consumer, given, r.count, nowMs, fx);
        replies.push(() => {
          replyStreamKey(c.out, key);
          replyHistory(c.out, got);
        });
      }
      writeEffects(c, key, fx);
    }
    if (replies.length === 0) return false;
    replyStreamsHeader(c.out, replies.length);
    for (const f of replies) f();
    return true;
  };
  if (serveNow(ctx)) return;
  if (r.deadlineMs === -1) return out.nullArray();
  const count = r.count === 0 ? XREAD_BLOCKED_COUNT_DEFAULT : r.count;
  popOrBlock(ctx, argv, r.keys, r.deadlineMs, (c, only) => (only === null ? false : serveBlocked(c, only, grp, count, r.noAck)));
}

/** The consumer's effect: created now, or seen now. */
function consumerEffect(g: StreamGroup, grp: { name: Key; consumer: Key }, nowMs: number): StreamEffect {
  return { k: 'consumer', group: grp.name, consumer: grp.consumer, seenMs: nowMs, created: !g.consumers.has(grp.consumer) };
}

/** A blocked XREADGROUP whose key changed (Redis serveClientsBlockedOnStreamKey); an error ends the wait. */
function serveBlocked(c: CommandContext, key: Key, grp: { name: Key; consumer: Key }, count: number, noAck: boolean): boolean | string {
  const s = c.store.getStream(key);
  // Deleted, or replaced by another type: the waiter is answered with Redis's error.
  if (s === undefined) return c.store.typeOf(key) === 'stream' ? false : ERR_UNBLOCKED_DELETED;
  const g = s.groups.get(grp.name);
  if (g === undefined) return ERR_NOGROUP_BLOCKED;
  if (!(s.lastId > g.lastId)) return false;
  const nowMs = Date.now();
  const fx: StreamEffect[] = [consumerEffect(g, grp, nowMs)];
  const got = deliverNew(s, grp.name, g, grp.consumer, count, noAck, nowMs, fx);
  writeEffects(c, key, fx);
  replyStreamsHeader(c.out, 1);
  replyStreamKey(c.out, key);
  c.out.array(got.length);
  for (const e of got) replyEntry(c.out, e);
  return true;
}

// ---------------------------------------------------------------- XACK / XPENDING

/** XACK key group id [id ...]. */
function xackCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const key = keyArg(argv, 1);
  const s = streamArg(ctx, key);
  if (s === null) return;
  const groupName = keyArg(argv, 2);
  const g = s?.groups.get(groupName);
  if (g === undefined) return ctx.out.integer(0);
  const ids: StreamId[] = [];
  for (let j = 3; j < argv.length; j++) {
    const id = strictIdArg(ctx, argv[j] as Buffer);
    if (id === null) return;
    ids.push(id);
  }
  const acked = new Set<StreamId>();
  for (const id of ids) if (g.pel.has(id)) acked.add(id);
  writeEffects(ctx, key, [...acked].map((id): StreamEffect => ({ k: 'ack', group: groupName, id })));
  ctx.out.integer(acked.size);
}

/** An interval id with '(' (XPENDING, XAUTOCLAIM): the inclusive id, or an error. */
function intervalArg(b: Buffer, missingSeq: bigint, start: boolean): StreamId | string {
  const exclusive = b.length > 1 && b[0] === 0x28;
  const p = exclusive ? parseStreamId(b.subarray(1), missingSeq, true) : parseStreamId(b, missingSeq, false);
  if (p === null) return ERR_INVALID_STREAM_ID;
  if (!exclusive) return p.id;
  const id = start ? idIncr(p.id) : idDecr(p.id);
  return id ?? (start ? 'ERR invalid start ID for the interval' : 'ERR invalid end ID for the interval');
}

/** XPENDING key group [[IDLE min-idle-time] start end count [consumer]]. */
function xpendingCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  const n = argv.length;
  if (n !== 3 && (n < 6 || n > 9)) return out.error(ERR_SYNTAX);
  let minIdle = 0n;
  let count = 0;
  let start = ID_MIN;
  let end = ID_MAX;
  let consumer: Key | null = null;
  if (n >= 6) {
    let at = 3;
    if (isWord(argv[3] as Buffer, 'idle')) {
      const v = parseInt64(argv[4] as Buffer);
      if (v === null) return out.error(ERR_NOT_INTEGER);
      minIdle = v;
      if (n < 8) return out.error(ERR_SYNTAX);
      at += 2;
    }
    const c = parseInt64(argv[at + 2] as Buffer);
    if (c === null) return out.error(ERR_NOT_INTEGER);
    count = c < 0n ? 0 : clampCount(c);
    const st = intervalArg(argv[at] as Buffer, 0n, true);
    if (st.length !== 16) return out.error(st);
    start = st;
    const en = intervalArg(argv[at + 1] as Buffer, UINT64_MAX_BIG, false);
    if (en.length !== 16) return out.error(en);
    end = en;
    if (at + 3 < n) consumer = keyArg(argv, at + 3);
  }
  const key = keyArg(argv, 1);
  const s = streamArg(ctx, key);
  if (s === null) return;
  const groupName = keyArg(argv, 2);
  const g = s?.groups.get(groupName);
  if (g === undefined) return out.error(errNoGroup(key, groupName));
  if (n === 3) {
    out.array(4);
    out.integer(g.pel.size);
    const first = g.firstPending;
    const last = g.lastPending;
    if (first === undefined || last === undefined) {
      out.nullBulk();
      out.nullBulk();
      out.nullArray();
      return;
    }
    replyId(out, first);
    replyId(out, last);
    const withPending = sortedNames(g.consumers).filter(([, c]) => c.pending > 0);
    out.array(withPending.length);
    for (const [name, c] of withPending) {
      out.array(2);
      out.bulkLatin1(name);
      out.bulk(String(c.pending));
    }
    return;
  }
  if (consumer !== null && !g.consumers.has(consumer)) return out.array(0);
  const now = Date.now();
  const rows: Array<[StreamId, Key, number, number]> = [];
  for (const id of g.pendingFrom(start)) {
    if (count === 0 || id > end) break;
    const nack = g.pel.get(id);
    if (nack === undefined || (consumer !== null && nack.consumer !== consumer)) continue;
    if (minIdle !== 0n && BigInt(now - nack.deliveryMs) < minIdle) continue;
    rows.push([id, nack.consumer, Math.max(0, now - nack.deliveryMs), nack.deliveries]);
    count--;
  }
  out.array(rows.length);
  for (const [id, c, idle, deliveries] of rows) {
    out.array(4);
    replyId(out, id);
    out.bulkLatin1(c);
    out.integer(idle);
    out.integer(deliveries);
  }
}

// ---------------------------------------------------------------- XCLAIM / XAUTOCLAIM

/** XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]. */
function xclaimCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  const key = keyArg(argv, 1);
  const s = streamArg(ctx, key);
  if (s === null) return;
  const groupName = keyArg(argv, 2);
  const g = s?.groups.get(groupName);
  if (s === undefined || g === undefined) return out.error(errNoGroup(key, groupName));
  const mi = parseInt64(argv[4] as Buffer);
  if (mi === null) return out.error('ERR Invalid min-idle-time argument for XCLAIM');
  const minIdle = mi < 0n ? 0 : clampCount(mi);
  const ids: StreamId[] = [];
  let j = 5;
  for (; j < argv.length; j++) {
    const p = parseStreamId(argv[j] as Buffer, 0n, true);
    if (p === null) break;
    ids.push(p.id);
  }
  const now = Date.now();
  let retry = -1;
  let delivery = -1;
  let force = false;
  let justId = false;
  let lastIdArg = ID_MIN;
  for (; j < argv.length; j++) {
    const more = argv.length - 1 - j;
    const o = argv[j] as Buffer;
    if (isWord(o, 'force')) force = true;
    else if (isWord(o, 'justid')) justId = true;
    else if ((isWord(o, 'idle') || isWord(o, 'time') || isWord(o, 'retrycount')) && more > 0) {
      const which = isWord(o, 'idle') ? 'IDLE' : isWord(o, 'time') ? 'TIME' : 'RETRYCOUNT';
      const v = parseInt64(argv[++j] as Buffer);
      if (v === null) return out.error(`ERR Invalid ${which} option argument for XCLAIM`);
      if (which === 'RETRYCOUNT') retry = clampCount(v < 0n ? -1n : v);
      else delivery = which === 'IDLE' ? now - Number(v) : Number(v);
    } else if (isWord(o, 'lastid') && more > 0) {
      const id = strictIdArg(ctx, argv[++j] as Buffer);
      if (id === null) return;
      lastIdArg = id;
    } else return out.error(`ERR Unrecognized XCLAIM option '${o.toString('latin1')}'`);
  }
  const fx: StreamEffect[] = [];
  if (lastIdArg > g.lastId) fx.push({ k: 'group', group: groupName, lastId: lastIdArg, entriesRead: g.entriesRead });
  if (delivery === -1 || delivery < 0 || delivery > now) delivery = now;
  const consumer = keyArg(argv, 3);
  let consumerLogged = false;
  const claimed: Array<StreamId | string> = [];
  const seen = new Map<StreamId, { consumer: Key | null; deliveryMs: number; deliveries: number } | null>();
  for (const id of ids) {
    const cur = seen.has(id) ? seen.get(id) : (g.pel.get(id) ?? null);
    const nack = cur === undefined ? null : cur;
    const e = s.get(id);
    if (e === undefined) {
      if (nack !== null) {
        fx.push({ k: 'ack', group: groupName, id });
        seen.set(id, null);
      }
      continue;
    }
    let n = nack;
    if (force && n === null) n = { consumer: null, deliveryMs: now, deliveries: 1 };
    if (n === null) continue;
    if (n.consumer !== null && minIdle !== 0 && now - n.deliveryMs < minIdle) continue;
    if (!consumerLogged) {
      fx.push({ k: 'consumer', group: groupName, consumer, seenMs: now, created: !g.consumers.has(consumer) });
      consumerLogged = true;
    }
    const deliveries = retry >= 0 ? retry : justId ? n.deliveries : n.deliveries + 1;
    fx.push({ k: 'nack', group: groupName, id, consumer, deliveryMs: delivery, deliveries });
    seen.set(id, { consumer, deliveryMs: delivery, deliveries });
    claimed.push(justId ? id : e);
  }
  writeEffects(ctx, key, fx);
  out.array(claimed.length);
  for (const c of claimed) {
    if (justId) replyId(out, c);
    else replyEntry(out, c);
  }
}

/** XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]. */
function xautoclaimCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  const mi = parseInt64(argv[4] as Buffer);
  if (mi === null) return out.error('ERR Invalid min-idle-time argument for XAUTOCLAIM');
  const minIdle = mi < 0n ? 0 : clampCount(mi);
  const st = intervalArg(argv[5] as Buffer, 0n, true);
  if (st.length !== 16) return out.error(st);
  let count = 100;
  let justId = false;
  for (let j = 6; j < argv.length; j++) {
    const o = argv[j] as Buffer;
    if (isWord(o, 'count') && j + 1 < argv.length) {
      const v = parseInt64(argv[++j] as Buffer);
      if (v === null || v < 1n || v > XAUTOCLAIM_COUNT_MAX) return out.error('ERR COUNT must be > 0');
      count = clampCount(v);
    } else if (isWord(o, 'justid')) justId = true;
    else return out.error(ERR_SYNTAX);
  }
  const key = keyArg(argv, 1);
  const s = streamArg(ctx, key);
  if (s === null) return;
  const groupName = keyArg(argv, 2);
  const g = s?.groups.get(groupName);
  if (s === undefined || g === undefined) return out.error(errNoGroup(key, groupName));
  const now = Date.now();
  const consumer = keyArg(argv, 3);
  const fx: StreamEffect[] = [];
  const claimed: string[] = [];
  const deleted: StreamId[] = [];
  let attempts = count * XAUTOCLAIM_ATTEMPTS_FACTOR;
  let consumerLogged = false;
  let next: StreamId = ID_MIN;
  const it = g.pendingFrom(st);
  for (;;) {
    const r = it.next();
    if (r.done === true) break;
    if (attempts-- === 0 || count === 0) {
      next = r.value;
      break;
    }
    const id = r.value;
    const nack = g.pel.get(id);
    if (nack === undefined) continue;
    const e = s.get(id);
    if (e === undefined) {
      fx.push({ k: 'ack', group: groupName, id });
      deleted.push(id);
      count--;
      continue;
    }
    if (minIdle !== 0 && now - nack.deliveryMs < minIdle) continue;
    if (!consumerLogged) {
      fx.push({ k: 'consumer', group: groupName, consumer, seenMs: now, created: !g.consumers.has(consumer) });
      consumerLogged = true;
    }
    fx.push({ k: 'nack', group: groupName, id, consumer, deliveryMs: now, deliveries: justId ? nack.deliveries : nack.deliveries + 1 });
    claimed.push(e);
    count--;
  }
  writeEffects(ctx, key, fx);
  out.array(3);
  replyId(out, next);
  out.array(claimed.length);
  for (const e of claimed) {
    if (justId) replyId(out, entryId(e));
    else replyEntry(out, e);
  }
  out.array(deleted.length);
  for (const id of deleted) replyId(out, id);
}

// ---------------------------------------------------------------- XINFO

const XINFO_HELP = [
  'XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'CONSUMERS <key> <groupname>',
  '    Show consumers of <groupname>.',
  'GROUPS <key>',
  '    Show the stream consumer groups.',
  'STREAM <key> [FULL [COUNT <count>]',
  '    Show information about the stream.',
  'HELP',
  '    Prints this help.',
];

function xinfoStream(ctx: CommandContext, argv: readonly Buffer[], s: StreamObject): void {
  const { out } = ctx;
  const opts = argv.slice(3);
  let full = false;
  let count = 10;
  if (opts.length > 0) {
    if ((opts.length !== 1 && opts.length !== 3) || !isWord(opts[0] as Buffer, 'full')) return out.error(errUnknownSubcommand(argv[1] as Buffer, 'XINFO'));
    full = true;
    if (opts.length === 3) {
      if (!isWord(opts[1] as Buffer, 'count')) return out.error(errUnknownSubcommand(argv[1] as Buffer, 'XINFO'));
      const v = parseInt64(opts[2] as Buffer);
      if (v === null) return out.error(ERR_NOT_INTEGER);
      count = v < 0n ? 10 : clampCount(v);
    }
  }
  out.map(full ? 9 : 10);
  out.bulk('length');
  out.integer(s.size);
  out.bulk('radix-tree-keys');
  out.integer(s.nodeCount);
  out.bulk('radix-tree-nodes');
  out.integer(s.nodeCount + 1);
  out.bulk('last-generated-id');
  replyId(out, s.lastId);
  out.bulk('max-deleted-entry-id');
  replyId(out, s.maxDeletedId);
  out.bulk('entries-added');
  out.integer(s.entriesAdded);
  out.bulk('recorded-first-entry-id');
  replyId(out, s.firstId);
  if (!full) {
    out.bulk('groups');
    out.integer(s.groups.size);
    for (const rev of [false, true]) {
      out.bulk(rev ? 'last-entry' : 'first-entry');
      let e: string | undefined;
      for (const x of s.range(ID_MIN, ID_MAX, rev)) {
        e = x;
        break;
      }
      if (e === undefined) out.nullBulk();
      else replyEntry(out, e);
    }
    return;
  }
  out.bulk('entries');
  const entries: string[] = [];
  for (const e of s.range(ID_MIN, ID_MAX, false)) {
    if (count > 0 && entries.length >= count) break;
    entries.push(e);
  }
  out.array(entries.length);
  for (const e of entries) replyEntry(out, e);
  out.bulk('groups');
  const groups = sortedNames(s.groups);
  out.array(groups.length);
  for (const [name, g] of groups) {
    out.map(7);
    out.bulk('name');
    out.bulkLatin1(name);
    out.bulk('last-delivered-id');
    replyId(out, g.lastId);
    out.bulk('entries-read');
    replyNullableInt(out, g.entriesRead === ENTRIES_READ_INVALID ? null : g.entriesRead);
    out.bulk('lag');
    replyNullableInt(out, groupLag(s, g));
    out.bulk('pel-count');
    out.integer(g.pel.size);
    out.bulk('pending');
    const pel = [...g.pendingFrom(ID_MIN)];
    const shown = count === 0 ? pel : pel.slice(0, count);
    out.array(shown.length);
    for (const id of shown) {
      const n = g.pel.get(id);
      out.array(4);
      replyId(out, id);
      out.bulkLatin1(n?.consumer ?? '');
      out.integer(n?.deliveryMs ?? 0);
      out.integer(n?.deliveries ?? 0);
    }
    out.bulk('consumers');
    const consumers = sortedNames(g.consumers);
    out.array(consumers.length);
    for (const [cname, c] of consumers) {
      out.map(4);
      out.bulk('name');
      out.bulkLatin1(cname);
      out.bulk('seen-time');
      out.integer(c.seenMs);
      out.bulk('pel-count');
      out.integer(c.pending);
      out.bulk('pending');
      const mine = pel.filter((id) => g.pel.get(id)?.consumer === cname);
      const show = count === 0 ? mine : mine.slice(0, count);
      out.array(show.length);
      for (const id of show) {
        const n = g.pel.get(id);
        out.array(3);
        replyId(out, id);
        out.integer(n?.deliveryMs ?? 0);
        out.integer(n?.deliveries ?? 0);
      }
    }
  }
}

function xinfoCommand(ctx: CommandContext, argv: readonly Buffer[]): void {
  const { out } = ctx;
  const sub = argv[1] as Buffer;
  const name = ['stream', 'groups', 'consumers', 'help'].find((n) => isWord(sub, n));
  if (name === undefined) return out.error(errUnknownContainerSubcommand(sub, 'XINFO'));
  if (name === 'help') return writeHelp(out, XINFO_HELP);
  const key = keyArg(argv, 2);
  const s = ctx.store.getStream(key);
  if (s === undefined) return out.error(wrongType(ctx.store, key, 'stream') ? ERR_WRONGTYPE : 'ERR no such key');
  if (name === 'stream') return xinfoStream(ctx, argv, s);
  if (name === 'groups') {
    const groups = sortedNames(s.groups);
    out.array(groups.length);
    for (const [gname, g] of groups) {
      out.map(6);
      out.bulk('name');
      out.bulkLatin1(gname);
      out.bulk('consumers');
      out.integer(g.consumers.size);
      out.bulk('pending');
      out.integer(g.pel.size);
      out.bulk('last-delivered-id');
      replyId(out, g.lastId);
      out.bulk('entries-read');
      replyNullableInt(out, g.entriesRead === ENTRIES_READ_INVALID ? null : g.entriesRead);
      out.bulk('lag');
      replyNullableInt(out, groupLag(s, g));
    }
    return;
  }
  const groupName = keyArg(argv, 3);
  const g = s.groups.get(groupName);
  if (g === undefined) return out.error(`NOGROUP No such consumer group '${groupName}' for key name '${key}'`);
  const now = Date.now();
  const consumers = sortedNames(g.consumers);
  out.array(consumers.length);
  for (const [cname, c] of consumers) {
    out.map(3);
    out.bulk('name');
    out.bulkLatin1(cname);
    out.bulk('pending');
    out.integer(c.pending);
    out.bulk('idle');
    out.integer(Math.max(0, now - c.seenMs));
  }
}

// ---------------------------------------------------------------- the table

const spec = specIn('stream');

export const streamGroupCommands: CommandModule = [
  spec({
    name: 'xgroup', arity: -2, flags: [], firstKey: 0, lastKey: 0, keyStep: 0, summary: 'Manage the consumer groups of a stream',
    syntax: 'CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n] | SETID key group id|$ [ENTRIESREAD n] | DESTROY key group | CREATECONSUMER key group consumer | DELCONSUMER key group consumer | HELP',
    subcommands: ['create', 'setid', 'destroy', 'createconsumer', 'delconsumer', 'help'], writeSubcommands: ['create', 'setid', 'destroy', 'createconsumer', 'delconsumer'],
    subcommandArity: { create: -5, setid: -5, destroy: 4, createconsumer: 5, delconsumer: 5, help: 2 },
    subcommandKeySpecs: { create: [key('RW insert', 2)], setid: [key('RW update', 2)], destroy: [key('RW delete', 2)], createconsumer: [key('RW insert', 2)], delconsumer: [key('RW delete', 2)] },
    handler: xgroupCommand,
  }),
  spec({ name: 'xreadgroup', keySpecs: [key('RO access', { keyword: 'STREAMS', startfrom: 4 }, range(-1, 1, 2))], arity: -7, flags: ['write', 'blocking'], summary: 'Read entries of streams for a consumer of a group, or wait for them', syntax: 'GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]', handler: xreadgroupCommand }),
  spec({ name: 'xack', keySpecs: [key('RW update', 1)], arity: -4, flags: WF, summary: 'Acknowledge entries of a consumer group', syntax: 'key group id [id ...]', handler: xackCommand }),
  spec({ name: 'xpending', keySpecs: [key('RO access', 1)], arity: -3, flags: R, summary: 'Pending entries of a consumer group', syntax: 'key group [[IDLE min-idle-time] start end count [consumer]]', handler: xpendingCommand }),
  spec({ name: 'xclaim', keySpecs: [key('RW update', 1)], arity: -6, flags: WF, summary: 'Change the owner of pending entries', syntax: 'key group consumer min-idle-time id [id ...] [IDLE ms] [TIME ms] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]', handler: xclaimCommand }),
  spec({ name: 'xautoclaim', keySpecs: [key('RW delete', 1)], arity: -6, flags: WF, summary: 'Claim pending entries idle for long enough, from an id on', syntax: 'key group consumer min-idle-time start [COUNT count] [JUSTID]', handler: xautoclaimCommand }),
  spec({
    name: 'xinfo', arity: -2, flags: [], firstKey: 0, lastKey: 0, keyStep: 0, summary: 'Information about streams, their groups and consumers', syntax: 'STREAM key [FULL [COUNT count]] | GROUPS key | CONSUMERS key group | HELP',
    subcommands: ['stream', 'groups', 'consumers', 'help'], subcommandArity: { stream: -3, groups: 3, consumers: 4, help: 2 },
    subcommandKeySpecs: { stream: [key('RO access', 2)], groups: [key('RO access', 2)], consumers: [key('RO access', 2)] },
    handler: xinfoCommand,
  }),
];
