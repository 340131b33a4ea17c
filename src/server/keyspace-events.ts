// Keyspace notifications (Redis's notify-keyspace-events): the class flags and their CONFIG
// text, the event each write command emits for each key it changed, and their publication on
// `__keyspace@0__:<key>` / `__keyevent@0__:<event>`. Owns the command → event rules; it never
// changes the keyspace (it reads the logged ops of a write after the fact) and never writes to a
// socket (the PubSubHub delivers).

import { isKeyOp, type Key, type Op } from '../storage/types.js';
import type { AppliedChange, AppliedKeyChange } from '../storage/api.js';
import type { PubSubHub } from './pubsub.js';
import { decodeEffects } from '../storage/stream-effects.js';

/** Redis's class bits (server.h NOTIFY_*), so the flag arithmetic reads the same. */
export const NOTIFY = {
  keyspace: 1 << 0, // K
  keyevent: 1 << 1, // E
  generic: 1 << 2, // g
  string: 1 << 3, // $
  list: 1 << 4, // l
  set: 1 << 5, // s
  hash: 1 << 6, // h
  zset: 1 << 7, // z
  expired: 1 << 8, // x
  evicted: 1 << 9, // e
  stream: 1 << 10, // t
  keyMiss: 1 << 11, // m
  module: 1 << 13, // d
  newKey: 1 << 14, // n
} as const;

/** 'A': every class but K, E, m and n (Redis's NOTIFY_ALL). */
const NOTIFY_ALL = NOTIFY.generic | NOTIFY.string | NOTIFY.list | NOTIFY.set | NOTIFY.hash | NOTIFY.zset | NOTIFY.expired | NOTIFY.evicted | NOTIFY.stream | NOTIFY.module;

/** The class letters in Redis's rendering order (A's members first, then n; K E m follow). */
const CLASS_LETTERS: ReadonlyArray<readonly [string, number]> = [
  ['g', NOTIFY.generic], ['$', NOTIFY.string], ['l', NOTIFY.list], ['s', NOTIFY.set], ['h', NOTIFY.hash], ['z', NOTIFY.zset],
  ['x', NOTIFY.expired], ['e', NOTIFY.evicted], ['t', NOTIFY.stream], ['d', NOTIFY.module], ['n', NOTIFY.newKey],
];
const TAIL_LETTERS: ReadonlyArray<readonly [string, number]> = [['K', NOTIFY.keyspace], ['E', NOTIFY.keyevent], ['m', NOTIFY.keyMiss]];

export const NOTIFY_CLASS_ERROR = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

/** The flags a CONFIG SET value names, or null for an unknown letter. */
export function parseNotifyFlags(text: string): number | null {
  let flags = 0;
  for (const ch of text) {
    if (ch === 'A') {
      flags |= NOTIFY_ALL;
      continue;
    }
    const hit = CLASS_LETTERS.find(([l]) => l === ch) ?? TAIL_LETTERS.find(([l]) => l === ch);
    if (hit === undefined) return null;
    flags |= hit[1];
  }
  return flags;
}

/** Redis's canonical text (CONFIG GET): 'A' stands for its whole set, and then n is not shown either. */
export function formatNotifyFlags(flags: number): string {
  let s = '';
  if ((flags & NOTIFY_ALL) === NOTIFY_ALL) s = 'A';
  else for (const [l, bit] of CLASS_LETTERS) if (flags & bit) s += l;
  for (const [l, bit] of TAIL_LETTERS) if (flags & bit) s += l;
  return s;
}

/** What a rule sees of one logged write. */
export interface WriteView {
  /** Lower-case command name. */
  readonly command: string;
  /** The command's arguments when known (a write made outside a command has none). */
  readonly argv: readonly Buffer[] | null;
  readonly ops: readonly Op[];
}

type Emit = (cls: number, event: string, key: Key) => void;
/** How one command's write becomes events, in the order Redis emits them. */
export type EventRule = (w: WriteView, emit: Emit) => void;

const keyOf = (op: Op): Key | null => (isKeyOp(op) ? op.key : null);

/** The distinct keys of a write in op order, each with whether the write left it deleted. */
function touchedKeys(ops: readonly Op[]): Array<{ key: Key; deleted: boolean }> {
  const out: Array<{ key: Key; deleted: boolean }> = [];
  for (const op of ops) {
    const k = keyOf(op);
    if (k === null) continue;
    const seen = out.find((e) => e.key === k);
    // Deleted when its last op is a delete (a *STORE logs the destination's delete, then its members).
    if (seen !== undefined) seen.deleted = op.t === 'del';
    else out.push({ key: k, deleted: op.t === 'del' });
  }
  return out;
}

/** Each changed key gets `event`; a key the write emptied (logged as its delete) also gets 'del'. */
export const perKey = (cls: number, event: string): EventRule => (w, emit) => {
  for (const t of touchedKeys(w.ops)) {
    emit(cls, event, t.key);
    if (t.deleted) emit(NOTIFY.generic, 'del', t.key);
  }
};

/** A destination written whole (the *STORE commands): `event`, or only 'del' when the result was empty. */
const stored = (cls: number, event: string): EventRule => (w, emit) => {
  for (const t of touchedKeys(w.ops)) emit(t.deleted ? NOTIFY.generic : cls, t.deleted ? 'del' : event, t.key);
};

const argKey = (w: WriteView, i: number): Key | null => w.argv?.[i]?.toString('latin1') ?? null;
const argWord = (w: WriteView, i: number): string => (w.argv?.[i]?.toString('latin1') ?? '').toLowerCase();
const hasArg = (w: WriteView, words: readonly string[], from: number): boolean => {
  for (let i = from; i < (w.argv?.length ?? 0); i++) if (words.includes(argWord(w, i))) return true;
  return false;
};

/** SET and friends: 'set' per key, then 'expire' when the command gave the key a time to live. */
const setLike = (withTtl: (w: WriteView) => boolean): EventRule => (w, emit) => {
  for (const t of touchedKeys(w.ops)) {
    emit(NOTIFY.string, 'set', t.key);
    if (withTtl(w)) emit(NOTIFY.generic, 'expire', t.key);
  }
};

/** Expiry changes: 'expire' (set), 'persist' (cleared), 'del' (a time in the past deletes). */
const expiryRule = (clearedEvent: string): EventRule => (w, emit) => {
  for (const op of w.ops) {
    if (op.t === 'expire') emit(NOTIFY.generic, op.expireAtMs > 0 ? 'expire' : clearedEvent, op.key);
    else if (op.t === 'del') emit(NOTIFY.generic, 'del', op.key);
  }
};

const dels: EventRule = (w, emit) => {
  for (const op of w.ops) if (op.t === 'del') emit(NOTIFY.generic, 'del', op.key);
};

/** Events between two named keys (RENAME, COPY): only when the write changed something. */
const twoKeys = (fromEvent: string | null, toEvent: string): EventRule => (w, emit) => {
  const src = argKey(w, 1);
  const dst = argKey(w, 2);
  if (w.ops.length === 0 || src === null || dst === null) return;
  if (fromEvent !== null) emit(NOTIFY.generic, fromEvent, src);
  emit(NOTIFY.generic, toEvent, dst);
};

const smove: EventRule = (w, emit) => {
  const src = argKey(w, 1);
  const dst = argKey(w, 2);
  if (src === null || dst === null) return;
  const touched = touchedKeys(w.ops);
  const s = touched.find((t) => t.key === src);
  if (s !== undefined) {
    emit(NOTIFY.set, 'srem', src);
    if (s.deleted) emit(NOTIFY.generic, 'del', src);
  }
  if (touched.some((t) => t.key === dst && !t.deleted)) emit(NOTIFY.set, 'sadd', dst);
};

/** MSET and MSETNX: one 'set' per key argument, a repeated key included (Redis sets it twice). */
const msetRule: EventRule = (w, emit) => {
  if (w.argv === null) return setLike(() => false)(w, emit);
  if (w.ops.length === 0) return;
  for (let i = 1; i < w.argv.length; i += 2) emit(NOTIFY.string, 'set', (w.argv[i] as Buffer).toString('latin1'));
};

/**
 * LMOVE, RPOPLPUSH and their blocking forms: the push on the destination, then the pop on the
 * source and its 'del' when emptied (Redis's order: it pushes before it reports the pop).
 */
const listMove = (ends: (w: WriteView) => readonly [boolean, boolean]): EventRule => (w, emit) => {
  const src = argKey(w, 1);
  const dst = argKey(w, 2);
  if (w.ops.length === 0 || src === null || dst === null) return;
  const [fromHead, toHead] = ends(w);
  emit(NOTIFY.list, toHead ? 'lpush' : 'rpush', dst);
  emit(NOTIFY.list, fromHead ? 'lpop' : 'rpop', src);
  if (src !== dst && w.ops.some((op) => op.t === 'del' && op.key === src)) emit(NOTIFY.generic, 'del', src);
};
const lmoveEnds = (w: WriteView): readonly [boolean, boolean] => [argWord(w, 3) === 'left', argWord(w, 4) === 'left'];
const rpoplpushEnds = (): readonly [boolean, boolean] => [false, true];
/** LMPOP / BLMPOP / ZMPOP / BZMPOP: the pop event named by the direction word after the keys. */
const mpop = (cls: number, first: string, headWord: string, headEvent: string, tailEvent: string): EventRule => (w, emit) => {
  const numkeysAt = w.command === first ? 1 : 2;
  const n = Number(argWord(w, numkeysAt));
  const word = Number.isSafeInteger(n) ? argWord(w, numkeysAt + 1 + n) : '';
  perKey(cls, word === headWord ? headEvent : tailEvent)(w, emit);
};

const stringTtlOptions = ['ex', 'px', 'exat', 'pxat'];

/**
 * The events of one stream command, read from the effects its op carries, in Redis 7.0's names
 * and order: 'xadd' for its entry, then 'xtrim' when its trim removed entries, 'xdel' once when it
 * deleted ids, 'xgroup-createconsumer' when it made a consumer (XREADGROUP, XCLAIM and XAUTOCLAIM
 * make them on the way), 'xgroup-destroy' and 'xgroup-delconsumer', and the event it announced
 * where its effects cannot tell it (XSETID, XGROUP CREATE and SETID). The node that ran the
 * command and a replica applying its op both read them here, so they emit the same events.
 */
export function streamEvents(body: Buffer): string[] {
  const out: string[] = [];
  for (const f of decodeEffects(body, 0, body.length)) {
    let event: string | null = null;
    if (f.k === 'add') event = 'xadd';
    else if (f.k === 'trim') event = f.deleted > 0 ? 'xtrim' : null;
    else if (f.k === 'del') event = 'xdel';
    else if (f.k === 'group-del') event = 'xgroup-destroy';
    else if (f.k === 'consumer') event = f.created ? 'xgroup-createconsumer' : null;
    else if (f.k === 'consumer-del') event = 'xgroup-delconsumer';
    else if (f.k === 'event') event = f.name;
    // XDEL logs a 'del' per id and announces once.
    if (event !== null && !(event === 'xdel' && out.includes(event))) out.push(event);
  }
  return out;
}

/** Every stream write command: the events of each stream op it logged. */
const streamRule: EventRule = (w, emit) => {
  for (const op of w.ops) if (op.t === 'xstream') for (const e of streamEvents(op.body)) emit(NOTIFY.stream, e, op.key);
};

/**
 * The event rules of every write command (Redis 7.0's names), one static table like
 * COMMAND_CLASSES: a new write command gets its line here (a list command:
 * `['lpush', perKey(NOTIFY.list, 'lpush')]`). A write command with no rule emits nothing.
 */
export const EVENT_RULES: ReadonlyMap<string, EventRule> = new Map<string, EventRule>([
  // Strings and bits.
  ['set', setLike((w) => hasArg(w, stringTtlOptions, 3))],
  ['setex', setLike(() => true)],
  ['psetex', setLike(() => true)],
  ['setnx', setLike(() => false)],
  ['mset', msetRule],
  ['msetnx', msetRule],
  ['put', setLike(() => false)],
  ['getset', setLike(() => false)],
  ['getdel', dels],
  ['getex', expiryRule('persist')],
  ['incr', perKey(NOTIFY.string, 'incrby')],
  ['decr', perKey(NOTIFY.string, 'incrby')],
  ['incrby', perKey(NOTIFY.string, 'incrby')],
  ['decrby', perKey(NOTIFY.string, 'incrby')],
  ['incrbyfloat', perKey(NOTIFY.string, 'incrbyfloat')],
  ['append', perKey(NOTIFY.string, 'append')],
  ['setrange', perKey(NOTIFY.string, 'setrange')],
  ['setbit', perKey(NOTIFY.string, 'setbit')],
  ['bitfield', perKey(NOTIFY.string, 'setbit')],
  ['bitop', stored(NOTIFY.string, 'set')],
  // HyperLogLog: PFMERGE announces itself as a 'pfadd' too, as Redis (a mass add).
  ['pfadd', perKey(NOTIFY.string, 'pfadd')],
  ['pfmerge', perKey(NOTIFY.string, 'pfadd')],
  // Keyspace.
  ['del', dels],
  ['unlink', dels],
  ['expire', expiryRule('persist')],
  ['pexpire', expiryRule('persist')],
  ['expireat', expiryRule('persist')],
  ['pexpireat', expiryRule('persist')],
  ['persist', expiryRule('persist')],
  ['rename', twoKeys('rename_from', 'rename_to')],
  ['renamenx', twoKeys('rename_from', 'rename_to')],
  ['copy', twoKeys(null, 'copy_to')],
  ['restore', perKey(NOTIFY.generic, 'restore')],
  // Hashes.
  ['hset', perKey(NOTIFY.hash, 'hset')],
  ['hmset', perKey(NOTIFY.hash, 'hset')],
  ['hsetnx', perKey(NOTIFY.hash, 'hset')],
  ['hdel', perKey(NOTIFY.hash, 'hdel')],
  ['hincrby', perKey(NOTIFY.hash, 'hincrby')],
  ['hincrbyfloat', perKey(NOTIFY.hash, 'hincrbyfloat')],
  // Sets.
  ['sadd', perKey(NOTIFY.set, 'sadd')],
  ['srem', perKey(NOTIFY.set, 'srem')],
  ['spop', perKey(NOTIFY.set, 'spop')],
  ['smove', smove],
  ['sinterstore', stored(NOTIFY.set, 'sinterstore')],
  ['sunionstore', stored(NOTIFY.set, 'sunionstore')],
  ['sdiffstore', stored(NOTIFY.set, 'sdiffstore')],
  // Sorted sets.
  ['zadd', (w, emit) => perKey(NOTIFY.zset, hasArg(w, ['incr'], 2) ? 'zincr' : 'zadd')(w, emit)],
  ['zincrby', perKey(NOTIFY.zset, 'zincr')],
  ['zrem', perKey(NOTIFY.zset, 'zrem')],
  ['zremrangebyscore', perKey(NOTIFY.zset, 'zremrangebyscore')],
  ['zremrangebyrank', perKey(NOTIFY.zset, 'zremrangebyrank')],
  ['zremrangebylex', perKey(NOTIFY.zset, 'zremrangebylex')],
  ['zpopmin', perKey(NOTIFY.zset, 'zpopmin')],
  ['zpopmax', perKey(NOTIFY.zset, 'zpopmax')],
  ['zmpop', mpop(NOTIFY.zset, 'zmpop', 'min', 'zpopmin', 'zpopmax')],
  ['bzpopmin', perKey(NOTIFY.zset, 'zpopmin')],
  ['bzpopmax', perKey(NOTIFY.zset, 'zpopmax')],
  ['bzmpop', mpop(NOTIFY.zset, 'zmpop', 'min', 'zpopmin', 'zpopmax')],
  ['zunionstore', stored(NOTIFY.zset, 'zunionstore')],
  ['zinterstore', stored(NOTIFY.zset, 'zinterstore')],
  ['zdiffstore', stored(NOTIFY.zset, 'zdiffstore')],
  ['zrangestore', stored(NOTIFY.zset, 'zrangestore')],
  // GEO (sorted sets underneath).
  ['geoadd', perKey(NOTIFY.zset, 'zadd')],
  ['georadius', stored(NOTIFY.zset, 'georadiusstore')],
  ['georadiusbymember', stored(NOTIFY.zset, 'georadiusstore')],
  ['geosearchstore', stored(NOTIFY.zset, 'geosearchstore')],
  // Lists.
  ['lpush', perKey(NOTIFY.list, 'lpush')],
  ['lpushx', perKey(NOTIFY.list, 'lpush')],
  ['rpush', perKey(NOTIFY.list, 'rpush')],
  ['rpushx', perKey(NOTIFY.list, 'rpush')],
  ['lpop', perKey(NOTIFY.list, 'lpop')],
  ['rpop', perKey(NOTIFY.list, 'rpop')],
  ['blpop', perKey(NOTIFY.list, 'lpop')],
  ['brpop', perKey(NOTIFY.list, 'rpop')],
  ['lmpop', mpop(NOTIFY.list, 'lmpop', 'left', 'lpop', 'rpop')],
  ['blmpop', mpop(NOTIFY.list, 'lmpop', 'left', 'lpop', 'rpop')],
  ['lset', perKey(NOTIFY.list, 'lset')],
  ['linsert', perKey(NOTIFY.list, 'linsert')],
  ['lrem', perKey(NOTIFY.list, 'lrem')],
  ['ltrim', perKey(NOTIFY.list, 'ltrim')],
  ['lmove', listMove(lmoveEnds)],
  ['blmove', listMove(lmoveEnds)],
  ['rpoplpush', listMove(rpoplpushEnds)],
  ['brpoplpush', listMove(rpoplpushEnds)],
  ['sort', stored(NOTIFY.list, 'sortstore')],
  // Streams.
  ['xadd', streamRule],
  ['xtrim', streamRule],
  ['xdel', streamRule],
  ['xsetid', streamRule],
  ['xgroup', streamRule],
  ['xreadgroup', streamRule],
  ['xclaim', streamRule],
  ['xautoclaim', streamRule],
  ['xack', streamRule],
]);

/** Keys a write may create (the 'new' event): the targets of creating ops. */
export function createdKeyCandidates(ops: readonly Op[]): Key[] {
  const out: Key[] = [];
  for (const op of ops) {
    if (op.t === 'set' || op.t === 'hset' || op.t === 'sadd' || op.t === 'zadd' || op.t === 'restore' || op.t === 'lpush' || op.t === 'rpush' || op.t === 'xstream') {
      if (!out.includes(op.key)) out.push(op.key);
    }
  }
  return out;
}

/**
 * A replica applies logged ops, not commands: each op kind stands for one event (the command
 * that logged it is not in the log), so a replica emits 'set' where the primary emitted
 * 'incrby', 'hset' where it emitted 'hincrby'. A stream op is the exception: its
 * effects name its events (streamEvents).
 */
function replicatedEvent(t: Exclude<AppliedKeyChange['t'], 'xstream'>, expireAtMs: number): readonly [number, string] {
  switch (t) {
    case 'set': return [NOTIFY.string, 'set'];
    case 'del': return [NOTIFY.generic, 'del'];
    case 'expire': return [NOTIFY.generic, expireAtMs > 0 ? 'expire' : 'persist'];
    case 'hset': return [NOTIFY.hash, 'hset'];
    case 'hdel': return [NOTIFY.hash, 'hdel'];
    case 'sadd': return [NOTIFY.set, 'sadd'];
    case 'srem': return [NOTIFY.set, 'srem'];
    case 'zadd': return [NOTIFY.zset, 'zadd'];
    case 'zrem': return [NOTIFY.zset, 'zrem'];
    case 'restore': return [NOTIFY.generic, 'restore'];
    case 'lpush': case 'rpush': case 'lpop': case 'rpop': case 'lset': case 'linsert': case 'lrem': return [NOTIFY.list, t];
  }
}

/** Commands whose destination (argv[2]) is always added afresh. */
const ADDS_DESTINATION: ReadonlySet<string> = new Set(['rename', 'renamenx', 'copy']);

const KEYSPACE_PREFIX = Buffer.from('__keyspace@0__:');
const KEYEVENT_PREFIX = Buffer.from('__keyevent@0__:');

/** Publishes events under the live flags (CONFIG SET applies to the next write). */
export class KeyspaceNotifier {
  constructor(
    private readonly hub: PubSubHub,
    private readonly flags: () => number,
  ) {}

  /** Any class enabled and a channel (K or E) to publish on: else the write path skips all work. */
  get enabled(): boolean {
    const f = this.flags();
    return (f & (NOTIFY.keyspace | NOTIFY.keyevent)) !== 0 && (f & ~(NOTIFY.keyspace | NOTIFY.keyevent)) !== 0;
  }

  wants(cls: number): boolean {
    return (this.flags() & cls) !== 0;
  }

  /** One event (Redis's notifyKeyspaceEvent): the keyspace channel first, then the keyevent one. */
  readonly emit: Emit = (cls, event, key) => {
    const f = this.flags();
    if ((f & cls) === 0) return;
    const k = Buffer.from(key, 'latin1');
    if (f & NOTIFY.keyspace) this.hub.publish(Buffer.concat([KEYSPACE_PREFIX, k]), Buffer.from(event));
    if (f & NOTIFY.keyevent) this.hub.publish(Buffer.concat([KEYEVENT_PREFIX, Buffer.from(event)]), k);
  };

  /**
   * One entry a replica applied: an event per op kind and key, once each, in op order; 'new'
   * first for a key an op added (as Redis's dbAdd, before the command's own event).
   */
  replicated(changes: readonly AppliedChange[]): void {
    if (!this.enabled) return;
    const seen = new Set<string>();
    for (const c of changes) {
      // A flush emits no keyspace event (as Redis's FLUSHALL).
      if (c.t === 'flushall' || c.t === 'acl' || c.t === 'members' || c.t === 'functions') continue;
      if (c.created === true) this.emit(NOTIFY.newKey, 'new', c.key);
      // One stream op is one command's: all its events, as the primary emitted them.
      if (c.t === 'xstream') {
        if (c.body !== undefined) for (const e of streamEvents(c.body)) this.emit(NOTIFY.stream, e, c.key);
        continue;
      }
      const [cls, event] = replicatedEvent(c.t, c.expireAtMs);
      const id = `${event}\u0000${c.key}`;
      if (seen.has(id)) continue;
      seen.add(id);
      this.emit(cls, event, c.key);
      if (c.t === 'set' && c.expireAtMs > 0) this.emit(NOTIFY.generic, 'expire', c.key);
    }
  }

  /** A command's logged write: `created` are the keys it added (the 'new' event, emitted first). */
  afterWrite(w: WriteView, createdBefore: readonly Key[]): void {
    const rule = EVENT_RULES.get(w.command);
    // RENAME and COPY delete the destination and add it again: Redis announces it as new even
    // when it existed.
    let created = createdBefore;
    const dst = argKey(w, 2);
    if (ADDS_DESTINATION.has(w.command) && w.ops.length > 0 && dst !== null && !created.includes(dst)) created = [...created, dst];
    if (created.length === 0) return rule?.(w, this.emit);
    // Redis emits 'new' as it adds the key: just before that key's own event, or (RENAME moves
    // the value first) before any event of the command.
    const unannounced = new Set(created);
    const announce = (k: Key): void => {
      if (unannounced.delete(k)) this.emit(NOTIFY.newKey, 'new', k);
    };
    if (w.command === 'rename' || w.command === 'renamenx') for (const k of created) announce(k);
    rule?.(w, (cls, event, key) => {
      announce(key);
      this.emit(cls, event, key);
    });
    for (const k of unannounced) announce(k);
  }
}
